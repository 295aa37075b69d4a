"""FastChat's MT-Bench files into the store: one finished run per judged model, so published models sit on
the leaderboard beside evaluated checkpoints.

Each model becomes a checkpoint of kind 'imported', identified by a hash over its name and its answer file,
and a run whose id derives from that checkpoint and its judgments: importing the same files again replaces
the run instead of adding one. Scores are show_result's (task 'mtbench', metrics 'score,turn1',
'score,turn2', 'score', and 'score,<category>'); samples hold one row per question-turn (doc_id = question id,
repeat = turn - 1) with every rating the judge gave it. The judgments also seed the judge cache.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from pathlib import Path

from sfteval import __version__
from sfteval.judge import aggregate, data
from sfteval.judge.data import TASK
from sfteval.judge.cache import save_judgments
from sfteval.judge.client import JudgeReply
from sfteval.judge.parse import UNPARSED
from sfteval.judge.prompts import JudgePrompt
from sfteval.store import Store



def _sha(*parts: bytes) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(hashlib.sha256(part).digest())  # hash of hashes: no two part lists collide by concatenation
    return h.hexdigest()


def sample_rows(rows: list[dict], answers: dict[int, list[str]], questions: dict[int, dict],
                references: dict[int, list[str]]) -> list[dict]:
    """One model's judgments as rows of the `samples` table, one per question-turn."""
    ratings = defaultdict(list)
    for r in rows:
        ratings[r["question_id"], r["turn"]].append(r["score"])
    samples = []
    for (qid, turn), scores in sorted(ratings.items()):
        question, reference = questions.get(qid, {}), references.get(qid)
        valid = [s for s in scores if s != UNPARSED]
        score = sum(valid) / len(valid) if valid else None
        samples.append({"doc_id": qid, "repeat": turn - 1, "prompt": question.get("turns", ["", ""])[turn - 1],
                        "output": answers[qid][turn - 1], "target": reference[turn - 1] if reference else None,
                        "extracted": {"ratings": scores},
                        "metrics": {"score": score, "turn": turn, "category": question.get("category")},
                        "score": score})
    return samples


def _seed_cache(store: Store, rows: list[dict], templates: dict[str, dict]) -> None:
    """The judge saw exactly these messages: stored under their hash, a later judging run reuses them."""
    seeded = defaultdict(list)
    for r in rows:
        template = templates.get(r["judge"][1])
        if template and "user_prompt" in r:
            prompt = JudgePrompt(r["judge"][1], r["question_id"], r["turn"], template["system_prompt"],
                                 r["user_prompt"], template["output_format"])
            seeded[r["judge"][0]].append((prompt, JudgeReply(r["judgment"], r["score"])))
    for judge_model, pairs in seeded.items():
        save_judgments(store, judge_model, "generate", pairs)


def import_files(store: Store, answers_dir: Path, judgments_file: Path) -> list[dict]:
    """Store every judged model of a FastChat judgment file as a run; returns [{"model", "run_id", "n"}]."""
    answers, rows = data.read_answers(answers_dir), data.read_judgments(judgments_file)
    by_model = defaultdict(list)
    for r in rows:
        by_model[r["model"]].append(r)
    for model, model_rows in by_model.items():
        if model not in answers:
            raise data.MTBenchError(f"{judgments_file} judges model {model}, which has no {model}.jsonl in "
                                    f"{answers_dir}: pass the model_answer folder the judgments were made from")
        missing = sorted({(r["question_id"], r["turn"]) for r in model_rows
                          if len(answers[model].get(r["question_id"], [])) < r["turn"]})
        if missing:
            raise data.MTBenchError(f"{model}.jsonl in {answers_dir} has no answer for question {missing[0][0]} "
                                    f"turn {missing[0][1]}, which {judgments_file} judges")
    questions = {q["question_id"]: q for q in data.questions()}
    references, templates = data.references(), data.judge_prompts()
    categories = {qid: q["category"] for qid, q in questions.items()}
    imported = []
    for model, model_rows in sorted(by_model.items()):
        answers_file = Path(answers_dir) if Path(answers_dir).is_file() else Path(answers_dir) / f"{model}.jsonl"
        ckpt = _sha(model.encode(), answers_file.read_bytes())
        judged = json.dumps([[r["question_id"], r["turn"], r["judge"], r["judgment"], r["score"]] for r in model_rows])
        fingerprint = _sha(ckpt.encode(), judged.encode())
        run_id = f"import-{fingerprint[:12]}"
        store.upsert_checkpoint(ckpt, model, "imported", None, {"answers": str(answers_file.resolve()),
                                                                "questions": len(answers[model])})
        judges = sorted({"/".join(r["judge"]) for r in model_rows})
        store.start_run(run_id, ckpt, fingerprint, [TASK], "imported",
                        {"judgments": str(Path(judgments_file).resolve()), "judges": judges}, __version__, None)
        store.save_task(run_id, TASK, sample_rows(model_rows, answers[model], questions, references),
                        aggregate.score_rows(model_rows, categories))
        _seed_cache(store, model_rows, templates)
        store.end_run(run_id, "finished")
        imported.append({"model": model, "run_id": run_id, "n": len(model_rows)})
    return imported
