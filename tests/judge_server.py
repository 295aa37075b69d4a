"""A real OpenAI-compatible judge on 127.0.0.1 that replays real GPT-4 judgments.

It answers POST /v1/chat/completions with the judgment GPT-4 gave to the same user prompt (from a FastChat
judgment file), or `default` for a prompt it does not know. It can be told to fail the next requests
(`fail("429", "500", "hang", "400")`), records every request and the most requests it served at once, and
with `logprobs: true` returns one token per word, number or symbol with top_logprobs: the rating's token
carries RATING_ALTERNATIVES around the written rating, every other token only itself. `Rate` is a scripted
judge to pass instead of the real judgments: a rating for every prompt, recomputable from the prompt.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from openai_server import LoopbackServer

TOKEN = re.compile(r"\[\[|\]\]|\d+|[^\W\d_]+|\s+|.", re.S)
# FastChat's two rating patterns, in FastChat's order: the rating's first token starts at group 1.
RATINGS = (re.compile(r"\[\[(\d+\.?\d*)\]\]"), re.compile(r"\[(\d+\.?\d*)\]"))
# Probability of the written rating w and of its neighbours at the rating's position; the "[" alternative is
# not a rating and must be ignored by the client. Neighbours outside 1..10 are left out.
RATING_ALTERNATIVES = {0: 0.45, -1: 0.2, +1: 0.2}
OTHER_ALTERNATIVE = ("[", 0.15)


def expected_rating(written: int) -> float:
    """What a client must compute from RATING_ALTERNATIVES for a judge that wrote `written`."""
    probs = {written + d: p for d, p in RATING_ALTERNATIVES.items() if 1 <= written + d <= 10}
    return sum(r * p for r, p in probs.items()) / sum(probs.values())


def logprob_content(text: str) -> list[dict]:
    tokens = TOKEN.findall(text)
    assert "".join(tokens) == text
    match = RATINGS[0].search(text) or RATINGS[1].search(text)
    rating_at = match.start(1) if match else -1
    content, pos = [], 0
    for tok in tokens:
        top = [{"token": tok, "logprob": 0.0}]
        if pos == rating_at:
            w = int(tok)
            top = [{"token": str(w + d), "logprob": math.log(p)} for d, p in RATING_ALTERNATIVES.items()
                   if 1 <= w + d <= 10]
            top.append({"token": OTHER_ALTERNATIVE[0], "logprob": math.log(OTHER_ALTERNATIVE[1])})
        content.append({"token": tok, "logprob": top[0]["logprob"], "top_logprobs": top})
        pos += len(tok)
    return content


def rating(prompt: str) -> int:
    return 1 + int(hashlib.sha256(prompt.encode()).hexdigest(), 16) % 10


class Rate:
    """The replies of a scripted judge: a rating for every prompt, recomputable by the test from the prompt."""

    def get(self, prompt: str, default: str) -> str:
        return f"The assistant's answer is hard to follow.\n\nRating: [[{rating(prompt)}]]"


class JudgeServer(LoopbackServer):
    def __init__(self, replies: dict[str, str], default: str = "I cannot judge this answer.",
                 hang_s: float = 2.0, delay_s: float = 0.0):
        self.replies, self.default, self.hang_s, self.delay_s = replies, default, hang_s, delay_s
        self.requests, self.failures, self.in_flight, self.max_in_flight = [], [], 0, 0
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with server.lock:
                    server.requests.append({"path": self.path, "body": body, "auth": self.headers.get("Authorization")})
                    failure = server.failures.pop(0) if server.failures else None
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                try:
                    self._answer(body, failure)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up waiting (the "hang" case)
                finally:
                    with server.lock:
                        server.in_flight -= 1

            def _answer(self, body, failure):
                time.sleep(server.delay_s)
                if failure == "429":
                    return self._send(429, {"error": {"message": "rate limited"}}, {"Retry-After": "1"})
                if failure in ("500", "400"):
                    return self._send(int(failure), {"error": {"message": f"failure {failure}"}})
                if failure == "hang":
                    time.sleep(server.hang_s)
                text = server.replies.get(body["messages"][-1]["content"], server.default)
                choice = {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
                if body.get("logprobs"):
                    choice["logprobs"] = {"content": logprob_content(text)}
                self._send(200, {"id": "x", "object": "chat.completion", "model": body["model"], "choices": [choice],
                                 "usage": {"prompt_tokens": len(body["messages"][-1]["content"]) // 4,
                                           "completion_tokens": len(text) // 4}})

            def _send(self, status, payload, headers=None):
                data = json.dumps(payload).encode()
                self.send_response(status)
                for k, v in {"Content-Type": "application/json", "Content-Length": str(len(data)),
                             **(headers or {})}.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def fail(self, *kinds: str) -> None:
        with self.lock:
            self.failures.extend(kinds)

