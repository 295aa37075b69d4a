"""`sfteval check` and `sfteval baseline`: the committed demo leaderboard gates the real demo model (sfteval's own
CI gate), real regressions fail it, bad leaderboards get one-line errors. The statistics themselves
(McNemar, bootstrap, Holm) are tested by hand in test_analysis.py; here they run end to end."""

from __future__ import annotations

import json
import re
import shlex
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, sfteval

from sfteval.check import baseline as baselines, leaderboard as boards
from sfteval.config import ConfigError

DEMO = ROOT / "leaderboards" / "demo.yaml"
DEMO_BASELINE = ROOT / "leaderboards" / "baselines" / "demo.jsonl"
WORKFLOW = ROOT / ".github" / "workflows" / "sfteval-check.yml"
NLL_TASKS = ["gsm8k_nll", "humaneval_nll", "mtbench_nll"]
BOOTSTRAP_MIN_P = 2 / 10_001  # paired_bootstrap's p when no resampled mean reaches 0 (10,000 resamples)


def leaderboard(folder: Path, name: str = "lb", **fields) -> Path:
    """A leaderboard file: the demo's, with `fields` replaced; its baseline is the committed demo file."""
    spec = yaml.safe_load(DEMO.read_text()) | {"name": name, "baseline": {"file": str(DEMO_BASELINE)}} | fields
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def check(board: Path, *args: str, timeout: float = 600) -> tuple[int, dict]:
    r = sfteval("check", "--leaderboard", str(board), "--format", "json", *args, timeout=timeout)
    assert r.returncode in (0, 1), r.stderr
    return r.returncode, json.loads(r.stdout)


def one_line_error(r) -> str:
    assert r.returncode == 2 and r.stdout == "", (r.returncode, r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
    return lines[0]


@pytest.fixture(scope="module")
def db(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("check") / "store.duckdb"


@pytest.mark.slow
@pytest.mark.timeout(1800)  # ~1.5 min alone on 2 cores; room for a loaded machine
def test_demo_model_passes_the_committed_demo_leaderboard(db, tmp_path):
    """sfteval's own CI gate: the real model, evaluated from scratch, against the committed baseline. Beyond
    exit 0, no score may move: a change that alters scores must re-baseline (`sfteval baseline`)."""
    junit = tmp_path / "junit.xml"
    r = sfteval("check", "--leaderboard", str(DEMO), "--ckpt", "demo:smollm2-135m", "--db", str(db),
                "--format", "json", "--junit", str(junit), timeout=1500)
    assert r.returncode == 0, r.stderr + r.stdout
    verdict = json.loads(r.stdout)
    assert verdict["passed"] and verdict["alpha"] == 0.05
    assert [t["task"] for t in verdict["tasks"]] == NLL_TASKS
    for t in verdict["tasks"]:
        assert (t["metric"], t["n"], t["test"], t["higher_is_better"]) == ("nll", 10, "bootstrap", False)
        assert abs(t["delta"]) < 1e-3 and abs(t["candidate"] - t["baseline"]) < 1e-3, t
        assert not t["regressed"]
    suite = ET.parse(junit).getroot().find("testsuite")
    assert (suite.get("tests"), suite.get("failures")) == ("3", "0") and suite.find(".//failure") is None

    # The same checkpoint checked again: the finished run is reused (nothing evaluated) and passes.
    again = sfteval("check", "--leaderboard", str(DEMO), "--ckpt", "demo:smollm2-135m", "--db", str(db),
                    "--format", "md")
    assert again.returncode == 0 and "reusing finished run" in again.stderr
    assert again.stdout.startswith("### ✅ sfteval check `demo`: passed (3 tasks)")
    assert re.search(r"\| gsm8k_nll \| nll ↓ \| \d\.\d{4} \| \d\.\d{4} \| [+-]0\.0000 \[", again.stdout)


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_broken_chat_template_fails_and_a_drop_below_tolerance_passes(db, tmp_path):
    """The demo model with its chat template switched off (raw question text) finds GSM8K's gold solutions
    less likely: a real regression. With a tolerance above that drop, the same evaluation passes."""
    broken = leaderboard(tmp_path, "broken", tasks={"gsm8k_nll": {"metric": "nll", "tolerance": 0.02}},
                         eval={"limit": 10, "chat_template": "none"})
    junit = tmp_path / "broken.xml"
    code, verdict = check(broken, "--ckpt", "demo:smollm2-135m", "--db", str(db), "--junit", str(junit), timeout=1500)
    (task,) = verdict["tasks"]
    assert code == 1 and not verdict["passed"] and task["regressed"] and task["status"] == "regressed"
    assert task["delta"] > 0.15 and task["lo"] > 0.1 and task["worse"] >= 8  # higher NLL is worse
    assert task["p"] == task["p_holm"] == pytest.approx(BOOTSTRAP_MIN_P)
    failure = ET.parse(junit).getroot().find("testsuite/testcase[@name='gsm8k_nll']/failure")
    assert failure is not None and failure.get("type") == "regression"
    assert failure.get("message").startswith("gsm8k_nll regressed: nll ")

    tolerant = leaderboard(tmp_path, "tolerant", tasks={"gsm8k_nll": {"metric": "nll", "tolerance": 0.5}},
                           eval={"limit": 10, "chat_template": "none"})
    code, verdict = check(tolerant, "--ckpt", "demo:smollm2-135m", "--db", str(db))
    (same,) = verdict["tasks"]
    assert code == 0 and verdict["passed"] and same["status"] == "worse, within tolerance"
    assert (same["delta"], same["p"]) == (task["delta"], task["p"])


@pytest.fixture(scope="module")
def random_model_check(db, tiny_model, tmp_path_factory):
    """A 2-layer random model gated on the demo leaderboard (whose baseline is the real model's)."""
    junit = tmp_path_factory.mktemp("junit") / "junit.xml"
    r = sfteval("check", "--leaderboard", str(DEMO), "--ckpt", str(tiny_model), "--db", str(db), "--format", "md",
                "--junit", str(junit))
    return r, junit


def test_random_model_fails_every_task_with_holm_adjusted_p(random_model_check):
    r, junit = random_model_check
    assert r.returncode == 1, r.stderr
    md = r.stdout
    assert md.startswith("### ❌ sfteval check `demo`: 3 of 3 tasks regressed (gsm8k_nll, humaneval_nll, mtbench_nll)")
    # Three equal p-values: Holm multiplies each by 3 (2/10001 -> 0.0006).
    for task in NLL_TASKS:
        assert re.search(rf"\| {task} \| nll ↓ \| \d\.\d{{4}} \| \d+\.\d{{4}} \| \+\d+\.\d{{4}} \[.*\] \| 0\.02 \| "
                         rf"0\.0002 \| 0\.0006 \| bootstrap \| 10 \| 10 / 0 \| ❌ regressed \|", md), md
    assert "- **gsm8k_nll**: worse, most first (10): " in md
    root = ET.parse(junit).getroot()
    assert (root.get("tests"), root.get("failures")) == ("3", "3")
    assert [c.get("name") for c in root.iter("testcase")] == NLL_TASKS
    assert all(c.find("failure") is not None for c in root.iter("testcase"))


def test_baseline_command_writes_jsonl_and_parquet_and_the_same_run_passes(random_model_check, db, tmp_path):
    run_id = re.search(r"\(run `([^`]+)`", random_model_check[0].stdout).group(1)
    for suffix in ("jsonl", "parquet"):
        board = leaderboard(tmp_path, f"mine-{suffix}", baseline={"file": f"baselines/mine.{suffix}"})
        r = sfteval("baseline", "--leaderboard", str(board), "--run", run_id, "--db", str(db))
        assert r.returncode == 0, r.stderr
        written = tmp_path / "baselines" / f"mine.{suffix}"
        assert f"wrote 30 samples of gsm8k_nll, humaneval_nll, mtbench_nll from run {run_id}" in " ".join(r.stdout.split())
        units = baselines.read(written, boards.load(board))
        assert {t: len(s) for t, s in units.scores.items()} == dict.fromkeys(NLL_TASKS, 10)
        assert units.run_id == run_id and units.metrics == dict.fromkeys(NLL_TASKS, "nll")
    # The run the baseline came from, checked by run id: identical, so every delta is exactly 0.
    code, verdict = check(board, "--run", run_id, "--db", str(db))
    assert code == 0 and [(t["delta"], t["status"], t["p"]) for t in verdict["tasks"]] == [(0.0, "same", 1.0)] * 3
    first = json.loads(written.with_suffix(".jsonl").read_text().splitlines()[0])
    assert list(first) == list(baselines.COLUMNS) and first["task"] == "gsm8k_nll" and first["doc_id"] == 0


def test_right_wrong_task_uses_mcnemar(tiny_model, db, tmp_path):
    """GSM8K accuracy: a baseline right on 6 of 8 problems, a random model right on none -> 6 discordant pairs,
    all right -> wrong: McNemar's exact p = 2 * 0.5**6 = 0.03125."""
    rows = [{"task": "gsm8k", "doc_id": d, "repeat": 0, "metric": "exact_match,flexible", "score": float(d < 6),
             "run_id": "hand-made", "checkpoint": "0" * 64, "fingerprint": "0" * 64, "sfteval_version": "0"}
            for d in range(8)]
    baselines.write(tmp_path / "acc.jsonl", rows)
    spec = {"tasks": {"gsm8k": {"metric": "exact_match,flexible", "tolerance": 0.1}},
            "eval": {"limit": 8, "max_new_tokens": 8}, "baseline": {"file": str(tmp_path / "acc.jsonl")}}
    code, verdict = check(leaderboard(tmp_path, "acc", **spec), "--ckpt", str(tiny_model), "--db", str(db))
    (task,) = verdict["tasks"]
    assert code == 1 and task["higher_is_better"] and task["test"] == "mcnemar"
    assert (task["baseline"], task["candidate"], task["delta"], task["worse"], task["better"]) == (0.75, 0.0, -0.75, 6, 0)
    assert task["p"] == 0.03125 and task["worse_samples"] == [[d, 0] for d in range(6)]
    spec["tasks"]["gsm8k"]["tolerance"] = 0.8  # a drop of 0.75 is now tolerated
    code, verdict = check(leaderboard(tmp_path, "acc", **spec), "--ckpt", str(tiny_model), "--db", str(db))
    assert code == 0 and verdict["tasks"][0]["status"] == "worse, within tolerance"


def test_baseline_on_other_problems_is_refused(tiny_model, db, tmp_path):
    """The leaderboard's limit changed since its baseline was written: the samples no longer pair."""
    board = leaderboard(tmp_path, tasks={"humaneval_nll": {"metric": "nll", "tolerance": 0.02}}, eval={"limit": 5})
    r = sfteval("check", "--leaderboard", str(board), "--ckpt", str(tiny_model), "--db", str(db))
    assert r.returncode == 2 and r.stdout == "" and r.stderr.count("error:") == 1, r.stderr
    assert r.stderr.strip().splitlines()[-1] == ("error: humaneval_nll: the baseline and the checkpoint scored other problems (10 vs 5 samples, "
                    "5 unpaired, e.g. doc 5 repeat 0 missing from the checkpoint): rewrite the baseline with "
                    "`sfteval baseline` for the leaderboard's limit")


def test_bad_leaderboards_exit_2_with_one_line(tmp_path):
    bad_yaml = tmp_path / "bad.yaml"
    bad_yaml.write_text("name: x\ntasks: [gsm8k_nll\n")
    line = one_line_error(sfteval("check", "--leaderboard", str(bad_yaml), "--ckpt", "demo:smollm2-135m"))
    assert line.startswith(f"error: {bad_yaml} is not valid YAML (") and line.endswith("): fix the file")

    missing = leaderboard(tmp_path, "nobase", baseline={"file": "baselines/none.jsonl"})
    line = one_line_error(sfteval("check", "--leaderboard", str(missing), "--ckpt", "demo:smollm2-135m"))
    assert line == (f"error: baseline file {tmp_path / 'baselines' / 'none.jsonl'} not found: write it with "
                    f"`sfteval baseline --leaderboard {missing} --run RUN_ID` (or --ckpt CHECKPOINT)")

    line = one_line_error(sfteval("check", "--leaderboard", str(DEMO), "--ckpt", "x", "--run", "y"))
    assert line == "error: pass --ckpt PATH (evaluate a checkpoint) or --run ID (a stored run), exactly one"


@pytest.mark.parametrize("fields, message", [
    ({"tasks": {"gsm9k": {}}}, "unknown task 'gsm9k': available tasks are "),
    ({"tasks": {"gsm8k_nll": {"tolerence": 0.1}}}, "tasks.gsm8k_nll.tolerence: Extra inputs are not permitted"),
    ({"tasks": {"gsm8k_nll": {"tolerance": -1}}}, "tasks.gsm8k_nll.tolerance: Input should be greater than or equal to 0"),
    ({"alpha": 1.5}, "alpha: Input should be less than 1"),
    ({"tasks": {}}, "tasks: Dictionary should have at least 1 item"),
    ({"baseline": {"file": "a.jsonl", "run": "x"}}, "baseline: Value error, give exactly one of file"),
    ({"eval": {"chat_template": "chatgpt"}}, "eval.chat_template: Input should be"),
    ({"eval": {"limit": 0}}, "eval.limit: Input should be greater than or equal to 1"),
])
def test_leaderboard_fields_are_checked(tmp_path, fields, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        boards.load(leaderboard(tmp_path, **fields))


def test_baseline_file_must_cover_the_gated_tasks_and_metrics(tmp_path):
    board = boards.load(leaderboard(tmp_path, tasks={"gsm8k": {}}))
    with pytest.raises(ConfigError, match=r"demo.jsonl has no gsm8k rows: write it with `sfteval baseline "):
        baselines.read(DEMO_BASELINE, board)
    board = boards.load(leaderboard(tmp_path, tasks={"gsm8k_nll": {"metric": "bpb"}}))
    with pytest.raises(ConfigError, match=r"holds gsm8k_nll 'nll' but .* gates 'bpb'"):
        baselines.read(DEMO_BASELINE, board)
    (tmp_path / "broken.jsonl").write_text('{"task": "gsm8k_nll", "doc_id": 0,\n')
    with pytest.raises(ConfigError, match=r"broken.jsonl cannot be read \(JSONDecodeError"):
        baselines.read(tmp_path / "broken.jsonl", board)


def test_demo_leaderboard_and_its_committed_baseline_agree():
    board = boards.load(DEMO)
    units = baselines.read(DEMO_BASELINE, board)
    assert list(board.tasks) == NLL_TASKS and board.eval.limit == 10 and board.alpha == 0.05
    assert {t: sorted(s) for t, s in units.scores.items()} == {t: [(d, 0) for d in range(10)] for t in NLL_TASKS}
    assert not any(board.higher_is_better(t) for t in NLL_TASKS)


def test_github_workflow_parses_and_names_real_options():
    import typer.main

    from sfteval.cli import app

    workflow = yaml.safe_load(WORKFLOW.read_text())
    steps = workflow["jobs"]["check"]["steps"]
    assert {"pull_request", "push"} <= set(workflow[True])  # YAML 1.1 reads the key `on` as True
    cache = next(s for s in steps if s.get("uses", "").startswith("actions/cache@"))
    assert "~/.cache/sfteval" in cache["with"]["path"] and ".sfteval" in cache["with"]["path"]
    assert "$GITHUB_STEP_SUMMARY" in next(s for s in steps if s.get("id") == "check")["run"]
    assert any(s.get("uses", "").startswith("actions/github-script@") for s in steps)
    assert workflow["env"]["LEADERBOARD"].endswith("'leaderboards/demo.yaml' }}") and DEMO.is_file()

    commands = typer.main.get_command(app).commands
    used = [shlex.split(line.strip()) for s in steps for line in s.get("run", "").splitlines()
            if line.strip().startswith("sfteval ")]
    assert [u[1] for u in used] == ["check"]
    for words in used:
        options = {o for p in commands[words[1]].params for o in p.opts}
        named = {w for w in words if w.startswith("--")}
        assert named and named <= options, named - options
    install = next(s for s in steps if s.get("name") == "Install sfteval on CPU")["run"]
    assert "download.pytorch.org/whl/cpu" in install and "-c constraints.txt" in install
