"""`sfteval check`: the CI gate (exit 0 pass, 1 regression, 2 bad input), and `sfteval baseline`, which writes
a leaderboard's committed baseline. Parse, call sfteval.check, print."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

FORMATS = ("table", "md", "json")
DB_HELP = "DuckDB file (default ./sfteval.duckdb or $SFTEVAL_DB)"


def check(leaderboard: Path = typer.Option(..., help="leaderboard YAML, e.g. leaderboards/demo.yaml"),
          ckpt: Optional[str] = typer.Option(None, help="checkpoint to evaluate as the leaderboard says (any "
                                             "`sfteval run --ckpt` form); cached generations are reused"),
          run: Optional[str] = typer.Option(None, help="or: a finished run in the store, evaluated as the "
                                            "leaderboard says"),
          base: Optional[str] = typer.Option(None, help="base model of an adapter (default: from adapter_config.json)"),
          format: str = typer.Option("table", "--format", help="table (terminal) | md (pull-request comment) | json"),
          junit: Optional[Path] = typer.Option(None, help="also write JUnit XML here: a testcase per task"),
          db: Optional[Path] = typer.Option(None, help=DB_HELP)):
    """Gate a checkpoint on a leaderboard: exit 1 when a task got significantly worse than the baseline."""
    from sfteval.check import baseline as baselines, gate, leaderboard as boards, render
    from sfteval.config import ConfigError
    from sfteval.store import Store

    if format not in FORMATS:
        raise ConfigError(f"--format must be one of {', '.join(FORMATS)} (got {format!r})")
    _exactly_one(ckpt, run)
    board = boards.load(leaderboard)
    reference = baselines.load(board, db)
    store = Store(db)
    run_id = _candidate_run(board, store, ckpt, run, base)
    candidate = baselines.from_run(store, run_id, board)[0]
    if ckpt:
        candidate.source = ckpt
    verdict = gate.gate(board, reference, candidate)
    if format == "md":
        print(render.markdown(verdict), end="")
    elif format == "json":
        print(render.as_json(verdict))
    else:
        Console().print(render.table(verdict))
    if junit:
        render.junit(verdict, junit)
    raise typer.Exit(0 if verdict.passed else 1)


def baseline(leaderboard: Path = typer.Option(..., help="leaderboard YAML whose baseline file to write"),
             run: Optional[str] = typer.Option(None, help="the finished run to take the baseline from"),
             ckpt: Optional[str] = typer.Option(None, help="or: evaluate this checkpoint as the leaderboard says"),
             base: Optional[str] = typer.Option(None, help="base model of an adapter"),
             db: Optional[Path] = typer.Option(None, help=DB_HELP)):
    """Write (or update) a leaderboard's committed baseline file from a run: per-sample scores and their origin."""
    from sfteval.check import baseline as baselines, leaderboard as boards
    from sfteval.config import ConfigError
    from sfteval.store import Store

    _exactly_one(ckpt, run)
    board = boards.load(leaderboard)
    if not board.baseline.file:
        raise ConfigError(f"{leaderboard}: its baseline is run {board.baseline.run}, not a file: set "
                          "baseline: {file: baselines/NAME.jsonl} to commit one")
    store = Store(db)
    run_id = _candidate_run(board, store, ckpt, run, base)
    units, rows = baselines.from_run(store, run_id, board)
    path = baselines.write(board.resolve(board.baseline.file), rows)
    Console().print(f"wrote {len(rows)} samples of {', '.join(board.tasks)} from run [bold]{units.run_id}[/] "
                    f"(checkpoint {units.checkpoint[:12]}) to [bold]{path}[/]", soft_wrap=True)


def _exactly_one(ckpt: str | None, run: str | None) -> None:
    from sfteval.config import ConfigError

    if (ckpt is None) == (run is None):
        raise ConfigError("pass --ckpt PATH (evaluate a checkpoint) or --run ID (a stored run), exactly one")


def _candidate_run(board, store, ckpt: str | None, run: str | None, base: str | None) -> str:
    from sfteval.check import leaderboard as boards

    if ckpt:
        return boards.evaluate(board, ckpt, base, store, Console(stderr=True))
    found = store.run(run)
    boards.check_run(board, found)
    return found["id"]
