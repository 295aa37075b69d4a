"""What judging costs, and the API judge's robustness options on `sfteval run`: tokens and estimated cost
stored as metrics of the mtbench scores (all judgments, and those asked in this run), list prices and
--judge-price, --judge-concurrency and --judge-timeout against a real server on 127.0.0.1."""

from __future__ import annotations

import duckdb
import pytest

from conftest import last_json, sfteval
from judge_server import JudgeServer, Rate
from sfteval.config import ConfigError
from sfteval.judge import cost
from sfteval.judge.client import JudgeReply


def test_list_prices_snapshots_and_unknown_models():
    assert cost.api_price("gpt-4") == (30.0, 60.0) and cost.api_price("gpt-4-0613") == (30.0, 60.0)
    assert cost.api_price("gpt-4-turbo-2024-04-09") == (10.0, 30.0)
    assert cost.api_price("gpt-4o-2024-08-06") == (2.5, 10.0)
    assert cost.api_price("gpt-4o-mini") == (0.15, 0.6)
    assert cost.api_price("gpt-4-1106-preview") is None and cost.api_price("my-judge") is None
    assert cost.parse_price("2.5, 10") == (2.5, 10.0)
    for bad in ("2.5", "a,b", "1,2,3", "-1,2"):
        with pytest.raises(ConfigError, match="--judge-price"):
            cost.parse_price(bad)


def test_cached_judgments_cost_nothing_now():
    replies = [JudgeReply("x", 5.0, {"prompt_tokens": 1000, "completion_tokens": 200}),
               JudgeReply("y", 6.0, {"prompt_tokens": 3000, "completion_tokens": 100}, cached=True),
               JudgeReply("z", 7.0, {})]  # an imported judgment: no token counts
    totals = cost.usage_totals(replies, (30.0, 60.0))
    assert totals == {"judge_prompt_tokens": (4000.0, 3), "judge_completion_tokens": (300.0, 3),
                      "judge_cost_usd": (pytest.approx((4000 * 30 + 300 * 60) / 1e6), 3),
                      "judge_cost_usd,this_run": (pytest.approx((1000 * 30 + 200 * 60) / 1e6), 2)}
    assert set(cost.usage_totals(replies, None)) == {"judge_prompt_tokens", "judge_completion_tokens"}
    assert "cost unknown for this model: pass --judge-price" in cost.summary(
        {k: v for k, (v, _) in cost.usage_totals(replies, None).items()})


def _judgments(db):
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute("SELECT prompt_tokens, completion_tokens FROM judgments").fetchall()


@pytest.mark.slow
def test_run_stores_and_prints_judge_cost_with_concurrency_and_timeout(tmp_path, tiny_model):
    db = tmp_path / "s.duckdb"
    with JudgeServer(Rate(), hang_s=30.0, delay_s=0.2) as server:
        server.fail("hang")  # the first request never answers in time: --judge-timeout gives up and retries it
        args = ["run", "--ckpt", str(tiny_model), "--tasks", "mtbench", "--limit", "2", "--max-new-tokens", "16",
                "--batch-size", "4", "--db", str(db),
                "--judge-model", "gpt-4o-mini", "--judge-base", server.base_url, "--judge-concurrency", "1",
                "--judge-timeout", "1", "--json"]
        first = sfteval(*args)
        assert first.returncode == 0, first.stderr
        # 4 judgments, the hung one asked again after 1 s (the default timeout, 120 s, would have waited for it)
        assert len(server.requests) == 5
        assert server.max_in_flight == 2  # the abandoned hung request, and one at a time beside it
        scores = last_json(first.stdout)["scores"]["mtbench"]
        tokens = _judgments(db)
        prompt, completion = sum(t[0] for t in tokens), sum(t[1] for t in tokens)
        assert len(tokens) == 4 and prompt > 0 and completion > 0
        want = (prompt * 0.15 + completion * 0.6) / 1e6  # gpt-4o-mini's list price
        assert (scores["judge_prompt_tokens"], scores["judge_completion_tokens"]) == (prompt, completion)
        assert scores["judge_cost_usd"] == pytest.approx(want) == scores["judge_cost_usd,this_run"]
        assert f"est. ${want:.4g} (${want:.4g} of it asked in this run" in first.stderr

        # a rerun asks nothing: the scores still cost what they cost, this run cost nothing
        again = sfteval(*args[:-1], env={"COLUMNS": "200"})  # the table, not --json
        assert again.returncode == 0, again.stderr
        assert len(server.requests) == 5 and "($0 of it asked in this run" in again.stderr
        assert "judge_cost_usd,this_run" in again.stdout and "judge_cost_usd " in again.stdout

        repriced = last_json(sfteval(*args, "--judge-price", "1000,2000").stdout)["scores"]["mtbench"]
        assert repriced["judge_cost_usd"] == pytest.approx((prompt * 1000 + completion * 2000) / 1e6)
        assert repriced["judge_cost_usd,this_run"] == 0 and len(server.requests) == 5
