"""The study's questions over a grid's cells (Dong et al., 2024): scaling (RQ1), conflict (RQ2), ratio (RQ3),
strategies (RQ4). Each cell stage is scored by its checkpoint's newest run per task (queries.scored_stages).

Single-source cells teach one ability: a source is named by its ability (math, code, general).
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pandas as pd

from sfteval.analysis import queries
from sfteval.analysis.abilities import ABILITIES
from sfteval.analysis.compare import paired
from sfteval.analysis.stats import holm
from sfteval.config import fraction_text, parse_fraction
from sfteval.store import Store

SPECIALISTS = ("math", "code")
_ORDER = {"single": 0, "multitask": 1, "sequential": 2, "mixed_sequential": 3, "dmt": 4}
_SINGLE_ORDER = {"general": 0, "math": 1, "code": 2}  # the paper's Table 1 order


def _single(rows: pd.DataFrame) -> pd.DataFrame:
    """Single-source cells, each row scored on its own ability's tasks, with the source's fraction."""
    rows = rows[(rows["strategy"] == "single") & (rows["sources"].map(len) == 1)]
    rows = rows[rows["sources"].map(lambda s: s[0]) == rows["ability"]].copy()
    rows["fraction"] = [f[a] for f, a in zip(rows["fractions"], rows["ability"])]
    return rows


def _by_fraction(frame: pd.DataFrame, *keys: str) -> pd.DataFrame:
    order = frame["fraction"].map(parse_fraction)
    return frame.assign(_f=order).sort_values([*keys, "_f"]).drop(columns="_f").reset_index(drop=True)


def scaling(store: Store, grid: str | None = None) -> pd.DataFrame:
    """RQ1: each ability's score against the amount of its own data, per base model, from single-source cells."""
    rows = _single(queries.scored_stages(store, grid))
    rows["n_examples"] = [queries.source_examples(m, a, n) for m, a, n in
                          zip(rows["source_counts"], rows["ability"], rows["n_examples"])]
    columns = ["ability", "task", "grid", "base", "fraction", "n_examples", "value", "lo", "hi", "n", "run_id", "cell"]
    return _by_fraction(rows[columns], "ability", "task", "grid", "base")


def conflict(store: Store, grid: str | None = None) -> pd.DataFrame:
    """RQ2: the multitask cell minus the single-source cell of an ability at the same fraction of that ability's
    data, paired per problem (McNemar for right/wrong, paired bootstrap for judge scores); Holm over all rows.
    Positive delta: mixing helped; negative: conflict."""
    scored = queries.scored_stages(store, grid)
    single = _single(scored).set_index(["grid", "base", "ability", "fraction", "task"])
    mixed = scored[(scored["strategy"] == "multitask") & scored["final"]]
    pairs, out = [], []
    for row in mixed.itertuples():
        fraction = row.fractions.get(row.ability)
        key = (row.grid, row.base, row.ability, fraction, row.task)
        if fraction is None or key not in single.index:
            continue
        alone = single.loc[key]
        alone = alone.iloc[0] if isinstance(alone, pd.DataFrame) else alone
        pairs.append((alone, row))
    unit_scores = queries.units(store, [(r.run_id, r.task) for a, r in pairs] + [(a.run_id, r.task) for a, r in pairs])
    for alone, row in pairs:
        result = paired(unit_scores.get((alone.run_id, row.task), pd.Series(dtype=float)),
                        unit_scores.get((row.run_id, row.task), pd.Series(dtype=float)))
        out.append({"ability": row.ability, "task": row.task, "grid": row.grid, "base": row.base,
                    "fraction": row.fractions[row.ability], "single": alone.value, "mixed": row.value,
                    "delta": result.delta, "lo": result.lo, "hi": result.hi, "p": result.p, "test": result.test,
                    "n": result.n, "single_run": alone.run_id, "mixed_run": row.run_id})
    columns = ["ability", "task", "grid", "base", "fraction", "single", "mixed", "delta", "lo", "hi", "p", "p_holm",
               "test", "n", "single_run", "mixed_run"]
    table = pd.DataFrame(out, columns=[c for c in columns if c != "p_holm"])
    table.insert(table.columns.get_loc("test"), "p_holm", holm(table["p"]))
    return _by_fraction(table, "ability", "task", "grid", "base")


def ratio(store: Store, grid: str | None = None) -> pd.DataFrame:
    """RQ3: scores of general+specialist mixtures (ratio and multitask cells) where one side's amount is fixed and
    the other's varies; k = specialist fraction / general fraction (the paper's normalised ratio)."""
    scored = queries.scored_stages(store, grid)
    scored = scored[scored["strategy"].isin(["ratio", "multitask"]) & (scored["n_stages"] == 1)].copy()
    scored["general"] = scored["fractions"].map(lambda f: f.get("general"))
    scored["specialist"] = scored["fractions"].map(_specialist_fraction)
    scored = scored[scored["general"].notna() & scored["specialist"].notna()]
    # One point per stage: the planner shares a stage among cells (a ratio cell at 1 is the multitask cell).
    scored = scored.drop_duplicates(["grid", "stage", "task"])
    parts = []
    for fixed, varies in (("general", "specialist"), ("specialist", "general")):
        for (g, base, amount), group in scored.groupby(["grid", "base", fixed]):
            if group[varies].nunique() > 1:
                parts.append(group.assign(setting=f"{fixed}={amount}, {varies} varies", fixed=fixed))
    columns = ["setting", "fixed", "general", "specialist", "k", "ability", "task", "grid", "base", "value", "lo",
               "hi", "n", "run_id", "cell"]
    if not parts:
        return pd.DataFrame(columns=columns)
    table = pd.concat(parts, ignore_index=True)
    k = [parse_fraction(s) / parse_fraction(g) for s, g in zip(table["specialist"], table["general"])]
    table["k"] = [fraction_text(x) for x in k]
    return table.assign(_k=k).sort_values(["setting", "task", "_k"])[columns].reset_index(drop=True)


def _specialist_fraction(fractions: dict) -> str | None:
    """The specialists' common fraction (math and code move together in the ratio settings), else None."""
    values = {parse_fraction(fractions[s]) for s in SPECIALISTS if s in fractions}
    return fraction_text(values.pop()) if len(values) == 1 else None


def _label(strategy: str, sources: list[str], k: str | None) -> str:
    if strategy == "single":
        return f"single {sources[0]}"
    if strategy == "dmt":
        return f"dmt k={k}"
    return strategy.replace("_", " ")


def strategies(store: Store, grid: str | None = None) -> pd.DataFrame:
    """RQ4, the paper's Table 1: one row per strategy cell (final stage) and data amount, per task its value,
    interval, and the paired test against the multitask cell of the same grid, base and amount (Holm-adjusted
    per task over the table's comparisons)."""
    scored = queries.scored_stages(store, grid)
    scored = scored[scored["strategy"].isin(list(_ORDER)) & scored["final"]]
    keys = ["grid", "base", "amount", "cell"]
    table = scored.drop_duplicates(keys)[keys + ["strategy", "k", "sources"]].copy()
    table["label"] = [_label(s, src, k) for s, src, k in zip(table["strategy"], table["sources"], table["k"])]
    table = table.set_index(keys)
    p = _p_vs_multitask(store, scored)
    for task in [t for t in ABILITIES if t in set(scored["task"])]:
        part = scored[scored["task"] == task].set_index(keys)
        table[task], table[task + "_lo"], table[task + "_hi"] = part["value"], part["lo"], part["hi"]
        table[task + "_n"], table[task + "_run"] = part["n"].astype("Int64"), part["run_id"]
        table[task + "_p"] = [p.get((*i, task), np.nan) for i in table.index]
        table[task + "_p_holm"] = holm(table[task + "_p"])
    table = table.reset_index()
    order = pd.DataFrame({"amount": table["amount"].map(lambda a: -parse_fraction(a)),
                          "strategy": table["strategy"].map(_ORDER),
                          "source": table["sources"].map(lambda s: _SINGLE_ORDER.get(s[0], len(_SINGLE_ORDER))),
                          "k": table["k"].map(lambda k: -parse_fraction(k) if isinstance(k, str) else Fraction(0))})
    table = table.loc[order.assign(grid=table["grid"], base=table["base"])
                      .sort_values(["grid", "base", "amount", "strategy", "source", "k"]).index]
    front = ["grid", "base", "amount", "label", "strategy", "k", "cell"]
    return table[front + [c for c in table.columns if c not in front and c != "sources"]].reset_index(drop=True)


def _p_vs_multitask(store: Store, scored: pd.DataFrame) -> dict[tuple, float]:
    """(grid, base, amount, cell, task) -> p of the paired test of that cell against the multitask cell of the
    same grid, base and amount."""
    multitask = scored[scored["strategy"] == "multitask"].set_index(["grid", "base", "amount", "task"])["run_id"]
    pairs = [(row, multitask[row.grid, row.base, row.amount, row.task])
             for row in scored[scored["strategy"] != "multitask"].itertuples()
             if (row.grid, row.base, row.amount, row.task) in multitask.index]
    unit_scores = queries.units(store, [(r.run_id, r.task) for r, _ in pairs] + [(m, r.task) for r, m in pairs])
    empty = pd.Series(dtype=float)
    return {(r.grid, r.base, r.amount, r.cell, r.task):
            paired(unit_scores.get((m, r.task), empty), unit_scores.get((r.run_id, r.task), empty)).p
            for r, m in pairs}
