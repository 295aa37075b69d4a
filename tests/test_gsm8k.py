"""GSM8K answer extraction and scoring, checked on real-looking model outputs
(tests/cases/gsm8k_extraction.json), side by side with lm-eval's own gsm8k filters."""

import hashlib
import json
from pathlib import Path

import lm_eval.tasks
import pytest
from lm_eval.api.registry import get_metric
from lm_eval.filters.extraction import RegexFilter
from lm_eval.tasks._yaml_loader import load_yaml

from sfteval.tasks import gsm8k, load_task

CASES = json.loads((Path(__file__).parent / "cases" / "gsm8k_extraction.json").read_text())
LM_EVAL_GSM8K = load_yaml(Path(lm_eval.tasks.__file__).parent / "gsm8k" / "gsm8k.yaml",
                          resolve_func=False)
# The outputs of the paper-style filters differ in name from lm-eval's.
LM_EVAL_FILTER = {"strict": "strict-match", "flexible": "flexible-extract"}


def ids(case):
    return case["name"]


@pytest.mark.parametrize("case", CASES, ids=ids)
def test_extraction(case):
    assert gsm8k.extract_strict(case["output"]) == case["strict"]
    assert gsm8k.extract_flexible(case["output"]) == case["flexible"]
    assert gsm8k.is_correct(case["strict"], case["target"]) is case["strict_correct"]
    assert gsm8k.is_correct(case["flexible"], case["target"]) is case["flexible_correct"]


def lm_eval_extract(filter_name: str, output: str) -> str:
    """lm-eval's gsm8k filter pipeline (regex, then take_first) on one output."""
    (pipeline,) = [f["filter"] for f in LM_EVAL_GSM8K["filter_list"] if f["name"] == filter_name]
    regex_step, take_first = pipeline
    assert regex_step["function"] == "regex" and take_first["function"] == "take_first"
    kwargs = {k: v for k, v in regex_step.items() if k != "function"}
    (extracted,) = RegexFilter(**kwargs).apply([[output]], [{}])
    return extracted[0]


def lm_eval_correct(extracted: str, target: str) -> bool:
    (metric,) = LM_EVAL_GSM8K["metric_list"]
    kwargs = {k: v for k, v in metric.items()
              if k not in ("metric", "aggregation", "higher_is_better")}
    gold = f"She has 2 + 3 = <<2+3=5>>5 of them.\n#### {target}"  # lm-eval's target: the whole solution
    result = get_metric("exact_match")(references=[gold], predictions=[extracted], **kwargs)
    return bool(result["exact_match"] == 1.0)


@pytest.mark.parametrize("case", CASES, ids=ids)
def test_lm_eval_filters_on_the_same_outputs(case):
    expected = case["lm_eval"]
    for ours, theirs in LM_EVAL_FILTER.items():
        extracted = lm_eval_extract(theirs, case["output"])
        assert extracted == expected[ours]
        assert lm_eval_correct(extracted, case["target"]) is expected[f"{ours}_correct"]


def disagreements(kind: str) -> set[str]:
    return {c["name"] for c in CASES if c[f"{kind}_correct"] != c["lm_eval"][f"{kind}_correct"]}


def test_where_paper_scoring_and_lm_eval_disagree():
    # Strict: lm-eval only knows "#### <number>"; the SFT answer format "The answer is N"
    # (and "####N", "#### $5.00") counts only here.
    assert disagreements("strict") == {
        "the_answer_is_period", "the_answer_is_colon", "the_answer_is_colon_after_work",
        "lowercase_mid_sentence", "thousands_separator", "dollars_and_cents", "dollar_answer_is",
        "trailing_zeros", "negative_answer_is", "percent_then_answer", "markdown_bold",
        "year_after_answer", "hash_without_space", "leading_zero_decimal"}
    # Flexible: lm-eval compares "5.00" with "5" as strings, counts "..." as a number and
    # reads the hyphen of "2-4" as a minus sign.
    assert disagreements("flexible") == {
        "dollars_and_cents", "trailing_zeros", "leading_zero_decimal", "ellipsis_at_end",
        "hyphen_range"}
    assert len(CASES) - len(disagreements("flexible")) == 30


@pytest.mark.parametrize("answer, plain", [
    ("1,000", "1000"), ("$5.00", "5"), ("5.", "5"), ("-3.50", "-3.5"), ("-$10", "-10"),
    ("0.0", "0"), ("-0", "0"), ("1,450,000", "1450000"), ("100", "100"), ("007", "7"),
    ("[invalid]", "[invalid]"),
])
def test_normalize(answer, plain):
    assert gsm8k.normalize(answer) == plain


def test_shipped_data_is_the_upstream_release():
    # sha256 of openai/grade-school-math @ 3101c7d, as recorded in shared/data/README.md
    expected = {"test.jsonl": "3730d312f6e3440559ace48831e51066acaca737f6eabec99bccb9e4b3c39d14",
                "train.jsonl": "17f347dc51477c50d4efb83959dbb7c56297aba886e5544ee2aaed3024813465"}
    for name, sha in expected.items():
        assert hashlib.sha256((gsm8k.DATA_DIR / name).read_bytes()).hexdigest() == sha
    assert (gsm8k.DATA_DIR / "LICENSE").read_text().startswith("MIT License")
    data = gsm8k.load_dataset()
    assert {split: len(rows) for split, rows in data.items()} == {"train": 7473, "test": 1319}
    assert gsm8k.target(data["test"][0]) == "18"


def test_several_samples_per_question_score_their_share():
    doc = {"answer": "2 + 3 = 5\n#### 5"}
    assert gsm8k.process_results(doc, [["5", "5.00", "6", "[invalid]"]]) == {"exact_match": 0.5}


def test_task_scores_both_filters_with_lm_eval_stderr():
    task = load_task("gsm8k")
    requests = task.requests(limit=4)
    docs = gsm8k.load_dataset()["test"]
    golds = [gsm8k.target(docs[i]) for i in range(4)]
    outputs = [f"So the total is {golds[0]}.\n#### {golds[0]}",  # strict and flexible right
               f"The answer is {golds[1]} dollars.",              # both right
               f"#### {golds[2]}\nAlso, 1 more thing.",           # strict right, flexible wrong
               "I cannot solve this."]                            # both wrong
    samples, scores = task.score(requests, outputs)

    assert [(s.metric, s.value, s.n) for s in scores] == [
        ("exact_match,strict", 0.75, 4), ("exact_match,flexible", 0.5, 4)]
    # sample standard deviation / sqrt(n): sqrt(0.75 / 3) / 2 and sqrt(1 / 3) / 2
    assert scores[0].stderr == pytest.approx(0.25)
    assert scores[1].stderr == pytest.approx((1 / 3) ** 0.5 / 2)
    assert [s.extracted for s in samples] == [
        {"strict": golds[0], "flexible": golds[0]}, {"strict": golds[1], "flexible": golds[1]},
        {"strict": golds[2], "flexible": "1"}, {"strict": "[invalid]", "flexible": "[invalid]"}]
    assert [s.score for s in samples] == [1.0, 1.0, 0.0, 0.0]  # primary metric: flexible
    assert samples[2].metrics == {"exact_match,strict": 1.0, "exact_match,flexible": 0.0}
    assert [s.target for s in samples] == golds
    assert samples[3].output == outputs[3] and samples[3].prompt == requests[3].prompt
