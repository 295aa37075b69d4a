"""Stage-by-stage scores of multi-stage cells (sequential, mixed sequential, DMT) and what later stages undo.

- forgetting of ability j after stage s = the best score of j at any earlier stage minus its score after s
  (Chaudhry et al., 2018, "Riemannian Walk"), positive = lost; for lower-is-better metrics the signs flip so
  that positive still means lost.
- backward transfer of ability j = its score after the last stage minus its score right after the first stage
  that trained it (the per-ability term of Lopez-Paz & Ranzato's 2017 BWT, whose mean over the abilities learned
  before the last stage is their BWT); positive = later stages helped it, negative = forgetting. Abilities first
  trained in the last stage have no term.
Both take a stage_scores frame: the store's, or any table with cell, stage_index, task (or ability), value and,
for backward transfer, sources (the sources each stage trained on).
"""

from __future__ import annotations

import pandas as pd

from sfteval.analysis import queries
from sfteval.analysis.abilities import ABILITIES
from sfteval.store import Store


def stage_scores(store: Store, grid: str | None = None) -> pd.DataFrame:
    """Every scored stage of every multi-stage cell."""
    rows = queries.scored_stages(store, grid)
    rows = rows[rows["n_stages"] > 1]
    columns = ["grid", "cell", "strategy", "k", "base", "stage_index", "n_stages", "sources", "ability", "task",
               "value", "lo", "hi", "n", "run_id"]
    return rows[columns].sort_values(["grid", "cell", "task", "stage_index"]).reset_index(drop=True)


def _sign(frame: pd.DataFrame) -> pd.Series:
    """+1 where higher is better, -1 where lower is: multiplying by it makes every metric higher-is-better."""
    if "task" not in frame:
        return pd.Series(1.0, index=frame.index)
    return frame["task"].map(lambda t: 1.0 if t not in ABILITIES or ABILITIES[t].higher_is_better else -1.0,
                             ).astype(float)  # an empty frame's map keeps the task column's string dtype


def _groups(frame: pd.DataFrame) -> list[str]:
    return [c for c in ("grid", "cell") if c in frame] + ["task" if "task" in frame else "ability"]


def forgetting(stage_scores: pd.DataFrame) -> pd.DataFrame:
    """Per cell, ability and stage: best_before (the best earlier score) and forgetting (NaN at the first stage)."""
    keys = _groups(stage_scores)
    frame = stage_scores.sort_values([*keys, "stage_index"]).copy()
    signed = frame["value"] * _sign(frame)
    best = signed.groupby([frame[k] for k in keys]).transform(lambda s: s.cummax().shift(1))
    frame["best_before"] = best * _sign(frame)
    frame["forgetting"] = best - signed
    columns = [*keys, *(["ability"] if "ability" in frame and "ability" not in keys else []), "stage_index", "value",
               "best_before", "forgetting"]
    return frame[columns].reset_index(drop=True)


def backward_transfer(stage_scores: pd.DataFrame) -> pd.DataFrame:
    """Per cell and ability learned before the last stage: learned_at (first stage training it), after_learning,
    final (score after the cell's last stage) and bwt."""
    keys = _groups(stage_scores)
    rows = []
    for key, group in stage_scores.groupby(keys, sort=True):
        group = group.sort_values("stage_index")
        ability = group["ability"].iloc[0] if "ability" in group else key[-1]
        last = group["n_stages"].iloc[0] - 1 if "n_stages" in group else group["stage_index"].max()
        learned = group[group["sources"].map(lambda s: ability in list(s))]
        if learned.empty or learned["stage_index"].iloc[0] >= last or last not in set(group["stage_index"]):
            continue
        first, final = learned.iloc[0], group[group["stage_index"] == last].iloc[0]
        sign = _sign(group).iloc[0]
        rows.append({**dict(zip(keys, key)), "ability": ability, "learned_at": int(first["stage_index"]),
                     "after_learning": first["value"], "final": final["value"],
                     "bwt": sign * (final["value"] - first["value"])})
    columns = [*keys, *(["ability"] if "ability" not in keys else []), "learned_at", "after_learning", "final", "bwt"]
    return pd.DataFrame(rows, columns=columns)
