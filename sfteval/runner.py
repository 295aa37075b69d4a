"""One evaluation run: plan it, serve what the cache has, generate the rest, score, store.

Generations are cached chunk by chunk as they finish, keyed by everything that decides an output. A run
killed half-way therefore resumes with the next identical `sfteval run` (same fingerprint, same run id),
generating only what is missing, and a repeated evaluation generates nothing at all. MT-Bench adds two
dependent rounds of generation and a judge, whose judgments are cached the same way (sfteval.judge.cache).
"""

from __future__ import annotations

import hashlib
import json
import secrets
import subprocess
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from sfteval import __version__
from sfteval.backends import Generator
from sfteval.checkpoints import Checkpoint
from sfteval.config import ConfigError, RunSettings
from sfteval.judge.cache import judge_cached
from sfteval.judge.client import Judge, JudgeReply
from sfteval.judge.cost import summary as judge_summary
from sfteval.judge.prompts import JudgePrompt
from sfteval.store import Store
from sfteval.tasks import Request, Task, UnknownTaskError, available_tasks, load_task, mtbench
from sfteval.tasks.probes import Probe


@dataclass
class RunResult:
    run_id: str
    resumed: bool
    generated: int                     # completions generated now (the rest came from the cache)
    judged: int                        # judgments asked now (the rest came from the judgment cache)
    scores: dict[str, dict[str, dict]]  # task -> metric -> {value, stderr, n}


def task_names() -> list[str]:
    """Every task `sfteval run` knows: the lm-eval YAML tasks and MT-Bench."""
    return sorted([*available_tasks(), mtbench.NAME])


def plan_tasks(settings: RunSettings) -> list[Task | mtbench.MTBench]:
    names = settings.tasks or task_names()
    unknown = [n for n in names if n not in task_names()]
    if unknown:
        raise UnknownTaskError(f"unknown task {unknown[0]!r}: available tasks are {', '.join(task_names())}")
    tasks = [mtbench.load(settings) if n == mtbench.NAME else
             load_task(n, samples=settings.samples, temperature=settings.temperature,
                       max_new_tokens=settings.max_new_tokens) for n in names]
    probes = [t.name for t in tasks if isinstance(t, Probe)]
    if probes and settings.backend == "api":  # lm-eval's API clients score no given text with the model's tokens
        if settings.tasks:
            raise ConfigError(f"task {probes[0]!r} needs the model's own tokens: use --backend hf or vllm")
        tasks = [t for t in tasks if not isinstance(t, Probe)]  # all tasks: all that this backend can run
    return tasks


def fingerprint(ckpt: Checkpoint, settings: RunSettings, tasks: list[Task], judge: Judge | None = None) -> str:
    spec = {"ckpt": ckpt.hash, "backend": settings.output_settings(), "limit": settings.limit,
            "tasks": {t.name: t.fingerprint for t in tasks}}
    if judge:  # another judge gives other scores: another run (the answers still come from the cache)
        spec["judge"] = _judge_spec(judge)
    return _sha(spec)


def evaluate(ckpt: Checkpoint, settings: RunSettings, tasks: list[Task], store: Store,
             console: Console | None = None, judge: Judge | None = None) -> RunResult:
    console = console or Console(stderr=True)
    work = _Work(ckpt, settings, Generator(ckpt, settings), store, console)
    fp = fingerprint(ckpt, settings, tasks, judge)
    run_id = store.resumable_run(fp)
    resumed = run_id is not None
    run_id = run_id or f"{datetime.now():%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"
    store.upsert_checkpoint(ckpt.hash, ckpt.path, ckpt.kind, ckpt.base, {**ckpt.params, "gguf_file": ckpt.gguf_file})
    store.start_run(run_id, ckpt.hash, fp, [t.name for t in tasks], settings.backend,
                    {**settings.model_dump(), **({"judge": _judge_spec(judge)} if judge else {})},
                    __version__, _git_sha())
    if resumed:
        console.print(f"[yellow]resuming unfinished run {run_id}[/]")
    scores = {}
    try:
        for task in tasks:
            scores[task.name] = _run_task(task, work, judge, run_id)
    except KeyboardInterrupt:
        store.end_run(run_id, "interrupted", "interrupted by the user; run the same command again to resume")
        raise
    except BaseException as e:
        store.end_run(run_id, "failed", f"{type(e).__name__}: {e}")
        raise
    store.end_run(run_id, "finished")
    if judge and "judge_prompt_tokens" in scores.get(mtbench.NAME, {}):
        console.print(judge_summary({m: v["value"] for m, v in scores[mtbench.NAME].items()}), soft_wrap=True)
    return RunResult(run_id, resumed, work.generated, work.judged, scores)


def _run_task(task: Task | mtbench.MTBench, work: _Work, judge: Judge | None, run_id: str) -> dict:
    templater = work.generator.templater() if task.uses_chat_template else None
    if isinstance(task, mtbench.MTBench):  # two dependent rounds of generation, then the judge
        requests, outputs = task.answer(partial(work.generate, task), work.settings.limit, templater)
        samples, scores = task.score(requests, outputs, judge and partial(work.judge, judge), judge and judge.price)
    else:
        requests = task.requests(work.settings.limit, templater)
        samples, scores = task.score(requests, work.generate(task, requests))
    work.store.save_task(run_id, task.name, [vars(s) for s in samples], [vars(s) for s in scores])
    return {s.metric: {"value": s.value, "stderr": s.stderr, "n": s.n} for s in scores}


@dataclass
class _Work:
    """Generation and judging through the store's caches, counting what the caches did not hold."""
    ckpt: Checkpoint
    settings: RunSettings
    generator: Generator
    store: Store
    console: Console
    generated: int = 0
    judged: int = 0

    def generate(self, task: Task | mtbench.MTBench, requests: list[Request]) -> list[str]:
        keys = [_cache_key(self.ckpt, self.settings, task, r) for r in requests]
        outputs = self.store.cached_generations(keys)
        missing = [i for i, k in enumerate(keys) if k not in outputs]
        if missing:
            chat = task.uses_chat_template and self.settings.chat_template != "none"  # prompts are rendered chats
            scoring = requests[0].request_type == "loglikelihood"  # a task's requests are all of one type
            texts = [requests[i].prompt + (requests[i].continuation or "") for i in missing]
            missing = [missing[j] for j in self.generator.order(texts)]
            chunk = 4 * self.settings.batch_size  # a whole number of batches, cached as soon as they finish
            with _progress(self.console) as bar:
                job = bar.add_task(f"{task.name}: {'scoring' if scoring else 'generating'}", total=len(missing))
                for start in range(0, len(missing), chunk):
                    ids = missing[start:start + chunk]
                    if scoring:  # one forward pass per (prompt, continuation), its result cached as JSON text
                        outs = [json.dumps(r) for r in self.generator.loglikelihood(
                            [(requests[i].prompt, requests[i].continuation) for i in ids])]
                    else:
                        outs = self.generator.generate([requests[i].prompt for i in ids],
                                                       [requests[i].gen_kwargs for i in ids], chat=chat)
                    self.store.save_generations([(keys[i], o) for i, o in zip(ids, outs)])
                    outputs.update((keys[i], o) for i, o in zip(ids, outs))
                    bar.advance(job, len(ids))
        self.generated += len(missing)
        return [outputs[k] for k in keys]

    def judge(self, judge: Judge, prompts: list[JudgePrompt]) -> list[JudgeReply]:
        with _progress(self.console) as bar:
            job = bar.add_task(f"judging ({judge.mode})", total=len(prompts))
            replies = judge_cached(judge, prompts, self.store, chunk=4 * self.settings.batch_size,
                                   progress=lambda n: bar.advance(job, n))
        self.judged += sum(not r.cached for r in replies)
        return replies


def _cache_key(ckpt: Checkpoint, settings: RunSettings, task: Task, r: Request) -> str:
    scored = [r.continuation] if r.request_type == "loglikelihood" else []  # generation keys stay as they were
    return _sha([ckpt.hash, settings.output_settings(), task.fingerprint, r.prompt, r.gen_kwargs, r.repeat, *scored])


def _judge_spec(judge: Judge) -> dict:
    return {"id": judge.id, "mode": judge.mode, "max_tokens": judge.max_tokens}


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
