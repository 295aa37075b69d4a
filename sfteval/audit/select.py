"""A source's order for nested subsets: filters remove records, a selection method orders what is left.

Every subset of a source is a prefix of its order (sfteval/train/mixture.py), so subsets stay nested whatever
the method:
- random (default): the seeded random order, unchanged;
- kcenter: greedy farthest-point order of the prompts' embeddings (MoDS' coverage selection), starting from
  the first record of the random order: its first k records are the greedy k-center solution for every k;
- ifd: highest Instruction-Following Difficulty first (ifd.py), records with IFD > 1 removed, as Superfiltering.
Filters, applied first, in this order: decontaminate (a 13-gram shared with an eval set), dedup (exact: the
same conversation; near: MinHash near copies; the first in file order is kept), max_tokens (conversations
longer than that with the scorer's chat template). What each removed is recorded in the mixture manifest.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from sfteval.config import SourceSpec
from sfteval.train.sources import Example, Source, canonical_json, sha256_text

OPTIONS = ("select", "max_tokens", "dedup", "decontaminate", "scorer")
_MEMO: dict[tuple, "Order"] = {}


def chosen_options(spec: SourceSpec) -> dict:
    """The selection options set away from their defaults; empty: the plain seeded random order."""
    return spec.model_dump(include=set(OPTIONS), exclude_defaults=True)


@dataclass
class Order:
    pool: list[Example]                  # what the filters kept, in the seeded random order
    method: str = "random"
    removed: dict[str, list[str]] = field(default_factory=dict)   # filter -> ids it removed
    manifest: dict = field(default_factory=dict)                  # {} for the plain random order
    _ranked: list[Example] | None = None  # ifd: the pool by score
    _vectors: np.ndarray | None = None    # kcenter: the pool's embeddings, the greedy state below
    _picked: list[int] = field(default_factory=list)
    _gap: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.pool)

    def first(self, take: int) -> list[Example]:
        if self.method == "ifd":
            return self._ranked[:take]
        if self.method == "random" or take >= len(self.pool):  # all of the pool: its order does not matter
            return self.pool[:take]
        self._extend(take)
        return [self.pool[i] for i in self._picked[:take]]

    def _extend(self, take: int) -> None:
        """Greedy farthest-point traversal, continued from where the last call stopped."""
        if not self._picked:
            self._picked, self._gap = [0], 1 - self._vectors @ self._vectors[0]
            self._gap[0] = -np.inf
        while len(self._picked) < take:
            nxt = int(np.argmax(self._gap))
            self._picked.append(nxt)
            self._gap = np.minimum(self._gap, 1 - self._vectors @ self._vectors[nxt])
            self._gap[self._picked] = -np.inf


def selected_order(source: Source, seed: int, rank: Callable[[Example], str]) -> Order:
    """The order `subset` takes prefixes of; `rank` is the seeded random order's sort key."""
    options = chosen_options(source.spec)
    if not options:
        return Order(sorted(source.examples, key=rank))
    key = (seed, source.name, canonical_json(options), sha256_text("".join(e.sha256 for e in source.examples)))
    if key not in _MEMO:
        _MEMO[key] = _build(source, rank, options)
    return _MEMO[key]


def selection_manifest(source: Source, seed: int, rank: Callable[[Example], str]) -> dict:
    """What a mixture manifest records of the selection: options, embedder, removed ids; {} for the default."""
    return selected_order(source, seed, rank).manifest if chosen_options(source.spec) else {}


def _build(source: Source, rank: Callable[[Example], str], options: dict) -> Order:
    spec = source.spec
    kept, removed = list(source.examples), {}

    def drop(reason: str, positions: set[int]) -> None:
        nonlocal kept
        removed[reason] = [kept[i].id for i in sorted(positions)]
        kept = [e for i, e in enumerate(kept) if i not in positions]

    if spec.decontaminate:
        from sfteval.audit.contamination import NgramIndex, eval_items, ngram_matches

        drop("decontaminate", {r["position"] for r in ngram_matches(kept, NgramIndex(eval_items()))})
    if spec.dedup:
        from sfteval.audit import dedup

        groups = dedup.exact_groups(kept) if spec.dedup == "exact" else dedup.near_groups(kept)
        drop(f"dedup {spec.dedup}", dedup.later_copies(groups))
    if spec.max_tokens:
        from sfteval.audit.tokens import conversation_tokens, load_tokenizer

        lengths = conversation_tokens(load_tokenizer(spec.scorer), kept)
        drop(f"over {spec.max_tokens} tokens", set(np.flatnonzero(lengths > spec.max_tokens).tolist()))
    pool = sorted(kept, key=rank)
    manifest = {**spec.model_dump(include=set(OPTIONS)), "removed": removed}
    order = Order(pool, spec.select, removed, manifest)
    if spec.select == "kcenter":
        from sfteval.audit.embed import MODEL, embed_examples

        order._vectors = embed_examples(pool)
        manifest["embedder"] = MODEL
    elif spec.select == "ifd":
        from sfteval.audit.ifd import ifd_scores

        scores = ifd_scores(pool, spec.scorer)[:, 0]
        scored = [i for i in range(len(pool)) if scores[i] <= 1]  # nan (nothing scored) compares False too
        removed["ifd > 1 or unscored"] = [pool[i].id for i in range(len(pool)) if not scores[i] <= 1]
        order.pool = [pool[i] for i in scored]
        order._ranked = [pool[i] for i in sorted(scored, key=lambda i: -scores[i])]  # stable: ties keep random order
    return order
