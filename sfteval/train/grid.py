"""Run a plan: train every stage not yet trained, register it with its lineage, evaluate every checkpoint.

Each stage trains in its own process (`python -m sfteval.train.worker`, or under the config's launcher, e.g.
`accelerate launch ...` for several GPUs), so a crash in one stage leaves the grid's state clean, and a
killed grid picks up where it stopped: finished stages are skipped by key, evaluations by fingerprint.
"""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from sfteval import checkpoints
from sfteval.config import ConfigError, GridConfig, run_settings
from sfteval.store import Store
from sfteval.train import StageError
from sfteval.train import mixture as mixtures
from sfteval.train.plan import Plan, Stage, build_plan
from sfteval.train.sources import Source, load_source


@dataclass
class StagePlan:
    stage: Stage
    mixture: mixtures.Mixture | None   # None when a source cannot be read here (dry-run only)
    uses: int
    status: str                        # trained | to train


def plan_grid(config: GridConfig, store: Store | None, *, need_data: bool = True) -> tuple[Plan, list[StagePlan]]:
    """The plan, with each unique stage's mixture built (so its size is known) and whether it is trained."""
    try:
        base_id = checkpoints.resolve(config.base).hash
    except checkpoints.CheckpointError:
        if need_data:
            raise
        base_id = f"unresolved:{config.base}"  # dry-run of a hub base on an offline machine
    plan = build_plan(config, base_id)
    sources = _load_sources(config, need_data)
    stages = []
    for stage in plan.stages:
        mix = None
        if all(name in sources for name, _ in stage.mix):
            mix = mixtures.build_mixture({n: (sources[n], f) for n, f in stage.mix}, config.seed)
        row = store.stage(stage.key) if store else None
        done = bool(row and row["status"] == "finished" and row["path"] and Path(row["path"]).is_dir())
        stages.append(StagePlan(stage, mix, plan.uses(stage), "trained" if done else "to train"))
    return plan, stages


def run_grid(config: GridConfig, store: Store, console: Console, *, cells: list[str] | None = None,
             evaluate: bool = True) -> list[str]:
    """Train (and evaluate) the stages of the chosen cells (default all); returns a run id per evaluated checkpoint."""
    plan, stages = plan_grid(config, store)
    chosen = [c for c in plan.cells if not cells or c.name in cells]
    if cells and not chosen:
        raise ConfigError(f"no cell named {cells[0]!r} in {config.name}: see `sfteval grid CONFIG --dry-run`")
    store.save_cells([row for c in plan.cells for row in c.rows(config.name)])
    wanted = {s.key for c in chosen for s in c.stages}
    todo = [sp for sp in stages if sp.stage.key in wanted]
    base = checkpoints.resolve(config.base)
    for i, sp in enumerate(todo, 1):
        tag = f"stage {i}/{len(todo)} [bold]{sp.stage.label}[/] ({sp.stage.key[:10]}, used by {sp.uses} cells)"
        if sp.status == "trained":
            console.print(f"{tag}: trained before, reused", soft_wrap=True)
            continue
        console.print(f"{tag}: training on {len(sp.mixture.examples)} examples", soft_wrap=True)
        _train(config, store, base, sp)
    if not evaluate:
        return []
    run_ids = [_evaluate(config, store, console, base, "base model")]
    for sp in todo:
        row = store.stage(sp.stage.key)
        run_ids.append(_evaluate(config, store, console, checkpoints.resolve(row["path"]), sp.stage.label))
    return run_ids


def _train(config: GridConfig, store: Store, base: checkpoints.Checkpoint, sp: StagePlan) -> None:
    from sfteval.train.sft import STAGE_FILE

    stage, root = sp.stage, Path(config.out_dir) / "stages"
    out_dir = root / stage.key[:16]
    store.start_stage(stage.key, stage.parent.key if stage.parent else None, config.base, base.hash,
                      sp.mixture.hash, config.train.model_dump(mode="json"))
    if not (out_dir / STAGE_FILE).is_file():  # else: trained, but the grid died before recording it
        _launch(config, store, base, sp, out_dir)
    metrics = json.loads((out_dir / STAGE_FILE).read_text())
    ckpt = checkpoints.resolve(str(out_dir))
    store.upsert_checkpoint(ckpt.hash, ckpt.path, ckpt.kind, None, {"stage": stage.key})
    mixtures.save(store, sp.mixture, metrics.get("tokens"), metrics.get("trainable_tokens"))
    store.end_stage(stage.key, "finished", path=str(out_dir.resolve()), checkpoint=ckpt.hash, metrics=metrics)


def _launch(config: GridConfig, store: Store, base: checkpoints.Checkpoint, sp: StagePlan, out_dir: Path) -> None:
    """Train in a child process (under the config's launcher), starting from the parent stage or the base."""
    stage = sp.stage
    parent = store.stage(stage.parent.key) if stage.parent else None
    init, gguf = (parent["path"], None) if parent else (base.path, base.gguf_file)
    work = out_dir.parent / f"{out_dir.name}.work"
    work.mkdir(parents=True, exist_ok=True)
    data = work / "train.jsonl"
    data.write_text("".join(json.dumps({"messages": list(e.messages)}) + "\n" for e in sp.mixture.examples))
    spec = work / "spec.json"
    spec.write_text(json.dumps({"init": init, "gguf_file": gguf, "data": str(data), "out_dir": str(out_dir),
                                "settings": config.train.model_dump(mode="json")}))
    launcher = shlex.split(config.launcher) if config.launcher else [sys.executable]
    try:
        done = subprocess.run([*launcher, "-m", "sfteval.train.worker", str(spec)], preexec_fn=_die_with_parent)
    except KeyboardInterrupt:
        store.end_stage(stage.key, "failed", error="interrupted; run the grid again to retrain this stage")
        raise
    if done.returncode != 0:
        store.end_stage(stage.key, "failed", error=f"training exited with {done.returncode}; see its output above")
        raise StageError(f"stage {stage.label} failed (exit {done.returncode}); fix the cause and run the grid again: "
                         "finished stages are kept")
    shutil.rmtree(work, ignore_errors=True)


def _die_with_parent() -> None:
    """A grid killed with SIGKILL takes its training process along instead of leaving it running."""
    import ctypes
    import signal

    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass  # not Linux: a killed grid may leave its current stage running


def _evaluate(config: GridConfig, store: Store, console: Console, ckpt: checkpoints.Checkpoint, what: str) -> str:
    """One run per distinct task limit (usually one); a run finished before with the same fingerprint is kept."""
    from sfteval import runner
    from sfteval.judge.build import build_judge

    e = config.eval
    template = "vicuna" if config.train.chat_template == "vicuna" else "auto"
    groups: dict[int | None, list[str]] = {}
    for task in e.tasks:
        groups.setdefault(e.limits.get(task, e.limit), []).append(task)
    run_id = ""
    for limit, names in groups.items():
        settings = run_settings(tasks=names, limit=limit, batch_size=e.batch_size, max_new_tokens=e.max_new_tokens,
                                chat_template=template)
        tasks = runner.plan_tasks(settings)
        judge = build_judge(settings=settings, **(e.judge or {"kind": "none"})) if "mtbench" in names else None
        run_id = store.finished_run(runner.fingerprint(ckpt, settings, tasks, judge))
        if run_id:
            console.print(f"evaluate {what} on {','.join(names)}: done before (run {run_id})", soft_wrap=True)
            continue
        console.print(f"evaluate {what} on {','.join(names)}", soft_wrap=True)
        run_id = runner.evaluate(ckpt, settings, tasks, store, console=console, judge=judge).run_id
    return run_id


def _load_sources(config: GridConfig, need_data: bool) -> dict[str, Source]:
    sources = {}
    for name, spec in config.sources.items():
        try:
            sources[name] = load_source(name, spec)
        except ConfigError:
            if need_data or Path(spec.path).expanduser().is_file():  # a dry-run plans around unreachable data only
                raise
    return sources
