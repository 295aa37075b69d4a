"""What a set of chat examples holds: counts, chat-template token lengths, languages, turns, math reasoning."""

from __future__ import annotations

import re
from collections import Counter

import numpy as np

from sfteval.audit.text import answers, prompt
from sfteval.train.sources import Example

QUANTILES = (0.5, 0.9, 0.99)
LIMIT = 4096  # tokens; practitioners keep SFT conversations under about 4k
# a math answer that is only its number: "18", "#### 18", "The answer is $1,000."
_BARE = re.compile(r"\s*(?:####|the answer is:?)?\s*\$?-?(?:\d[\d,]*)?\.?\d+\s*\.?\s*", re.IGNORECASE)
_STEP = re.compile(r"[^\n.!?]*\d[^\n.!?]*(?:[\n.!?]|$)")  # a line or sentence holding a number


def lengths(values: np.ndarray, limit: int) -> dict:
    if len(values) == 0:
        return {"mean": 0, "max": 0, **{f"p{round(q * 100)}": 0 for q in QUANTILES}, "over_limit": 0.0}
    return {"mean": float(values.mean()), **{f"p{round(q * 100)}": float(np.quantile(values, q)) for q in QUANTILES},
            "max": int(values.max()), "over_limit": float((values > limit).mean())}


def languages(examples: list[Example], top: int = 5) -> dict[str, float]:
    """Share of each language among the prompts (py3langid on the first 1,000 characters), the top few and
    `other`."""
    import py3langid

    counts = Counter(py3langid.classify(prompt(e)[:1000])[0] for e in examples)
    shares = {lang: n / len(examples) for lang, n in counts.most_common(top)}
    rest = 1 - sum(shares.values())
    return {**shares, **({"other": rest} if rest > 1e-9 else {})}


def reasoning(examples: list[Example]) -> dict[str, float]:
    """Math answers: share with step-by-step reasoning (two or more lines or sentences with numbers), share that
    are a bare number, and the rest."""
    kinds = Counter("bare_number" if _BARE.fullmatch(text) else "step_by_step" if len(_STEP.findall(text)) >= 2
                    else "other" for text in map(answers, examples))
    return {k: kinds[k] / len(examples) for k in ("step_by_step", "bare_number", "other")}


def describe(examples: list[Example], tokens: np.ndarray, limit: int = LIMIT) -> dict:
    """`tokens`: (n, 2) prompt and answer tokens per example (tokens.prompt_answer_tokens)."""
    n = len(examples)
    total = tokens.sum(axis=1) if n else np.zeros(0)
    return {"records": n, "tokens": int(total.sum()), "answer_tokens": int(tokens[:, 1].sum()) if n else 0,
            "length": {"conversation": lengths(total, limit), "prompt": lengths(tokens[:, 0], limit),
                       "answer": lengths(tokens[:, 1], limit)},
            "limit": limit,
            "multi_turn": sum(sum(m["role"] == "assistant" for m in e.messages) > 1 for e in examples) / max(n, 1),
            "languages": languages(examples) if n else {}}
