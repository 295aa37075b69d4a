"""What the analyses read per task: the ability it measures, its headline metric in the `scores` table, and
which way is better. One registry, so every table, the app and `sfteval report` agree.

Metric names are the ones `sfteval run` stores (see tasks/*.yaml `primary_metric` and sfteval/tasks/mtbench.py);
each sample's `score` column holds the same metric for that sample alone, which is what intervals and paired
tests are computed from. Grid sources are named by ability (math, code, general), as in the shipped configs.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Ability:
    task: str               # the sfteval task
    ability: str            # math | code | general: the grid source that teaches it
    metric: str             # its headline metric in the `scores` table
    label: str              # axis label, in display units
    higher_is_better: bool = True
    scale: float = 1.0      # display value = stored value * scale (accuracies are stored as 0..1)
    per_turn: bool = False  # a sample is one question-turn (MT-Bench), paired by question and turn


ABILITIES: dict[str, Ability] = {a.task: a for a in (
    Ability("gsm8k", "math", "exact_match,flexible", "GSM8K accuracy (%)", scale=100),
    Ability("gsm8k_5shot", "math", "exact_match,flexible-extract", "GSM8K 5-shot accuracy (%)", scale=100),
    Ability("humaneval", "code", "pass@1", "HumanEval pass@1 (%)", scale=100),
    Ability("humaneval_plus", "code", "pass@1,plus", "HumanEval+ pass@1 (%)", scale=100),
    Ability("mtbench", "general", "score", "MT-Bench score (1-10)", per_turn=True),
    Ability("gsm8k_nll", "math", "nll", "GSM8K gold-solution NLL (nats/token)", higher_is_better=False),
    Ability("humaneval_nll", "code", "nll", "HumanEval canonical-solution NLL (nats/token)", higher_is_better=False),
    Ability("mtbench_nll", "general", "nll", "MT-Bench gold-answer NLL (nats/token)", higher_is_better=False),
)}

# The benchmark the paper reads each ability from.
HEADLINE = {"math": "gsm8k", "code": "humaneval", "general": "mtbench"}
