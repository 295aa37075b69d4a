"""MT-Bench answers as FastChat's gen_model_answer.py makes them, scored by a judge as FastChat's llm_judge does.

80 questions in 8 categories, two turns each, through the model's chat template. Turn 2 is asked in the
conversation that holds the model's own turn-1 answer, so the two turns are two rounds of generation: every
turn 1 first, then every turn 2 (each round batched, each cached, so a killed run resumes in either round).
Sampling temperature per category as FastChat sets it (0 = greedy), 1024 new tokens.

This is not an lm-eval task (lm-eval has no dependent turns); it offers the runner the same surface as
sfteval.tasks.Task (name, version, fingerprint, primary_metric, uses_chat_template, score), with `answer`
in place of `requests`, and a judge passed to `score`. Stored samples: one row per question-turn (doc_id =
question id, repeat = turn - 1), the layout `sfteval mtbench import` writes.
"""

from __future__ import annotations

import hashlib
import json
from typing import Callable

from sfteval.backends import CHAT_STOPS, Templater
from sfteval.config import ConfigError, RunSettings
from sfteval.judge import aggregate, cost, data, prompts
from sfteval.judge.client import JudgeReply
from sfteval.judge.cost import Price
from sfteval.judge.parse import UNPARSED
from sfteval.judge.prompts import JudgePrompt
from sfteval.tasks import Request, SampleResult, Score

NAME = data.TASK
MAX_NEW_TOKENS = 1024  # FastChat's default --max-new-token

Generate = Callable[[list[Request]], list[str]]
JudgeFn = Callable[[list[JudgePrompt]], list[JudgeReply]]


def load(settings: RunSettings) -> MTBench:
    if settings.chat_template == "none":
        raise ConfigError("mtbench is a chat benchmark: use --chat-template auto, vicuna, alpaca or chatml")
    if settings.samples > 1:
        raise ConfigError("mtbench takes one answer per question: drop --samples")
    return MTBench(settings.max_new_tokens or MAX_NEW_TOKENS, settings.temperature)


class MTBench:
    name, version, primary_metric, uses_chat_template = NAME, "1", "score", True

    def __init__(self, max_new_tokens: int = MAX_NEW_TOKENS, temperature: float | None = None):
        # --temperature, when given, replaces FastChat's per-category temperatures for every question
        self.temperatures = {c: t if temperature is None else temperature for c, t in prompts.TEMPERATURE.items()}
        self.max_new_tokens = max_new_tokens
        self.questions = data.questions()
        settings = {"version": self.version, "temperatures": self.temperatures, "max_new_tokens": max_new_tokens,
                    "until": CHAT_STOPS}
        # What decides the answers: the questions and the generation settings (references and judge prompts
        # only decide judgments, which the judgment cache keys on their own).
        digest = hashlib.sha256((data.DATA_DIR / "question.jsonl").read_bytes())
        digest.update(json.dumps(settings, sort_keys=True).encode())
        self.fingerprint = digest.hexdigest()

    def answer(self, generate: Generate, limit: int | None,
               templater: Templater) -> tuple[list[Request], list[str]]:
        """Both turns of the first `limit` questions: turn-1 requests, then turn-2 requests that carry the
        model's turn-1 answer. Returns every request and its output, turn 1 first."""
        questions = self.questions[:limit]
        first = [self._request(q, [_user(q["turns"][0])], 1, templater) for q in questions]
        answers = [a.strip() for a in generate(first)]  # FastChat strips each answer before the next turn
        second = [self._request(q, [_user(q["turns"][0]), {"role": "assistant", "content": a}, _user(q["turns"][1])],
                                2, templater) for q, a in zip(questions, answers)]
        return first + second, [*answers, *(a.strip() for a in generate(second))]

    def score(self, requests: list[Request], outputs: list[str], judge: JudgeFn | None = None,
              price: Price | None = None) -> tuple[list[SampleResult], list[Score]]:
        """A sample per question-turn; with a judge, its FastChat single-answer rating and the scores, and
        the judge's tokens and, at `price` (USD per 1M prompt / completion tokens), their cost."""
        answers = {}
        for r, output in zip(requests, outputs):
            answers.setdefault(r.doc_id, ["", ""])[r.repeat] = output
        by_id, references = {q["question_id"]: q for q in self.questions}, data.references()
        replies = {}
        if judge:
            judge_prompts = prompts.single_prompts([by_id[q] for q in answers], answers, references)
            replies = {(p.question_id, p.turn): reply for p, reply in zip(judge_prompts, judge(judge_prompts))}
        samples = []
        for r, output in zip(requests, outputs):
            question, reply = by_id[r.doc_id], replies.get((r.doc_id, r.repeat + 1))
            rating = reply.score if reply else None
            score = rating if rating not in (None, UNPARSED) else None
            reference = references.get(r.doc_id)
            samples.append(SampleResult(
                r.doc_id, r.repeat, r.prompt, output, reference[r.repeat] if reference else None,
                {"ratings": [rating] if reply else [], "judgment": reply.text if reply else None},
                {"score": score, "turn": r.repeat + 1, "category": question["category"]}, score))
        # Judges favour long answers, so the mean answer length (characters, as AlpacaEval's avg_length) is
        # reported beside the score; without a judge it is the only number.
        lengths = [len(o) for o in outputs]
        length = Score("avg_length", sum(lengths) / len(lengths), None, len(lengths))
        return samples, [length, *self._scores(replies, price)]

    def _scores(self, replies: dict[tuple[int, int], JudgeReply], price: Price | None) -> list[Score]:
        if not replies:
            return []
        rows = [{"model": NAME, "question_id": q, "turn": t, "score": r.score} for (q, t), r in replies.items()]
        categories = {q["question_id"]: q["category"] for q in self.questions}
        scores = [Score(**s) for s in aggregate.score_rows(rows, categories)]
        # What the judgments behind these scores took and cost, whether asked now or read from the judgment
        # cache; `judge_cost_usd,this_run` counts only those asked now.
        totals = cost.usage_totals(list(replies.values()), price)
        return scores + [Score(metric, value, None, n) for metric, (value, n) in totals.items()]

    def _request(self, question: dict, history: list[dict], turn: int, templater: Templater) -> Request:
        temperature = self.temperatures[question["category"]]
        gen_kwargs = {"until": CHAT_STOPS, "max_gen_toks": self.max_new_tokens, "do_sample": temperature > 0,
                      "temperature": temperature}
        return Request(NAME, question["question_id"], turn - 1, templater(history), gen_kwargs)


def _user(text: str) -> dict:
    return {"role": "user", "content": text}
