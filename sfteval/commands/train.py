"""`sfteval train` and `sfteval grid`: train the stages of a grid config, evaluate them, or print the plan."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

out = Console()
err = Console(stderr=True)


def train(config: Path = typer.Option(..., "--config", help="grid YAML (see configs/demo.yaml)"),
          cell: Optional[list[str]] = typer.Option(None, help="train only this cell (repeatable; default: all)"),
          db: Optional[Path] = typer.Option(None, help="DuckDB file (default ./sfteval.duckdb or $SFTEVAL_DB)")):
    """Train the stages of one cell (or every cell) of a grid config, without evaluating them."""
    from sfteval.config import load_grid
    from sfteval.store import Store
    from sfteval.train.grid import run_grid

    grid = load_grid(config)
    store = Store(db)
    run_grid(grid, store, err, cells=cell, evaluate=False)
    for row in store.query("SELECT stage, cell, stage_index FROM grid_cells WHERE grid = ? ORDER BY cell, stage_index",
                           [grid.name]):
        stage = store.stage(row["stage"])
        if stage and stage["status"] == "finished" and (not cell or row["cell"] in cell):
            out.print(f"{row['cell']} stage {row['stage_index']}: {stage['path']}", soft_wrap=True)


def grid(config: Path = typer.Argument(..., help="grid YAML (see configs/demo.yaml, configs/paper.yaml)"),
         dry_run: bool = typer.Option(False, "--dry-run", help="print the plan: cells, stages, reuse, data to train"),
         as_json: bool = typer.Option(False, "--json", help="with --dry-run: the plan as JSON"),
         db: Optional[Path] = typer.Option(None, help="DuckDB file (default ./sfteval.duckdb or $SFTEVAL_DB)"),
         gpus: int = typer.Option(1, min=1, help="with --dry-run: GPUs for the ZeRO-3 memory estimate"),
         params: Optional[float] = typer.Option(None, help="with --dry-run: the base's parameter count (e.g. 7e9) "
                                                "when its config cannot be read here")):
    """Train every cell of a grid stage by stage (shared stages once) and evaluate every checkpoint."""
    from sfteval.config import load_grid
    from sfteval.store import Store, default_path
    from sfteval.train.grid import plan_grid, run_grid

    grid_config = load_grid(config)
    if dry_run:  # writes nothing; an existing store tells which stages are trained already
        path = db or default_path()
        store = Store(path, read_only=True) if path.exists() else None
        plan, stages = plan_grid(grid_config, store, need_data=False)
        from sfteval.train.memory import plan_costs

        summary = plan_summary(plan, stages, plan_costs(grid_config, stages, gpus, params))
        if as_json:
            print(json.dumps(summary, indent=2))
        else:
            _print_plan(summary)
        return
    store = Store(db)
    run_ids = run_grid(grid_config, store, err)
    out.print(f"grid [bold]{grid_config.name}[/]: {len(run_ids)} checkpoints evaluated, stored in "
              f"[bold]{store.path.resolve()}[/]; see `sfteval report --grid {grid_config.name}`", soft_wrap=True)


def plan_summary(plan, stages, costs: dict | None = None) -> dict:
    """What the dry-run shows: per stage its data and users; totals with and without stage reuse; with `costs`
    (sfteval.train.memory.plan_costs) tokens per stage and the memory estimate."""
    epochs = plan.config.train.epochs
    by_key = {sp.stage.key: sp for sp in stages}
    size = {k: len(sp.mixture.examples) if sp.mixture else None for k, sp in by_key.items()}
    all_stages = [s for c in plan.cells for s in c.stages]
    known = all(v is not None for v in size.values())
    without = sum(size[s.key] for s in all_stages) * epochs if known else None
    with_reuse = sum(size[k] for k, sp in by_key.items() if sp.status == "to train") * epochs if known else None
    return {
        "grid": plan.config.name, "base": plan.config.base,
        "cells": [{"cell": c.name, "strategy": c.strategy, "stages": [s.key[:10] for s in c.stages]} for c in plan.cells],
        "stages": [{"key": sp.stage.key[:10], "mix": sp.stage.label,
                    "parent": sp.stage.parent.key[:10] if sp.stage.parent else None, "used_by": sp.uses,
                    "examples": size[sp.stage.key], "status": sp.status} for sp in stages],
        "n_cells": len(plan.cells), "n_stage_slots": len(all_stages), "n_unique_stages": len(stages),
        "n_reused_slots": len(all_stages) - len(stages),
        "examples_to_train": with_reuse, "examples_without_reuse": without,
        "compute_saved": (1 - with_reuse / without) if known and without else None,
        **(_costs(plan, stages, costs) if costs else {}),
    }


def _costs(plan, stages, costs: dict) -> dict:
    tokens = costs["tokens"]
    todo = [tokens.get(sp.stage.key) for sp in stages if sp.status == "to train"]
    return {"stage_tokens": {sp.stage.key[:10]: tokens.get(sp.stage.key) for sp in stages},
            "tokens_to_train": sum(todo) * plan.config.train.epochs if None not in todo else None,
            "epochs": plan.config.train.epochs,
            "shape": costs["shape"], "gpus": costs["gpus"], "memory": costs["memory"], "notes": costs["notes"]}


def _print_plan(summary: dict) -> None:
    cells = Table("cell", "strategy", "stages", title=f"grid {summary['grid']} on {summary['base']}")
    for c in summary["cells"]:
        cells.add_row(c["cell"], c["strategy"], " > ".join(c["stages"]))
    out.print(cells)
    tokens = summary.get("stage_tokens", {})
    stages = Table("stage", "data", "starts from", "used by", "examples", "tokens/epoch", "status")
    for s in summary["stages"]:
        stages.add_row(s["key"], s["mix"], s["parent"] or "base", str(s["used_by"]),
                       "?" if s["examples"] is None else str(s["examples"]),
                       f"{tokens[s['key']]:,}" if tokens.get(s["key"]) is not None else "?", s["status"])
    out.print(stages)
    if summary.get("memory"):
        _print_memory(summary)
    line = (f"{summary['n_cells']} cells, {summary['n_stage_slots']} stage slots, {summary['n_unique_stages']} "
            f"unique stages ({summary['n_reused_slots']} reused)")
    if summary["compute_saved"] is not None:
        line += (f"; examples x epochs to train: {summary['examples_to_train']:,.0f} "
                 f"(without reuse {summary['examples_without_reuse']:,.0f}: {summary['compute_saved']:.0%} saved)")
    else:
        line += "; some sources cannot be read here, so data sizes are unknown"
    out.print(line)
    if summary.get("tokens_to_train") is not None:
        out.print(f"tokens to train ({summary['epochs']:g} epochs of each stage not yet trained): "
                  f"{summary['tokens_to_train']:,.0f}")
    for note in summary.get("notes", []):
        out.print(f"[yellow]note:[/] {note}", soft_wrap=True)


def _print_memory(summary: dict) -> None:
    shape = summary["shape"]
    table = Table("method", "grad. checkpointing", "ZeRO-3", "weights", "gradients", "AdamW", "activations", "total",
                  title=f"GPU memory per device, GiB ({shape['params'] / 1e9:.2f}B parameters, {shape['layers']} "
                        f"layers, hidden {shape['hidden']}; from {shape['source']})")
    for r in summary["memory"]:
        style = "bold" if r["configured"] else None
        table.add_row(r["method"], "yes" if r["checkpointing"] else "no",
                      f"{r['zero3_gpus']} GPUs" if r["zero3_gpus"] else "-",
                      *(f"{r[k]:.2f}" for k in ("weights", "gradients", "optimizer", "activations", "total")),
                      style=style)
    out.print(table)
