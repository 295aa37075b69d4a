"""`sfteval mtbench score|import|pair`: FastChat's MT-Bench files, scored as show_result scores them, or
stored; two or more answer sets judged pairwise.

Parse, call sfteval.judge, print. Bad input is one `error: ...` line on stderr and exit 2; a judge that fails
after its retries is one `judge failed: ...` line and exit 1.
"""

from __future__ import annotations

import json
from functools import wraps
from pathlib import Path
from typing import Annotated, List, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Column, Table

# The judge options `sfteval run` and `sfteval mtbench pair` share.
JudgeModel = Annotated[Optional[str], typer.Option(help="--judge api: model name on the judge server, e.g. gpt-4")]
JudgeBase = Annotated[Optional[str], typer.Option(help="--judge api: OpenAI-compatible URL (key: $OPENAI_API_KEY)")]
JudgeCkpt = Annotated[Optional[str], typer.Option(help="--judge hf|vllm: the judge model (dir, .gguf, hub id, demo:...)")]
JudgeMaxNewTokens = Annotated[Optional[int], typer.Option(help="judge's generation length (default 2048)")]
JudgeConcurrency = Annotated[Optional[int], typer.Option(help="--judge api: requests in flight at once (default 8)")]
JudgeTimeout = Annotated[Optional[float], typer.Option(help="--judge api: seconds per request before a retry "
                                                       "(default 120)")]
JudgePrice = Annotated[Optional[str], typer.Option(help="judge cost IN,OUT in USD per 1M tokens (default: list price "
                                                   "of gpt-4, gpt-4-turbo, gpt-4o, gpt-4o-mini; 0 for local judges)")]

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_show_locals=False)
out = Console()
err = Console(stderr=True)


def _user_errors(fn):
    @wraps(fn)
    def wrapper(*args, **kwargs):
        from sfteval.checkpoints import CheckpointError
        from sfteval.config import ConfigError
        from sfteval.judge.client import JudgeError
        from sfteval.judge.data import MTBenchError
        from sfteval.store import StoreError

        try:
            return fn(*args, **kwargs)
        except (CheckpointError, ConfigError, MTBenchError, StoreError) as e:
            err.print(f"error: {escape(str(e))}", highlight=False, soft_wrap=True)
            raise typer.Exit(2)
        except JudgeError as e:
            err.print(f"judge failed: {escape(str(e))}; the judgments made so far are cached: run the same "
                      f"command again to resume", highlight=False, soft_wrap=True)
            raise typer.Exit(1)

    return wrapper


@app.callback()
def mtbench():
    """MT-Bench: score and import FastChat's llm_judge files; judge answer sets pairwise."""


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


@app.command()
@_user_errors
def pair(
    run: List[str] = typer.Option([], help="a stored run (id or unique prefix) whose MT-Bench answers to judge; "
                                  "repeatable"),
    answers: List[Path] = typer.Option([], help="FastChat model_answer file, or folder of them (every model in it); "
                                       "repeatable"),
    limit: Optional[int] = typer.Option(None, min=1, help="first N questions both sets answered (both turns)"),
    judge: Optional[str] = typer.Option(None, help="api | hf | vllm (default: hf with --judge-ckpt, api with "
                                        "--judge-model)"),
    judge_model: JudgeModel = None,
    judge_base: JudgeBase = None,
    judge_ckpt: JudgeCkpt = None,
    judge_max_new_tokens: JudgeMaxNewTokens = None,
    judge_concurrency: JudgeConcurrency = None,
    judge_timeout: JudgeTimeout = None,
    judge_price: JudgePrice = None,
    batch_size: int = typer.Option(8, help="local judges: batch size"),
    device: Optional[str] = typer.Option(None, help="local judges: cpu, cuda, ... (default: cuda when available)"),
    db: Optional[Path] = typer.Option(None, help="DuckDB file: the runs, and the judgment cache"),
    as_json: bool = typer.Option(False, "--json", help='print {"pairs": [...], "judge": {...}} instead'),
):
    """Judge answer sets against each other in both orders (FastChat's pairwise rule): win, loss, tie and
    adjusted win rate per pair. Sets: the --run ones first, then the --answers ones; the earlier is model 1."""
    from rich.progress import Progress

    from sfteval.config import ConfigError, run_settings
    from sfteval.judge import cost, pairwise
    from sfteval.judge.build import build_judge
    from sfteval.judge.data import TASK
    from sfteval.store import Store

    settings = run_settings(tasks=[TASK], batch_size=batch_size, device=device)
    the_judge = build_judge(judge, settings, model=judge_model, base=judge_base, ckpt=judge_ckpt,
                            max_new_tokens=judge_max_new_tokens, concurrency=judge_concurrency,
                            timeout=judge_timeout, price=judge_price)
    if the_judge is None:
        raise ConfigError("mtbench pair needs a judge: --judge api --judge-model NAME --judge-base URL, "
                          "or --judge hf --judge-ckpt PATH")
    store = Store(db)
    sets = [pairwise.from_run(store, r) for r in run] + [s for path in answers for s in pairwise.from_files(path)]
    planned = pairwise.matches(sets, limit)
    with Progress(console=err, transient=True) as bar:
        job = bar.add_task("judging pairs (both orders)", total=sum(2 * len(g) for *_, g in planned))
        result = pairwise.judge_matches(the_judge, planned, store, chunk=4 * batch_size,
                                        progress=lambda n: bar.advance(job, n))
    if as_json:
        print(json.dumps(_no_nan(result)))
        return
    table = Table(Column("model 1", no_wrap=True), Column("model 2", no_wrap=True), "win", "loss", "tie",
                  "win rate", "loss rate", "tie rate", "adjusted win rate", "n", "errors",
                  title="MT-Bench pairwise", caption="a win needs both orders to agree; adjusted: (win + tie/2) / n; "
                  "errors: unreadable verdicts, left out")
    for r in result["pairs"]:
        table.add_row(escape(r["model_1"]), escape(r["model_2"]), str(r["win"]), str(r["loss"]), str(r["tie"]),
                      _fmt(r["win_rate"], 3), _fmt(r["loss_rate"], 3), _fmt(r["tie_rate"], 3),
                      _fmt(r["win_rate_adjusted"], 3), str(r["n"]), str(r["errors"]))
    out.print(table)
    usage = result["judge"]
    out.print(f"{cost.summary(usage)}; {usage['asked']} judgments asked, {usage['cached']} from the cache",
              highlight=False, soft_wrap=True)


def _no_nan(result: dict) -> dict:
    """JSON has no NaN: a pair without a single readable game has null rates."""
    pairs = [{k: None if isinstance(v, float) and v != v else v for k, v in p.items()} for p in result["pairs"]]
    return {**result, "pairs": pairs}
