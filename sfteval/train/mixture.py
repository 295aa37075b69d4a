"""Nested, seeded subsets of sources and the mixtures (with manifests) that a training stage trains on.

A source's examples are put in one seeded order per (seed, source name) and a subset is always a prefix of
that order: the 1/256 subset is inside the 1/64 subset ... inside the full source, so a scaling curve
compares like with like, while the order itself is random (never a prefix of the file). A source's `select:`
and filter options (sfteval/audit/select.py) replace that order by another, and subsets stay its prefixes.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from fractions import Fraction

from sfteval.audit.select import selected_order, selection_manifest
from sfteval.config import ConfigError, fraction_text, parse_fraction
from sfteval.train.sources import Example, Source, canonical_json, sha256_text

# manifest fields that say where the data was read from, not what it is: left out of the mixture's hash so
# that moving or recompressing a data file keeps its trained stages reusable
_PROVENANCE = ("path", "file_sha256", "dropped")


def _rank(seed: int, *parts: str) -> str:
    return hashlib.sha256("\0".join([str(seed), *parts]).encode("utf-8")).hexdigest()


def subset(source: Source, amount: Fraction | int, seed: int) -> list[Example]:
    """A Fraction takes round(amount * n) examples (at least 1), an int that count; in the seeded order.
    n is the source's size after its filters, or its `limit` when smaller: the seeded sample that stands for
    "all of it"."""
    order = selected_order(source, seed, lambda e: _rank(seed, source.name, e.id))
    n = min(len(order), source.spec.limit or len(order))
    if n == 0:
        raise ConfigError(f"source {source.name} has no usable examples (dropped: {source.dropped}, removed by its "
                          f"filters: {sum(map(len, order.removed.values()))}): check its path, format and filters")
    if isinstance(amount, Fraction):
        take = max(1, round(parse_fraction(amount) * n))
    elif amount < 1 or amount > n:
        raise ConfigError(f"source {source.name}: a count of {amount} examples is outside 1..{n}: "
                          "ask for at most the examples it has, or use a fraction such as 1/4")
    else:
        take = amount
    return order.first(take)


@dataclass
class Mixture:
    examples: list[Example]      # all parts, shuffled together (seeded)
    manifest: dict               # {"seed", "sources": {name: {...}}, "n"}: see build_mixture
    hash: str                    # sha256 of the canonical JSON of the manifest less its provenance fields


def _entry(source: Source, amount: Fraction | int, chosen: list[Example], seed: int) -> dict:
    selection = selection_manifest(source, seed, lambda e: _rank(seed, source.name, e.id))
    return {"path": source.spec.path, "format": source.spec.format,
            "amount": fraction_text(amount) if isinstance(amount, Fraction) else amount,
            "n": len(chosen), "ids": [e.id for e in chosen],
            "sha256": sha256_text("\n".join(e.sha256 for e in chosen)),
            "file_sha256": source.file_sha256, "dropped": source.dropped,
            **({"selection": selection} if selection else {})}


def build_mixture(parts: dict[str, tuple[Source, Fraction | int]], seed: int) -> Mixture:
    """Draw each part from its source and shuffle them together (seeded).

    DMT's replay of "k of the stage-1 code+math data" is a part at fraction f*k of each specialist source:
    subsets are prefixes of one seeded order, so it is inside what stage 1 drew (see sfteval/train/plan.py).
    """
    chosen, entries = {}, {}
    for name, (source, amount) in sorted(parts.items()):
        chosen[name] = subset(source, amount, seed)
        entries[name] = _entry(source, amount, chosen[name], seed)
    examples = sorted(((name, e) for name, drawn in chosen.items() for e in drawn),
                      key=lambda pair: _rank(seed, "mixture", pair[0], pair[1].id))
    if not examples:
        raise ConfigError("the mixture is empty: give it at least one source")
    manifest = {"seed": seed, "sources": entries, "n": len(examples)}
    content = {**manifest, "sources": {name: {k: v for k, v in entry.items() if k not in _PROVENANCE}
                                       for name, entry in entries.items()}}
    return Mixture([e for _, e in examples], manifest, sha256_text(canonical_json(content)))


def save(store, mixture: Mixture, tokens: int | None = None, trainable_tokens: int | None = None) -> None:
    """Record the mixture in the store's `mixtures` table (token counts come later, from the trainer)."""
    store.save_mixture(mixture.hash, mixture.manifest["seed"], mixture.manifest["n"], mixture.manifest,
                       tokens, trainable_tokens)
