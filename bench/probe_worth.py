"""Are the likelihood probes worth it? Read a trained grid (configs/demo.yaml) from the store and answer issue 8's
three questions with its numbers:

1. scaling: does each ability's probe NLL fall as the single-source cells get more of that ability's data
   (base model -> 1/4 -> 1)? Paired bootstrap of the per-item NLLs between consecutive amounts.
2. forgetting: in the sequential cell (code -> math -> general), does the general stage raise the math and code
   probes' NLL? Forgetting (best earlier minus now, signed so that positive = lost) and its paired test.
3. agreement: Spearman's rank correlation between each probe and its ability's accuracy across every evaluated
   checkpoint of the grid, where the accuracy is not at the floor (all zero) everywhere.

    SFTEVAL_DATA=../shared/data sfteval grid configs/demo.yaml --db demo.duckdb
    python bench/probe_worth.py --db demo.duckdb          # writes bench/out/probe_worth.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd
from scipy.stats import spearmanr

from sfteval.analysis import queries, tables
from sfteval.analysis.abilities import ABILITIES
from sfteval.analysis.compare import paired
from sfteval.config import parse_fraction
from sfteval.store import Store

HERE = Path(__file__).parent
PROBE = {"math": "gsm8k_nll", "code": "humaneval_nll", "general": "mtbench_nll"}
ACCURACY = {"math": "gsm8k", "code": "humaneval"}


def paired_delta(store: Store, task: str, run_a: str, run_b: str) -> dict:
    units = queries.units(store, [(run_a, task), (run_b, task)])
    result = paired(units[run_a, task], units[run_b, task])
    return {"delta": result.delta, "lo": result.lo, "hi": result.hi, "p": result.p, "n": result.n}


def base_scores(store: Store, grid: str) -> pd.DataFrame:
    """Per task, the newest finished run of the grid's base model: (task -> run_id, value)."""
    bases = set(queries.lineage(store, grid)["base"].dropna())
    runs = store.frame("""SELECT DISTINCT r.id FROM runs r JOIN stages s ON s.base_hash = r.checkpoint
                          WHERE r.status = 'finished' AND list_contains(?, s.base)""", [sorted(bases)])
    scores = queries.headline_scores(store, runs["id"].tolist())
    return scores.drop_duplicates("task", keep="first").set_index("task")[["run_id", "value"]]


def scaling(store: Store, grid: str) -> list[dict]:
    rows, base = tables.scaling(store, grid), base_scores(store, grid)
    out = []
    for ability, task in PROBE.items():
        own = rows[(rows["task"] == task)].sort_values("fraction", key=lambda f: f.map(parse_fraction))
        steps = ([("0 (base)", base.loc[task, "run_id"], base.loc[task, "value"])] if task in base.index else []) + \
            [(f, r, v) for f, r, v in zip(own["fraction"], own["run_id"], own["value"])]
        for (fa, ra, va), (fb, rb, vb) in zip(steps, steps[1:]):
            out.append({"ability": ability, "task": task, "from": fa, "to": fb, "nll_from": va, "nll_to": vb,
                        **paired_delta(store, task, ra, rb)})
    return out


def forgetting(store: Store, grid: str) -> list[dict]:
    stages = tables.stage_scores(store, grid)
    stages = stages[(stages["strategy"] == "sequential") & stages["task"].isin(PROBE.values())]
    lost = tables.forgetting(stages)
    out = []
    for (cell, task), group in stages.groupby(["cell", "task"]):
        group = group.sort_values("stage_index")
        last = group.iloc[-1]
        own = group[group["sources"].map(lambda s: ABILITIES[task].ability in list(s))]
        if own.empty or own["stage_index"].iloc[0] == last["stage_index"]:
            continue
        learned = own.iloc[0]
        f = lost[(lost["cell"] == cell) & (lost["task"] == task) & (lost["stage_index"] == last["stage_index"])]
        out.append({"cell": cell, "task": task, "after_learning": learned["value"], "final": last["value"],
                    "forgetting": float(f["forgetting"].iloc[0]),
                    **paired_delta(store, task, learned["run_id"], last["run_id"])})
    return out


def agreement(store: Store, grid: str) -> list[dict]:
    runs = tables.runs(store, grid)["run_id"].unique().tolist() + base_scores(store, grid)["run_id"].tolist()
    scores = queries.headline_scores(store, runs)
    wide = scores.pivot_table(index="checkpoint", columns="task", values="value")
    out = []
    for ability, accuracy in ACCURACY.items():
        both = {PROBE[ability], accuracy} <= set(wide.columns)
        pair = wide[[PROBE[ability], accuracy]].dropna() if both else pd.DataFrame(columns=[PROBE[ability], accuracy])
        at_floor = pair.empty or (pair[accuracy] == 0).all()
        rho, p = (float("nan"), float("nan")) if at_floor else spearmanr(-pair[PROBE[ability]], pair[accuracy])
        out.append({"ability": ability, "checkpoints": len(pair), "accuracy_at_floor": bool(at_floor),
                    "accuracy_values": sorted(set(pair[accuracy].round(4))), "spearman": float(rho), "p": float(p)})
    return out


def table(rows: list[dict]) -> str:
    if not rows:
        return "(none)"
    frame = pd.DataFrame(rows)
    return frame.to_markdown(index=False, floatfmt=".4g")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", required=True)
    parser.add_argument("--grid", default="demo")
    args = parser.parse_args()
    store = Store(args.db, read_only=True)
    result = {"scaling": scaling(store, args.grid), "forgetting": forgetting(store, args.grid),
              "agreement": agreement(store, args.grid)}
    for name, rows in result.items():
        print(f"\n## {name}\n{table(rows)}")
    out = HERE / "out" / "probe_worth.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"db": args.db, "grid": args.grid, **result}, indent=1, default=str))
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
