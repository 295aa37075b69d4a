"""
Run lm-eval's real CLI (`lm_eval`) on one built-in task, offline, and read back
its per-sample outputs and scores, for side-by-side benchmarks against sfteval.

workdir must have been laid out by bench/offline_hub.prepare(): the CLI runs with
cwd=workdir so that "openai/gsm8k", "openai/openai_humaneval" and "code_eval"
resolve to the local copies there instead of the hub.
"""

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path


def _lm_eval_exe():
    # the console script of the venv that runs us; fall back to the module
    exe = Path(sys.executable).parent / "lm_eval"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "lm_eval"]


def _unwrap(x):
    # filtered_resps is ['54'] for gsm8k and [['<prompt+code>']] for humaneval (one repeat)
    while isinstance(x, list) and len(x) == 1:
        x = x[0]
    return x


def _latest(out_dir, pattern):
    # lm-eval writes OUT/<model name sanitized>/{results,samples_<task>}_<ISO time>.json[l];
    # the ISO time sorts, so the last name is this run's file
    files = sorted(Path(out_dir).glob(f"*/{pattern}"), key=lambda p: p.name)
    if not files:
        raise FileNotFoundError(f"no {pattern} under {out_dir}")
    return files[-1]


def run_lm_eval(model_dir, gguf_file, task, limit, batch_size, max_gen_toks, workdir, out_dir,
                device="cpu", timeout=None):
    """Run `lm_eval` once; return {"wall_s", "eval_s", "scores", "samples", "cmd", ...}.

    limit None = the whole test split. max_gen_toks None = the task's own
    (gsm8k: lm-eval's HFLM default 256; humaneval: 1024 from its yaml).
    """
    workdir, out_dir = Path(workdir).resolve(), Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    model_args = f"pretrained={Path(model_dir).resolve()}"
    if gguf_file:
        model_args += f",gguf_file={gguf_file}"
    cmd = _lm_eval_exe() + [
        "--model", "hf", "--model_args", model_args, "--tasks", task,
        "--batch_size", str(batch_size), "--device", device,
        "--log_samples", "--output_path", str(out_dir),
        # humaneval is marked unsafe_code; lm-eval refuses it without this flag
        # (it is a no-op for tasks that are not marked)
        "--confirm_run_unsafe_code",
    ]
    if limit is not None:
        cmd += ["--limit", str(limit)]
    if max_gen_toks is not None:
        # --gen_kwargs updates the task's generation_kwargs, so it overrides yaml values too
        cmd += ["--gen_kwargs", f"max_gen_toks={int(max_gen_toks)}"]
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1",
               TRANSFORMERS_OFFLINE="1",
               HF_ALLOW_CODE_EVAL="1",  # the code_eval metric refuses to run without it
               TOKENIZERS_PARALLELISM="false")
    log_path = out_dir / f"lm_eval_{task}.log"
    t0 = time.perf_counter()
    with open(log_path, "w") as log:
        proc = subprocess.run(cmd, cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT,
                              timeout=timeout)
    wall_s = time.perf_counter() - t0
    if proc.returncode != 0:
        tail = log_path.read_text()[-3000:]
        raise RuntimeError(f"lm_eval exited {proc.returncode}: {' '.join(cmd)}\n{tail}")

    results_path = _latest(out_dir, "results_*.json")
    samples_path = _latest(out_dir, f"samples_{task}_*.jsonl")
    res = json.loads(results_path.read_text())
    # keys look like "exact_match,strict-match" / "pass@1,create_test"; drop stderr and labels
    scores = {k: v for k, v in res["results"][task].items()
              if "," in k and "_stderr" not in k}

    # samples_*.jsonl has one line per (doc, filter); fold the filters into one record per doc
    by_doc = {}
    with open(samples_path) as f:
        for line in f:
            s = json.loads(line)
            rec = by_doc.setdefault(s["doc_id"], {
                "doc_id": s["doc_id"],
                "resp": _unwrap(s["resps"]),  # raw generation, already cut at the first stop string
                "target": s["target"],
                "prompt": s["arguments"]["gen_args_0"]["arg_0"],  # full context, few-shot included
                "filtered": {},
                "metrics": {},
            })
            rec["filtered"][s["filter"]] = _unwrap(s["filtered_resps"])
            for m in s["metrics"]:
                rec["metrics"][f"{m},{s['filter']}"] = s[m]
    samples = [by_doc[k] for k in sorted(by_doc)]
    return {
        "wall_s": wall_s,
        "eval_s": float(res.get("total_evaluation_time_seconds", "nan")),  # lm-eval's own timer
        "scores": scores,
        "samples": samples,
        "cmd": cmd,
        "cwd": str(workdir),
        "results_path": str(results_path),
        "samples_path": str(samples_path),
        "log_path": str(log_path),
    }


if __name__ == "__main__":
    # python bench/lm_eval_cli.py TASK LIMIT [BATCH] [MAX_GEN_TOKS]
    import argparse
    from offline_hub import prepare

    ap = argparse.ArgumentParser()
    ap.add_argument("task")
    ap.add_argument("limit", type=int)
    ap.add_argument("batch_size", type=int, nargs="?", default=8)
    ap.add_argument("max_gen_toks", type=int, nargs="?", default=None)
    ap.add_argument("--model_dir", default=str(Path.home() / ".cache/sfteval/models/smollm2"))
    ap.add_argument("--gguf_file", default="SmolLM2-135M-Instruct.Q4_1.gguf")
    ap.add_argument("--data_dir", default="/work/shared/data")
    ap.add_argument("--workdir", default="/tmp/sfteval_lm_eval_wd")
    ap.add_argument("--out_dir", default=None)
    a = ap.parse_args()
    wd = prepare(Path(a.workdir), Path(a.data_dir))
    out = Path(a.out_dir or wd / f"out_{a.task}_{a.limit}")
    if a.out_dir is None and out.exists():
        shutil.rmtree(out)  # our own default folder: start clean so the newest file is ours
    r = run_lm_eval(a.model_dir, a.gguf_file, a.task, a.limit, a.batch_size, a.max_gen_toks, wd, out)
    print(json.dumps({k: r[k] for k in ("wall_s", "eval_s", "scores", "cmd", "samples_path")}, indent=1))
    for s in r["samples"]:
        print(s["doc_id"], json.dumps(s["filtered"])[:200], s["metrics"])
