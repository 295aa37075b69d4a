"""The paper's published numbers (Dong et al., 2024), shipped in sfteval/data/paper/ and read as long tables on
the same axes as the store's: `value` is in store units (GSM8K and HumanEval printed in %, stored as 0..1), and
`printed` is the number exactly as the paper prints it. sfteval/data/paper/README.md says where each comes from.
"""

from __future__ import annotations

from importlib import resources

import pandas as pd

from sfteval.analysis.abilities import ABILITIES, HEADLINE

SOURCE = "published, Dong et al. 2024"
PAPER_TABLES = {"strategies": "strategies.csv",          # Table 1: training strategies, LLaMA 7B/13B/33B
                "single_vs_mixed": "single_vs_mixed.csv",  # Tables 2-3: single source vs mixed, by amount
                "ratio": "ratio.csv",                      # Table 4: general vs specialist amounts, LLaMA-7B
                "dmt_k": "dmt_k.csv"}                      # Table 5: DMT's k sweep, LLaMA 7B/13B
_TASKS = [HEADLINE[a] for a in ("math", "code", "general")]


def paper(table: str) -> pd.DataFrame:
    """One row per published number: source, table, model, base, row (as printed), strategy, sources, fraction,
    k, general, specialist, task, ability, printed, value. Cells the paper leaves empty ("-") have no row."""
    if table not in PAPER_TABLES:
        raise ValueError(f"unknown paper table {table!r}: choose one of {', '.join(PAPER_TABLES)}")
    with (resources.files("sfteval") / "data" / "paper" / PAPER_TABLES[table]).open() as f:
        wide = pd.read_csv(f, dtype={c: str for c in ("sources", "fraction", "k", "general", "specialist")})
    long = wide.melt(id_vars=[c for c in wide.columns if c not in _TASKS], value_vars=_TASKS, var_name="task",
                     value_name="printed").dropna(subset=["printed"])
    long["ability"] = long["task"].map(lambda t: ABILITIES[t].ability)
    long["value"] = long["printed"] / long["task"].map(lambda t: ABILITIES[t].scale)
    long.insert(0, "source", SOURCE)
    long.insert(long.columns.get_loc("model") + 1, "base", long["model"].str.lower())
    return long.reset_index(drop=True)
