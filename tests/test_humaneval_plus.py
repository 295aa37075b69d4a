"""HumanEval+: evalplus' checks (expected outputs of the canonical solution, float tolerance,
per-input time limits) run in the sandbox; base and plus pass@k reported apart."""

import hashlib
import math
import sys
from dataclasses import replace

import pytest

from sfteval.checkpoints import cache_dir
from sfteval.tasks import humaneval_plus as hp
from sfteval.tasks import load_task

PROBLEMS = list(hp.problems().values())

# Real wrong completions (mutants of the canonical solutions) that pass HumanEval's own inputs and
# fail on HumanEval+'s: evalplus 0.3.1 gives each exactly these verdicts.
PASS_BASE_FAIL_PLUS = {
    "HumanEval/31": ("\n    if n <= 2: return False\n    n_sqrt = 1\n    while n_sqrt ** 2 < n: n_sqrt += 1\n"
                     "    for i in range(2, min(n_sqrt + 1, n)):\n        if n % i == 0:\n"
                     "            return False\n    return True\n"),  # is_prime(2) is False
    "HumanEval/57": ("\n    inc, dec = True, True\n    for i in range(len(l) - 2):\n"
                     "        if l[i] > l[i + 1]: inc = False\n        if l[i] < l[i + 1]: dec = False\n"
                     "    return inc or dec\n"),  # never looks at the last pair
    "HumanEval/163": ("\n    if a > b: a, b = b, a\n"
                      "    return [i for i in range(a, min(b - 1, 10)) if i % 2 == 0]\n"),  # drops b when even
}


@pytest.fixture(scope="module")
def task():
    return load_task("humaneval_plus")


@pytest.fixture(scope="module")
def requests(task):
    return task.requests()


def score(task, requests, outputs: dict[str, list[str]]):
    """Score several outputs per task_id: the samples' (base, plus) results, in task order."""
    asked, answers = [], []
    for task_id, texts in sorted(outputs.items(), key=lambda item: int(item[0].split("/")[1])):
        request = requests[int(task_id.split("/")[1])]
        asked += [replace(request, repeat=k) for k in range(len(texts))]
        answers += texts
    samples, scores = task.score(asked, answers)
    return [(s.extracted["base"]["result"], s.extracted["plus"]["result"]) for s in samples], scores


def test_task_is_humanevals_prompts_with_evalplus_data(requests):
    assert [r.prompt for r in requests] == [p["prompt"] for p in PROBLEMS]
    assert requests[0].gen_kwargs == {"until": ["\nclass", "\ndef", "\n#", "\nif", "\nprint"],
                                      "max_gen_toks": 1024, "do_sample": False}
    assert sum(len(p["plus_input"]) for p in PROBLEMS) == 122_683  # HumanEval+ v0.1.10


def test_canonical_solutions_pass_base_and_plus(task, requests):
    samples, scores = task.score(requests, [p["canonical_solution"] for p in PROBLEMS])
    assert [(s.metric, s.value, s.n) for s in scores] == [("pass@1,base", 1.0, 164), ("pass@1,plus", 1.0, 164)]
    assert {(s.extracted["base"]["result"], s.extracted["plus"]["result"]) for s in samples} == {("passed", "passed")}
    assert samples[0].metrics == {"pass@1,base": 1.0, "pass@1,plus": 1.0}


def test_expected_outputs_are_cached_by_data_hash():
    expected = hp.expected_outputs()
    sha = hashlib.sha256(hp.DATA_FILE.read_bytes()).hexdigest()
    path = cache_dir() / "humaneval_plus" / f"{sha}-py{sys.version_info[0]}.{sys.version_info[1]}.marshal"
    assert path.is_file()
    assert hp.expected_outputs.__wrapped__() == expected  # read back from the file
    (base, digested, times), plus = expected["HumanEval/0"]
    assert base[:2] == [True, False] and not any(digested) and len(times) == len(base)
    # A few outputs are megabytes (HumanEval/15 returns "0 1 2 ... 1000011"): those travel as digests.
    outputs, digested, _ = expected["HumanEval/15"][1]
    assert sum(digested) == 36 and all(len(out) == 64 for out, d in zip(outputs, digested) if d)


def test_wrong_completions_pass_base_and_fail_plus(task, requests):
    outputs = {t: [completion, PROBLEMS[int(t.split("/")[1])]["canonical_solution"]]
               for t, completion in PASS_BASE_FAIL_PLUS.items()}
    verdicts, scores = score(task, requests, outputs)
    assert [(base, plus.split(":")[0]) for base, plus in verdicts] == [("passed", "failed"), ("passed", "passed")] * 3
    assert "plus input" in verdicts[0][1] and "wrong output" in verdicts[0][1]
    assert {s.metric: s.value for s in scores} == {"pass@1,base": 1.0, "pass@1,plus": 0.5}


def test_float_outputs_are_compared_with_evalplus_tolerance(task, requests):
    newton = PROBLEMS[32]["canonical_solution"].replace("x, tol = 0, 1e-5", "x, tol = 0, 1e-7")
    outputs = {
        # atol 1e-6 in the data
        "HumanEval/2": ["    return number % 1.0 + 1e-9\n", "    return number % 1.0 + 1e-3\n"],
        # summing in another order changes the last bits: allclose, not ==
        "HumanEval/4": ["    import math\n    m = math.fsum(numbers) / len(numbers)\n"
                        "    return math.fsum(abs(x - m) for x in numbers) / len(numbers)\n",
                        "    m = sum(numbers) / len(numbers)\n"
                        "    return sum(abs(x - m) for x in numbers) / len(numbers) * 1.001\n"],
        # find_zero: any x with |poly(xs, x)| <= atol passes (evalplus' oracle), 0.0 does not
        "HumanEval/32": [newton, "    return 0.0\n"],
        # atol 0 in the data, float outputs: evalplus compares them with atol 1e-6 anyway
        "HumanEval/45": ["    return a * h / 2.0 * (1 + 1e-12)\n", "    return round(a * h / 2.0, 1) + 1e-4\n"],
    }
    verdicts, _ = score(task, requests, outputs)
    assert [base == plus == "passed" for base, plus in verdicts] == [True, False] * 4
    # The more precise root is another float than the canonical solution's: == alone would fail it.
    namespace = {}
    exec(PROBLEMS[32]["prompt"] + newton, namespace)
    inputs, (expected, _, _) = PROBLEMS[32]["base_input"], hp.expected_outputs()["HumanEval/32"][0]
    assert any(namespace["find_zero"](*args) != out for args, out in zip(inputs, expected))


def test_allclose_is_numpys():
    np = pytest.importorskip("numpy")
    cases = [(1.0, 1.0 + 1e-7), (1.0, 1.0 + 1e-5), (0.0, 1e-6), (0.0, 2e-6), (1e9, 1e9 + 50), (1e9, 1e9 + 500),
             ([1.0, 2.0], [1.0, 2.0000001]), ([1.0, 2.0], [1.0, 2.1]), ((1, 2.0), (1.0, 2)), ([[1.0], [2.0]], [[1.0], [2.0]]),
             (math.inf, math.inf), (math.inf, -math.inf), (math.nan, math.nan), (math.inf, 1e308), (True, 1.0)]
    for out, exp in cases:
        assert hp.allclose(out, exp, 1e-6) == bool(np.allclose(out, exp, rtol=1e-07, atol=1e-6)), (out, exp)
    assert not hp.allclose("a", "a", 1e-6) and not hp.allclose([1.0], [1.0, 2.0], 1e-6)  # numpy raises on these


def test_digest_follows_python_equality():
    equal = [(2, 2.0), (True, 1), ([1, 2.0, "a"], [1.0, 2, "a"]), (-0.0, 0), (2**70, float(2**70)),
             (("x", None), ("x", None)), (2**2000, 2**2000)]
    different = [(2, 2.5), ([1, 2], (1, 2)), ("1", 1), (None, 0), ([1, [2]], [1, [2, 3]]), (math.inf, -math.inf),
                 (2**53 + 1, float(2**53 + 1)), (["ab", "c"], ["a", "bc"])]
    for a, b in equal:
        assert a == b and hp.digest(a) == hp.digest(b), (a, b)
    for a, b in different:
        assert a != b and hp.digest(a) != hp.digest(b), (a, b)
    with pytest.raises(ValueError):
        hp.digest([math.nan])  # nan equals nothing
    with pytest.raises(TypeError):
        hp.digest({1: 2})


def test_huge_outputs_compare_through_their_digest(task, requests):
    outputs = {
        "HumanEval/15": ["    return ' '.join(map(str, range(n + 1)))\n",  # another way to the same 7 MB strings
                         "    return ' '.join(map(str, range(n)))\n"],
        "HumanEval/100": ["    return [n + 2 * i for i in range(n)]\n", "    return [n + 2 * i for i in range(n)][:1000]\n"],
    }
    verdicts, _ = score(task, requests, outputs)
    assert [plus for _, plus in verdicts][0::2] == ["passed", "passed"]
    assert all(plus.startswith("failed: ") for _, plus in verdicts[1::2])


def test_each_input_has_evalplus_time_limit(task, requests):
    # 1.5 s per call: over the 1 s floor of every input, far under the program's 60 s limit.
    slow = "    import time\n    time.sleep(1.5)\n" + PROBLEMS[0]["canonical_solution"]
    loops = "    while True:\n        pass\n"
    verdicts, _ = score(task, requests, {"HumanEval/0": [slow, loops]})
    for base, plus in verdicts:
        assert base == plus == "failed: AssertionError: base input 1 of 7: TimeoutError: over the time limit"
