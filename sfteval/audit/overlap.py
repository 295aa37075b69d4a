"""How far apart SFT sources are in meaning: the paper explains the conflict of code and general data by their
overlap, and math's independence of general data by its lack of one (Dong et al., 2024, Sec. 4).

For each ordered pair (A, B), on the prompts' all-MiniLM-L6-v2 embeddings:
- centroid_cosine: cosine of the two sources' mean vectors (1: the same centre, about 0: unrelated);
- nn_overlap: share of A's records whose nearest neighbour in A and B together (itself excluded) is in B.
  Sources that do not overlap give about 0; indistinguishable ones give `chance`, |B| / (|A| + |B| - 1).
"""

from __future__ import annotations

from itertools import permutations
from typing import Mapping, Sequence

import numpy as np

from sfteval.train.sources import Example, Source


def _centroid(vectors: np.ndarray) -> np.ndarray:
    mean = vectors.mean(axis=0)
    return mean / np.linalg.norm(mean)


def nn_overlap(a: np.ndarray, b: np.ndarray, chunk: int = 1024) -> float:
    """Share of the rows of `a` whose nearest neighbour among the rows of a and b (itself excluded) is in b."""
    pool = np.concatenate([a, b])
    in_b = 0
    for start in range(0, len(a), chunk):
        sims = a[start:start + chunk] @ pool.T
        rows = np.arange(len(sims))
        sims[rows, start + rows] = -np.inf  # not its own neighbour
        in_b += int((sims.argmax(axis=1) >= len(a)).sum())
    return in_b / len(a)


def overlap(sources: Mapping[str, Source | Sequence[Example]], limit: int | None = None, seed: int = 42):
    """A DataFrame, one row per ordered pair of sources: a, b, n_a, n_b, centroid_cosine, nn_overlap, chance.
    `limit` embeds a seeded sample of at most that many records per source (embedding is the slow part)."""
    import pandas as pd

    from sfteval.audit.embed import embed_examples

    vectors = {}
    for name, source in sources.items():
        examples = list(source.examples if isinstance(source, Source) else source)
        if limit and len(examples) > limit:
            pick = np.random.default_rng(seed).choice(len(examples), limit, replace=False)
            examples = [examples[i] for i in sorted(pick)]
        vectors[name] = embed_examples(examples)
    rows = [{"a": a, "b": b, "n_a": len(vectors[a]), "n_b": len(vectors[b]),
             "centroid_cosine": float(_centroid(vectors[a]) @ _centroid(vectors[b])),
             "nn_overlap": nn_overlap(vectors[a], vectors[b]),
             "chance": len(vectors[b]) / (len(vectors[a]) + len(vectors[b]) - 1)}
            for a, b in permutations(sorted(vectors), 2)]
    return pd.DataFrame(rows, columns=["a", "b", "n_a", "n_b", "centroid_cosine", "nn_overlap", "chance"])
