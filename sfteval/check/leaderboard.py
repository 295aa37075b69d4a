"""Leaderboards as code: a YAML file naming the tasks, how to evaluate them, the tolerances, and the baseline.

    name: demo
    tasks:                       # task -> the metric gated, its direction, and the drop that never fails
      gsm8k_nll: {metric: nll, tolerance: 0.02}
    eval: {limit: 30, batch_size: 8, chat_template: auto}
    alpha: 0.05                  # Holm over the tasks
    baseline: {file: baselines/demo.jsonl}   # or {run: RUN_ID, db: store.duckdb}; paths relative to this file
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from rich.console import Console

from sfteval.analysis.abilities import ABILITIES
from sfteval.config import ChatTemplate, ConfigError, RunSettings, read_yaml_mapping, run_settings
from sfteval.store import Store

# Settings of a run that change its outputs: a run made otherwise is not the leaderboard's evaluation.
OUTPUT_SETTINGS = ("backend", "limit", "max_new_tokens", "chat_template", "dtype", "samples", "temperature")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TaskGate(_Strict):
    metric: str | None = None               # None: the task's primary metric (the samples' `score`)
    tolerance: float = Field(default=0.0, ge=0)  # in the metric's units: a smaller drop never fails
    higher_is_better: bool | None = None    # None: from sfteval.analysis.abilities


class JudgeSpec(_Strict):
    """sfteval.judge.build.build_judge's arguments (`sfteval run --judge*` options)."""
    kind: str | None = None
    model: str | None = None
    base: str | None = None
    ckpt: str | None = None
    mode: str = "generate"
    max_new_tokens: int | None = None
    price: str | None = None


class EvalSettings(_Strict):
    limit: int | None = Field(default=None, ge=1)
    batch_size: int = Field(default=8, ge=1)
    max_new_tokens: int | None = Field(default=None, ge=1)
    chat_template: ChatTemplate = "auto"
    backend: Literal["hf", "vllm"] = "hf"
    dtype: str = "auto"
    device: str | None = None
    judge: JudgeSpec | None = None  # MT-Bench's judge, e.g. {kind: hf, ckpt: demo:smollm2-135m, mode: logprob}


class BaselineSpec(_Strict):
    file: str | None = None  # committed per-sample scores (.jsonl or .parquet), relative to the leaderboard
    run: str | None = None   # or a run in a store
    db: str | None = None    # that store (default: --db)

    @model_validator(mode="after")
    def _one_source(self):
        if (self.file is None) == (self.run is None):
            raise ValueError("give exactly one of file (a committed baseline) or run (a run id in a store)")
        return self


class Leaderboard(_Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    description: str = ""
    tasks: dict[str, TaskGate] = Field(min_length=1)
    eval: EvalSettings = Field(default_factory=EvalSettings)
    alpha: float = Field(default=0.05, gt=0, lt=1)
    baseline: BaselineSpec
    path: Path = Path(".")  # the YAML file; set by load()

    def resolve(self, relative: str) -> Path:
        return (self.path.parent / relative).resolve()

    def run_settings(self) -> RunSettings:
        spec = self.eval.model_dump(exclude={"judge"})
        return run_settings(tasks=list(self.tasks), **spec)

    def metric(self, task: str, primary: str) -> str:
        return self.tasks[task].metric or primary

    def higher_is_better(self, task: str) -> bool:
        gate = self.tasks[task]
        if gate.higher_is_better is not None:
            return gate.higher_is_better
        if task not in ABILITIES:
            raise ConfigError(f"{self.path}: tasks.{task}: sfteval does not know which way is better for it: "
                              "add higher_is_better: true or false")
        return ABILITIES[task].higher_is_better


def load(path: str | Path) -> Leaderboard:
    """Read and check a leaderboard file: its fields, its task names, its backend settings."""
    from sfteval.runner import task_names

    path = Path(path)
    raw = read_yaml_mapping(path, "leaderboard", "leaderboards/demo.yaml", "name, tasks, eval, alpha, baseline")
    try:
        board = Leaderboard(**{**raw, "path": path})
    except ValidationError as e:
        err = e.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "file"
        raise ConfigError(f"{path}: {where}: {err['msg']}") from None
    known = task_names()
    unknown = [t for t in board.tasks if t not in known]
    if unknown:
        raise ConfigError(f"{path}: unknown task {unknown[0]!r}: available tasks are {', '.join(known)}")
    for task in board.tasks:
        board.higher_is_better(task)
    board.run_settings()
    return board


def evaluate(board: Leaderboard, ckpt: str, base: str | None, store: Store, console: Console) -> str:
    """The id of a finished run of `ckpt` as the leaderboard says: an identical finished run is reused,
    anything else is evaluated through the runner (cached generations are not generated again)."""
    from sfteval import backends, checkpoints, runner
    from sfteval.judge.build import build_judge

    settings = board.run_settings()
    tasks = runner.plan_tasks(settings)
    backends.check_backend(settings)
    model = checkpoints.resolve(ckpt, base)
    spec = board.eval.judge
    judge = build_judge(spec.kind, settings, **spec.model_dump(exclude={"kind"})) if spec else None
    done = store.finished_run(runner.fingerprint(model, settings, tasks, judge))
    if done:
        console.print(f"[dim]{ckpt}: reusing finished run {done}[/]")
        return done
    return runner.evaluate(model, settings, tasks, store, console=console, judge=judge).run_id


def check_run(board: Leaderboard, run: dict) -> None:
    """A stored run stands for the leaderboard's evaluation only if it ran its tasks with its settings."""
    if run["status"] != "finished":
        raise ConfigError(f"run {run['id']} is {run['status']}: finish it (run the same `sfteval run` again) "
                          "or pass --ckpt to evaluate the checkpoint")
    missing = [t for t in board.tasks if t not in run["tasks"]]
    if missing:
        raise ConfigError(f"run {run['id']} has no {missing[0]} results: pass --ckpt to evaluate the checkpoint "
                          f"as {board.path} says")
    wanted = board.run_settings().model_dump(include=set(OUTPUT_SETTINGS))
    used = json.loads(run["settings"])
    for key, value in wanted.items():
        if used.get(key) != value:
            raise ConfigError(f"run {run['id']} was evaluated with {key}={used.get(key)!r} but {board.path} says "
                              f"{value!r}: pass --ckpt to evaluate the checkpoint as the leaderboard says")
