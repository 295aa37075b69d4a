"""The texts an audit looks at in a chat example, and the one word normalisation every n-gram check uses."""

from __future__ import annotations

import re

from sfteval.train.sources import Example

_WORD = re.compile(r"\w+")


def words(text: str) -> list[str]:
    """Lowercase words without punctuation: the normalisation of the GPT-3 and Llama contamination checks."""
    return _WORD.findall(text.lower())


def prompt(example: Example) -> str:
    """The first user turn: what identifies the task (embedded for contamination, overlap and k-center)."""
    return next(m["content"] for m in example.messages if m["role"] == "user")


def answers(example: Example) -> str:
    return "\n\n".join(m["content"] for m in example.messages if m["role"] == "assistant")


def conversation(example: Example) -> str:
    return "\n".join(m["content"] for m in example.messages)
