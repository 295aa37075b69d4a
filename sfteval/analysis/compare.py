"""Any two runs, task by task: the difference, its interval and p-value, and the problems that flipped."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from sfteval.analysis import queries
from sfteval.analysis.abilities import ABILITIES
from sfteval.analysis.stats import PairedResult, is_binary, paired_test
from sfteval.store import Store


@dataclass
class TaskComparison:
    task: str
    ability: str
    a: float            # headline value of run a (as stored)
    b: float
    delta: float        # mean(b) - mean(a) over the units both runs scored
    lo: float
    hi: float
    p: float
    test: str           # mcnemar | bootstrap
    n: int              # paired units
    flipped_to_wrong: list[int] = field(default_factory=list)  # doc_ids right in a, wrong in b (0/1 tasks)
    flipped_to_right: list[int] = field(default_factory=list)


def paired(a: pd.Series, b: pd.Series) -> PairedResult:
    """Test two runs' unit scores on the units both have: McNemar when every unit is 0/1, else bootstrap."""
    common = a.index.intersection(b.index).sort_values()
    a, b = a.loc[common], b.loc[common]
    return paired_test(a.to_numpy(float), b.to_numpy(float), binary=is_binary(a) and is_binary(b))


def compare(store: Store, run_a: str, run_b: str) -> list[TaskComparison]:
    """Every task both runs scored (unique prefixes of run ids are enough)."""
    run_a, run_b = store.run(run_a)["id"], store.run(run_b)["id"]
    scores = queries.headline_scores(store, [run_a, run_b]).set_index(["run_id", "task"])["value"]
    tasks = [t for t in ABILITIES if (run_a, t) in scores.index and (run_b, t) in scores.index]
    unit_scores = queries.units(store, [(r, t) for t in tasks for r in (run_a, run_b)])
    comparisons = []
    for task in tasks:
        a, b = (unit_scores.get((run, task), pd.Series(dtype=float)) for run in (run_a, run_b))
        result = paired(a, b)
        to_wrong, to_right = [], []
        if result.test == "mcnemar":
            common = a.index.intersection(b.index).sort_values()
            to_wrong = [int(d) for d in common if a[d] > b[d]]
            to_right = [int(d) for d in common if a[d] < b[d]]
        comparisons.append(TaskComparison(task, ABILITIES[task].ability, float(scores[run_a, task]),
                                          float(scores[run_b, task]), result.delta, result.lo, result.hi, result.p,
                                          result.test, result.n, to_wrong, to_right))
    return comparisons
