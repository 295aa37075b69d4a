"""Judges: anything that turns judge prompts into replies, and the OpenAI-compatible API judge.

A judge is a small protocol, `judge(prompts) -> list[JudgeReply]` plus an `id` and a `mode`, so an API judge
and a local model (later: the hf/vllm backends) plug into the same cache and scoring.

The API judge talks to any `/chat/completions` server (OpenAI, vLLM, llama.cpp): FastChat's two messages,
greedy, 2048 new tokens. Requests run in a bounded thread pool; 429, 5xx, timeouts and connection errors are
retried with exponential backoff and jitter, or after the server's Retry-After. In `logprob` mode it asks
for top_logprobs and scores the expected rating at the position where the judge wrote its rating.
"""

from __future__ import annotations

import os
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Protocol

import requests

from sfteval.judge.cost import Price, api_price
from sfteval.judge.parse import expected_score, parse_score
from sfteval.judge.prompts import JUDGE_MAX_TOKENS, JUDGE_TEMPERATURE, JudgePrompt

MODES = ("generate", "logprob")
# Network failures worth another try; ValueError is a garbled JSON body.
RETRYABLE = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError, ValueError)
TOP_LOGPROBS = 20  # the most OpenAI returns; enough to hold all ten ratings when the judge hesitates


class JudgeError(RuntimeError):
    """The judge cannot answer: a refused request, retries used up, or a server without logprobs."""


@dataclass
class JudgeReply:
    text: str
    score: float | None  # single prompts: the rating (-1 when none), or the expected rating; pairwise: None
    usage: dict = field(default_factory=dict)  # prompt_tokens, completion_tokens
    cached: bool = False  # read from the store instead of asked


class Judge(Protocol):
    id: str    # the judge's identity in the cache: API model name, or a local checkpoint's hash
    mode: str  # "generate" or "logprob"
    max_tokens: int  # the most tokens a judgment may take
    price: Price | None  # USD per 1M prompt / completion tokens; None: unknown

    def judge(self, prompts: list[JudgePrompt]) -> list[JudgeReply]: ...


def _retry_after(value: str | None) -> float | None:
    """Retry-After as seconds or as an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


class ApiJudge:
    def __init__(self, model: str, base_url: str, mode: str = "generate", api_key: str | None = None,
                 concurrency: int = 8, timeout: float = 120.0, max_retries: int = 8, backoff: float = 1.0,
                 max_backoff: float = 60.0, max_tokens: int = JUDGE_MAX_TOKENS, price: Price | None = None):
        if mode not in MODES:
            raise ValueError(f"judge mode {mode!r}: use one of {', '.join(MODES)}")
        self.id, self.mode, self.url = model, mode, base_url.rstrip("/") + "/chat/completions"
        self.price = price if price is not None else api_price(model)
        self.api_key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY")
        self.concurrency, self.timeout, self.max_retries = concurrency, timeout, max_retries
        self.backoff, self.max_backoff, self.max_tokens = backoff, max_backoff, max_tokens
        self.usage = {"requests": 0, "retries": 0, "prompt_tokens": 0, "completion_tokens": 0}
        self._lock = threading.Lock()
        self._local = threading.local()  # a requests.Session per thread: connections (and TLS) are reused

    def judge(self, prompts: list[JudgePrompt]) -> list[JudgeReply]:
        pool = ThreadPoolExecutor(self.concurrency)
        try:
            return list(pool.map(self._judge_one, prompts))
        finally:
            pool.shutdown(cancel_futures=True)  # after a failure, send no more requests whose replies would be lost

    def _judge_one(self, prompt: JudgePrompt) -> JudgeReply:
        body = {"model": self.id, "messages": prompt.messages, "temperature": JUDGE_TEMPERATURE,
                "max_tokens": self.max_tokens, "n": 1}
        if self.mode == "logprob":
            body.update(logprobs=True, top_logprobs=TOP_LOGPROBS)
        reply = self._post(body)
        choice = reply["choices"][0]
        text = choice["message"].get("content") or ""
        usage = {k: int((reply.get("usage") or {}).get(k) or 0) for k in ("prompt_tokens", "completion_tokens")}
        with self._lock:
            for k, v in usage.items():
                self.usage[k] += v
        if prompt.output_format != "[[rating]]":
            return JudgeReply(text, None, usage)
        if self.mode == "generate":
            return JudgeReply(text, parse_score(text), usage)
        content = (choice.get("logprobs") or {}).get("content")
        if not content:
            raise JudgeError(f"{self.url} returned no logprobs for model {self.id}: use --judge-mode generate, "
                             f"or a server that returns top_logprobs")
        return JudgeReply(text, expected_score(content), usage)

    def _session(self) -> requests.Session:
        if not hasattr(self._local, "session"):
            self._local.session = requests.Session()
        return self._local.session

    def _post(self, body: dict) -> dict:
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        attempt = 0
        while True:
            with self._lock:
                self.usage["requests"] += 1
                self.usage["retries"] += attempt > 0
            wait = None
            try:
                r = self._session().post(self.url, json=body, headers=headers, timeout=self.timeout)
                if r.status_code == 200:
                    return r.json()
                if r.status_code != 429 and r.status_code < 500:  # a request the server refuses will not improve
                    raise JudgeError(f"judge API {self.url} answered {r.status_code}: {r.text[:300]}")
                reason, wait = f"HTTP {r.status_code}", _retry_after(r.headers.get("Retry-After"))
            except RETRYABLE as e:
                reason = type(e).__name__
            if attempt == self.max_retries:
                raise JudgeError(f"judge API {self.url} failed {attempt + 1} times, last with {reason}: "
                                 f"check the server, or allow more retries or a longer timeout")
            # exponential backoff; the jitter keeps parallel threads from retrying in lockstep
            time.sleep(wait if wait is not None else min(self.max_backoff, self.backoff * 2 ** attempt)
                       * random.uniform(0.5, 1.0))
            attempt += 1
