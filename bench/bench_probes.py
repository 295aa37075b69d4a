"""Probe tasks vs the accuracy tasks they stand in for, on the same problems of the demo model.

Pairs: gsm8k vs gsm8k_nll, humaneval vs humaneval_nll (the first N problems of each), MT-Bench answers (both
turns generated at FastChat's settings, no judge) vs mtbench_nll on the same first N questions. Each side runs
in this process through sfteval's own backend (sfteval.backends.Generator, the code `sfteval run` uses, without
the store and cache), on one model loaded once beforehand, and is timed from its requests to its scores. For
each pair: the time ratio (accuracy / probe), each headline metric with its standard error, how many problems
the probe scores in the accuracy task's time, and the probe's standard error at that equal time (its SE at N
times sqrt(N / that many), capped at the dataset). Writes bench/out/probes.json and prints a markdown table.

    python bench/bench_probes.py                            # N = 16 (GSM8K, HumanEval), 8 MT-Bench questions
    python bench/bench_probes.py --limit 8 --mtbench-limit 4  # a quicker look

On a CPU that other processes share, set OMP_NUM_THREADS=1: oversubscribed torch threads made generation 14x
slower here.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from pathlib import Path

import torch

from sfteval.backends import Generator
from sfteval.checkpoints import resolve
from sfteval.config import RunSettings
from sfteval.tasks import load_task, mtbench

OUT = Path(__file__).resolve().parent / "out"
PAIRS = [("gsm8k", "exact_match,flexible", "gsm8k_nll"), ("humaneval", "pass@1", "humaneval_nll"),
         (mtbench.NAME, None, "mtbench_nll")]


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def run_accuracy(name: str, limit: int, gen: Generator) -> tuple[dict | None, float, list[str]]:
    """(headline score or None, seconds, outputs) of an accuracy task on the first `limit` problems."""
    templater = gen.templater()
    task = mtbench.MTBench() if name == mtbench.NAME else load_task(name)

    def generate(requests):
        return gen.generate([r.prompt for r in requests], [r.gen_kwargs for r in requests],
                            chat=task.uses_chat_template)
    if name == mtbench.NAME:  # both turns, no judge: the generation a judged score needs
        (_, outputs), seconds = timed(lambda: task.answer(generate, limit, templater))
        return None, seconds, outputs

    def run():
        requests = task.requests(limit, templater if task.uses_chat_template else None)
        outputs = generate(requests)
        return task.score(requests, outputs)[1], outputs
    (scores, outputs), seconds = timed(run)
    return _headline(scores, task.primary_metric), seconds, outputs


def run_probe(name: str, limit: int, gen: Generator) -> tuple[dict, float, int]:
    task = load_task(name)

    def run():
        requests = task.requests(limit, gen.templater() if task.uses_chat_template else None)
        results = gen.loglikelihood([(r.prompt, r.continuation) for r in requests])
        return task.score(requests, [json.dumps(r) for r in results])[1]
    scores, seconds = timed(run)
    return _headline(scores, task.primary_metric), seconds, len(task._lm_task.eval_docs)


def _headline(scores, metric: str) -> dict:
    score = next(s for s in scores if s.metric == metric)
    return {"metric": metric, "value": score.value, "stderr": score.stderr, "n": score.n}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--limit", type=int, default=16, help="GSM8K and HumanEval problems")
    ap.add_argument("--mtbench-limit", type=int, default=8, help="MT-Bench questions")
    ap.add_argument("--batch-size", type=int, default=8)
    args = ap.parse_args()

    gen = Generator(resolve("demo:smollm2-135m"), RunSettings(batch_size=args.batch_size))
    _, load_s = timed(lambda: gen.loglikelihood([("Hello", " world")]))  # loads the model: timed apart
    report = {"model": "demo:smollm2-135m", "batch_size": args.batch_size, "cpus": os.cpu_count(),
              "torch_threads": torch.get_num_threads(), "load_average_start": os.getloadavg(),
              "model_load_s": load_s, "pairs": []}
    for accuracy_task, metric, probe_task in PAIRS:
        limit = args.mtbench_limit if accuracy_task == mtbench.NAME else args.limit
        accuracy, acc_s, outputs = run_accuracy(accuracy_task, limit, gen)
        probe, probe_s, dataset = run_probe(probe_task, limit, gen)
        ratio = acc_s / probe_s
        equal_n = min(dataset, math.floor(limit * ratio))
        se = probe["stderr"]
        report["pairs"].append({
            "accuracy_task": accuracy_task, "probe_task": probe_task, "n": limit, "generations": len(outputs),
            "mean_output_tokens": sum(map(gen.token_count, outputs)) / len(outputs),
            "accuracy_s": acc_s, "probe_s": probe_s, "ratio": ratio, "accuracy": accuracy, "probe": probe,
            "probe_n_in_accuracy_time": equal_n,
            "probe_stderr_at_equal_time": se * math.sqrt(limit / equal_n) if se is not None else None})
        print(f"{accuracy_task}: {acc_s:.1f} s, {probe_task}: {probe_s:.1f} s ({ratio:.0f}x)", flush=True)
    report["load_average_end"] = os.getloadavg()
    OUT.mkdir(exist_ok=True)
    (OUT / "probes.json").write_text(json.dumps(report, indent=2))

    print("\n| accuracy task | probe | n | tokens generated (mean) | accuracy (s) | probe (s) | ratio "
          "| accuracy ± SE | probe NLL ± SE | probe n in accuracy time | probe SE at equal time |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for p in report["pairs"]:
        acc = p["accuracy"]
        acc_text = f"{acc['value']:.3f} ± {acc['stderr'] or 0:.3f}" if acc else "no judge"
        print(f"| {p['accuracy_task']} | {p['probe_task']} | {p['n']} | {p['mean_output_tokens']:.0f} "
              f"| {p['accuracy_s']:.1f} | {p['probe_s']:.2f} "
              f"| {p['ratio']:.0f}x | {acc_text} | {p['probe']['value']:.3f} ± {p['probe']['stderr']:.3f} "
              f"| {p['probe_n_in_accuracy_time']} | {p['probe_stderr_at_equal_time']:.3f} |")
    print(f"\nload average {report['load_average_start']} -> {report['load_average_end']} on {os.cpu_count()} CPUs; "
          f"model load {load_s:.1f} s (not counted)")


if __name__ == "__main__":
    main()
