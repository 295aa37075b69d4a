"""A real OpenAI-compatible HTTP server on 127.0.0.1 for backend tests.

It answers /v1/chat/completions and /v1/completions from a lookup table (question or prompt -> reply),
applies `stop` sequences as real servers do, and records every request it saw.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class LoopbackServer:
    """Serves `self.httpd` (bound to 127.0.0.1) from a thread for the duration of a with-block."""

    httpd: ThreadingHTTPServer

    def __enter__(self):
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


class OpenAIServer(LoopbackServer):
    def __init__(self, replies: dict[str, str], default: str = "I do not know."):
        self.replies, self.default, self.requests = replies, default, []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.requests.append({"path": self.path, "body": body, "auth": self.headers.get("Authorization")})
                if self.path.endswith("/chat/completions"):
                    text = server.reply(body["messages"][-1]["content"], body.get("stop"))
                    choices = [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}]
                else:
                    prompts = body["prompt"] if isinstance(body["prompt"], list) else [body["prompt"]]
                    choices = [{"index": i, "text": server.reply(p, body.get("stop")), "finish_reason": "stop"}
                               for i, p in enumerate(prompts)]
                data = json.dumps({"id": "x", "object": "completion", "model": body.get("model"), "choices": choices,
                                   "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def reply(self, prompt: str, stop: list[str] | None) -> str:
        text = self.replies.get(prompt, self.default)
        for s in stop or []:
            text = text.split(s)[0]
        return text
