"""Judgments cached in the store's `judgments` table, so no prompt is ever judged twice by the same judge.

A judgment is keyed by (judge id, mode, prompt name, question id, turn, prompt hash). The hash covers the
rendered judge messages, i.e. the answers being judged, the question, the reference answer and the template:
a changed answer misses the cache, an unchanged one hits it whatever run it came from. New judgments are
written after each chunk, so a killed judging run loses at most one chunk and resumes from there.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from typing import Callable

from sfteval.judge.client import Judge, JudgeReply
from sfteval.judge.prompts import JudgePrompt
from sfteval.store import Store

CHUNK = 32


def prompt_hash(prompt: JudgePrompt) -> str:
    return hashlib.sha256(json.dumps(prompt.messages, ensure_ascii=False).encode()).hexdigest()


def cached_judgments(store: Store, judge_id: str, mode: str, prompts: list[JudgePrompt]) -> dict[str, JudgeReply]:
    """prompt hash -> the stored reply, for those of `prompts` this judge has judged in this mode."""
    hashes = [prompt_hash(p) for p in prompts]
    if not hashes:
        return {}
    rows = store.query(
        """SELECT prompt_hash, judgment, score, prompt_tokens, completion_tokens FROM judgments
           WHERE judge = ? AND mode = ? AND list_contains(?, prompt_hash)""", [judge_id, mode, hashes])
    return {r["prompt_hash"]: JudgeReply(r["judgment"], r["score"], {"prompt_tokens": r["prompt_tokens"],
                                         "completion_tokens": r["completion_tokens"]}, cached=True) for r in rows}


def save_judgments(store: Store, judge_id: str, mode: str, pairs: list[tuple[JudgePrompt, JudgeReply]]) -> None:
    """Store replies; a judgment already stored under the same key is kept (the first one wins)."""
    if not pairs:
        return
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    with store.connect() as con:
        con.executemany(
            "INSERT INTO judgments VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            [[judge_id, mode, p.name, p.question_id, p.turn, prompt_hash(p), r.text, r.score,
              r.usage.get("prompt_tokens"), r.usage.get("completion_tokens"), now] for p, r in pairs])


def judge_cached(judge: Judge, prompts: list[JudgePrompt], store: Store, chunk: int = CHUNK,
                 progress: Callable[[int], None] | None = None) -> list[JudgeReply]:
    """A reply for every prompt, in order: stored ones read back, the others asked `chunk` at a time and stored."""
    hashes = [prompt_hash(p) for p in prompts]
    known = cached_judgments(store, judge.id, judge.mode, prompts)
    replies = [known.get(h) for h in hashes]
    todo = [i for i, r in enumerate(replies) if r is None]
    if progress:
        progress(len(prompts) - len(todo))
    for start in range(0, len(todo), chunk):
        batch = todo[start:start + chunk]
        answered = judge.judge([prompts[i] for i in batch])
        save_judgments(store, judge.id, judge.mode, [(prompts[i], r) for i, r in zip(batch, answered)])
        for i, r in zip(batch, answered):
            replies[i] = r
        if progress:
            progress(len(batch))
    return replies
