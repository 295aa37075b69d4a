"""A gate's verdict for people (a rich table, a markdown pull-request comment) and for machines (JSON, JUnit XML)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

from rich.table import Column, Table

from sfteval.check.gate import TaskVerdict, Verdict

LISTED = 20  # changed samples listed per task and direction


def table(verdict: Verdict) -> Table:
    t = Table(Column("task", no_wrap=True), "metric", "baseline → checkpoint", "Δ [95% CI]", "tol.", "p Holm (p)",
              "n", "worse/better", "result", title=f"sfteval check {verdict.leaderboard}: {_headline(verdict)}",
              caption=_legend(verdict))
    for v in verdict.tasks:
        color = "red" if v.regressed else "yellow" if v.worse_by > 0 else "green"
        t.add_row(v.task, _metric(v), f"{v.baseline:.4f} → {v.candidate:.4f}", _delta(v), f"{v.tolerance:g}",
                  f"{v.p_holm:.3g} ({v.p:.3g}, {v.test})", str(v.n), f"{v.worse}/{v.better}", f"[{color}]{v.status}[/]")
    return t


def markdown(verdict: Verdict) -> str:
    icon = "✅" if verdict.passed else "❌"
    lines = [f"### {icon} sfteval check `{verdict.leaderboard}`: {_headline(verdict)}", "",
             f"Checkpoint {_origin(verdict.candidate)} against the baseline {_origin(verdict.baseline)}. "
             + _legend(verdict), "",
             "| task | metric | baseline | checkpoint | Δ [95% CI] | tolerance | p | p (Holm) | test | n "
             "| worse / better | result |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for v in verdict.tasks:
        mark = "❌" if v.regressed else "⚠️" if v.worse_by > v.tolerance else "✅"
        lines.append(f"| {v.task} | {_metric(v)} | {v.baseline:.4f} | {v.candidate:.4f} | {_delta(v)} | "
                     f"{v.tolerance:g} | {v.p:.3g} | {v.p_holm:.3g} | {v.test} | {v.n} | {v.worse} / {v.better} | "
                     f"{mark} {v.status} |")
    flips = [f"- **{v.task}**: {_flips(v)}" for v in verdict.tasks if v.worse or v.better]
    if flips:
        lines += ["", "<details><summary>Changed problems (doc ids; doc:repeat for repeated samples)</summary>",
                  "", *flips, "", "</details>"]
    return "\n".join(lines) + "\n"


def as_json(verdict: Verdict) -> str:
    return json.dumps(verdict.as_dict())


def junit(verdict: Verdict, path: Path) -> Path:
    """JUnit XML as CI systems read it: one testcase per task, a <failure> on each regression."""
    failures = str(sum(v.regressed for v in verdict.tasks))
    counts = {"tests": str(len(verdict.tasks)), "failures": failures, "errors": "0", "skipped": "0"}
    root = ET.Element("testsuites", name="sfteval check", **counts)
    suite = ET.SubElement(root, "testsuite", name=verdict.leaderboard, **counts)
    for v in verdict.tasks:
        case = ET.SubElement(suite, "testcase", classname=f"sfteval.check.{verdict.leaderboard}", name=v.task)
        summary = (f"{v.metric} {v.baseline:.4f} -> {v.candidate:.4f}, delta {_delta(v)}, tolerance {v.tolerance:g}, "
                   f"p {v.p:.3g} (Holm {v.p_holm:.3g}, {v.test}, n={v.n}): {v.status}")
        if v.regressed:
            ET.SubElement(case, "failure", message=f"{v.task} regressed: {summary}", type="regression").text = _flips(v)
        else:
            ET.SubElement(case, "system-out").text = summary
    path.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
    return path


def _headline(verdict: Verdict) -> str:
    regressed = [v.task for v in verdict.tasks if v.regressed]
    if not regressed:
        return f"passed ({len(verdict.tasks)} tasks)"
    return f"{len(regressed)} of {len(verdict.tasks)} tasks regressed ({', '.join(regressed)})"


def _legend(verdict: Verdict) -> str:
    return (f"A task fails when it is worse by more than its tolerance with Holm-adjusted p < {verdict.alpha:g} "
            "(McNemar's exact test for right/wrong scores, paired bootstrap otherwise; Δ = checkpoint - baseline "
            "on the same problems).")


def _origin(side: dict) -> str:
    return f"`{side['source']}` (run `{side['run_id']}`, checkpoint sha256 `{side['checkpoint'][:12]}`)"


def _metric(v: TaskVerdict) -> str:
    return f"{v.metric} {'↑' if v.higher_is_better else '↓'}"


def _delta(v: TaskVerdict) -> str:
    return f"{v.delta:+.4f} [{v.lo:+.4f}, {v.hi:+.4f}]"


def _flips(v: TaskVerdict) -> str:
    words = ("right → wrong", "wrong → right") if v.test == "mcnemar" else ("worse, most first", "better, most first")
    return "; ".join(f"{word} ({len(ids)}): {_ids(ids)}" for word, ids in zip(words, (v.worse_samples, v.better_samples))
                     if ids)


def _ids(ids: list[list[int]]) -> str:
    shown = ", ".join(f"{d}" if r == 0 else f"{d}:{r}" for d, r in ids[:LISTED])
    return shown + (f", … (+{len(ids) - LISTED})" if len(ids) > LISTED else "")
