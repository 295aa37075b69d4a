"""How fast the app reads a big store: each analysis call its pages make, and each page's full render.

Builds a synthetic store with the real schema (sfteval.store.Store creates it; DuckDB SQL bulk-inserts the rows):
--runs finished runs, each of its own checkpoint except that every stage of a grid has two runs (an older and the
newest), scores for gsm8k, humaneval and mtbench, and --samples-per-run samples per run (1,000 by default: 676
GSM8K problems, 164 HumanEval problems, 80 MT-Bench questions x 2 turns). The grid has two base models x five data
amounts of single (math, code, general), multitask, sequential (code > math > general) and DMT (four k) cells,
plus ratio cells at general = 1; its mixture manifests list every example id, as real ones do.

Then times, on Store(path, read_only=True), each sfteval.analysis.tables call the pages make (median of --repeats),
against the issue's target of 200 ms each on 2 cores, and each page rendered cold (cache cleared) in Streamlit's
AppTest. Prints a markdown table and writes bench/out/app.json.

    python bench/bench_app.py                  # 1,000 runs, 1,000,000 samples
    python bench/bench_app.py --runs 200       # a quicker look (200,000 samples)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import pandas as pd

from sfteval.analysis import queries, stats, tables
from sfteval.config import fraction_text, parse_fraction
from sfteval.store import Store

ROOT = Path(__file__).resolve().parents[1]
TARGET_MS = 200
GRID = "bench"
BASES = ["base-a", "base-b"]
AMOUNTS = ["1/256", "1/64", "1/16", "1/4", "1"]
KS = ["1/256", "1/64", "1/16", "1/4"]
SOURCE_SIZE = {"math": 7473, "code": 20022, "general": 86000}  # GSM8K train, Code Alpaca, the paper's ShareGPT
TASK_DOCS = {"gsm8k": (676, 1), "humaneval": (164, 1), "mtbench": (80, 2)}  # task -> (problems, repeats)
METRIC = {"gsm8k": "exact_match,flexible", "humaneval": "pass@1", "mtbench": "score"}
PAGES = ["leaderboard", "strategies", "scaling", "ratios", "forgetting", "compare", "samples", "data"]


def grid_stages() -> tuple[list[dict], list[dict]]:
    """(stages: hash, parent, base, fractions; cells: grid_cells rows) of the benchmark grid."""
    stages, cells = [], []

    def stage(base, parent, fractions):
        stages.append({"hash": f"stage-{len(stages):04d}", "parent": parent, "base": base, "fractions": fractions})
        return stages[-1]["hash"]

    def cell(name, strategy, parts, k=None):
        for i, (hash, fractions) in enumerate(parts):
            cells.append({"grid": GRID, "cell": name, "strategy": strategy, "stage_index": i, "n_stages": len(parts),
                          "stage": hash, "sources": sorted(fractions), "fractions": fractions, "k": k})

    for base in BASES:
        for f in AMOUNTS:
            for source in SOURCE_SIZE:
                fr = {source: f}
                cell(f"{base} single {source} @{f}", "single", [(stage(base, None, fr), fr)])
            all3 = {s: f for s in SOURCE_SIZE}
            cell(f"{base} multitask @{f}", "multitask", [(stage(base, None, all3), all3)])
            parts, parent = [], None
            for source in ("code", "math", "general"):
                parent = stage(base, parent, {source: f})
                parts.append((parent, {source: f}))
            cell(f"{base} sequential code>math>general @{f}", "sequential", parts)
            specialists = {"code": f, "math": f}
            first = stage(base, None, specialists)
            for k in KS:
                kf = fraction_text(parse_fraction(k) * parse_fraction(f))
                replay = {"general": f, "code": kf, "math": kf}
                cell(f"{base} dmt k={k} @{f}", "dmt", [(first, specialists), (stage(base, first, replay), replay)],
                     k=k)
        for f in AMOUNTS[:-1]:
            fr = {"general": "1", "code": f, "math": f}
            cell(f"{base} ratio [general=1] code+math @{f}", "ratio", [(stage(base, None, fr), fr)], k=f)
    return stages, cells


def build(path: Path, n_runs: int, samples_per_run: int) -> dict:
    """Write the synthetic store at `path`; returns what it holds."""
    store = Store(path)
    stages, cells = grid_stages()
    for s in stages:
        sources = {}
        for source, f in s["fractions"].items():
            n = max(1, round(SOURCE_SIZE[source] * parse_fraction(f)))
            sources[source] = {"path": f"/data/{source}.jsonl", "format": "sharegpt", "amount": f, "n": n,
                               "ids": [f"{source}-{i}" for i in range(n)], "sha256": "0" * 64}
        n = sum(e["n"] for e in sources.values())
        mixture = f"mix-{s['hash']}"
        store.save_mixture(mixture, 0, n, {"seed": 0, "sources": sources, "dropped": []}, tokens=300 * n,
                           trainable_tokens=120 * n)
        store.start_stage(s["hash"], s["parent"], s["base"], f"hash-{s['base']}", mixture, {"lr": 2e-5})
        store.end_stage(s["hash"], "finished", path=f"/ckpt/{s['hash']}", checkpoint=f"ckpt-{s['hash']}")
    store.save_cells(cells)

    # Runs 0 .. 2*len(stages)-1 evaluate the grid's stages (two runs each, the later one newest); the rest are
    # runs of checkpoints outside any grid.
    grid_ckpts = [f"ckpt-{s['hash']}" for s in stages]
    ckpt = [grid_ckpts[i % len(grid_ckpts)] if i < 2 * len(grid_ckpts) else f"ckpt-other-{i:05d}"
            for i in range(n_runs)]
    runs = pd.DataFrame({"id": [f"run-{i:05d}" for i in range(n_runs)], "checkpoint": ckpt, "i": range(n_runs)})
    docs = pd.DataFrame([(task, d, r) for task, (n, reps) in TASK_DOCS.items() for d in range(n) for r in range(reps)],
                        columns=["task", "doc_id", "repeat"]).head(samples_per_run)
    metrics = pd.DataFrame(METRIC.items(), columns=["task", "metric"])
    with store.connect() as con:
        con.register("bench_runs", runs)
        con.register("bench_docs", docs)
        con.register("bench_metrics", metrics)
        con.execute("""INSERT INTO checkpoints SELECT DISTINCT checkpoint, '/ckpt/' || checkpoint, 'hf', NULL,
                       '{}', TIMESTAMP '2026-01-01', TIMESTAMP '2026-01-01' FROM bench_runs""")
        con.execute("""INSERT INTO runs SELECT id, checkpoint, 'fp-' || id, ['gsm8k', 'humaneval', 'mtbench'], 'hf',
                       '{"batch_size": 8}', '0.1.0', NULL, TIMESTAMP '2026-01-01' + to_minutes(i),
                       TIMESTAMP '2026-01-01' + to_minutes(i + 1), 'finished', NULL FROM bench_runs""")
        # Right/wrong by a hash of (run, problem) with a rate that grows with the run's number; MT-Bench 1..10.
        con.execute("""INSERT INTO samples
                       SELECT r.id, d.task, d.doc_id, d.repeat,
                              'Question ' || d.doc_id || ': ' || repeat('a long enough prompt text ', 12),
                              'Step by step, the answer is ' || (d.doc_id * 7) || '. ' || repeat('reasoning ', 20),
                              CAST(d.doc_id * 7 AS VARCHAR),
                              CASE WHEN d.task = 'mtbench' THEN '{"judgment": "The answer is fine. Rating: [[7]]"}'
                                   ELSE '{"flexible": "' || (d.doc_id * 7) || '"}' END,
                              '{"value": 1.0}',
                              CASE WHEN d.task = 'mtbench' THEN 1 + hash(r.id, d.doc_id, d.repeat) % 10
                                   ELSE CAST(hash(r.id, d.doc_id) % 1000 < 300 + r.i % 400 AS DOUBLE) END
                       FROM bench_runs r CROSS JOIN bench_docs d ORDER BY r.id, d.task, d.doc_id, d.repeat""")
        con.execute("""INSERT INTO scores SELECT s.run_id, s.task, m.metric, avg(s.score), NULL, count(*)
                       FROM samples s JOIN bench_metrics m ON m.task = s.task GROUP BY s.run_id, s.task, m.metric""")
        counts = {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                  for t in ("runs", "samples", "scores", "stages", "grid_cells", "mixtures")}
    return counts


def median_ms(call, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def time_calls(path: Path, repeats: int) -> list[dict]:
    """Each tables.<call> the pages make, with the arguments the pages pass by default."""
    store = Store(path, read_only=True)
    newest = tables.runs(store)["run_id"].tolist()
    run_a, run_b = newest[1], newest[0]  # the compare page's defaults
    calls = {
        "runs": lambda: tables.runs(store),
        "leaderboard (all runs)": lambda: tables.leaderboard(store),
        "leaderboard (grid)": lambda: tables.leaderboard(store, grid=GRID),
        "strategies": lambda: tables.strategies(store, GRID),
        "scaling": lambda: tables.scaling(store, GRID),
        "conflict": lambda: tables.conflict(store, GRID),
        "ratio": lambda: tables.ratio(store, GRID),
        "stage_scores": lambda: tables.stage_scores(store, GRID),
        "compare": lambda: tables.compare(store, run_a, run_b),
        "samples (run, task)": lambda: tables.samples(store, run_b, "gsm8k"),
        "samples (one problem)": lambda: tables.samples(store, run_b, "gsm8k", only=[3]),
        "mixtures": lambda: tables.mixtures(store, GRID),
    }
    rows = []
    for name, call in calls.items():
        forget_process_caches()
        start = time.perf_counter()
        call()
        cold = (time.perf_counter() - start) * 1000
        ms = median_ms(call, repeats)
        rows.append({"call": name, "cold_ms": round(cold, 1), "ms": round(ms, 1), "under_target": ms < TARGET_MS})
        print(f"  {name}: {cold:.0f} ms cold, {ms:.0f} ms warm", flush=True)
    return rows


def forget_process_caches() -> None:
    """What an app process keeps between reruns: manifest counts per mixture and the bootstrap resamples."""
    queries._SOURCE_COUNTS.clear()
    stats._resample_counts.cache_clear()


def time_pages(path: Path, repeats: int) -> list[dict]:
    """Each page rendered in AppTest with the cache cleared before each render (every query runs)."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    os.environ["SFTEVAL_DB"] = str(path)
    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=600).run()  # imports and widgets warm
    rows = []
    for page in PAGES:
        def render():
            st.cache_data.clear()
            forget_process_caches()
            app.switch_page(f"sfteval/ui/{page}.py").run()
        ms = median_ms(render, repeats)
        assert not app.exception, [e.value for e in app.exception]
        rows.append({"page": page, "ms": round(ms, 1)})
        print(f"  page {page}: {ms:.0f} ms", flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--samples-per-run", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default=str(ROOT / "bench" / "out" / "app.json"))
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.duckdb"
        start = time.perf_counter()
        counts = build(path, args.runs, args.samples_per_run)
        build_s = time.perf_counter() - start
        print(f"store: {counts}, built in {build_s:.1f} s, {path.stat().st_size / 2**20:.0f} MiB", flush=True)
        calls = time_calls(path, args.repeats)
        pages = time_pages(path, args.repeats)
        size_mib = path.stat().st_size / 2**20

    print(f"\n| call | cold ms (first call) | warm ms (median of {args.repeats}) | under {TARGET_MS} ms warm? |"
          "\n|---|---|---|---|")
    for row in calls:
        print(f"| {row['call']} | {row['cold_ms']:.0f} | {row['ms']:.0f} | {'yes' if row['under_target'] else 'no'} |")
    print(f"\n| page (AppTest, all caches cleared) | ms (median of {args.repeats}) |\n|---|---|")
    for row in pages:
        print(f"| {row['page']} | {row['ms']:.0f} |")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({
        "store": counts, "store_mib": round(size_mib, 1), "build_s": round(build_s, 1), "target_ms": TARGET_MS,
        "repeats": args.repeats, "cpus": os.cpu_count(), "load_avg": os.getloadavg(), "calls": calls,
        "pages": pages}, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
