"""The regression gate: per task, a paired test of the checkpoint against the baseline on the same samples.

A task regresses when it got worse by more than its tolerance (in the metric's units, in the direction that
is worse: lower accuracy, higher NLL) AND its Holm-adjusted p is below alpha. The test is McNemar's exact
test when every sample is right/wrong (0/1) and a paired bootstrap otherwise (sfteval.analysis.stats).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from sfteval.analysis.stats import holm, is_binary, paired_test
from sfteval.check.baseline import Units
from sfteval.check.leaderboard import Leaderboard
from sfteval.config import ConfigError


@dataclass
class TaskVerdict:
    task: str
    metric: str
    higher_is_better: bool
    tolerance: float
    baseline: float     # means over the paired samples
    candidate: float
    delta: float        # candidate - baseline
    lo: float           # 95% paired-bootstrap interval of delta
    hi: float
    worse_by: float     # delta turned so that > 0 is worse
    p: float            # two-sided
    p_holm: float
    test: str           # mcnemar | bootstrap
    n: int
    worse: int          # samples that got worse (right -> wrong for 0/1 scores)
    better: int
    regressed: bool
    status: str         # regressed | worse, not significant | worse, within tolerance | better | same
    worse_samples: list[list[int]] = field(default_factory=list)   # [doc_id, repeat], worst first
    better_samples: list[list[int]] = field(default_factory=list)


@dataclass
class Verdict:
    leaderboard: str
    alpha: float
    candidate: dict     # run_id, checkpoint, source
    baseline: dict
    tasks: list[TaskVerdict]

    @property
    def passed(self) -> bool:
        return not any(t.regressed for t in self.tasks)

    def as_dict(self) -> dict:
        return {"leaderboard": self.leaderboard, "passed": self.passed, "alpha": self.alpha,
                "candidate": self.candidate, "baseline": self.baseline, "tasks": [asdict(t) for t in self.tasks]}


def pairs(task: str, baseline: Units, candidate: Units) -> tuple[list[tuple[int, int]], np.ndarray, np.ndarray]:
    """The samples both sides scored, which must be all of them: a gate on other problems would mislead."""
    a, b = baseline.scores[task], candidate.scores[task]
    if baseline.metrics[task] != candidate.metrics[task]:
        raise ConfigError(f"{task}: the baseline holds {baseline.metrics[task]!r}, the checkpoint "
                          f"{candidate.metrics[task]!r}: rewrite the baseline with `sfteval baseline`")
    if a.keys() != b.keys():
        only_a, only_b = sorted(a.keys() - b.keys()), sorted(b.keys() - a.keys())
        side, (doc, rep) = ("checkpoint", only_a[0]) if only_a else ("baseline", only_b[0])
        raise ConfigError(f"{task}: the baseline and the checkpoint scored other problems ({len(a)} vs {len(b)} "
                          f"samples, {len(only_a) + len(only_b)} unpaired, e.g. doc {doc} repeat {rep} missing from "
                          f"the {side}): rewrite the baseline with `sfteval baseline` for the leaderboard's limit")
    keys = sorted(a)
    return keys, np.array([a[k] for k in keys]), np.array([b[k] for k in keys])


def gate(board: Leaderboard, baseline: Units, candidate: Units) -> Verdict:
    verdicts = []
    for task, spec in board.tasks.items():
        keys, a, b = pairs(task, baseline, candidate)
        result = paired_test(a, b, binary=is_binary(a) and is_binary(b))
        sign = 1.0 if board.higher_is_better(task) else -1.0
        change = sign * (b - a)  # > 0: this sample got better
        order = np.argsort(change, kind="stable")
        verdicts.append(TaskVerdict(
            task=task, metric=candidate.metrics[task], higher_is_better=sign > 0, tolerance=spec.tolerance,
            baseline=float(a.mean()), candidate=float(b.mean()), delta=result.delta, lo=result.lo, hi=result.hi,
            worse_by=-sign * result.delta, p=result.p, p_holm=result.p, test=result.test, n=result.n,
            worse=int((change < 0).sum()), better=int((change > 0).sum()), regressed=False, status="",
            worse_samples=[list(keys[i]) for i in order if change[i] < 0],
            better_samples=[list(keys[i]) for i in order[::-1] if change[i] > 0]))
    for verdict, p_holm in zip(verdicts, holm([v.p for v in verdicts])):
        verdict.p_holm = p_holm
        significant = p_holm < board.alpha
        verdict.regressed = verdict.worse_by > verdict.tolerance and significant
        verdict.status = ("regressed" if verdict.regressed else
                          "worse, not significant" if verdict.worse_by > verdict.tolerance else
                          "worse, within tolerance" if verdict.worse_by > 0 else
                          "better" if verdict.worse_by < 0 else "same")
    return Verdict(board.name, board.alpha, _origin(candidate), _origin(baseline), verdicts)


def _origin(units: Units) -> dict:
    return {"run_id": units.run_id, "checkpoint": units.checkpoint, "source": units.source}
