"""The API judge against a real HTTP server on 127.0.0.1 that replays real GPT-4 judgments: retries,
timeouts, bounded concurrency, token usage, logprob mode, and the judgment cache in DuckDB."""

from __future__ import annotations

import time

import pytest

from judge_server import JudgeServer, expected_rating
from sfteval.judge import aggregate, data, parse, prompts
from sfteval.judge.cache import judge_cached
from sfteval.judge.client import ApiJudge, JudgeError
from sfteval.store import Store

MODEL = "mistral-orpo-capybara"  # every one of its 160 judgments was made on the answers shipped beside them


@pytest.fixture(scope="module")
def real(shared_data):
    mt = shared_data / "mt_bench"
    rows = data.read_judgments(mt / "model_judgment" / "gpt-4_single.jsonl")
    answers = data.read_answers(mt / "model_answer")
    judge_prompts = prompts.single_prompts(data.questions(), answers[MODEL], data.references())
    replies = {r["user_prompt"]: r["judgment"] for r in rows}
    stored = {(r["question_id"], r["turn"]): r["score"] for r in rows if r["model"] == MODEL}
    return judge_prompts, replies, stored


@pytest.fixture
def server(real):
    with JudgeServer(real[1]) as s:
        yield s


def _judge(server, **kw) -> ApiJudge:
    kw = {"concurrency": 8, "timeout": 5.0, "backoff": 0.01, "max_retries": 3, **kw}
    return ApiJudge("gpt-4", server.base_url, **kw)


def test_judging_reproduces_the_real_scores_then_the_cache_answers(real, server, tmp_path):
    judge_prompts, _, stored = real
    store = Store(tmp_path / "s.duckdb")
    judge = _judge(server)
    replies = judge_cached(judge, judge_prompts, store, chunk=50)
    assert len(server.requests) == len(judge_prompts) == 160
    assert [r.score for r in replies] == [stored[p.question_id, p.turn] for p in judge_prompts]
    rows = [{"model": MODEL, "question_id": p.question_id, "turn": p.turn, "score": r.score}
            for p, r in zip(judge_prompts, replies)]
    assert aggregate.show_result(rows)[MODEL] == pytest.approx(
        {"turn1": 7.125, "turn2": 6.5125, "overall": 6.81875, "n": 160}, abs=1e-5)
    # FastChat's request: system + user messages, greedy, 2048 new tokens
    body = server.requests[0]["body"]
    assert body["model"] == "gpt-4" and body["temperature"] == 0 and body["max_tokens"] == 2048
    assert [m["role"] for m in body["messages"]] == ["system", "user"] and "logprobs" not in body
    assert judge.usage["prompt_tokens"] > 0 and judge.usage["completion_tokens"] > 0 and judge.usage["retries"] == 0

    again = judge_cached(_judge(server), judge_prompts, store)
    assert len(server.requests) == 160  # nothing asked twice
    assert all(r.cached for r in again) and [r.text for r in again] == [r.text for r in replies]
    # another judge, or the same one in another mode, is another cache entry
    judge_cached(ApiJudge("gpt-4o", server.base_url), judge_prompts[:3], store)
    assert len(server.requests) == 163


def test_an_interrupted_run_resumes_without_judging_twice(real, server, tmp_path):
    judge_prompts, _, stored = real
    judge_prompts = judge_prompts[:40] + judge_prompts[80:100]  # turn-1 and turn-2 prompts
    store = Store(tmp_path / "s.duckdb")
    judge_cached(_judge(server), judge_prompts[:20], store, chunk=10)
    server.fail("400")  # the next chunk dies: what was judged before it stays
    with pytest.raises(JudgeError, match="answered 400"):
        judge_cached(_judge(server, concurrency=1), judge_prompts, store, chunk=10)
    asked = len(server.requests)
    assert asked - 20 <= 2  # the failure stopped the rest of its chunk (one request may already be under way)
    replies = judge_cached(_judge(server), judge_prompts, store, chunk=10)
    assert len(server.requests) - asked == 40  # the 20 stored ones were not asked again
    assert [r.score for r in replies] == [stored[p.question_id, p.turn] for p in judge_prompts]
    assert [r.cached for r in replies] == [True] * 20 + [False] * 40


def test_retries_429_with_retry_after_500_and_timeouts(real, server):
    judge_prompts, _, stored = real
    p = judge_prompts[0]
    judge = _judge(server, timeout=0.5)
    server.fail("429")
    start = time.monotonic()
    assert judge.judge([p])[0].score == stored[p.question_id, p.turn]
    assert time.monotonic() - start >= 1.0  # the server's Retry-After: 1, not the 0.01 s backoff
    server.fail("500", "500", "hang")
    assert judge.judge([p])[0].score == stored[p.question_id, p.turn]
    assert judge.usage["requests"] == 6 and judge.usage["retries"] == 4

    server.fail("500", "500", "500", "500")
    with pytest.raises(JudgeError, match="failed 4 times, last with HTTP 500"):
        judge.judge([p])
    server.fail("400")
    with pytest.raises(JudgeError, match="answered 400"):  # a refused request is not retried
        judge.judge([p])
    assert not server.failures


def test_concurrency_is_bounded_and_the_key_is_sent(real, monkeypatch):
    judge_prompts, replies, _ = real
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    with JudgeServer(replies, delay_s=0.05) as server:
        _judge(server, concurrency=4).judge(judge_prompts[:24])
    assert 1 < server.max_in_flight <= 4
    assert {r["auth"] for r in server.requests} == {"Bearer sk-test"}


def test_logprob_mode_scores_the_expected_rating(real, server, tmp_path):
    judge_prompts, _, _ = real
    store = Store(tmp_path / "s.duckdb")
    judge_prompts = judge_prompts[::8]
    replies = judge_cached(_judge(server, mode="logprob"), judge_prompts, store)
    body = server.requests[0]["body"]
    assert body["logprobs"] is True and body["top_logprobs"] == 20
    for r in replies:
        written = parse.parse_score(r.text)
        want = parse.UNPARSED if written == parse.UNPARSED else expected_rating(int(written))
        assert r.score == pytest.approx(want)
    assert any(r.score != parse.parse_score(r.text) for r in replies)  # the two modes do differ
    # generate-mode judgments of the same prompts are separate cache entries
    judge_cached(_judge(server), judge_prompts, store)
    assert len(server.requests) == 2 * len(judge_prompts)


def test_logprob_mode_needs_a_server_with_logprobs(real, server, monkeypatch):
    import judge_server

    monkeypatch.setattr(judge_server, "logprob_content", lambda text: [])
    with pytest.raises(JudgeError, match="no logprobs"):
        _judge(server, mode="logprob").judge(real[0][:1])


def test_pairwise_games_through_the_server(tmp_path):
    questions = data.questions()[:3]
    a = {q["question_id"]: [f"A1 {q['question_id']}", f"A2 {q['question_id']}"] for q in questions}
    b = {q["question_id"]: [f"B1 {q['question_id']}", f"B2 {q['question_id']}"] for q in questions}
    games = prompts.pair_prompts(questions, a, b, data.references())
    # question 1: model 1 wins in both orders; question 2: the judge prefers position A (inconsistent -> tie);
    # question 3: an explicit tie. Turn 2 games are left unreadable ("error").
    verdicts = [("[[A]]", "[[B]]"), ("[[A]]", "[[A]]"), ("[[C]]", "[[C]]")]
    replies = {g.user: f"Explanation. {v}" for (g1, g2), vs in zip(games, verdicts) for g, v in zip((g1, g2), vs)}
    with JudgeServer(replies, default="no verdict") as server:
        judge = ApiJudge("gpt-4", server.base_url)
        flat = judge_cached(judge, [g for pair in games for g in pair], Store(tmp_path / "s.duckdb"))
    assert all(r.score is None for r in flat)
    outcomes = [parse.pair_outcome(parse.parse_verdict(g1.text), parse.parse_verdict(g2.text))
                for g1, g2 in zip(flat[::2], flat[1::2])]
    assert outcomes == ["model_1", "tie", "tie", "error", "error", "error"]
    assert parse.win_rates(outcomes) == {"win": 1, "loss": 0, "tie": 2, "n": 3, "win_rate": 1 / 3, "loss_rate": 0.0,
                                         "tie_rate": 2 / 3, "win_rate_adjusted": 2 / 3}
