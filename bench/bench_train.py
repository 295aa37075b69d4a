"""Training throughput: sfteval's train_stage vs the plain TRL SFTTrainer script a user would write.

Same model (demo:smollm2-135m with LoRA), same data (the first --examples GSM8K train records as user/assistant
chats), same settings (batch, accumulation, steps, lr, max length, precision, seed), with and without packing.
Each run is its own subprocess, so neither inherits the other's warm caches; runs alternate in ABBA order so
that a neighbour's load on the CPUs falls on both alike. Tokens/s is TRL's own count of tokens
fed to the model (padding excluded) over the Trainer's train_runtime, for both. The padding share is the share
of padded slots in sfteval's micro-batches. Prints a markdown table, writes bench/out/train.json.

    python bench/bench_train.py                          # 16 examples, 2 steps of 4, max length 256
    python bench/bench_train.py --examples 64 --steps 8 --global-batch 16 --repeats 2   # steadier, slower
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

HERE = Path(__file__).resolve().parent


def conversations(path: str, n: int) -> list[list[dict]]:
    with open(path) as f:
        rows = [json.loads(line) for _, line in zip(range(n), f)]
    return [[{"role": "user", "content": r["question"]}, {"role": "assistant", "content": r["answer"]}] for r in rows]


def settings(args):
    from sfteval.config import LoraSettings, TrainSettings

    return TrainSettings(epochs=100, max_steps=args.steps, lr=1e-4, global_batch=args.global_batch,
                         micro_batch=args.micro_batch, max_length=args.max_length, packing=args.packing,
                         lora=LoraSettings(r=16, alpha=32, dropout=0.05), dtype="float32", seed=0)


def run_sfteval(args) -> dict:
    from sfteval.checkpoints import resolve
    from sfteval.train.sft import train_stage

    ckpt = resolve("demo:smollm2-135m")
    with tempfile.TemporaryDirectory() as tmp:
        m = train_stage(ckpt.path, ckpt.gguf_file, conversations(args.data, args.examples), settings(args),
                        Path(tmp) / "stage", progress=False)
    return {k: m[k] for k in ("tokens_per_s", "processed_tokens", "runtime_s", "padding_share", "steps",
                              "loss_first", "loss_last", "peak_rss_mb")}


def run_trl(args) -> dict:
    """What a user writes with TRL's documentation at hand: a `messages` dataset, SFTConfig, a LoraConfig."""
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig
    from trl import SFTConfig, SFTTrainer

    from sfteval.checkpoints import resolve

    ckpt, s = resolve("demo:smollm2-135m"), settings(args)
    tokenizer = AutoTokenizer.from_pretrained(ckpt.path, gguf_file=ckpt.gguf_file)
    model = AutoModelForCausalLM.from_pretrained(ckpt.path, gguf_file=ckpt.gguf_file,
                                                 quantization_config=GgufConfig(dequantize=True))
    dataset = Dataset.from_list([{"messages": m} for m in conversations(args.data, args.examples)])
    with tempfile.TemporaryDirectory() as tmp:
        config = SFTConfig(output_dir=tmp, max_steps=s.max_steps, learning_rate=s.lr, warmup_steps=s.warmup_ratio,
                           lr_scheduler_type=s.scheduler, per_device_train_batch_size=s.micro_batch,
                           gradient_accumulation_steps=s.global_batch // s.micro_batch, max_length=s.max_length,
                           packing=s.packing, activation_checkpointing=False, bf16=False, seed=s.seed,
                           logging_steps=1, save_strategy="no", report_to="none", disable_tqdm=True)
        trainer = SFTTrainer(model=model, args=config, train_dataset=dataset, processing_class=tokenizer,
                             peft_config=LoraConfig(r=16, lora_alpha=32, lora_dropout=0.05,
                                                    target_modules="all-linear", task_type="CAUSAL_LM"))
        result = trainer.train()
        trainer.save_model(tmp)
    logs = trainer.state.log_history
    processed = max(log["num_tokens"] for log in logs if "num_tokens" in log)
    losses = [log["loss"] for log in logs if "loss" in log]
    runtime = result.metrics["train_runtime"]
    return {"tokens_per_s": processed / runtime, "processed_tokens": int(processed), "runtime_s": runtime,
            "steps": trainer.state.global_step, "loss_first": losses[0], "loss_last": losses[-1]}


def subprocess_run(engine: str, packing: bool, args) -> dict:
    cmd = [sys.executable, __file__, "--worker", engine, "--data", args.data, "--examples", str(args.examples),
           "--steps", str(args.steps), "--global-batch", str(args.global_batch),
           "--micro-batch", str(args.micro_batch), "--max-length", str(args.max_length)]
    cmd += ["--packing"] if packing else []
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    if done.returncode != 0:
        raise RuntimeError(f"{engine} failed: {' '.join(cmd)}\n{done.stderr[-3000:]}")
    return {**json.loads(done.stdout.strip().splitlines()[-1]), "wall_s": time.perf_counter() - start}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=str(HERE.parents[1] / "shared" / "data" / "gsm8k" / "train.jsonl"))
    ap.add_argument("--examples", type=int, default=16)
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--global-batch", type=int, default=4)
    ap.add_argument("--micro-batch", type=int, default=4)
    ap.add_argument("--max-length", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=1, help="runs of each engine per packing setting; best kept")
    ap.add_argument("--packing", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--worker", choices=["sfteval", "trl"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps((run_sfteval if args.worker == "sfteval" else run_trl)(args)))
        return

    results = {}
    for packing in (False, True):
        runs = {"sfteval": [], "trl": []}
        for repeat in range(args.repeats):
            # ABBA order over the whole run: a load that drifts up or down favours neither engine
            for engine in (["sfteval", "trl"] if (repeat + packing) % 2 == 0 else ["trl", "sfteval"]):
                runs[engine].append(subprocess_run(engine, packing, args))
                print(f"  {engine:8} packing={packing!s:5} {runs[engine][-1]['tokens_per_s']:8.1f} tokens/s",
                      file=sys.stderr)
        best = {engine: max(r, key=lambda x: x["tokens_per_s"]) for engine, r in runs.items()}
        results["packed" if packing else "padded"] = {
            **best, "all_runs": runs, "ratio": best["sfteval"]["tokens_per_s"] / best["trl"]["tokens_per_s"]}

    rows = [(mode, r["sfteval"]["tokens_per_s"], r["trl"]["tokens_per_s"], r["ratio"], r["sfteval"]["padding_share"])
            for mode, r in results.items()]
    print(f"\nLoRA on demo:smollm2-135m, {args.examples} GSM8K examples, {args.steps} steps of {args.global_batch} "
          f"(micro-batch {args.micro_batch}), max length {args.max_length}, CPU threads: {os.cpu_count()}\n")
    print("| batches | sfteval tokens/s | plain TRL tokens/s | ratio (target >= 1.0) | sfteval padding share |")
    print("|---|---|---|---|---|")
    for mode, ours, theirs, ratio, pad in rows:
        print(f"| {mode} | {ours:.1f} | {theirs:.1f} | {ratio:.2f} | {pad:.1%} |")
    out = HERE / "out" / "train.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"settings": {k: v for k, v in vars(args).items() if k not in ("worker", "packing")},
                               "results": results}, indent=1))
    print(f"\nwritten {out}")


if __name__ == "__main__":
    main()
