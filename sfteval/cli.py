"""The `sfteval` command: parse, call, print. Logic lives in the modules it calls."""

from __future__ import annotations

import json
import logging
from functools import wraps
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Column, Table

from sfteval.commands.data import app as data_app
from sfteval.commands.humaneval import app as humaneval_app
from sfteval.commands.mtbench import (JudgeBase, JudgeCkpt, JudgeConcurrency, JudgeMaxNewTokens, JudgeModel,
                                      JudgePrice, JudgeTimeout, app as mtbench_app)
from sfteval.commands.train import grid as grid_command, train as train_command
from sfteval.commands.report import report as report_command
from sfteval.commands.check import baseline as baseline_command, check as check_command

# lm-eval and transformers log warnings on every task load; errors still show.
for _name in ("lm_eval", "lm-eval", "transformers", "datasets"):
    logging.getLogger(_name).setLevel(logging.ERROR)

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_show_locals=False,
                  help="Evaluate SFT checkpoints on GSM8K, HumanEval and MT-Bench; store everything in DuckDB.")
app.add_typer(humaneval_app, name="humaneval", help="Score existing HumanEval completions in the sandbox.")
app.add_typer(mtbench_app, name="mtbench", help="Score and import FastChat MT-Bench judgments.")
app.add_typer(data_app, name="data", help="Audit, decontaminate and compare SFT sources and mixtures.")
out = Console()
err = Console(stderr=True)

DB_HELP = "DuckDB file (default ./sfteval.duckdb or $SFTEVAL_DB)"


def _user_errors(fn):
    """Bad input ends with one line naming the problem and the fix, and exit code 2."""

    @wraps(fn)
    def wrapper(*args, **kwargs):
        from sfteval.checkpoints import CheckpointError
        from sfteval.config import ConfigError
        from sfteval.store import StoreError
        from sfteval.tasks import UnknownTaskError
        from sfteval.train import StageError

        try:
            return fn(*args, **kwargs)
        except (CheckpointError, ConfigError, StoreError, UnknownTaskError, StageError) as e:
            err.print(f"[red]error:[/] {escape(str(e))}", highlight=False, soft_wrap=True)
            raise typer.Exit(2)
        except KeyboardInterrupt:
            err.print("[yellow]interrupted:[/] finished generations are cached; run the same command again to resume")
            raise typer.Exit(130)

    return wrapper


@app.command()
@_user_errors
def run(
    ckpt: str = typer.Option("demo:smollm2-135m", help="model dir, adapter dir, .gguf file, hub id or demo:smollm2-135m"),
    tasks: str = typer.Option("", help="comma-separated tasks (default: all); see `sfteval tasks`"),
    limit: Optional[int] = typer.Option(None, help="first N problems of each task"),
    backend: str = typer.Option("hf", help="hf | vllm | api"),
    base: Optional[str] = typer.Option(None, help="base model of an adapter (default: from adapter_config.json)"),
    batch_size: int = typer.Option(8, help="generation batch size"),
    max_new_tokens: Optional[int] = typer.Option(None, help="override each task's generation length"),
    samples: int = typer.Option(1, help="samples per problem (pass@k); needs --temperature"),
    temperature: Optional[float] = typer.Option(None, help="sampling temperature (default: greedy)"),
    device: Optional[str] = typer.Option(None, help="cpu, cuda, cuda:1 ... (default: cuda when available)"),
    dtype: str = typer.Option("auto", help="auto | float32 | bfloat16 | float16"),
    chat_template: str = typer.Option("auto", help="auto (the model's own) | vicuna | alpaca | chatml | none"),
    api_base: Optional[str] = typer.Option(None, help="OpenAI-compatible base URL for --backend api (key: $OPENAI_API_KEY)"),
    api_model: Optional[str] = typer.Option(None, help="model name on the API server"),
    judge: Optional[str] = typer.Option(None, help="MT-Bench judge: none (answers only) | api | hf | vllm "
                                        "(default: hf with --judge-ckpt, api with --judge-model, else none)"),
    judge_model: JudgeModel = None,
    judge_base: JudgeBase = None,
    judge_ckpt: JudgeCkpt = None,
    judge_mode: str = typer.Option("generate", help="generate (parse the written rating) | logprob (expected rating)"),
    judge_max_new_tokens: JudgeMaxNewTokens = None,
    judge_concurrency: JudgeConcurrency = None,
    judge_timeout: JudgeTimeout = None,
    judge_price: JudgePrice = None,
    db: Optional[Path] = typer.Option(None, help=DB_HELP),
    as_json: bool = typer.Option(False, "--json", help='print {"run_id":..., "scores": {...}} on stdout instead'),
):
    """Evaluate one checkpoint and store scores and per-sample outputs."""
    from sfteval import backends, checkpoints, runner
    from sfteval.config import run_settings
    from sfteval.judge.build import build_judge
    from sfteval.judge.client import JudgeError
    from sfteval.store import Store

    settings = run_settings(backend=backend, tasks=tasks.split(","), limit=limit, batch_size=batch_size,
                            max_new_tokens=max_new_tokens, samples=samples, temperature=temperature, device=device,
                            dtype=dtype, chat_template=chat_template, api_base=api_base, api_model=api_model)
    task_list = runner.plan_tasks(settings)
    backends.check_backend(settings)
    if settings.backend == "api":
        model = checkpoints.api_checkpoint(settings.api_model, settings.api_base)
    else:
        model = checkpoints.resolve(ckpt, base)
    the_judge = build_judge(judge, settings, model=judge_model, base=judge_base, ckpt=judge_ckpt, mode=judge_mode,
                            max_new_tokens=judge_max_new_tokens, concurrency=judge_concurrency,
                            timeout=judge_timeout, price=judge_price)
    store = Store(db)
    try:
        result = runner.evaluate(model, settings, task_list, store, console=err, judge=the_judge)
    except JudgeError as e:
        err.print(f"[red]judge failed:[/] {escape(str(e))}\nfinished generations and judgments are cached; "
                  "run the same command again to resume", highlight=False, soft_wrap=True)
        raise typer.Exit(1)
    if as_json:
        flat = {t: {m: v["value"] for m, v in ms.items()} for t, ms in result.scores.items()}
        print(json.dumps({"run_id": result.run_id, "db": str(store.path.resolve()), "resumed": result.resumed,
                          "generated": result.generated, "judged": result.judged, "scores": flat}))
        return
    out.print(_scores_table(result.run_id, [{"task": t, "metric": m, **v} for t, ms in result.scores.items()
                                             for m, v in ms.items()]))
    cached = "all from the cache" if result.generated == 0 else f"{result.generated} generated"
    cached += f", {result.judged} judged" if the_judge else ""
    out.print(f"run [bold]{result.run_id}[/] ({cached}) stored in [bold]{store.path.resolve()}[/]", soft_wrap=True)


app.command("train")(_user_errors(train_command))
app.command("grid")(_user_errors(grid_command))
app.command("report")(_user_errors(report_command))
app.command("check")(_user_errors(check_command))
app.command("baseline")(_user_errors(baseline_command))


@app.command("tasks")
def list_tasks():
    """List the available tasks."""
    from sfteval.runner import task_names

    for name in task_names():
        out.print(name)


@app.command("ls")
@_user_errors
def ls(db: Optional[Path] = typer.Option(None, help=DB_HELP), limit: int = typer.Option(20)):
    """List runs, newest first."""
    from sfteval.store import Store

    table = Table(Column("run", no_wrap=True), Column("status", no_wrap=True), "started", "tasks", "backend",
                  "checkpoint")
    for r in Store(db).runs(limit):
        table.add_row(r["id"], r["status"], f"{r['started_at']:%Y-%m-%d %H:%M}", ",".join(r["tasks"]), r["backend"],
                      r["checkpoint_path"] or r["checkpoint"][:12])
    out.print(table)


@app.command()
@_user_errors
def show(run_id: str, db: Optional[Path] = typer.Option(None, help=DB_HELP),
         samples: int = typer.Option(3, help="samples to show per task")):
    """Scores and a few samples of one run."""
    from sfteval.store import Store

    store = Store(db)
    run = store.run(run_id)
    out.print(f"run [bold]{run['id']}[/]  {run['status']}  {run['checkpoint_path']}  ({run['backend']})"
              + (f"\n[red]{run['error']}[/]" if run["error"] else ""))
    out.print(_scores_table(run["id"], store.scores(run["id"])))
    for task in run["tasks"]:
        for s in store.samples(run["id"], task, limit=samples):
            out.rule(f"{task} #{s['doc_id']}  score={s['score']}")
            out.print(f"[dim]…{s['prompt'][-300:]}[/]", highlight=False)
            out.print(s["output"][:800], highlight=False)
            out.print(f"extracted: {json.dumps(s['extracted'])[:300]}   target: {str(s['target'])[:100]}",
                      highlight=False)


@app.command()
@_user_errors
def export(run_id: str, format: str = typer.Option("jsonl", help="jsonl | parquet | lm-eval | fastchat"),
           out_path: Optional[Path] = typer.Option(None, "--out", help="file (jsonl, parquet) or folder (lm-eval)"),
           db: Optional[Path] = typer.Option(None, help=DB_HELP)):
    """Write a run's samples as jsonl, parquet, lm-eval's --log_samples files, or FastChat's MT-Bench answers."""
    from sfteval import export as exporter
    from sfteval.store import Store

    written = exporter.export(Store(db), run_id, format, out_path)
    out.print(f"wrote {', '.join(str(p) for p in written)}")


@app.command()
def ui(db: Optional[Path] = typer.Option(None, help=DB_HELP), port: int = typer.Option(8501, help="port to serve on"),
       headless: bool = typer.Option(False, help="do not open a browser")):
    """Open the analysis app (Streamlit) at http://localhost:PORT; it reads the store read-only."""
    from sfteval.commands.ui import launch

    launch(db, port, headless)


def _scores_table(run_id: str, rows: list[dict]) -> Table:
    table = Table("task", "metric", "value", "± stderr", "n", title=f"run {run_id}")
    for r in rows:
        stderr = f"{r['stderr']:.4f}" if r["stderr"] is not None else "-"
        table.add_row(r["task"], r["metric"], f"{r['value']:.4f}", stderr, str(r["n"]))
    return table

