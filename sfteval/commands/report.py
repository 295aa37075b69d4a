"""`sfteval report`: the analyses of a store as markdown tables (display units, 95% intervals) or JSON (store
units, every column). Parse, call sfteval.analysis.tables, print; the store is opened read-only."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Optional

import typer

from sfteval.analysis.abilities import ABILITIES

SECTIONS = ("leaderboard", "strategies", "conflict", "scaling", "ratio", "forgetting", "backward_transfer")
HINT = ("no finished runs in {db}: fill it with `sfteval run --ckpt CHECKPOINT --db {db}` "
        "or `sfteval grid CONFIG --db {db}`")


def report(grid: Optional[str] = typer.Option(None, help="only this grid's cells (default: every grid)"),
           format: str = typer.Option("md", "--format", help="md (tables to read) | json (every column)"),
           db: Optional[Path] = typer.Option(None, help="DuckDB file (default ./sfteval.duckdb or $SFTEVAL_DB)")):
    """Print the leaderboard, strategies, conflict, scaling, ratio and forgetting tables of a store."""
    from sfteval.analysis import tables
    from sfteval.config import ConfigError
    from sfteval.store import Store

    if format not in ("md", "json"):
        raise ConfigError(f"--format must be md or json (got {format!r})")
    store = Store(db, read_only=True)
    if tables.runs(store).empty:
        hint = HINT.format(db=store.path)
        print(json.dumps({"db": str(store.path.resolve()), "runs": 0, "hint": hint}) if format == "json" else hint)
        return
    if grid is not None and grid not in tables.grids(store):
        raise ConfigError(f"--grid {grid}: no such grid in {store.path}; its grids: "
                          f"{', '.join(tables.grids(store)) or 'none (run `sfteval grid CONFIG` first)'}")
    stages = tables.stage_scores(store, grid)
    frames = {"leaderboard": tables.leaderboard(store, grid=grid), "strategies": tables.strategies(store, grid),
              "conflict": tables.conflict(store, grid), "scaling": tables.scaling(store, grid),
              "ratio": tables.ratio(store, grid), "forgetting": tables.forgetting(stages),
              "backward_transfer": tables.backward_transfer(stages)}
    if format == "json":
        records = {name: json.loads(frame.to_json(orient="records", date_format="iso", double_precision=15,
                                                  default_handler=str)) for name, frame in frames.items()}
        print(json.dumps({"db": str(store.path.resolve()), "grid": grid, "tables": records}))
        return
    print(f"# sfteval report: {store.path.resolve()}" + (f", grid {grid}" if grid else ""))
    print("\nValues in %, MT-Bench 1-10; [95% interval]: Wilson for right/wrong scores, bootstrap for judge scores. "
          "p: McNemar's exact test (right/wrong) or paired bootstrap (judge), Holm-adjusted where marked.")
    for name in SECTIONS:
        print(f"\n## {name.replace('_', ' ').capitalize()}\n")
        print(_markdown(_VIEWS[name](frames[name])))
    if not tables.grids(store):
        print("\nNo grid in this store: `sfteval grid CONFIG` trains and evaluates one (see configs/demo.yaml).")


def _missing(x) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def _fmt(task: str, value) -> str:
    if _missing(value):
        return "-"
    scale = ABILITIES[task].scale
    return f"{value * scale:.1f}" if scale != 1 else f"{value:.2f}"


def _ci(task: str, value, lo, hi) -> str:
    """`47.5 [30.1, 60.2]` in display units."""
    return "-" if _missing(value) else f"{_fmt(task, value)} [{_fmt(task, lo)}, {_fmt(task, hi)}]"


def _p(p) -> str:
    return "-" if _missing(p) else f"{p:.3g}"


def _tasks(frame) -> list[str]:
    return [t for t in ABILITIES if t in frame.columns]


def _leaderboard(frame) -> list[dict]:
    return [{"run": r["run_id"], "checkpoint": Path(str(r["checkpoint_path"])).name,
             "cell": r["cell"] if isinstance(r["cell"], str) else "-",
             "stage": f"{r['stage_index'] + 1}/{r['n_stages']}" if isinstance(r["cell"], str) else "-",
             **{ABILITIES[t].label: _ci(t, r[t], r[t + "_lo"], r[t + "_hi"]) for t in _tasks(frame)}}
            for _, r in frame.iterrows()]


def _strategies(frame) -> list[dict]:
    rows = []
    for _, r in frame.iterrows():
        row = {"grid": r["grid"], "base": r["base"], "amount": r["amount"], "strategy": r["label"]}
        for t in _tasks(frame):
            row[ABILITIES[t].label] = _ci(t, r[t], r[t + "_lo"], r[t + "_hi"])
            row[f"p vs multitask ({t}, Holm)"] = _p(r[t + "_p_holm"])
        rows.append(row)
    return rows


def _conflict(frame) -> list[dict]:
    return [{"task": r["task"], "base": r["base"], "fraction": r["fraction"], "single": _fmt(r["task"], r["single"]),
             "mixed": _fmt(r["task"], r["mixed"]), "mixed - single [95%]": _ci(r["task"], r["delta"], r["lo"], r["hi"]),
             "p": _p(r["p"]), "p (Holm)": _p(r["p_holm"]), "test": r["test"], "n": r["n"]} for _, r in frame.iterrows()]


def _scaling(frame) -> list[dict]:
    return [{"task": r["task"], "base": r["base"], "fraction": r["fraction"], "examples": r["n_examples"],
             "score [95%]": _ci(r["task"], r["value"], r["lo"], r["hi"]), "cell": r["cell"]}
            for _, r in frame.iterrows()]


def _ratio(frame) -> list[dict]:
    return [{"setting": r["setting"], "k (specialist:general)": r["k"], "task": r["task"],
             "score [95%]": _ci(r["task"], r["value"], r["lo"], r["hi"]), "cell": r["cell"]}
            for _, r in frame.iterrows()]


def _forgetting(frame) -> list[dict]:
    return [{"cell": r["cell"], "task": r["task"], "stage": r["stage_index"] + 1,
             "score": _fmt(r["task"], r["value"]), "forgetting": _fmt(r["task"], r["forgetting"])}
            for _, r in frame.iterrows()]


def _bwt(frame) -> list[dict]:
    return [{"cell": r["cell"], "task": r["task"], "learned at stage": r["learned_at"] + 1,
             "after learning": _fmt(r["task"], r["after_learning"]), "final": _fmt(r["task"], r["final"]),
             "backward transfer": _fmt(r["task"], r["bwt"])} for _, r in frame.iterrows()]


_VIEWS = {"leaderboard": _leaderboard, "strategies": _strategies, "conflict": _conflict, "scaling": _scaling,
          "ratio": _ratio, "forgetting": _forgetting, "backward_transfer": _bwt}


def _markdown(rows: list[dict]) -> str:
    if not rows:
        return "_none_"
    head = list(rows[0])
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    lines += ["| " + " | ".join(str(r[c]).replace("|", "\\|") for c in head) + " |" for r in rows]
    return "\n".join(lines)
