"""The statistics behind every table: intervals of one score, paired tests of two, multiple-testing correction.

- One score: Wilson's score interval when every unit is right/wrong (0/1), else a percentile bootstrap of the
  mean over units (problems, or MT-Bench question-turns).
- Two runs on the same units: McNemar's exact test (two-sided binomial on the discordant pairs) for right/wrong
  units, a paired bootstrap otherwise; the interval of the difference is always the paired bootstrap's
  percentile interval, so it is the same kind of interval whatever the test.
- Several tests at once: Holm's step-down adjustment.
Everything random is seeded: the same inputs give the same intervals.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy.stats import binomtest, norm

N_BOOT = 10_000
LEVEL = 0.95


@dataclass(frozen=True)
class PairedResult:
    delta: float   # mean(b) - mean(a) over the paired units
    lo: float      # percentile interval of delta (paired bootstrap)
    hi: float
    p: float       # two-sided
    n: int         # paired units
    test: str      # "mcnemar" | "bootstrap"
    lower: int     # units where b scored lower than a (right -> wrong for 0/1 scores)
    higher: int    # units where b scored higher than a (wrong -> right)


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p: the discordant pairs b (right -> wrong) and c (wrong -> right) under
    Binomial(b + c, 1/2). No discordant pair: no evidence either way, p = 1."""
    if b + c == 0:
        return 1.0
    return float(binomtest(min(b, c), b + c, 0.5).pvalue)


def wilson(k, n, level: float = LEVEL):
    """(k/n, lo, hi): Wilson's score interval of a proportion (scipy's "wilson" method, in closed form so that
    k and n may be arrays of many runs); NaNs where n = 0."""
    k, n = np.asarray(k, dtype=float), np.asarray(n, dtype=float)
    z2 = norm.ppf((1 + level) / 2) ** 2
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
        center = (p + z2 / (2 * n)) / (1 + z2 / n)
        half = np.sqrt(z2) / (1 + z2 / n) * np.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
        lo, hi = np.clip(center - half, 0, 1), np.clip(center + half, 0, 1)
    if p.ndim == 0:
        return float(p), float(lo), float(hi)
    return p, lo, hi


@functools.lru_cache(maxsize=16)
def _resample_counts(n: int, n_boot: int, seed: int) -> np.ndarray:
    """(n_boot, n) multinomial counts: how often each unit is drawn in each resample. A resampled mean is then
    one matrix product, for one run or many runs of the same units at once. Cached: drawing them is most of a
    bootstrap's cost, and a table's many pairs share n (read-only, so no caller can alter a cached draw)."""
    counts = np.random.default_rng(seed).multinomial(n, np.full(n, 1 / n), size=n_boot).astype(np.float64)
    counts.flags.writeable = False
    return counts


def bootstrap_means(values: np.ndarray, n_boot: int = N_BOOT, seed: int = 0) -> np.ndarray:
    """Resampled means of the last axis of `values` ((n,) or (rows, n)): shape (n_boot,) or (rows, n_boot)."""
    values = np.asarray(values, dtype=float)
    n = values.shape[-1]
    return values @ _resample_counts(n, n_boot, seed).T / n


def percentiles(level: float) -> tuple[float, float]:
    return 100 * (1 - level) / 2, 100 * (1 + level) / 2


def mean_ci(values: Sequence[float], n_boot: int = N_BOOT, seed: int = 0,
            level: float = LEVEL) -> tuple[float, float, float]:
    """(mean, lo, hi): the percentile bootstrap interval of the mean."""
    values = np.asarray(values, dtype=float)
    if values.size == 0:
        return math.nan, math.nan, math.nan
    lo, hi = np.percentile(bootstrap_means(values, n_boot, seed), percentiles(level))
    return float(values.mean()), float(lo), float(hi)


def is_binary(values: Sequence[float]) -> bool:
    values = np.asarray(values, dtype=float)
    return values.size > 0 and bool(np.isin(values, (0.0, 1.0)).all())


def score_ci(values: Sequence[float], n_boot: int = N_BOOT, seed: int = 0) -> tuple[float, float, float, str]:
    """(mean, lo, hi, method) of one run's per-unit scores: Wilson for 0/1 scores, bootstrap otherwise."""
    values = np.asarray(values, dtype=float)
    if is_binary(values):
        return (*wilson(int(values.sum()), values.size), "wilson")
    return (*mean_ci(values, n_boot, seed), "bootstrap")


def paired_bootstrap(a: Sequence[float], b: Sequence[float], n_boot: int = N_BOOT, seed: int = 0,
                     level: float = LEVEL) -> PairedResult:
    """Paired units a[i], b[i]: delta = mean(b) - mean(a), its percentile interval, and the two-sided p at
    which that interval would just touch 0 (so p < 1 - level exactly when the interval excludes 0)."""
    diff = np.asarray(b, dtype=float) - np.asarray(a, dtype=float)
    if diff.size == 0:
        return PairedResult(math.nan, math.nan, math.nan, math.nan, 0, "bootstrap", 0, 0)
    means = bootstrap_means(diff, n_boot, seed)
    lo, hi = np.percentile(means, percentiles(level))
    below, above = (means <= 0).sum(), (means >= 0).sum()
    p = min(1.0, 2 * (1 + min(below, above)) / (n_boot + 1))
    return PairedResult(float(diff.mean()), float(lo), float(hi), float(p), int(diff.size), "bootstrap",
                        int((diff < 0).sum()), int((diff > 0).sum()))


def paired_test(a_scores: Sequence[float], b_scores: Sequence[float], binary: bool,
                n_boot: int = N_BOOT, seed: int = 0) -> PairedResult:
    """Compare two runs on the same units: McNemar's exact p for right/wrong units, the bootstrap's otherwise."""
    result = paired_bootstrap(a_scores, b_scores, n_boot, seed)
    if not binary:
        return result
    return PairedResult(result.delta, result.lo, result.hi, mcnemar_exact(result.lower, result.higher),
                        result.n, "mcnemar", result.lower, result.higher)


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values, in the input order; NaNs stay NaN and do not count as tests."""
    p = np.asarray(pvalues, dtype=float)
    adjusted = np.full(p.shape, math.nan)
    tested = np.flatnonzero(~np.isnan(p))
    order = tested[np.argsort(p[tested], kind="stable")]
    m, running = len(order), 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))  # never below an earlier (smaller) p's adjustment
        adjusted[i] = running
    return adjusted.tolist()
