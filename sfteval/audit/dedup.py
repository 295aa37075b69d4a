"""Exact and near duplicates of chat examples.

Exact: the same conversation (the example's content hash), and, separately, the same prompt with another
answer (normal in RFT-style data, several answers per question). Near: MinHash over word 5-gram shingles of
the whole conversation with datasketch's LSH, candidates confirmed by their estimated Jaccard similarity;
groups are connected components, so a chain of near copies is one group.
"""

from __future__ import annotations

from collections import defaultdict

from sfteval.audit.text import conversation, prompt, words
from sfteval.train.sources import Example, sha256_text

SHINGLE = 5
NUM_PERM = 128
THRESHOLD = 0.8   # estimated Jaccard similarity of shingle sets


def exact_groups(examples: list[Example], key=lambda e: e.sha256) -> list[list[int]]:
    """Indices of examples sharing `key` (default: the whole conversation), groups of two or more, in file order."""
    groups = defaultdict(list)
    for i, e in enumerate(examples):
        groups[key(e)].append(i)
    return [g for g in groups.values() if len(g) > 1]


def prompt_groups(examples: list[Example]) -> list[list[int]]:
    return exact_groups(examples, key=lambda e: sha256_text(prompt(e)))


def near_groups(examples: list[Example], threshold: float = THRESHOLD) -> list[list[int]]:
    """Indices of examples whose conversations are near copies (exact copies included), groups of two or more."""
    from datasketch import MinHash, MinHashLSH

    lsh = MinHashLSH(threshold=threshold, num_perm=NUM_PERM)
    hashes = []
    for i, e in enumerate(examples):
        w = words(conversation(e))
        shingles = {" ".join(w[j:j + SHINGLE]) for j in range(max(1, len(w) - SHINGLE + 1))}
        m = MinHash(num_perm=NUM_PERM)
        m.update_batch([s.encode("utf-8") for s in shingles])
        hashes.append(m)
        lsh.insert(i, m)
    parent = list(range(len(examples)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, m in enumerate(hashes):
        for j in lsh.query(m):
            if j != i and m.jaccard(hashes[j]) >= threshold:
                a, b = sorted((root(i), root(j)))
                parent[b] = a
    groups = defaultdict(list)
    for i in range(len(examples)):
        groups[root(i)].append(i)
    return [g for g in groups.values() if len(g) > 1]


def later_copies(groups: list[list[int]]) -> set[int]:
    """What deduplication removes: every member of a group but its first in file order."""
    return {i for g in groups for i in sorted(g)[1:]}


def describe(examples: list[Example], groups: list[list[int]], shown: int = 5) -> dict:
    """{"groups", "records" (in groups), "removable", "examples": the largest groups, with ids and prompts}."""
    largest = sorted(groups, key=lambda g: (-len(g), g[0]))[:shown]
    return {"groups": len(groups), "records": sum(map(len, groups)), "removable": len(later_copies(groups)),
            "examples": [{"ids": [examples[i].id for i in g], "prompt": prompt(examples[g[0]])[:120]}
                         for g in largest]}
