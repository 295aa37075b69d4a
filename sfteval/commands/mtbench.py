"""`sfteval mtbench score|import`: FastChat's MT-Bench files, scored as show_result scores them, or stored.

Parse, call sfteval.judge, print. A file that cannot be read is one `error: ...` line on stderr and exit 2.
"""

from __future__ import annotations

import json
from functools import wraps
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Column, Table

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_show_locals=False)
out = Console()
err = Console(stderr=True)


def _user_errors(fn):
    @wraps(fn)
    def wrapper(*args, **kwargs):
        from sfteval.judge.data import MTBenchError
        from sfteval.store import StoreError

        try:
            return fn(*args, **kwargs)
        except (MTBenchError, StoreError) as e:
            err.print(f"error: {escape(str(e))}", highlight=False, soft_wrap=True)
            raise typer.Exit(2)

    return wrapper


@app.callback()
def mtbench():
    """MT-Bench: score and import FastChat's llm_judge files."""


def _fmt(x: float | None, digits: int = 5) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


@app.command()
@_user_errors
def score(
    judgments: Path = typer.Option(..., help="FastChat single-answer judgment file (model_judgment/*_single.jsonl)"),
    as_json: bool = typer.Option(False, "--json", help='print {"MODEL": {"turn1", "turn2", "overall", "n"}} instead'),
):
    """Turn 1, turn 2 and overall score per model, exactly as FastChat's show_result computes them."""
    from sfteval.judge import aggregate, data

    rows = data.read_judgments(judgments)
    result = aggregate.show_result(rows)
    if as_json:
        print(json.dumps(result))
        return
    ci, unparsed = aggregate.bootstrap_ci(rows), aggregate.unparsed(rows)
    table = Table(Column("model", no_wrap=True), "turn 1", "turn 2", "overall", "95% CI", "n", "-1",
                  title=f"MT-Bench, {escape(judgments.name)}", caption="-1: judgments without a rating, left out")
    for model, r in sorted(result.items(), key=lambda kv: -kv[1]["overall"]):
        low, high = ci[model]["overall"]["low"], ci[model]["overall"]["high"]
        table.add_row(escape(model), _fmt(r["turn1"]), _fmt(r["turn2"]), _fmt(r["overall"]),
                      f"{low:.2f}-{high:.2f}", str(r["n"]), str(unparsed[model]))
    out.print(table)
    categories = {q["question_id"]: q["category"] for q in data.questions()}
    by_category = aggregate.category_means(rows, categories)
    models = list(by_category)
    table = Table("category", *(Column(escape(m), no_wrap=True) for m in models),
                  title="mean per category (both turns)")
    for category in sorted({c for cats in by_category.values() for c in cats}):
        table.add_row(category, *(_fmt(by_category[m].get(category), 2) for m in models))
    out.print(table)


@app.command("import")
@_user_errors
def import_(
    answers: Path = typer.Option(..., help="FastChat model_answer folder: one MODEL.jsonl per model"),
    judgments: Path = typer.Option(..., help="FastChat single-answer judgment file of those models"),
    db: Optional[Path] = typer.Option(None, help="DuckDB file (default ./sfteval.duckdb or $SFTEVAL_DB)"),
):
    """Store each judged model as a finished run (task mtbench), beside evaluated checkpoints."""
    from sfteval.judge.fastchat import import_files
    from sfteval.store import Store

    store = Store(db)
    for run in import_files(store, answers, judgments):
        out.print(f"{escape(run['model'])}: run [bold]{run['run_id']}[/] ({run['n']} judgments)")
    out.print(f"stored in [bold]{escape(str(store.path.resolve()))}[/]")
