"""Judge prompts built exactly as FastChat's llm_judge builds them (common.run_judge_single / run_judge_pair).

gen_judgment.py picks the prompt by category and turn: questions in NEED_REF_CATS get the "-math" prompts
with GPT-4's reference answer, turn 2 gets the "-multi-turn" form that shows the whole conversation.
FastChat sends an OpenAI judge two messages: the prompt's system_prompt, then the filled prompt_template.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from sfteval.judge import data

# Categories judged against a reference answer (FastChat's NEED_REF_CATS).
NEED_REF_CATS = ("math", "reasoning", "coding")

# FastChat's sampling temperature per category for the model's answers (common.temperature_config).
TEMPERATURE = {"writing": 0.7, "roleplay": 0.7, "extraction": 0.0, "math": 0.0, "coding": 0.0,
               "reasoning": 0.0, "stem": 0.1, "humanities": 0.1}

# The judge itself answers greedily with up to 2048 new tokens (FastChat's chat_compeletion_openai call).
JUDGE_TEMPERATURE = 0.0
JUDGE_MAX_TOKENS = 2048


@dataclass(frozen=True)
class JudgePrompt:
    name: str           # FastChat prompt name, e.g. single-math-v1-multi-turn
    question_id: int
    turn: int           # 1, or 2 for the multi-turn prompts
    system: str
    user: str
    output_format: str  # "[[rating]]" (single) or "[[A]]" (pairwise)

    @property
    def messages(self) -> list[dict]:
        return [{"role": "system", "content": self.system}, {"role": "user", "content": self.user}]


@lru_cache(maxsize=1)
def _templates() -> dict[str, dict]:
    return data.judge_prompts()


def prompt_name(kind: str, category: str, turn: int) -> str:
    """FastChat's prompt for a match: kind 'single' or 'pair', by category and turn."""
    base = {"single": ("single-math-v1", "single-v1"), "pair": ("pair-math-v1", "pair-v2")}[kind]
    return base[0 if category in NEED_REF_CATS else 1] + ("-multi-turn" if turn == 2 else "")


def _build(name: str, question: dict, turn: int, reference: list[str] | None, **answers: str) -> JudgePrompt:
    template = _templates()[name]
    kwargs = dict(answers)
    if question["category"] in NEED_REF_CATS:
        if reference is None:
            raise ValueError(f"question {question['question_id']} ({question['category']}) needs a reference answer")
        kwargs.update(ref_answer_1=reference[0], ref_answer_2=reference[1])
    if turn == 2:
        kwargs.update(question_1=question["turns"][0], question_2=question["turns"][1])
    else:
        kwargs.update(question=question["turns"][0])
    return JudgePrompt(name, question["question_id"], turn, template["system_prompt"],
                       template["prompt_template"].format(**kwargs), template["output_format"])


def single_prompt(question: dict, answer: list[str], turn: int, reference: list[str] | None = None) -> JudgePrompt:
    """Grade one model's answer: turn 1 shows the first exchange, turn 2 the whole conversation."""
    name = prompt_name("single", question["category"], turn)
    if turn == 2:
        return _build(name, question, turn, reference, answer_1=answer[0], answer_2=answer[1])
    return _build(name, question, turn, reference, answer=answer[0])


def pair_prompt(question: dict, answer_a: list[str], answer_b: list[str], turn: int,
                reference: list[str] | None = None) -> JudgePrompt:
    """Compare assistant A's and assistant B's answers; FastChat asks twice, swapping A and B."""
    name = prompt_name("pair", question["category"], turn)
    if turn == 2:
        return _build(name, question, turn, reference, answer_a_1=answer_a[0], answer_a_2=answer_a[1],
                      answer_b_1=answer_b[0], answer_b_2=answer_b[1])
    return _build(name, question, turn, reference, answer_a=answer_a[0], answer_b=answer_b[0])


def single_prompts(questions: list[dict], answers: dict[int, list[str]],
                   references: dict[int, list[str]]) -> list[JudgePrompt]:
    """Every single-answer match of one model, turn 1 then turn 2 (questions without two turns skip turn 2)."""
    prompts = []
    for turn in (1, 2):
        for q in questions:
            if turn == 2 and len(q["turns"]) != 2:
                continue
            prompts.append(single_prompt(q, answers[q["question_id"]], turn, references.get(q["question_id"])))
    return prompts


def pair_prompts(questions: list[dict], answers_1: dict[int, list[str]], answers_2: dict[int, list[str]],
                 references: dict[int, list[str]]) -> list[tuple[JudgePrompt, JudgePrompt]]:
    """Every pairwise match of model 1 against model 2: (model 1 as A, model 2 as A) per question and turn."""
    pairs = []
    for turn in (1, 2):
        for q in questions:
            if turn == 2 and len(q["turns"]) != 2:
                continue
            a1, a2, ref = answers_1[q["question_id"]], answers_2[q["question_id"]], references.get(q["question_id"])
            pairs.append((pair_prompt(q, a1, a2, turn, ref), pair_prompt(q, a2, a1, turn, ref)))
    return pairs
