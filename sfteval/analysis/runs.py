"""Runs with their lineage, the leaderboard, a run's samples, and what each grid cell was trained on."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from sfteval.analysis import queries
from sfteval.analysis.abilities import ABILITIES
from sfteval.config import parse_fraction
from sfteval.store import Store

LINEAGE = ["base", "grid", "cell", "strategy", "stage_index", "n_stages", "final", "sources", "fractions", "amount",
           "k"]
RUN_COLUMNS = ["run_id", "checkpoint", "checkpoint_path", "tasks", "backend", "started_at", *LINEAGE]


def grids(store: Store) -> list[str]:
    """The names of the grids the store holds cells of."""
    return sorted(set(queries.lineage(store)["grid"]))


def runs(store: Store, grid: str | None = None) -> pd.DataFrame:
    """One row per finished run and grid cell stage its checkpoint is (a stage shared by several cells gives one
    row per cell); runs of checkpoints outside any grid have NaN lineage, and are left out when `grid` is given."""
    cells = queries.lineage(store, grid)
    cells = cells[cells["checkpoint"].notna()]
    table = queries.finished_runs(store).merge(cells, on="checkpoint", how="inner" if grid else "left")
    return table[RUN_COLUMNS].reset_index(drop=True)


def leaderboard(store: Store, *, grid: str | None = None, base: str | None = None, strategy: str | None = None,
                fraction: str | None = None, stage: int | str | None = None, sort: str | None = None) -> pd.DataFrame:
    """runs() rows with, per task in the store, its headline value, 95% interval and units:
    `<task>`, `<task>_lo`, `<task>_hi`, `<task>_n`. Filters: base model, strategy, the cell's data amount
    (`fraction`, e.g. "1/16"), stage (an index, or "final"). `sort`: a column; task columns sort best first."""
    table = runs(store, grid)
    if base is not None:
        table = table[table["base"] == base]
    if strategy is not None:
        table = table[table["strategy"] == strategy]
    if fraction is not None:
        wanted = parse_fraction(fraction)
        table = table[table["amount"].map(lambda a: isinstance(a, str) and parse_fraction(a) == wanted)]
    if stage == "final":
        table = table[table["final"] == True]  # noqa: E712 (NaN lineage is neither True nor False)
    elif stage is not None:
        table = table[table["stage_index"] == int(stage)]
    scores = queries.headline_scores(store, sorted(set(table["run_id"])))
    ci = queries.intervals(store, list(zip(scores["run_id"], scores["task"])))
    scores = scores.merge(ci, on=["run_id", "task"], how="left", suffixes=("_scores", ""))
    scores["n"] = scores["n"].fillna(scores["n_scores"])  # no samples stored: the scores' own count
    for task in [t for t in ABILITIES if t in set(scores["task"])]:
        part = scores[scores["task"] == task].set_index("run_id")
        for suffix, column in (("", "value"), ("_lo", "lo"), ("_hi", "hi"), ("_n", "n")):
            table[task + suffix] = table["run_id"].map(part[column])
    for task in [c[:-2] for c in table.columns if c.endswith("_n") and c[:-2] in ABILITIES]:
        table[task + "_n"] = table[task + "_n"].astype("Int64")
    if sort is not None:
        best_first = sort in ABILITIES and ABILITIES[sort].higher_is_better
        table = table.sort_values(sort, ascending=not best_first, na_position="last", kind="stable")
    return table.reset_index(drop=True)


def samples(store: Store, run_id: str, task: str | None = None, only=None) -> pd.DataFrame:
    """A run's samples (a unique prefix of its id is enough), JSON columns parsed, MT-Bench judge text in
    `judgment`. only: "right" (score > 0), "wrong" (score 0), "unscored" (no score), or a list of doc_ids."""
    run_id = store.run(run_id)["id"]
    rows = store.frame("""SELECT * FROM samples WHERE run_id = ? AND (? IS NULL OR task = ?)
                          ORDER BY task, doc_id, repeat""", [run_id, task, task])
    rows["extracted"] = rows["extracted"].map(lambda e: json.loads(e) if isinstance(e, str) else {})
    rows["metrics"] = rows["metrics"].map(lambda m: json.loads(m) if isinstance(m, str) else {})
    rows["judgment"] = rows["extracted"].map(lambda e: e.get("judgment"))
    if only == "right":
        rows = rows[rows["score"] > 0]
    elif only == "wrong":
        rows = rows[rows["score"] == 0]
    elif only == "unscored":
        rows = rows[rows["score"].isna()]
    elif only is not None:
        rows = rows[rows["doc_id"].isin(list(only))]
    return rows.reset_index(drop=True)


def mixtures(store: Store, grid: str | None = None) -> pd.DataFrame:
    """One row per grid cell stage and source: the fraction drawn, examples (and tokens, when the manifest
    counts them per source), beside the whole mixture's examples and tokens."""
    rows = []
    for cell in queries.lineage(store, grid).itertuples():
        for source, fraction in cell.fractions.items():
            entry = cell.source_counts.get(source, {})
            rows.append({"grid": cell.grid, "cell": cell.cell, "strategy": cell.strategy,
                         "stage_index": cell.stage_index, "stage": cell.stage, "mixture": cell.mixture,
                         "source": source, "fraction": fraction, "n": entry.get("n", np.nan),
                         "tokens": entry.get("tokens", np.nan), "mixture_n": cell.n_examples,
                         "mixture_tokens": cell.mixture_tokens, "trainable_tokens": cell.trainable_tokens})
    columns = ["grid", "cell", "strategy", "stage_index", "stage", "mixture", "source", "fraction", "n", "tokens",
               "mixture_n", "mixture_tokens", "trainable_tokens"]
    return pd.DataFrame(rows, columns=columns)


def grid_sources(store: Store, grid: str) -> pd.DataFrame:
    """(source, path, format, file_sha256): where each source of a grid's mixtures was read from, as their
    manifests recorded it, so that the sources can be read again (the app's overlap view)."""
    return store.frame("""WITH entries AS (
                              SELECT DISTINCT t.name AS source, m.manifest -> '$.sources' -> t.name AS entry
                              FROM grid_cells g JOIN stages s ON s.hash = g.stage
                                   JOIN mixtures m ON m.hash = s.mixture,
                                   unnest(json_keys(m.manifest, '$.sources')) AS t(name)
                              WHERE g.grid = ?)
                          SELECT DISTINCT source, entry ->> 'path' AS path, entry ->> 'format' AS format,
                                 entry ->> 'file_sha256' AS file_sha256
                          FROM entries ORDER BY source""", [grid])
