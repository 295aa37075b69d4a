"""MT-Bench scores from single-answer judgments, exactly as FastChat's show_result computes them, and more.

show_result (display_result_single) drops rows with score -1 and takes plain means per model: over turn-1 rows,
turn-2 rows, and all rows. It does not de-duplicate: a question-turn judged twice counts twice. The same rule
is kept here so numbers compare with published ones; per-category means and bootstrap intervals follow it.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from sfteval.judge.parse import UNPARSED

N_BOOT = 1000


def _valid(rows: list[dict]) -> dict[str, list[dict]]:
    by_model = defaultdict(list)
    for r in rows:
        if r["score"] != UNPARSED:
            by_model[r["model"]].append(r)
    return by_model


def _mean(scores: list[float]) -> float | None:
    return sum(scores) / len(scores) if scores else None


def show_result(rows: list[dict]) -> dict[str, dict]:
    """model -> {"turn1", "turn2", "overall", "n"}: FastChat's three means and the number of rows behind overall."""
    result = {}
    for model, valid in sorted(_valid(rows).items()):
        scores = [r["score"] for r in valid]
        result[model] = {"turn1": _mean([r["score"] for r in valid if r["turn"] == 1]),
                         "turn2": _mean([r["score"] for r in valid if r["turn"] == 2]),
                         "overall": _mean(scores), "n": len(scores)}
    return result


def unparsed(rows: list[dict]) -> dict[str, int]:
    """model -> how many judgments carry no rating (-1): kept, counted, left out of the means."""
    counts = {r["model"]: 0 for r in rows}
    for r in rows:
        counts[r["model"]] += r["score"] == UNPARSED
    return counts


def category_means(rows: list[dict], categories: dict[int, str]) -> dict[str, dict[str, float]]:
    """model -> category -> mean over both turns (FastChat's rule), categories from question ids."""
    sums = defaultdict(lambda: defaultdict(list))
    for model, valid in _valid(rows).items():
        for r in valid:
            sums[model][categories.get(r["question_id"], "unknown")].append(r["score"])
    return {m: {c: _mean(s) for c, s in sorted(cats.items())} for m, cats in sorted(sums.items())}


def bootstrap_ci(rows: list[dict], n_boot: int = N_BOOT, seed: int = 0, level: float = 0.95) -> dict[str, dict]:
    """model -> {"turn1", "turn2", "overall"} -> {"low", "high", "stderr"}: percentile bootstrap intervals of
    show_result's means, and the bootstrap standard error.

    Questions are resampled, not rows: the two turns of a question and repeated judgments of one answer are not
    independent, so a question carries all its rows into each resample. Seeded, so intervals are reproducible.
    """
    rng = np.random.default_rng(seed)
    tails = (100 * (1 - level) / 2, 100 * (1 + level) / 2)
    result = {}
    for model, valid in sorted(_valid(rows).items()):
        qids = sorted({r["question_id"] for r in valid})
        index = {q: i for i, q in enumerate(qids)}
        sums, counts = np.zeros((len(qids), 2)), np.zeros((len(qids), 2))
        for r in valid:
            sums[index[r["question_id"]], r["turn"] - 1] += r["score"]
            counts[index[r["question_id"]], r["turn"] - 1] += 1
        draws = rng.integers(0, len(qids), size=(n_boot, len(qids)))
        s, c = sums[draws].sum(axis=1), counts[draws].sum(axis=1)  # (n_boot, 2): per-turn totals of each resample
        with np.errstate(invalid="ignore", divide="ignore"):
            means = {"turn1": s[:, 0] / c[:, 0], "turn2": s[:, 1] / c[:, 1], "overall": s.sum(1) / c.sum(1)}
        result[model] = {}
        for key, m in means.items():
            m = m[np.isfinite(m)]  # resamples that drew no row of a turn have no mean
            low, high = np.percentile(m, tails) if len(m) else (np.nan, np.nan)
            stderr = float(m.std(ddof=1)) if len(m) > 1 else None
            result[model][key] = {"low": float(low), "high": float(high), "stderr": stderr}
    return result


def score_rows(rows: list[dict], categories: dict[int, str]) -> list[dict]:
    """One model's judgments as rows of the `scores` table (task mtbench): 'score' (overall), 'score,turn1',
    'score,turn2' and 'score,<category>' with bootstrap stderrs, and 'judge_unparsed', the -1 judgments."""
    (model,) = {r["model"] for r in rows}
    result = show_result(rows).get(model, {})
    ci = bootstrap_ci(rows).get(model, {})
    valid = [r for r in rows if r["score"] != UNPARSED]
    n = {"turn1": sum(r["turn"] == 1 for r in valid), "turn2": sum(r["turn"] == 2 for r in valid),
         "overall": len(valid)}
    scores = [{"metric": "score" if key == "overall" else f"score,{key}", "value": result[key],
               "stderr": ci[key]["stderr"], "n": n[key]} for key in ("turn1", "turn2", "overall")
              if result.get(key) is not None]
    for category, value in category_means(rows, categories).get(model, {}).items():
        in_category = [r for r in valid if categories.get(r["question_id"], "unknown") == category]
        stderr = bootstrap_ci(in_category)[model]["overall"]["stderr"]
        scores.append({"metric": f"score,{category}", "value": value, "stderr": stderr, "n": len(in_category)})
    scores.append({"metric": "judge_unparsed", "value": float(len(rows) - len(valid)), "stderr": None, "n": len(rows)})
    return scores
