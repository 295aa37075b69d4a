"""MT-Bench data: the shipped questions, GPT-4 reference answers and judge prompts, and FastChat's files.

The shipped files are FastChat's fastchat/llm_judge/data (Apache-2.0, sfteval/data/mt_bench/LICENSE).
FastChat's formats, read here and nowhere else:
- question:     {"question_id", "category", "turns": [q1, q2]}
- model answer: {"question_id", "model_id", "choices": [{"index": 0, "turns": [a1, a2]}], ...}, one file per model
- judgment:     {"question_id", "model", "judge": [judge model, prompt name], "user_prompt", "judgment",
                 "score", "turn", "tstamp"}
"""

from __future__ import annotations

import json
from pathlib import Path

TASK = "mtbench"  # the task name MT-Bench runs and imports are stored under
DATA_DIR = Path(__file__).resolve().parents[1] / "data" / "mt_bench"
JUDGMENT_KEYS = ("question_id", "model", "judge", "judgment", "score", "turn")


class MTBenchError(ValueError):
    """A FastChat file that cannot be read: the message names the file, the line and the fix."""


def _read_jsonl(path: Path) -> list[dict]:
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as e:
        raise MTBenchError(f"cannot read {path}: {e.strerror or e}") from e
    rows = []
    for i, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise MTBenchError(f"{path} line {i} is not JSON ({e.msg}): pass a FastChat jsonl file") from e
        if not isinstance(row, dict):
            raise MTBenchError(f"{path} line {i} is not a JSON object: pass a FastChat jsonl file")
        rows.append(row)
    return rows


def questions() -> list[dict]:
    """The 80 two-turn questions, in FastChat's order (ids 81-160, 8 categories x 10)."""
    return _read_jsonl(DATA_DIR / "question.jsonl")


def references() -> dict[int, list[str]]:
    """GPT-4's reference answers (both turns) for the math, reasoning and coding questions, by question id."""
    rows = _read_jsonl(DATA_DIR / "reference_answer" / "gpt-4.jsonl")
    return {r["question_id"]: r["choices"][0]["turns"] for r in rows}


def judge_prompts() -> dict[str, dict]:
    """FastChat's judge prompts by name: single-v1, single-math-v1, pair-v2, ... and their multi-turn forms."""
    return {p["name"]: p for p in _read_jsonl(DATA_DIR / "judge_prompts.jsonl")}


def read_answers(path: Path) -> dict[str, dict[int, list[str]]]:
    """FastChat's model_answer folder, or one file of it: model name (the file name, as FastChat reads it) ->
    question id -> turns."""
    path = Path(path)
    files = [path] if path.is_file() else sorted(path.glob("*.jsonl")) if path.is_dir() else []
    if not files:
        raise MTBenchError(f"no *.jsonl answer files in {path}: pass FastChat's model_answer folder or a file of it")
    answers = {}
    for file in files:
        by_question = {}
        for i, row in enumerate(_read_jsonl(file), 1):
            try:
                by_question[int(row["question_id"])] = [str(t) for t in row["choices"][0]["turns"]]
            except (KeyError, IndexError, TypeError, ValueError) as e:
                raise MTBenchError(f"{file} line {i} is not a FastChat answer (needs question_id and "
                                   f"choices[0].turns): {e!r}") from e
        answers[file.stem] = by_question
    return answers


def read_judgments(path: Path) -> list[dict]:
    """A FastChat single-answer judgment file, each row checked and its types normalised."""
    rows = _read_jsonl(path)
    if not rows:
        raise MTBenchError(f"{path} holds no judgments: pass a FastChat model_judgment/*_single.jsonl file")
    for i, row in enumerate(rows, 1):
        missing = [k for k in JUDGMENT_KEYS if k not in row]
        if missing:
            raise MTBenchError(f"{path} line {i} lacks {', '.join(missing)}: pass a FastChat single-answer judgment "
                               f"file (pairwise files have model_1/model_2 instead)")
        try:
            row.update(question_id=int(row["question_id"]), turn=int(row["turn"]), score=float(row["score"]))
        except (TypeError, ValueError) as e:
            raise MTBenchError(f"{path} line {i}: question_id, turn and score must be numbers ({e})") from e
        if not (isinstance(row["judge"], list) and len(row["judge"]) == 2):
            raise MTBenchError(f"{path} line {i}: judge is {row['judge']!r}, FastChat writes "
                               f"[judge model, prompt name]")
        if row["turn"] not in (1, 2):
            raise MTBenchError(f"{path} line {i}: turn is {row['turn']}, MT-Bench has turns 1 and 2")
    return rows
