"""MT-Bench judging as FastChat does it: prompts, rating parsing, pairwise rule, expected rating, aggregation.

The reference is FastChat's own output: the 480 real GPT-4 judgments in ../shared/data/mt_bench carry the
exact user prompt FastChat sent and the score it parsed.
"""

from __future__ import annotations

import math
from collections import defaultdict

import pytest

from sfteval.judge import aggregate, data, parse, prompts


@pytest.fixture(scope="module")
def mt(shared_data):
    root = shared_data / "mt_bench"
    return {"rows": data.read_judgments(root / "model_judgment" / "gpt-4_single.jsonl"),
            "answers": data.read_answers(root / "model_answer"),
            "questions": {q["question_id"]: q for q in data.questions()}, "refs": data.references(),
            "templates": data.judge_prompts()}


def test_shipped_data():
    qs = data.questions()
    assert len(qs) == 80 and all(len(q["turns"]) == 2 for q in qs)
    assert {q["category"] for q in qs} == set(prompts.TEMPERATURE)
    assert sorted(data.references()) == [q["question_id"] for q in qs if q["category"] in prompts.NEED_REF_CATS]
    assert len(data.judge_prompts()) == 8
    assert (data.DATA_DIR / "LICENSE").read_text().lstrip().startswith("Apache License")


def test_fastchat_settings():
    assert prompts.TEMPERATURE == {"writing": 0.7, "roleplay": 0.7, "extraction": 0.0, "math": 0.0, "coding": 0.0,
                                   "reasoning": 0.0, "stem": 0.1, "humanities": 0.1}
    assert prompts.NEED_REF_CATS == ("math", "reasoning", "coding")
    assert prompts.prompt_name("single", "writing", 1) == "single-v1"
    assert prompts.prompt_name("single", "reasoning", 2) == "single-math-v1-multi-turn"
    assert prompts.prompt_name("pair", "coding", 1) == "pair-math-v1"
    assert prompts.prompt_name("pair", "stem", 2) == "pair-v2-multi-turn"


def test_prompts_equal_the_ones_fastchat_sent_to_gpt4(mt):
    by_key = defaultdict(list)
    for r in mt["rows"]:
        by_key[r["model"], r["question_id"], r["turn"]].append(r)
    assert len(by_key) == 320
    for (model, qid, turn), rows in by_key.items():
        p = prompts.single_prompt(mt["questions"][qid], mt["answers"][model][qid], turn, mt["refs"].get(qid))
        assert p.name == rows[0]["judge"][1] and (p.question_id, p.turn) == (qid, turn)
        assert p.system == mt["templates"][p.name]["system_prompt"]
        # mistral-orpo was judged twice per question-turn, once on an older answer file; the shipped answers
        # reproduce the other judgment's prompt character for character
        assert sum(p.user == r["user_prompt"] for r in rows) == 1, (model, qid, turn)
    all_prompts = prompts.single_prompts(data.questions(), mt["answers"]["mistral-orpo-capybara"], mt["refs"])
    assert len(all_prompts) == 160 and [p.turn for p in all_prompts] == [1] * 80 + [2] * 80


def _fill(template: str, **fields: str) -> str:
    for k, v in fields.items():
        template = template.replace("{" + k + "}", v)
    return template


def test_single_prompts_spelled_out(mt):
    q81, answer = mt["questions"][81], mt["answers"]["mistral-orpo"][81]
    p = prompts.single_prompt(q81, answer, 1)
    assert p.messages == [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": (
            "[Instruction]\nPlease act as an impartial judge and evaluate the quality of the response provided by an "
            "AI assistant to the user question displayed below. Your evaluation should consider factors such as the "
            "helpfulness, relevance, accuracy, depth, creativity, and level of detail of the response. Begin your "
            "evaluation by providing a short explanation. Be as objective as possible. After providing your "
            "explanation, you must rate the response on a scale of 1 to 10 by strictly following this format: "
            "\"[[rating]]\", for example: \"Rating: [[5]]\".\n\n[Question]\n" + q81["turns"][0]
            + "\n\n[The Start of Assistant's Answer]\n" + answer[0] + "\n[The End of Assistant's Answer]")}]
    # a math question, turn 2: the reference conversation, then the assistant's, in the multi-turn template
    q119, ref, answer = mt["questions"][119], mt["refs"][119], mt["answers"]["mistral-orpo"][119]
    p = prompts.single_prompt(q119, answer, 2, ref)
    template = mt["templates"]["single-math-v1-multi-turn"]
    assert p.name == "single-math-v1-multi-turn" and p.output_format == "[[rating]]"
    assert p.system == template["system_prompt"]
    assert p.user == _fill(template["prompt_template"], question_1=q119["turns"][0], question_2=q119["turns"][1],
                           ref_answer_1=ref[0], ref_answer_2=ref[1], answer_1=answer[0], answer_2=answer[1])
    assert p.user.index(ref[1]) < p.user.index("<|The Start of Assistant A's Conversation") < p.user.index(answer[1])
    # turn 1 of a math question shows the first reference turn only
    p = prompts.single_prompt(q119, answer, 1, ref)
    assert ref[0] in p.user and ref[1] not in p.user and p.name == "single-math-v1"
    with pytest.raises(ValueError, match="needs a reference answer"):
        prompts.single_prompt(q119, answer, 1)


def test_pair_prompts_spelled_out(mt):
    q, ref = mt["questions"][111], mt["refs"][111]
    a, b = mt["answers"]["mistral-orpo"][111], mt["answers"]["mistral-orpo-capybara"][111]
    template = mt["templates"]["pair-math-v1-multi-turn"]
    p = prompts.pair_prompt(q, a, b, 2, ref)
    assert (p.name, p.system, p.output_format) == ("pair-math-v1-multi-turn", template["system_prompt"], "[[A]]")
    assert p.user == _fill(template["prompt_template"], question_1=q["turns"][0], question_2=q["turns"][1],
                           ref_answer_1=ref[0], ref_answer_2=ref[1], answer_a_1=a[0], answer_a_2=a[1],
                           answer_b_1=b[0], answer_b_2=b[1])
    q = mt["questions"][82]
    a, b = mt["answers"]["mistral-orpo"][82], mt["answers"]["mistral-orpo-capybara"][82]
    g1, g2 = prompts.pair_prompts([q], {82: a}, {82: b}, {})[0]
    assert g1.name == "pair-v2" and g1.user == _fill(mt["templates"]["pair-v2"]["prompt_template"],
                                                     question=q["turns"][0], answer_a=a[0], answer_b=b[0])
    assert g2.user == _fill(mt["templates"]["pair-v2"]["prompt_template"],
                            question=q["turns"][0], answer_a=b[0], answer_b=a[0])  # the swapped game


def test_parsing_reproduces_every_stored_score(mt):
    rows = mt["rows"]
    assert [parse.parse_score(r["judgment"]) for r in rows] == [r["score"] for r in rows]
    assert [(r["model"], r["question_id"], r["turn"]) for r in rows if r["score"] == -1] == [("mistral-orpo", 158, 2)]
    assert sum(r["score"] % 1 != 0 for r in rows) == 4  # 8.5 and 9.5 occur


@pytest.mark.parametrize("text, score", [
    ("Rating: [[7]]", 7.0), ("Rating: [[8.5]] and later [[3]]", 8.5), ("no double brackets: [6]", 6.0),
    ("[[5]] beats [9]", 5.0), ("Rating: [[08]]", 8.0), ("Rating: 7/10", -1.0), ("[[rating]]", -1.0)])
def test_parse_score(text, score):
    assert parse.parse_score(text) == score


def test_pairwise_verdicts_and_fastchats_rule():
    assert [parse.parse_verdict(t) for t in ("... [[A]]", "[[B]]", "[[C]]", "A is better", "[[B]] or [[A]]")] == \
        ["A", "B", "tie", "error", "A"]  # FastChat checks [[A]] first
    # g1: model 1 is assistant A; g2: model 2 is assistant A
    assert parse.pair_outcome("A", "B") == "model_1"
    assert parse.pair_outcome("B", "A") == "model_2"
    assert parse.pair_outcome("A", "A") == "tie"  # position bias: the orders disagree
    assert parse.pair_outcome("tie", "B") == "tie"
    assert parse.pair_outcome("B", "tie") == "tie"
    assert parse.pair_outcome("tie", "tie") == "tie"
    assert parse.pair_outcome("A", "error") == "error"
    rates = parse.win_rates(["model_1", "model_1", "model_2", "tie", "error"])
    assert rates == {"win": 2, "loss": 1, "tie": 1, "n": 4, "win_rate": 0.5, "loss_rate": 0.25, "tie_rate": 0.25,
                     "win_rate_adjusted": 0.625}
    assert math.isnan(parse.win_rates(["error"])["win_rate"])


def _tok(token: str, alternatives: dict[str, float] | None = None) -> dict:
    alternatives = alternatives or {token: 1.0}
    return {"token": token, "logprob": math.log(alternatives.get(token, 1.0)),
            "top_logprobs": [{"token": t, "logprob": math.log(p)} for t, p in alternatives.items()]}


def test_expected_score_on_hand_made_distributions():
    # one token per rating (GPT-4's tokenizer); a non-rating alternative is left out and the rest renormalised
    content = [_tok("Rating"), _tok(":"), _tok(" [["), _tok("8", {"8": .5, "7": .25, "9": .2, "**": .05}), _tok("]]")]
    assert parse.expected_score(content) == pytest.approx((8 * .5 + 7 * .25 + 9 * .2) / .95)
    # the rating shares a token with the brackets: alternatives carry the same prefix
    content = [_tok("Rating: "), _tok("[[8", {"[[8": .6, "[[9": .3, " [[": .1}), _tok("]]")]
    assert parse.expected_score(content) == pytest.approx((8 * .6 + 9 * .3) / .9)
    # one digit per token: "1" followed by "0" is a 10, so p("1") splits by the next token's p("0")
    content = [_tok("[["), _tok("1", {"1": .6, "9": .4}), _tok("0", {"0": .5, "]]": .5}), _tok("]]")]
    assert parse.expected_score(content) == pytest.approx(1 * .3 + 10 * .3 + 9 * .4)
    # FastChat's backup pattern, and no rating at all
    assert parse.expected_score([_tok("["), _tok("6", {"6": .5, "4": .5}), _tok("]")]) == pytest.approx(5.0)
    assert parse.expected_score([_tok("I cannot rate this.")]) == -1.0
    # logprobs the server left empty: the written rating
    assert parse.expected_score([_tok("[["), {"token": "7", "logprob": 0.0, "top_logprobs": []}, _tok("]]")]) == 7.0


def test_show_result_on_the_real_judgments(mt):
    result = aggregate.show_result(mt["rows"])
    assert result["mistral-orpo"] == pytest.approx(
        {"turn1": 6.675, "turn2": 5.03774, "overall": 5.85893, "n": 319}, abs=1e-5)
    assert result["mistral-orpo-capybara"] == pytest.approx(
        {"turn1": 7.125, "turn2": 6.5125, "overall": 6.81875, "n": 160}, abs=1e-5)
    assert aggregate.unparsed(mt["rows"]) == {"mistral-orpo": 1, "mistral-orpo-capybara": 0}


def test_category_means_and_bootstrap(mt):
    rows, categories = mt["rows"], {q: v["category"] for q, v in mt["questions"].items()}
    means = aggregate.category_means(rows, categories)
    assert means["mistral-orpo-capybara"]["writing"] == pytest.approx(9.15)
    assert means["mistral-orpo"]["humanities"] == pytest.approx(8.91025641)  # 39 rows: the -1 row is left out
    # every capybara category has 20 rows, so the category means average back to the overall score
    assert sum(means["mistral-orpo-capybara"].values()) / 8 == pytest.approx(6.81875)

    ci = aggregate.bootstrap_ci(rows)
    assert ci == aggregate.bootstrap_ci(rows)  # seeded
    assert ci != aggregate.bootstrap_ci(rows, seed=1)
    for model, r in aggregate.show_result(rows).items():
        for key in ("turn1", "turn2", "overall"):
            assert ci[model][key]["low"] < r[key] < ci[model][key]["high"]
            assert 0.1 < ci[model][key]["stderr"] < 1.0
    assert ci["mistral-orpo-capybara"]["overall"]["high"] - ci["mistral-orpo-capybara"]["overall"]["low"] < 2.0
