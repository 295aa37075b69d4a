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
    per_source = _mixture_sources(store, cells["mixture"].dropna().unique())
    cells["source_counts"] = [per_source.get(m, {}) for m in cells["mixture"]]
    # A cell's data amount: its largest fraction of any source in any stage (DMT's replay k*f < f).
    largest = defaultdict(Fraction)
    for row in cells.itertuples():
        for f in row.fractions.values():
            largest[row.grid, row.cell] = max(largest[row.grid, row.cell], parse_fraction(f))
    cells["amount"] = [fraction_text(largest[g, c]) for g, c in zip(cells["grid"], cells["cell"])]
    cells["final"] = cells["stage_index"] == cells["n_stages"] - 1
    return cells


# mixture hash -> {source: {"n", "tokens"}}. A mixture is content-addressed and its manifest never rewritten, so
# what a hash maps to never changes: the app reads each manifest once per process.
_SOURCE_COUNTS: dict[str, dict[str, dict]] = {}


def _mixture_sources(store: Store, hashes) -> dict[str, dict[str, dict]]:
    """Per-source counts of the given mixtures, read from their manifests by DuckDB (a manifest also lists every
    example id: parsing those cost ~0.5 s per grid read of a large store, bench/bench_app.py)."""
    missing = sorted({h for h in hashes if isinstance(h, str)} - _SOURCE_COUNTS.keys())
    if missing:
        rows = _frame(store, """SELECT m.hash, t.k AS source,
                                       TRY_CAST(m.manifest -> '$.sources' -> t.k ->> 'n' AS DOUBLE) AS n,
                                       TRY_CAST(m.manifest -> '$.sources' -> t.k ->> 'tokens' AS DOUBLE) AS tokens
                                FROM mixtures m JOIN wanted w ON w.hash = m.hash,
                                     unnest(json_keys(m.manifest, '$.sources')) AS t(k)""",
                      wanted=pd.DataFrame({"hash": missing}))
        found = defaultdict(dict)
        for row in rows.itertuples():
            found[row.hash][row.source] = {key: value for key, value in (("n", row.n), ("tokens", row.tokens))
                                           if not pd.isna(value)}
        _SOURCE_COUNTS.update(found)
    return {h: _SOURCE_COUNTS.get(h, {}) for h in hashes if isinstance(h, str)}


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


# A unit's score: the mean of its samples (pass@k runs draw several per problem). `wanted` (run_id, task) picks
# the runs; `kinds` (task, per_turn) says which tasks are scored per question-turn.
_UNITS_SQL = """SELECT s.run_id, s.task, s.doc_id, min(s.repeat) AS repeat, avg(s.score) AS score
                FROM samples s JOIN wanted w ON w.run_id = s.run_id AND w.task = s.task
                     JOIN kinds k ON k.task = s.task
                WHERE s.score IS NOT NULL
                GROUP BY s.run_id, s.task, s.doc_id, CASE WHEN k.per_turn THEN s.repeat END"""


def _unit_tables(pairs: list[tuple[str, str]]) -> dict[str, pd.DataFrame]:
    return {"wanted": pd.DataFrame(pairs, columns=["run_id", "task"]).drop_duplicates(),
            "kinds": pd.DataFrame({"task": list(ABILITIES), "per_turn": [a.per_turn for a in ABILITIES.values()]})}


def units(store: Store, pairs: list[tuple[str, str]]) -> dict[tuple[str, str], pd.Series]:
    """(run_id, task) -> per-unit scores, indexed by doc_id, or by (doc_id, repeat) for per-turn tasks."""
    if not pairs:
        return {}
    rows = _frame(store, _UNITS_SQL + " ORDER BY s.run_id, s.task, s.doc_id, repeat", **_unit_tables(pairs))
    return {(run_id, task): group.set_index(["doc_id", "repeat"] if ABILITIES[task].per_turn else "doc_id")["score"]
            for (run_id, task), group in rows.groupby(["run_id", "task"], sort=False)}


def intervals(store: Store, pairs: list[tuple[str, str]]) -> pd.DataFrame:
    """(run_id, task, lo, hi, n, method) from each pair's units: Wilson for 0/1 units, bootstrap otherwise.

    Right/wrong runs reach Python as (right, units) counts, and only the units of bootstrapped runs come back,
    ordered as units() orders them. Bootstraps of runs with the same number of units share one seeded
    resampling, done as one matrix product: each result equals stats.mean_ci of that run alone."""
    columns = ["run_id", "task", "lo", "hi", "n", "method"]
    if not pairs:
        return pd.DataFrame(columns=columns)
    with store.connect() as con:
        for name, table in _unit_tables(pairs).items():
            con.register(name, table)
        con.execute("CREATE TEMP TABLE unit AS " + _UNITS_SQL)
        counts = con.execute("""SELECT run_id, task, count(*) AS n, sum(score) AS right,
                                       bool_and(score = 0 OR score = 1) AS binary
                                FROM unit GROUP BY run_id, task ORDER BY run_id, task""").df()
        graded = con.execute("""SELECT u.score FROM unit u
                                JOIN (SELECT run_id, task FROM unit GROUP BY run_id, task
                                      HAVING NOT bool_and(score = 0 OR score = 1)) g USING (run_id, task)
                                ORDER BY u.run_id, u.task, u.doc_id, u.repeat""").fetchnumpy()["score"]
    binary, rest = counts[counts["binary"]], counts[~counts["binary"]]
    _, lo, hi = wilson(binary["right"].to_numpy(), binary["n"].to_numpy())
    parts = [pd.DataFrame({"run_id": binary["run_id"], "task": binary["task"], "lo": lo, "hi": hi,
                           "n": binary["n"], "method": "wilson"})]
    sizes = rest["n"].to_numpy()
    values = np.split(np.asarray(graded, dtype=float), np.cumsum(sizes)[:-1]) if len(rest) else []
    for size in np.unique(sizes):
        picked = np.flatnonzero(sizes == size)
        means = bootstrap_means(np.stack([values[i] for i in picked]))
        bounds = np.percentile(means, percentiles(LEVEL), axis=1)
        parts.append(pd.DataFrame({"run_id": rest["run_id"].to_numpy()[picked], "task": rest["task"].to_numpy()[picked],
                                   "lo": bounds[0], "hi": bounds[1], "n": size, "method": "bootstrap"}))
    return pd.concat(parts, ignore_index=True)[columns]


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
