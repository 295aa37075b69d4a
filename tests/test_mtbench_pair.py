"""`sfteval mtbench pair` through the real CLI: the real mistral-orpo answers against each other (files, imported
runs, a run of a tiny model), judged by a real OpenAI-compatible server on 127.0.0.1 or a local model;
FastChat's two orders and agreement rule, the judgment cache, tokens and cost."""

from __future__ import annotations

import json

import duckdb
import pytest

from conftest import last_json, sfteval
from judge_server import JudgeServer
from sfteval.judge import data, prompts

ORPO, CAPYBARA = "mistral-orpo", "mistral-orpo-capybara"
QUESTIONS = (81, 101, 115)  # writing (pair-v2), reasoning and math (pair-math-v1, with GPT-4's reference)
# (question, turn) -> (verdict with capybara as assistant A, verdict with mistral-orpo as assistant A)
VERDICTS = {(81, 1): ("[[A]]", "[[B]]"),   # both orders prefer capybara: a win for capybara
            (81, 2): ("[[B]]", "[[A]]"),   # both prefer mistral-orpo: a loss
            (101, 1): ("[[A]]", "[[A]]"),  # the judge prefers position A: the orders disagree, a tie
            (101, 2): ("[[C]]", "[[C]]"),  # a tie
            (115, 1): ("[[A]]", "[[B]]"),  # a win
            (115, 2): ("no verdict", "[[A]]")}  # unreadable: left out
GPT4 = (30.0, 60.0)  # list price, USD per 1M prompt / completion tokens


@pytest.fixture(scope="module")
def answers(shared_data, tmp_path_factory):
    """The real answers of both models to QUESTIONS, as a FastChat model_answer folder."""
    folder = tmp_path_factory.mktemp("model_answer")
    for model in (ORPO, CAPYBARA):
        lines = (shared_data / "mt_bench" / "model_answer" / f"{model}.jsonl").read_text().splitlines()
        (folder / f"{model}.jsonl").write_text("\n".join(line for line in lines
                                                         if json.loads(line)["question_id"] in QUESTIONS) + "\n")
    return folder


@pytest.fixture(scope="module")
def replies(answers):
    """The scripted judge's reply to each game prompt, built from the real answers."""
    sets = data.read_answers(answers)
    questions = [q for q in data.questions() if q["question_id"] in QUESTIONS]
    games = prompts.pair_prompts(questions, sets[CAPYBARA], sets[ORPO], data.references())
    return {g.user: f"Assistant A is more detailed, assistant B more accurate. {verdict}"
            for g1, g2 in games for g, verdict in zip((g1, g2), VERDICTS[g1.question_id, g1.turn])}


def _query(db, sql, *params):
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql, list(params)).fetchall()


def _cost(requests, price):
    """What the server's usage counts cost: it counts a token per 4 characters."""
    prompt = sum(len(r["body"]["messages"][-1]["content"]) // 4 for r in requests)
    completion = sum(len(r["text"]) // 4 for r in requests)
    return (prompt * price[0] + completion * price[1]) / 1e6


def test_pair_of_answer_files_both_orders_cache_and_cost(answers, replies, tmp_path):
    db = tmp_path / "s.duckdb"
    with JudgeServer(replies) as server:
        args = ["mtbench", "pair", "--answers", str(answers), "--judge", "api", "--judge-model", "gpt-4",
                "--judge-base", server.base_url, "--db", str(db)]
        done = sfteval(*args, "--json")
        assert done.returncode == 0, done.stderr
        result = json.loads(done.stdout)
        assert len(server.requests) == 12  # 6 question-turns, each in both orders
        for r in server.requests:
            r["text"] = replies[r["body"]["messages"][-1]["content"]]

        # model 1 is the folder's first file, capybara: 2 wins, 1 loss, 2 ties, 1 game left out
        assert result["pairs"] == [{"model_1": CAPYBARA, "model_2": ORPO, "win": 2, "loss": 1, "tie": 2, "n": 5,
                                    "win_rate": 0.4, "loss_rate": 0.2, "tie_rate": 0.4, "win_rate_adjusted": 0.6,
                                    "errors": 1, "games": 6}]
        cost = _cost(server.requests, GPT4)
        assert result["judge"]["asked"] == 12 and result["judge"]["cached"] == 0
        assert result["judge"]["judge_cost_usd"] == pytest.approx(cost)
        assert result["judge"]["judge_cost_usd,this_run"] == pytest.approx(cost)

        # FastChat's requests: system + user, greedy, 2048 tokens; the math prompts carry the reference answer
        bodies = [r["body"] for r in server.requests]
        assert {(b["model"], b["temperature"], b["max_tokens"]) for b in bodies} == {("gpt-4", 0.0, 2048)}
        assert all([m["role"] for m in b["messages"]] == ["system", "user"] for b in bodies)
        reference = data.references()[115][0]
        assert sum(reference in b["messages"][-1]["content"] for b in bodies) == 4  # q115, both turns, both orders
        stored = _query(db, "SELECT prompt_name, count(*), count(score) FROM judgments GROUP BY ALL ORDER BY 1")
        assert stored == [("pair-math-v1", 4, 0), ("pair-math-v1-multi-turn", 4, 0), ("pair-v2", 2, 0),
                          ("pair-v2-multi-turn", 2, 0)]  # score NULL: pairwise

        # a rerun asks nothing and costs nothing now; another price reprices the same judgments
        again = sfteval(*args, "--json", "--judge-price", "1,2")
        assert again.returncode == 0, again.stderr
        again = json.loads(again.stdout)
        assert len(server.requests) == 12 and again["pairs"] == result["pairs"]
        assert (again["judge"]["asked"], again["judge"]["cached"]) == (0, 12)
        assert again["judge"]["judge_cost_usd"] == pytest.approx(_cost(server.requests, (1.0, 2.0)))
        assert again["judge"]["judge_cost_usd,this_run"] == 0

        table = sfteval(*args, env={"COLUMNS": "250"})
    assert table.returncode == 0, table.stderr
    for text in (ORPO, CAPYBARA, "0.200", "0.600", "adjusted win rate", "0 judgments asked, 12 from the cache",
                 f"est. ${cost:.4g}"):
        assert text in table.stdout, table.stdout


def test_imported_run_against_an_answer_file(shared_data, answers, replies, tmp_path):
    db = tmp_path / "s.duckdb"
    mt = shared_data / "mt_bench"
    assert sfteval("mtbench", "import", "--answers", str(mt / "model_answer"), "--judgments",
                   str(mt / "model_judgment" / "gpt-4_single.jsonl"), "--db", str(db)).returncode == 0
    (run_id,) = [r for (r,) in _query(db, "SELECT r.id FROM runs r JOIN checkpoints c ON c.hash = r.checkpoint "
                                          "WHERE c.path = ?", CAPYBARA)]
    with JudgeServer(replies) as server:
        done = sfteval("mtbench", "pair", "--run", run_id[:12], "--answers", str(answers / f"{ORPO}.jsonl"),
                       "--limit", "1", "--judge-model", "gpt-4", "--judge-base", server.base_url, "--db", str(db),
                       "--json")
        assert done.returncode == 0, done.stderr
    # the stored run's answers are the real ones: the same games as between the files, question 81 only
    (pair,) = json.loads(done.stdout)["pairs"]
    assert (pair["model_1"], pair["model_2"], pair["win"], pair["loss"], pair["tie"], pair["games"]) == \
        (run_id, ORPO, 1, 1, 0, 2)
    assert len(server.requests) == 4


@pytest.mark.slow
def test_local_judge_pairs_a_tiny_models_run_with_a_baseline(answers, tiny_model, tmp_path):
    db = tmp_path / "s.duckdb"
    run = sfteval("run", "--ckpt", str(tiny_model), "--tasks", "mtbench", "--limit", "1", "--max-new-tokens", "8",
                  "--db", str(db), "--json")
    assert run.returncode == 0, run.stderr
    run_id = last_json(run.stdout)["run_id"]
    done = sfteval("mtbench", "pair", "--run", run_id, "--answers", str(answers / f"{ORPO}.jsonl"), "--judge", "hf",
                   "--judge-ckpt", str(tiny_model), "--judge-max-new-tokens", "8", "--batch-size", "4",
                   "--db", str(db), "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    (pair,) = result["pairs"]
    assert pair["games"] == 2 and pair["n"] + pair["errors"] == 2  # random text rarely writes a verdict
    assert result["judge"]["asked"] == 4 and result["judge"]["judge_cost_usd"] == 0  # a local judge is free
    assert 0 < result["judge"]["judge_completion_tokens"] <= 4 * 8
    judges = _query(db, "SELECT DISTINCT judge, mode FROM judgments")
    assert len(judges) == 1 and judges[0][0].endswith(":max_tokens=8") and judges[0][1] == "generate"


@pytest.mark.parametrize("args, message", [
    (["--judge-model", "gpt-4", "--judge-base", "http://127.0.0.1:9/v1"], "needs two answer sets"),
    (["--answers", "ANSWERS", "--answers", "ANSWERS", "--judge-model", "gpt-4", "--judge-base", "http://x"],
     "answer set mistral-orpo-capybara is given twice"),
    (["--answers", "ANSWERS"], "mtbench pair needs a judge"),
    (["--run", "nosuchrun", "--judge-model", "gpt-4", "--judge-base", "http://x"], "no run matching 'nosuchrun'"),
    (["--answers", "/no/such/dir", "--judge-model", "gpt-4", "--judge-base", "http://x"], "no *.jsonl answer files"),
    (["--answers", "ANSWERS", "--judge", "api", "--judge-model", "gpt-4"], "--judge api needs --judge-model NAME"),
    (["--answers", "ANSWERS", "--judge-ckpt", "x", "--judge-timeout", "5"], "--judge-timeout apply to --judge api"),
    (["--answers", "ANSWERS", "--judge-model", "gpt-4", "--judge-base", "http://x", "--judge-price", "cheap"],
     "--judge-price takes two numbers IN,OUT"),
])
def test_bad_pair_input_is_one_line_and_exit_2(answers, tmp_path, args, message):
    done = sfteval("mtbench", "pair", *[str(answers) if a == "ANSWERS" else a for a in args],
                   "--db", str(tmp_path / "s.duckdb"))
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 2 and len(lines) == 1 and message in lines[0], done.stderr


def test_a_failing_judge_is_one_line_and_exit_1(answers, tmp_path):
    with JudgeServer({}) as server:
        server.fail("400")
        done = sfteval("mtbench", "pair", "--answers", str(answers), "--judge-model", "gpt-4", "--judge-base",
                       server.base_url, "--judge-concurrency", "1", "--db", str(tmp_path / "s.duckdb"))
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 1 and len(lines) == 1 and lines[0].startswith("judge failed:"), done.stderr
