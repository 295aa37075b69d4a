"""`sfteval run` vs the `lm_eval` CLI, side by side in one run, on the same model and settings.

For each pair (sfteval `gsm8k_5shot` = lm-eval `gsm8k`; sfteval `humaneval` = lm-eval `humaneval`):
lm-eval's run at the same batch size, lm-eval at batch size 1 (its fastest setting on a CPU: it ends a batch
only when every row produced the same stop string), sfteval's first run (fresh store), sfteval's re-run (served
from the cache), the ratios, and whether scores and per-sample outputs agree. lm-eval runs its own unmodified tasks offline through
bench/offline_hub.py. Writes bench/out/run.json and prints a markdown table.

    python bench/bench_run.py                       # the issue's sizes: GSM8K --limit 100, all 164 HumanEval
    python bench/bench_run.py --gsm8k-limit 20 --humaneval-limit 20 --max-gen-toks 128   # a quicker look
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from lm_eval_cli import run_lm_eval  # noqa: E402
from offline_hub import prepare  # noqa: E402

from sfteval.checkpoints import resolve  # noqa: E402

PAIRS = [("gsm8k_5shot", "gsm8k", "exact_match,flexible-extract"), ("humaneval", "humaneval", "pass@1")]


def sfteval_run(task: str, limit: int | None, batch: int, max_gen_toks: int | None, db: Path) -> dict:
    cmd = [sys.executable, "-m", "sfteval", "run", "--ckpt", "demo:smollm2-135m", "--tasks", task,
           "--batch-size", str(batch), "--db", str(db), "--json"]
    cmd += ["--limit", str(limit)] if limit else []
    cmd += ["--max-new-tokens", str(max_gen_toks)] if max_gen_toks else []
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"sfteval failed: {' '.join(cmd)}\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    with duckdb.connect(str(db), read_only=True) as con:
        outputs = dict(con.execute("SELECT doc_id, output FROM samples WHERE run_id = ?",
                                   [result["run_id"]]).fetchall())
    return {"wall_s": wall, "scores": result["scores"][task], "outputs": outputs, "cmd": cmd}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--gsm8k-limit", type=int, default=100)
    ap.add_argument("--humaneval-limit", type=int, default=None, help="default: all 164")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--max-gen-toks", type=int, default=None, help="default: each task's own")
    ap.add_argument("--data-dir", default=str(HERE.parents[1] / "shared" / "data"))
    args = ap.parse_args()

    ckpt = resolve("demo:smollm2-135m")
    out = HERE / "out"
    out.mkdir(exist_ok=True)
    report = {"model": "demo:smollm2-135m", "batch_size": args.batch_size, "max_gen_toks": args.max_gen_toks,
              "cpus": os.cpu_count(), "tasks": []}
    with tempfile.TemporaryDirectory() as tmp:
        workdir = prepare(Path(tmp) / "hub", Path(args.data_dir))
        for ours, theirs, metric in PAIRS:
            limit = args.gsm8k_limit if theirs == "gsm8k" else args.humaneval_limit
            lm = run_lm_eval(ckpt.path, ckpt.gguf_file, theirs, limit, args.batch_size, args.max_gen_toks,
                             workdir, Path(tmp) / f"lm-{theirs}")
            lm1 = run_lm_eval(ckpt.path, ckpt.gguf_file, theirs, limit, 1, args.max_gen_toks,
                              workdir, Path(tmp) / f"lm1-{theirs}")
            db = Path(tmp) / f"{ours}.duckdb"
            first = sfteval_run(ours, limit, args.batch_size, args.max_gen_toks, db)
            again = sfteval_run(ours, limit, args.batch_size, args.max_gen_toks, db)
            lm_outputs = {s["doc_id"]: s["resp"] for s in lm["samples"]}
            same = sum(first["outputs"].get(d) == o for d, o in lm_outputs.items())
            lm_metric = metric if theirs == "gsm8k" else "pass@1,create_test"
            row = {"task": ours, "lm_eval_task": theirs, "n": len(lm_outputs),
                   "lm_eval_s": round(lm["wall_s"], 1), "lm_eval_batch1_s": round(lm1["wall_s"], 1),
                   "sfteval_s": round(first["wall_s"], 1), "rerun_s": round(again["wall_s"], 1),
                   "speedup_first": round(lm["wall_s"] / first["wall_s"], 2),
                   "speedup_vs_batch1": round(lm1["wall_s"] / first["wall_s"], 2),
                   "speedup_rerun": round(lm["wall_s"] / again["wall_s"], 1),
                   "lm_eval_score": lm["scores"][lm_metric], "sfteval_score": first["scores"][metric],
                   "same_outputs": f"{same}/{len(lm_outputs)}"}
            report["tasks"].append(row)
            print(json.dumps(row), flush=True)
    (out / "run.json").write_text(json.dumps(report, indent=2))
    print(f"\n| task | n | lm-eval batch {args.batch_size} (s) | lm-eval batch 1 (s) | sfteval first (s) | ratio "
          "| ratio vs batch 1 | sfteval re-run (s) | ratio | score lm-eval / sfteval | same outputs |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in report["tasks"]:
        print(f"| {r['task']} | {r['n']} | {r['lm_eval_s']} | {r['lm_eval_batch1_s']} | {r['sfteval_s']} "
              f"| {r['speedup_first']}x | {r['speedup_vs_batch1']}x | {r['rerun_s']} | {r['speedup_rerun']}x "
              f"| {r['lm_eval_score']:.4f} / {r['sfteval_score']:.4f} | {r['same_outputs']} |")


if __name__ == "__main__":
    main()
