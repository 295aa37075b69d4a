"""One evaluation run: plan it, serve what the cache has, generate the rest, score, store.

Generations are cached chunk by chunk as they finish, keyed by everything that decides an output. A run
killed half-way therefore resumes with the next identical `sfteval run` (same fingerprint, same run id),
generating only what is missing, and a repeated evaluation generates nothing at all.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import subprocess
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from sfteval import __version__
from sfteval.backends import Generator
from sfteval.checkpoints import Checkpoint
from sfteval.config import RunSettings
from sfteval.store import Store
from sfteval.tasks import Request, Task, available_tasks, load_task


@dataclass
class RunResult:
    run_id: str
    resumed: bool
    generated: int                     # completions generated now (the rest came from the cache)
    scores: dict[str, dict[str, dict]]  # task -> metric -> {value, stderr, n}


def plan_tasks(settings: RunSettings) -> list[Task]:
    names = settings.tasks or available_tasks()
    return [load_task(n, samples=settings.samples, temperature=settings.temperature,
                      max_new_tokens=settings.max_new_tokens) for n in names]


def fingerprint(ckpt: Checkpoint, settings: RunSettings, tasks: list[Task]) -> str:
    spec = {"ckpt": ckpt.hash, "backend": settings.output_settings(), "limit": settings.limit,
            "tasks": {t.name: t.fingerprint for t in tasks}}
    return _sha(spec)


def evaluate(ckpt: Checkpoint, settings: RunSettings, tasks: list[Task], store: Store,
             console: Console | None = None) -> RunResult:
    console = console or Console(stderr=True)
    generator = Generator(ckpt, settings)
    fp = fingerprint(ckpt, settings, tasks)
    run_id = store.resumable_run(fp)
    resumed = run_id is not None
    run_id = run_id or f"{datetime.now():%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"
    store.upsert_checkpoint(ckpt.hash, ckpt.path, ckpt.kind, ckpt.base, {**ckpt.params, "gguf_file": ckpt.gguf_file})
    store.start_run(run_id, ckpt.hash, fp, [t.name for t in tasks], settings.backend,
                    settings.model_dump(), __version__, _git_sha())
    if resumed:
        console.print(f"[yellow]resuming unfinished run {run_id}[/]")
    generated, scores = 0, {}
    try:
        for task in tasks:
            n, scores[task.name] = _run_task(task, ckpt, settings, generator, store, run_id, console)
            generated += n
    except KeyboardInterrupt:
        store.end_run(run_id, "interrupted", "interrupted by the user; run the same command again to resume")
        raise
    except BaseException as e:
        store.end_run(run_id, "failed", f"{type(e).__name__}: {e}")
        raise
    store.end_run(run_id, "finished")
    return RunResult(run_id, resumed, generated, scores)


def _run_task(task: Task, ckpt: Checkpoint, settings: RunSettings, generator: Generator, store: Store,
              run_id: str, console: Console) -> tuple[int, dict]:
    templater = generator.templater() if task.uses_chat_template else None
    requests = task.requests(settings.limit, templater)
    chat = templater is not None
    keys = [_cache_key(ckpt, settings, task, r) for r in requests]
    outputs = store.cached_generations(keys)
    missing = [i for i, k in enumerate(keys) if k not in outputs]
    if missing:
        missing = [missing[j] for j in generator.order([requests[i].prompt for i in missing])]
        chunk = 4 * settings.batch_size  # a whole number of batches, cached as soon as they finish
        with _progress(console) as bar:
            job = bar.add_task(f"{task.name}: generating", total=len(missing))
            for start in range(0, len(missing), chunk):
                ids = missing[start:start + chunk]
                outs = generator.generate([requests[i].prompt for i in ids], [requests[i].gen_kwargs for i in ids],
                                          chat=chat)
                store.save_generations([(keys[i], o) for i, o in zip(ids, outs)])
                outputs.update((keys[i], o) for i, o in zip(ids, outs))
                bar.advance(job, len(ids))
    samples, scores = task.score(requests, [outputs[k] for k in keys])
    store.save_task(run_id, task.name, [vars(s) for s in samples], [vars(s) for s in scores])
    return len(missing), {s.metric: {"value": s.value, "stderr": s.stderr, "n": s.n} for s in scores}


def _cache_key(ckpt: Checkpoint, settings: RunSettings, task: Task, r: Request) -> str:
    return _sha([ckpt.hash, settings.output_settings(), task.fingerprint, r.prompt, r.gen_kwargs, r.repeat])


def _sha(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


def _progress(console: Console) -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    TextColumn("ETA"), TimeRemainingColumn(), console=console, transient=False)


def _git_sha() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True,
                             text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None
