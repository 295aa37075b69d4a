"""The SQL behind the analyses: runs, lineage, headline scores and per-unit scores, read as DataFrames.

A unit is what a paired test pairs and an interval resamples: a problem (doc_id; several samples of one problem,
as pass@k runs draw, are averaged into it), or an MT-Bench question-turn (doc_id, repeat = turn - 1). Samples
without a score (an unjudged or unparsed MT-Bench turn) are not units.
"""

from __future__ import annotations

import json
from collections import defaultdict
from fractions import Fraction

import numpy as np
import pandas as pd

from sfteval.analysis.abilities import ABILITIES
from sfteval.analysis.stats import LEVEL, bootstrap_means, percentiles, wilson
from sfteval.config import fraction_text, parse_fraction
from sfteval.store import Store

_METRICS = pd.DataFrame({"task": list(ABILITIES), "metric": [a.metric for a in ABILITIES.values()]})


def _frame(store: Store, sql: str, params: list | None = None, **tables: pd.DataFrame) -> pd.DataFrame:
    """Run sql with DataFrames registered as tables (DuckDB joins them in one scan)."""
    with store.connect() as con:
        for name, table in tables.items():
            con.register(name, table)
        return con.execute(sql, params or []).df()


def finished_runs(store: Store) -> pd.DataFrame:
    runs = store.frame("""SELECT r.id AS run_id, r.checkpoint, c.path AS checkpoint_path, r.tasks, r.backend,
                                 r.started_at
                          FROM runs r LEFT JOIN checkpoints c ON c.hash = r.checkpoint
                          WHERE r.status = 'finished' ORDER BY r.started_at DESC, r.id""")
    runs["tasks"] = runs["tasks"].map(list)
    return runs


def lineage(store: Store, grid: str | None = None) -> pd.DataFrame:
    """One row per grid cell stage: the cell, the stage's checkpoint and base, its mixture's sizes."""
    cells = store.frame("""SELECT g.grid, g.cell, g.strategy, g.stage_index, g.n_stages, g.stage, g.sources,
                                  g.fractions, g.k, s.base, s.checkpoint, s.mixture, m.n_examples,
                                  m.tokens AS mixture_tokens, m.trainable_tokens
                           FROM grid_cells g LEFT JOIN stages s ON s.hash = g.stage
                                LEFT JOIN mixtures m ON m.hash = s.mixture
                           WHERE ? IS NULL OR g.grid = ?
                           ORDER BY g.grid, g.cell, g.stage_index""", [grid, grid])
    cells["sources"] = cells["sources"].map(list)
    cells["fractions"] = cells["fractions"].map(json.loads)
    per_source = _mixture_sources(store)
    cells["source_counts"] = [per_source.get(m, {}) for m in cells["mixture"]]
    # A cell's data amount: its largest fraction of any source in any stage (DMT's replay k*f < f).
    largest = defaultdict(Fraction)
    for row in cells.itertuples():
        for f in row.fractions.values():
            largest[row.grid, row.cell] = max(largest[row.grid, row.cell], parse_fraction(f))
    cells["amount"] = [fraction_text(largest[g, c]) for g, c in zip(cells["grid"], cells["cell"])]
    cells["final"] = cells["stage_index"] == cells["n_stages"] - 1
    return cells


def _mixture_sources(store: Store) -> dict[str, dict[str, dict]]:
    """mixture hash -> {source: {"n", "tokens"}} from the manifests. DuckDB reads just these fields: a manifest
    also lists every example id, and parsing those in Python cost ~1 s per grid read (bench/bench_app.py)."""
    rows = store.frame("""SELECT m.hash, k AS source,
                                 TRY_CAST(json_extract(m.manifest, '$.sources."' || k || '".n') AS DOUBLE) AS n,
                                 TRY_CAST(json_extract(m.manifest, '$.sources."' || k || '".tokens') AS DOUBLE)
                                     AS tokens
                          FROM mixtures m, unnest(json_keys(m.manifest, '$.sources')) AS t(k)""")
    result: dict[str, dict[str, dict]] = defaultdict(dict)
    for row in rows.itertuples():
        result[row.hash][row.source] = {key: value for key, value in (("n", row.n), ("tokens", row.tokens))
                                        if not pd.isna(value)}
    return result


def source_examples(source_counts: dict, source: str, default: float) -> float:
    """How many examples of `source` a mixture holds (the manifest's count, else the mixture's total)."""
    return source_counts.get(source, {}).get("n", default)


def headline_scores(store: Store, run_ids: list[str] | None = None) -> pd.DataFrame:
    """(run_id, checkpoint, started_at, task, value, n): each finished run's headline metric per task."""
    return _frame(store, """SELECT s.run_id, r.checkpoint, r.started_at, s.task, s.value, s.n
                            FROM scores s JOIN metrics m ON m.task = s.task AND m.metric = s.metric
                                 JOIN runs r ON r.id = s.run_id
                            WHERE r.status = 'finished' AND (? OR list_contains(?, s.run_id))
                            ORDER BY r.started_at DESC, s.run_id""",
                  [run_ids is None, run_ids or []], metrics=_METRICS)


def latest_scores(store: Store) -> pd.DataFrame:
    """Per (checkpoint, task): the newest finished run that stored the task's headline metric, and its value."""
    scores = headline_scores(store)
    return scores.drop_duplicates(["checkpoint", "task"], keep="first").reset_index(drop=True)


def units(store: Store, pairs: list[tuple[str, str]]) -> dict[tuple[str, str], pd.Series]:
    """(run_id, task) -> per-unit scores, indexed by doc_id, or by (doc_id, repeat) for per-turn tasks."""
    if not pairs:
        return {}
    wanted = pd.DataFrame(pairs, columns=["run_id", "task"]).drop_duplicates()
    rows = _frame(store, """SELECT s.run_id, s.task, s.doc_id, s.repeat, s.score
                            FROM samples s JOIN wanted w ON w.run_id = s.run_id AND w.task = s.task
                            WHERE s.score IS NOT NULL
                            ORDER BY s.run_id, s.task, s.doc_id, s.repeat""", wanted=wanted)
    result = {}
    for (run_id, task), group in rows.groupby(["run_id", "task"], sort=False):
        if ABILITIES[task].per_turn:
            result[run_id, task] = group.set_index(["doc_id", "repeat"])["score"]
        else:
            result[run_id, task] = group.groupby("doc_id")["score"].mean()
    return result


def intervals(store: Store, pairs: list[tuple[str, str]]) -> pd.DataFrame:
    """(run_id, task, lo, hi, n, method) from each pair's units: Wilson for 0/1 units, bootstrap otherwise.

    DuckDB reduces right/wrong runs to (right, units) counts, so a leaderboard of many runs never brings their
    samples into Python. Bootstraps of runs with the same number of units share one seeded resampling, done as
    one matrix product; each result equals stats.mean_ci of that run alone."""
    columns = ["run_id", "task", "lo", "hi", "n", "method"]
    if not pairs:
        return pd.DataFrame(columns=columns)
    wanted = pd.DataFrame(pairs, columns=["run_id", "task"]).drop_duplicates()
    kinds = pd.DataFrame({"task": list(ABILITIES), "per_turn": [a.per_turn for a in ABILITIES.values()]})
    counts = _frame(store, """WITH unit AS (
                                  SELECT s.run_id, s.task, avg(s.score) AS score
                                  FROM samples s JOIN wanted w ON w.run_id = s.run_id AND w.task = s.task
                                       JOIN kinds k ON k.task = s.task
                                  WHERE s.score IS NOT NULL
                                  GROUP BY s.run_id, s.task, s.doc_id, CASE WHEN k.per_turn THEN s.repeat END)
                              SELECT run_id, task, count(*) AS n, sum(score) AS right,
                                     bool_and(score = 0 OR score = 1) AS binary
                              FROM unit GROUP BY run_id, task""", wanted=wanted, kinds=kinds)
    binary = counts[counts["binary"]]
    _, lo, hi = wilson(binary["right"].to_numpy(), binary["n"].to_numpy())
    rows = [(r, t, float(a), float(b), int(n), "wilson")
            for r, t, a, b, n in zip(binary["run_id"], binary["task"], lo, hi, binary["n"])]
    pending = defaultdict(list)
    rest = counts[~counts["binary"]]
    for (run_id, task), series in units(store, list(zip(rest["run_id"], rest["task"]))).items():
        pending[series.size].append((run_id, task, series.to_numpy(dtype=float)))
    for size, group in pending.items():
        means = bootstrap_means(np.stack([v for _, _, v in group]))
        bounds = np.percentile(means, percentiles(LEVEL), axis=1)
        rows += [(r, t, float(bounds[0, i]), float(bounds[1, i]), size, "bootstrap")
                 for i, (r, t, _) in enumerate(group)]
    return pd.DataFrame(rows, columns=columns)


def scored_stages(store: Store, grid: str | None = None) -> pd.DataFrame:
    """lineage() rows joined with each stage checkpoint's newest score per task and its interval: one row per
    (cell stage, task), with ability, run_id, value, lo, hi, n (units behind the interval)."""
    cells = lineage(store, grid)
    scores = latest_scores(store)[["checkpoint", "task", "run_id", "value"]]
    rows = cells.merge(scores, on="checkpoint", how="inner")
    ci = intervals(store, list(zip(rows["run_id"], rows["task"])))
    rows = rows.merge(ci[["run_id", "task", "lo", "hi", "n"]], on=["run_id", "task"], how="left")
    rows["n"] = rows["n"].astype("Int64")  # NaN: a run with scores but no samples
    rows.insert(rows.columns.get_loc("task"), "ability", rows["task"].map(lambda t: ABILITIES[t].ability))
    return rows.reset_index(drop=True)
