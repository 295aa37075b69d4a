"""`sfteval run --tasks mtbench` end to end: two-turn answers from a tiny random model, judged by a real
OpenAI-compatible server on 127.0.0.1 or by a local model; caches, kill and resume, FastChat export."""

from __future__ import annotations

import importlib.util
import json
import signal
import subprocess
import sys
import time

import duckdb
import pytest

from conftest import last_json, sfteval
from judge_server import JudgeServer, Rate, expected_rating, rating
from openai_server import OpenAIServer
from sfteval.config import RunSettings
from sfteval.judge import data, prompts
from sfteval.tasks.mtbench import MTBench, load

FAST = ["--max-new-tokens", "16", "--batch-size", "4"]


def _query(db, sql, *params):
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql, list(params)).fetchall()


def _expected_prompts(db, run_id):
    """FastChat's judge prompts for the answers the run stored, built independently of the runner."""
    answers = {}
    for qid, repeat, output in _query(db, "SELECT doc_id, repeat, output FROM samples WHERE run_id = ?", run_id):
        answers.setdefault(qid, ["", ""])[repeat] = output
    questions = [q for q in data.questions() if q["question_id"] in answers]
    return prompts.single_prompts(questions, answers, data.references())


def _mean(xs):
    return sum(xs) / len(xs)


def test_two_rounds_fastchat_settings_and_fingerprint():
    task = MTBench(max_new_tokens=64)
    rounds = []

    def generate(requests):
        rounds.append(requests)
        return [f" answer {r.doc_id}/{r.repeat + 1} " for r in requests]

    requests, outputs = task.answer(generate, 3, json.dumps)  # the api backend's templater: messages as JSON
    assert [[(r.doc_id, r.repeat) for r in batch] for batch in rounds] == [[(81, 0), (82, 0), (83, 0)],
                                                                           [(81, 1), (82, 1), (83, 1)]]
    assert outputs == ["answer 81/1", "answer 82/1", "answer 83/1", "answer 81/2", "answer 82/2", "answer 83/2"]
    q81 = data.questions()[0]
    assert json.loads(requests[3].prompt) == [{"role": "user", "content": q81["turns"][0]},
                                              {"role": "assistant", "content": "answer 81/1"},  # stripped
                                              {"role": "user", "content": q81["turns"][1]}]
    assert requests[0].gen_kwargs == {"until": ["</s>", "<|im_end|>", "<|eot_id|>", "<|endoftext|>", "<end_of_turn>"],
                                      "max_gen_toks": 64, "do_sample": True, "temperature": 0.7}  # writing
    categories = {q["question_id"]: q["category"] for q in data.questions()}
    all_requests, _ = MTBench().answer(lambda rs: [""] * len(rs), None, json.dumps)
    by_category = {categories[r.doc_id]: r.gen_kwargs for r in all_requests}
    assert len(all_requests) == 160 and {kw["max_gen_toks"] for kw in by_category.values()} == {1024}
    assert {c: kw["temperature"] for c, kw in by_category.items()} == prompts.TEMPERATURE
    assert [c for c, kw in by_category.items() if kw["do_sample"]] == ["writing", "roleplay", "stem", "humanities"]
    assert len({MTBench().fingerprint, MTBench(64).fingerprint, MTBench(temperature=0).fingerprint}) == 3
    assert MTBench().fingerprint == MTBench().fingerprint
    assert load(RunSettings(max_new_tokens=32)).max_new_tokens == 32


def test_api_judge_end_to_end_cache_logprob_and_export(tmp_path, tiny_model):
    db = tmp_path / "s.duckdb"
    with JudgeServer(Rate()) as server:
        args = ["run", "--ckpt", str(tiny_model), "--tasks", "mtbench", "--limit", "3", *FAST, "--db", str(db),
                "--judge", "api", "--judge-model", "judge-x", "--judge-base", server.base_url, "--json"]
        first = sfteval(*args, env={"OPENAI_API_KEY": "sk-judge"})
        assert first.returncode == 0, first.stderr
        result = last_json(first.stdout)
        assert result["generated"] == 6 and result["judged"] == 6 and len(server.requests) == 6
        run_id, scores = result["run_id"], result["scores"]["mtbench"]

        # FastChat's prompts for the stored answers, sent as FastChat sends them; scores are the judge's ratings
        expected = _expected_prompts(db, run_id)
        assert sorted(json.dumps(r["body"]["messages"]) for r in server.requests) == \
            sorted(json.dumps(p.messages) for p in expected)
        body = server.requests[0]["body"]
        assert (body["model"], body["temperature"], body["max_tokens"]) == ("judge-x", 0.0, 2048)
        assert {r["auth"] for r in server.requests} == {"Bearer sk-judge"}
        ratings = {(p.question_id, p.turn): rating(p.user) for p in expected}
        samples = _query(db, "SELECT doc_id, repeat, extracted, score, prompt, output FROM samples WHERE run_id = ? "
                             "ORDER BY doc_id, repeat", run_id)
        assert [(s[0], s[1]) for s in samples] == [(81, 0), (81, 1), (82, 0), (82, 1), (83, 0), (83, 1)]
        for qid, repeat, extracted, score, prompt, output in samples:
            assert json.loads(extracted)["ratings"] == [ratings[qid, repeat + 1]] == [score]
        # turn 2 was asked in the conversation holding the model's own turn-1 answer
        assert samples[0][5] in samples[1][4] and data.questions()[0]["turns"][1] in samples[1][4]
        assert scores["score"] == pytest.approx(_mean(list(ratings.values())))
        assert scores["score,turn1"] == pytest.approx(_mean([v for (q, t), v in ratings.items() if t == 1]))
        assert scores["score,turn2"] == pytest.approx(_mean([v for (q, t), v in ratings.items() if t == 2]))
        assert scores["score,writing"] == scores["score"] and scores["judge_unparsed"] == 0
        assert scores["judge_prompt_tokens"] == sum(len(r["body"]["messages"][-1]["content"]) // 4
                                                    for r in server.requests)
        assert _query(db, "SELECT count(*) FROM generations") == [(6,)]
        assert _query(db, "SELECT judge, mode, count(*) FROM judgments GROUP BY ALL") == [("judge-x", "generate", 6)]
        stderr = dict(_query(db, "SELECT metric, stderr FROM scores WHERE run_id = ?", run_id))
        assert stderr["score"] > 0 and stderr["score,writing"] > 0

        # a rerun generates nothing and asks the judge nothing
        again = last_json(sfteval(*args).stdout)
        assert (again["generated"], again["judged"], len(server.requests)) == (0, 0, 6)
        assert again["scores"] == result["scores"] and again["run_id"] != run_id

        # logprob mode: the same answers, judged again, scored by the expected rating
        logprob = last_json(sfteval(*args, "--judge-mode", "logprob").stdout)
        assert (logprob["generated"], logprob["judged"], len(server.requests)) == (0, 6, 12)
        assert server.requests[-1]["body"]["logprobs"] is True
        assert logprob["scores"]["mtbench"]["score"] == pytest.approx(
            _mean([expected_rating(v) for v in ratings.values()]))

    out = tmp_path / "answers" / "tiny.jsonl"
    out.parent.mkdir()
    assert sfteval("export", run_id, "--format", "fastchat", "--out", str(out), "--db", str(db)).returncode == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["question_id"] for r in rows] == [81, 82, 83]
    assert set(rows[0]) == {"question_id", "answer_id", "model_id", "choices", "tstamp"}
    assert rows[0]["choices"][0]["turns"] == [samples[0][5], samples[1][5]] and rows[0]["choices"][0]["index"] == 0
    assert data.read_answers(out.parent)["tiny"][82] == [samples[2][5], samples[3][5]]  # FastChat's reader


def test_api_backend_answers_both_turns_in_one_conversation(tmp_path):
    q81, q82 = data.questions()[:2]
    replies = {q81["turns"][0]: "  Aloha!  ", q81["turns"][1]: "All about Aloha.", q82["turns"][0]: "Dear boss"}
    with OpenAIServer(replies) as server:
        done = sfteval("run", "--backend", "api", "--api-base", server.base_url, "--api-model", "served", "--tasks",
                       "mtbench", "--limit", "2", "--db", str(tmp_path / "s.duckdb"), "--json")
    assert done.returncode == 0, done.stderr
    assert last_json(done.stdout)["generated"] == 4
    sent = {b["messages"][-1]["content"]: b for b in (r["body"] for r in server.requests)}
    # every turn 1 first, then every turn 2
    assert [set(list(sent)[:2]), set(list(sent)[2:])] == [{q81["turns"][0], q82["turns"][0]},
                                                          {q81["turns"][1], q82["turns"][1]}]
    assert sent[q81["turns"][1]]["messages"] == [{"role": "user", "content": q81["turns"][0]},
                                                 {"role": "assistant", "content": "Aloha!"},
                                                 {"role": "user", "content": q81["turns"][1]}]
    assert {(b["max_tokens"], b["temperature"]) for b in sent.values()} == {(1024, 0.7)}  # writing
    outputs = _query(tmp_path / "s.duckdb", "SELECT output FROM samples WHERE doc_id = 81 ORDER BY repeat")
    assert outputs == [("Aloha!",), ("All about Aloha.",)]


def test_killed_judging_run_resumes_without_judging_twice(tmp_path, tiny_model):
    db = tmp_path / "s.duckdb"
    with JudgeServer(Rate(), delay_s=1.0) as server:
        # --batch-size 1: judgments are stored 4 at a time, one chunk a second
        args = [sys.executable, "-m", "sfteval", "run", "--ckpt", str(tiny_model), "--tasks", "mtbench", "--limit",
                "5", "--max-new-tokens", "16", "--batch-size", "1", "--db", str(db), "--judge", "api",
                "--judge-model", "judge-x", "--judge-base", server.base_url, "--json"]
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline, kept = time.monotonic() + 120, 0
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                kept = _query(db, "SELECT count(*) FROM judgments")[0][0]
            except (duckdb.Error, FileNotFoundError):
                pass  # the writer holds the file for a moment
            if kept >= 4:
                proc.send_signal(signal.SIGKILL)
                break
            time.sleep(0.1)
        proc.wait()
        assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed"
        kept = _query(db, "SELECT count(*) FROM judgments")[0][0]
        assert 4 <= kept < 10 and _query(db, "SELECT status FROM runs") == [("running",)]
        asked = len(server.requests)

        resumed = subprocess.run(args, capture_output=True, text=True)
        assert resumed.returncode == 0, resumed.stderr
        result = last_json(resumed.stdout)
        assert result["resumed"] and result["generated"] == 0 and result["judged"] == 10 - kept
        assert len(server.requests) - asked == 10 - kept
    assert _query(db, "SELECT count(*), count(DISTINCT (question_id, turn)) FROM judgments") == [(10, 10)]
    assert _query(db, "SELECT count(*), status FROM runs GROUP BY status") == [(1, "finished")]
    assert _query(db, "SELECT count(*) FROM samples WHERE score IS NOT NULL") == [(10,)]


def test_local_judge_logprob_is_deterministic_generate_counts_unparsed(tmp_path, tiny_model):
    def run(db, *judge):
        # --temperature 0: greedy answers in every category, so that two stores hold the same answers
        done = sfteval("run", "--ckpt", str(tiny_model), "--tasks", "mtbench", "--limit", "2", *FAST,
                       "--temperature", "0", "--judge", "hf", "--judge-ckpt", str(tiny_model), *judge,
                       "--db", str(db), "--json")
        assert done.returncode == 0, done.stderr
        return last_json(done.stdout)

    one = run(tmp_path / "a.duckdb", "--judge-mode", "logprob")
    two = run(tmp_path / "b.duckdb", "--judge-mode", "logprob")
    assert one["judged"] == 4 and one["scores"] == two["scores"]
    scores = one["scores"]["mtbench"]
    assert 1 <= scores["score"] <= 10 and scores["judge_unparsed"] == 0 and scores["judge_completion_tokens"] == 0
    ratings = [s for (s,) in _query(tmp_path / "a.duckdb", "SELECT score FROM samples")]
    assert len(ratings) == 4 and all(1 <= r <= 10 and r != int(r) for r in ratings)  # expectations, not integers
    judgment = json.loads(_query(tmp_path / "a.duckdb", "SELECT judgment FROM judgments LIMIT 1")[0][0])
    assert judgment["prefix"] == "Rating: [[" and sum(judgment["probs"].values()) < 1  # mass left on other tokens

    generated = run(tmp_path / "a.duckdb", "--judge-max-new-tokens", "8")
    assert generated["generated"] == 0 and generated["judged"] == 4  # the answers came from the cache
    scores = generated["scores"]["mtbench"]
    extracted = [json.loads(e) for (e,) in _query(tmp_path / "a.duckdb", "SELECT extracted FROM samples "
                                                  "WHERE run_id = ?", generated["run_id"])]
    assert scores["judge_unparsed"] == sum(e["ratings"] == [-1] for e in extracted)  # random text rates nothing
    assert 0 < scores["judge_completion_tokens"] <= 4 * 8


def test_local_logprob_equals_one_prompt_at_a_time(tiny_model):
    """Batched, left-padded, with the "0" read one cached step after "1": the same numbers as a plain forward
    pass over each prompt alone."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from sfteval.checkpoints import resolve
    from sfteval.judge.local import RATING_PREFIX, LocalJudge

    questions = data.questions()
    answers = {q["question_id"]: ["short", "a somewhat longer answer " * 5] for q in questions[:3]}
    judge_prompts = prompts.single_prompts(questions[:3], answers, data.references())
    judge = LocalJudge(resolve(str(tiny_model)), "logprob", RunSettings(batch_size=4, device="cpu"))
    replies = judge.judge(judge_prompts)

    tok = AutoTokenizer.from_pretrained(tiny_model)
    model = AutoModelForCausalLM.from_pretrained(tiny_model).eval()
    digit = {n: tok.encode(str(n), add_special_tokens=False)[0] for n in range(10)}
    for prompt, reply in zip(judge_prompts, replies):
        text = tok.apply_chat_template(prompt.messages, tokenize=False, add_generation_prompt=True) + RATING_PREFIX
        ids = tok.encode(text, add_special_tokens=False)
        with torch.inference_mode():
            p = model(torch.tensor([ids])).logits[0, -1].softmax(-1)
            p0 = model(torch.tensor([ids + [digit[1]]])).logits[0, -1].softmax(-1)[digit[0]].item()
        probs = {n: p[digit[n]].item() for n in range(2, 10)} | {1: p[digit[1]].item() * (1 - p0),
                                                                 10: p[digit[1]].item() * p0}
        assert reply.score == pytest.approx(sum(n * q for n, q in probs.items()) / sum(probs.values()), abs=1e-5)
        assert reply.usage["prompt_tokens"] == len(ids)


@pytest.mark.parametrize("args, message", [
    (["--judge", "api"], "--judge api needs --judge-model NAME and --judge-base URL"),
    (["--judge", "hf"], "--judge hf needs --judge-ckpt PATH"),
    (["--judge", "gpt"], "--judge must be one of none, api, hf"),
    (["--judge-ckpt", "x", "--judge-mode", "vibes"], "--judge-mode must be one of generate, logprob"),
    (["--judge-ckpt", "/no/such/judge"], "--ckpt /no/such/judge: no such file or directory"),
    (["--judge-model", "gpt-4", "--judge-base", "http://x", "--tasks", "gsm8k"], "--judge scores MT-Bench answers"),
    (["--chat-template", "none"], "mtbench is a chat benchmark"),
    (["--judge-model", "gpt-4", "--judge-base", "http://x", "--judge-concurrency", "0"],
     "--judge-concurrency must be at least 1"),
    (["--judge-model", "gpt-4", "--judge-base", "http://x", "--judge-timeout", "0"],
     "--judge-timeout must be a positive number of seconds"),
    (["--judge-ckpt", "TINY", "--judge-concurrency", "2"], "--judge-concurrency and --judge-timeout apply to --judge api"),
    (["--judge-model", "gpt-4", "--judge-base", "http://x", "--judge-price", "3"], "--judge-price takes two numbers"),
    (["--judge", "vllm", "--judge-ckpt", "TINY", "--judge-mode", "logprob"],
     "--judge-mode logprob reads the judge's probabilities through the hf backend"),
    pytest.param(["--judge", "vllm", "--judge-ckpt", "TINY"], "--judge vllm needs the vllm package",
                 marks=pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vllm is installed")),
])
def test_bad_judge_input_is_one_line_and_exit_2(tmp_path, tiny_model, args, message):
    args = [str(tiny_model) if a == "TINY" else a for a in args]
    if "--tasks" not in args:
        args = [*args, "--tasks", "mtbench"]
    db = tmp_path / "s.duckdb"
    done = sfteval("run", "--ckpt", str(tiny_model), *args, "--db", str(db))
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 2 and len(lines) == 1 and message in lines[0], done.stderr
    assert not db.exists()


@pytest.mark.slow
def test_real_model_answers_and_judges_itself_in_both_modes(tmp_path, smollm2):
    db = tmp_path / "s.duckdb"
    args = ["run", "--ckpt", "demo:smollm2-135m", "--tasks", "mtbench", "--limit", "1", "--max-new-tokens", "64",
            "--judge", "hf", "--judge-ckpt", "demo:smollm2-135m", "--db", str(db), "--json"]
    done = sfteval(*args, "--judge-mode", "logprob")
    assert done.returncode == 0, done.stderr
    result = last_json(done.stdout)
    scores = result["scores"]["mtbench"]
    assert result["generated"] == 2 and result["judged"] == 2  # one question, two turns
    assert 1 < scores["score"] < 10 and scores["judge_unparsed"] == 0 and scores["judge_prompt_tokens"] > 2 * 100
    answers = [o for (o,) in _query(db, "SELECT output FROM samples")]
    assert len(answers) == 2 and all(len(a.split()) > 5 for a in answers)  # real sentences, not noise

    # generate mode on the same answers (cut at 64 tokens to stay short on CPU): ratings parsed or counted as -1
    done = sfteval(*args, "--judge-max-new-tokens", "64")
    assert done.returncode == 0, done.stderr
    result = last_json(done.stdout)
    assert result["generated"] == 0 and result["judged"] == 2
    scores = result["scores"]["mtbench"]
    ratings = [json.loads(e)["ratings"][0] for (e,) in _query(db, "SELECT extracted FROM samples WHERE run_id = ?",
                                                               result["run_id"])]
    assert scores["judge_unparsed"] == ratings.count(-1) and all(r == -1 or 1 <= r <= 10 for r in ratings)
    assert scores["judge_completion_tokens"] > 0


def test_a_judge_needs_mtbench_among_the_tasks():
    from sfteval.config import ConfigError, run_settings
    from sfteval.judge.build import build_judge
    from sfteval.judge.client import ApiJudge

    every_task = run_settings()  # no --tasks: every task, MT-Bench included
    judge = build_judge("api", every_task, model="gpt-4", base="http://127.0.0.1:9/v1")
    assert isinstance(judge, ApiJudge)
    with pytest.raises(ConfigError, match="--judge scores MT-Bench answers: add --tasks mtbench"):
        build_judge("api", run_settings(tasks=["gsm8k"]), model="gpt-4", base="http://127.0.0.1:9/v1")


@pytest.mark.skipif(not (importlib.util.find_spec("vllm") and __import__("torch").cuda.is_available()),
                    reason="needs vllm and a CUDA GPU")
def test_vllm_judge_generates_ratings(tmp_path, tiny_model):
    db = tmp_path / "s.duckdb"
    done = sfteval("run", "--ckpt", str(tiny_model), "--tasks", "mtbench", "--limit", "1", *FAST, "--judge", "vllm",
                   "--judge-ckpt", str(tiny_model), "--judge-max-new-tokens", "8", "--db", str(db), "--json")
    assert done.returncode == 0, done.stderr
    result = last_json(done.stdout)
    assert result["judged"] == 2 and result["scores"]["mtbench"]["judge_cost_usd"] == 0
    (judge,) = _query(db, "SELECT DISTINCT judge FROM judgments")
    assert ":backend=vllm:max_tokens=8" in judge[0]
