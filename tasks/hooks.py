"""Functions the task YAML files beside this one name as `!function hooks.<name>`.

lm-eval imports this file by path, so it stays a list of re-exports: the code lives in
sfteval.tasks.gsm8k, sfteval.tasks.humaneval, sfteval.tasks.humaneval_plus and
sfteval.tasks.probes.
"""

from sfteval.tasks.gsm8k import flexible_filter as gsm8k_flexible
from sfteval.tasks.gsm8k import load_dataset as gsm8k_dataset
from sfteval.tasks.gsm8k import process_results as gsm8k_process_results
from sfteval.tasks.gsm8k import strict_filter as gsm8k_strict
from sfteval.tasks.gsm8k import target as gsm8k_target
from sfteval.tasks.humaneval import execute as humaneval_execute
from sfteval.tasks.humaneval import load_dataset as humaneval_dataset
from sfteval.tasks.humaneval import process_results as humaneval_process_results
from sfteval.tasks.humaneval_plus import execute_base as humaneval_plus_base
from sfteval.tasks.humaneval_plus import execute_plus as humaneval_plus_plus
from sfteval.tasks.humaneval_plus import load_dataset as humaneval_plus_dataset
from sfteval.tasks.probes import answer as mtbench_nll_target
from sfteval.tasks.probes import gsm8k_solution as gsm8k_nll_target
from sfteval.tasks.probes import load_mtbench as mtbench_nll_dataset
from sfteval.tasks.probes import process_results as probe_results

__all__ = [
    "gsm8k_dataset", "gsm8k_target", "gsm8k_strict", "gsm8k_flexible", "gsm8k_process_results",
    "humaneval_dataset", "humaneval_execute", "humaneval_process_results",
    "humaneval_plus_dataset", "humaneval_plus_base", "humaneval_plus_plus",
    "gsm8k_nll_target", "mtbench_nll_dataset", "mtbench_nll_target", "probe_results",
]
