"""GSM8K as Dong et al. (ACL 2024) score it: the number a model answers, compared to the gold one.

Two readings of a model's output (both reported, `flexible` is the headline number):
- strict:   the first number right after "####" or "The answer is" (the answer format the
            SFT data teaches), "[invalid]" when the model never uses that format;
- flexible: the last number anywhere in the output.
Answers are compared as numbers written in plain form: "1,000" == "1000", "$5.00" == "5",
"18." == "18", "-3.50" == "-3.5".

tasks/gsm8k.yaml wires these functions into lm-eval (through tasks/hooks.py);
tasks/gsm8k_5shot.yaml is lm-eval's own gsm8k task and only borrows `load_dataset`.
"""

import json
import re
from decimal import Decimal
from pathlib import Path

from datasets import Dataset, DatasetDict

DATA_DIR = Path(__file__).resolve().parents[1] / "data" / "gsm8k"

# A number as models write it: "-3", "1,000", "$5.00", "0.5". A minus sign right after a
# letter or digit is a hyphen or a subtraction ("3-5", "x-2"), not part of the number.
NUMBER = r"(?:(?<!\w)-)?\$?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?"
# Markdown bold is allowed between the marker and the number: chat models write
# "The answer is: **18**".
STRICT_RE = re.compile(rf"(?:####|[Tt]he answer is:?)[\s*]*({NUMBER})")
NUMBER_RE = re.compile(NUMBER)
INVALID = "[invalid]"  # what lm-eval's regex filter returns when nothing matches


def load_dataset(**_metadata) -> DatasetDict:
    """lm-eval `custom_dataset` hook: the train/test files shipped in sfteval/data/gsm8k.

    lm-eval passes the task's `metadata:` as keyword arguments; they play no part here.
    """
    return DatasetDict({split: Dataset.from_list(_read_jsonl(DATA_DIR / f"{split}.jsonl"))
                        for split in ("train", "test")})


def _read_jsonl(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def target(doc: dict) -> str:
    """The gold number: GSM8K solutions end with "#### <number>"."""
    return doc["answer"].split("#### ")[-1].strip()


def extract_strict(output: str) -> str:
    match = STRICT_RE.search(output)
    return match.group(1) if match else INVALID


def extract_flexible(output: str) -> str:
    numbers = NUMBER_RE.findall(output)
    return numbers[-1] if numbers else INVALID


def normalize(answer: str) -> str:
    """Plain form of a number so that equal numbers compare equal as strings."""
    text = answer.strip().replace(",", "").replace("$", "").rstrip(".")
    if not re.fullmatch(r"-?\d+(?:\.\d+)?", text):
        return text  # "[invalid]" and other non-numbers never equal a gold number
    number = Decimal(text)
    # Decimal, not float: exact for any number of digits; "5.00" -> "5", "-0" -> "0".
    return "0" if number == 0 else format(number.normalize(), "f")


def is_correct(answer: str, gold: str) -> bool:
    return normalize(answer) == normalize(gold)


# --- lm-eval hooks -------------------------------------------------------------------------
# Filters get every sample of every doc (`resps[doc][sample]`) and keep them all, so that
# several samples per question (lm-eval `repeats`) are each scored.

def strict_filter(resps: list[list[str]], docs: list[dict]) -> list[list[str]]:
    return [[extract_strict(output) for output in samples] for samples in resps]


def flexible_filter(resps: list[list[str]], docs: list[dict]) -> list[list[str]]:
    return [[extract_flexible(output) for output in samples] for samples in resps]


def process_results(doc: dict, results: list[list[str]]) -> dict[str, float]:
    """Exact match of one doc: the share of its samples whose answer is right."""
    (answers,) = results
    gold = target(doc)
    return {"exact_match": sum(is_correct(a, gold) for a in answers) / len(answers)}
