"""MT-Bench judge modes side by side: the same answers, the same local judge, generate mode vs logprob mode.

generate: the judge writes an explanation and a rating (FastChat's single-v1 / single-math-v1 prompts, up to
          --max-new-tokens), sampled at the judge's default temperature: its generation_config's, or
          transformers' default 1.0 when it ships none (SmolLM2's GGUF ships none). FastChat asks GPT-4 at
          temperature 0; pass --temperature 0 for that.
logprob:  one forward pass reads the judge's probabilities over the ratings 1..10: the expected rating.

Each mode judges the same question-turns --repeats times, each repeat into a fresh store so that nothing comes
from the judgment cache, with the model loaded before the clock starts. Reported: wall time and process CPU time
per run and their ratios (the fastest run of each mode, which other processes on a shared CPU disturbed least;
and the mean CPU time, which they disturb less), the run means, and the run-to-run variance. Writes
bench/out/judge.json and prints a markdown table.

    python bench/bench_judge.py                      # 16 question-turns of mistral-orpo-capybara, 3 repeats
    python bench/bench_judge.py --limit 4 --repeats 2 --max-new-tokens 256   # a quicker look
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path

import torch

from sfteval.checkpoints import resolve
from sfteval.config import RunSettings
from sfteval.judge import data, prompts
from sfteval.judge.cache import judge_cached
from sfteval.judge.local import LocalJudge
from sfteval.judge.parse import UNPARSED
from sfteval.store import Store

HERE = Path(__file__).resolve().parent
ANSWERS = HERE.parents[1] / "shared" / "data" / "mt_bench" / "model_answer" / "mistral-orpo-capybara.jsonl"


def question_turns(answers: dict[int, list[str]], limit: int) -> list[prompts.JudgePrompt]:
    """Both turns of one question per category, then of the next per category, ...: the first `limit`
    judge prompts cover every category and both turns, with and without reference answers."""
    questions = [q for q in data.questions() if q["question_id"] in answers]
    rank, seen = {}, Counter()
    for q in questions:
        rank[q["question_id"]] = seen[q["category"]]
        seen[q["category"]] += 1
    spread = sorted(questions, key=lambda q: rank[q["question_id"]])  # stable: FastChat's category order
    chosen = spread[:(limit + 1) // 2]
    return [p for q in chosen for p in prompts.single_prompts([q], answers, data.references())][:limit]


def default_temperature(ckpt) -> float:
    from transformers import GenerationConfig

    try:
        config = GenerationConfig.from_pretrained(ckpt.path)
    except OSError:  # no generation_config.json (a GGUF file): transformers' defaults apply
        config = GenerationConfig()
    return float(config.temperature if config.temperature is not None else 1.0)


def judge_repeats(judge: LocalJudge, judge_prompts: list, repeats: int, chunk: int) -> dict:
    judge.generator.next_token_probs(["warm-up"], [0])  # loads the weights: the clock times judging only
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(repeats):
            store = Store(Path(tmp) / f"{judge.mode}-{r}.duckdb")  # fresh: no judgment comes from the cache
            start, cpu = time.perf_counter(), time.process_time()
            replies = judge_cached(judge, judge_prompts, store, chunk=chunk)
            wall, cpu = time.perf_counter() - start, time.process_time() - cpu
            assert not any(reply.cached for reply in replies)
            runs.append({"wall_s": wall, "cpu_s": cpu, "scores": [reply.score for reply in replies],
                         "completion_tokens": sum(reply.usage["completion_tokens"] for reply in replies)})
            print(f"  {judge.mode} run {r + 1}: {wall:.1f} s wall, {cpu:.1f} s CPU", flush=True)
    return summarize(runs)


def summarize(runs: list[dict]) -> dict:
    per_item = list(zip(*(run["scores"] for run in runs)))  # one tuple of scores per question-turn
    parsed = [s for s in per_item if UNPARSED not in s]
    means = [statistics.fmean(x for x in run["scores"] if x != UNPARSED) if any(x != UNPARSED for x in run["scores"])
             else None for run in runs]
    return {
        "runs": runs,
        "wall_s_best": min(run["wall_s"] for run in runs),
        "cpu_s_mean": statistics.fmean(run["cpu_s"] for run in runs),
        "run_means": means,
        # population variances: the spread of what repeated runs report, not an estimate of a wider population
        "variance_of_run_mean": statistics.pvariance(means) if None not in means else None,
        "mean_item_variance": statistics.fmean(statistics.pvariance(s) for s in parsed) if parsed else None,
        "items_identical": sum(len(set(s)) == 1 for s in per_item),
        "unparsed_per_run": [run["scores"].count(UNPARSED) for run in runs],
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--answers", default=str(ANSWERS), help="a FastChat model_answer file (its one model is judged)")
    ap.add_argument("--limit", type=int, default=16, help="question-turns judged")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--judge", default="demo:smollm2-135m")
    ap.add_argument("--max-new-tokens", type=int, default=prompts.JUDGE_MAX_TOKENS, help="generate mode's budget")
    ap.add_argument("--temperature", type=float, default=None, help="generate mode (default: the judge's own)")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--threads", type=int, default=1, help="torch threads; on a shared CPU more threads spin against "
                    "other processes (measured 7x slower with 2 threads at load 10)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    (model, answers), = data.read_answers(Path(args.answers)).items()
    judge_prompts = question_turns(answers, args.limit)
    ckpt = resolve(args.judge)
    temperature = args.temperature if args.temperature is not None else default_temperature(ckpt)
    settings = RunSettings(batch_size=args.batch_size, device="cpu")
    print(f"judging {len(judge_prompts)} question-turns of {model} with {args.judge}, {args.repeats} runs per mode")
    results = {}
    for mode in ("generate", "logprob"):
        judge = LocalJudge(ckpt, mode, settings, args.max_new_tokens, temperature=temperature)
        results[mode] = {"temperature": temperature if mode == "generate" else None, **judge_repeats(
            judge, judge_prompts, args.repeats, chunk=4 * args.batch_size)}
    speedup = {"wall": results["generate"]["wall_s_best"] / results["logprob"]["wall_s_best"],
               "cpu": results["generate"]["cpu_s_mean"] / results["logprob"]["cpu_s_mean"]}

    def fmt(x: float | None, spec: str = ".4g") -> str:
        return "-" if x is None else format(x, spec)

    print("\n| mode | temperature | question-turns | wall s per run | CPU s per run | run means | variance of run mean "
          "| mean per-judgment variance | identical in all runs | -1 per run |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for mode, r in results.items():
        print(f"| {mode} | {fmt(r['temperature'])} | {len(judge_prompts)} | "
              f"{', '.join(fmt(run['wall_s'], '.0f') for run in r['runs'])} | "
              f"{', '.join(fmt(run['cpu_s'], '.0f') for run in r['runs'])} | "
              f"{', '.join(fmt(m, '.3f') for m in r['run_means'])} | {fmt(r['variance_of_run_mean'])} | "
              f"{fmt(r['mean_item_variance'])} | {r['items_identical']}/{len(judge_prompts)} | "
              f"{', '.join(map(str, r['unparsed_per_run']))} |")
    print(f"\nlogprob mode is {speedup['wall']:.1f}x faster than generate mode in wall time (fastest run of each), "
          f"{speedup['cpu']:.1f}x in CPU time (mean)")

    out = HERE / "out" / "judge.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"args": vars(args), "model": model, "question_turns":
                               [[p.question_id, p.turn, p.name] for p in judge_prompts],
                               "speedup": speedup, "modes": results}, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
