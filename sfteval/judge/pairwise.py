"""Pairwise MT-Bench: answer sets judged against each other as FastChat's pairwise modes judge them.

Every question-turn both sets answered is one game, asked twice: with the first set's answer as assistant A
(g1), then with the second's (g2), FastChat's pair-v2 prompts (pair-math-v1 with GPT-4's reference answer
for math, reasoning and coding; the multi-turn forms for turn 2). A set wins a game only when both orders
agree (parse.pair_outcome); a game with an unreadable verdict is left out, as FastChat's show_result does.

Answer sets come from stored runs (the mtbench samples of a run) or from FastChat model_answer files. All
games go through the judgment cache: a rerun asks nothing, a killed one resumes.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations
from pathlib import Path
from typing import Callable

from sfteval.judge import cost, data, prompts
from sfteval.judge.cache import judge_cached
from sfteval.judge.client import Judge
from sfteval.judge.parse import pair_outcome, parse_verdict, win_rates
from sfteval.judge.prompts import JudgePrompt
from sfteval.store import Store


@dataclass(frozen=True)
class AnswerSet:
    name: str                        # a run id, or the model name of a FastChat answer file
    answers: dict[int, list[str]]    # question id -> [turn 1, turn 2]


def from_files(path: Path) -> list[AnswerSet]:
    """Every model of a FastChat model_answer folder, or the one model of a file of it."""
    return [AnswerSet(name, answers) for name, answers in data.read_answers(path).items()]


def from_run(store: Store, run_id: str) -> AnswerSet:
    """The MT-Bench answers a stored run holds; `run_id` may be a unique prefix."""
    run = store.run(run_id)
    answers: dict[int, list[str]] = {}
    for s in store.samples(run["id"], data.TASK):
        answers.setdefault(s["doc_id"], ["", ""])[s["repeat"]] = s["output"]
    if not answers:
        raise data.MTBenchError(f"run {run['id']} holds no {data.TASK} answers: pass a run of "
                                f"`sfteval run --tasks {data.TASK}` or an imported one")
    return AnswerSet(run["id"], answers)


def games(first: AnswerSet, second: AnswerSet, limit: int | None = None) -> list[tuple[JudgePrompt, JudgePrompt]]:
    """(g1, g2) judge prompts for every question-turn both sets answered, in FastChat's question order, turn 1
    of every question before turn 2; `limit`: the first N questions both answered."""
    questions = [q for q in data.questions() if q["question_id"] in first.answers
                 and q["question_id"] in second.answers][:limit]
    return prompts.pair_prompts(questions, first.answers, second.answers, data.references())


Match = tuple[AnswerSet, AnswerSet, list[tuple[JudgePrompt, JudgePrompt]]]


def matches(sets: list[AnswerSet], limit: int | None = None) -> list[Match]:
    """Every pair of `sets` (in the given order: the earlier set is model 1) and its games."""
    names = [s.name for s in sets]
    if len(sets) < 2:
        raise data.MTBenchError("pairwise judging needs two answer sets: pass --run and/or --answers twice, "
                                "or a model_answer folder holding two models")
    if len(set(names)) < len(names):
        twice = next(n for n in names if names.count(n) > 1)
        raise data.MTBenchError(f"answer set {twice} is given twice: pass each run or model once")
    planned = [(a, b, games(a, b, limit)) for a, b in combinations(sets, 2)]
    for a, b, g in planned:
        if not g:
            raise data.MTBenchError(f"{a.name} and {b.name} answered no MT-Bench question in common: nothing to judge")
    return planned


def judge_matches(judge: Judge, planned: list[Match], store: Store, chunk: int = 32,
                  progress: Callable[[int], None] | None = None) -> dict:
    """Every game judged in both orders, through the judgment cache.

    Returns {"pairs": [{"model_1", "model_2", "win", "loss", "tie", "n", "win_rate", "loss_rate", "tie_rate",
    "win_rate_adjusted", "errors", "games"}], "judge": {"id", "asked", "cached", judge tokens and cost}}.
    """
    flat = [p for _, _, g in planned for pair in g for p in pair]
    replies = judge_cached(judge, flat, store, chunk=chunk, progress=progress)
    verdicts = iter(parse_verdict(r.text) for r in replies)  # g1, g2, g1, g2, ... in the order of `flat`
    pairs = []
    for a, b, g in planned:
        outcomes = [pair_outcome(next(verdicts), next(verdicts)) for _ in g]
        pairs.append({"model_1": a.name, "model_2": b.name, **win_rates(outcomes),
                      "errors": outcomes.count("error"), "games": len(g)})
    usage = {metric: value for metric, (value, _) in cost.usage_totals(replies, judge.price).items()}
    asked = sum(not r.cached for r in replies)
    return {"pairs": pairs, "judge": {"id": judge.id, "asked": asked, "cached": len(replies) - asked, **usage}}
