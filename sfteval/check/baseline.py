"""Per-sample scores of a leaderboard's tasks: read from a run in the store, or from a committed baseline file.

A baseline file is one row per sample (JSON Lines, or parquet when its name ends in .parquet), with where it
came from, so that a CI machine without the store can check and a reader can tell what it was made of:

    {"task": "gsm8k_nll", "doc_id": 0, "repeat": 0, "metric": "nll", "score": 1.21, "run_id": "...",
     "checkpoint": "<sha256 of the checkpoint>", "fingerprint": "<sha256 of the run's settings>", "sfteval_version": "0.1.0"}
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from sfteval.check.leaderboard import Leaderboard, check_run
from sfteval.config import ConfigError
from sfteval.store import Store

COLUMNS = ("task", "doc_id", "repeat", "metric", "score", "run_id", "checkpoint", "fingerprint", "sfteval_version")


@dataclass
class Units:
    """One side of a comparison: per task, (doc_id, repeat) -> the gated metric's value, and its origin."""
    scores: dict[str, dict[tuple[int, int], float]]
    metrics: dict[str, str]  # task -> metric
    run_id: str
    checkpoint: str          # content hash
    source: str              # what to show: a checkpoint path, or the baseline file


def from_run(store: Store, run_id: str, board: Leaderboard) -> tuple[Units, list[dict]]:
    """The leaderboard's metric for every sample of a stored run, and the rows a baseline file holds."""
    from sfteval.runner import plan_tasks

    run = store.run(run_id)
    primary = {t.name: t.primary_metric for t in plan_tasks(board.run_settings())}
    scores, metrics, rows = {}, {}, []
    for task in board.tasks:
        metric = metrics[task] = board.metric(task, primary[task])
        samples = store.samples(run["id"], task)
        if not samples:
            raise ConfigError(f"run {run['id']} has no {task} samples: evaluate the checkpoint with --ckpt")
        if metric != primary[task] and metric not in samples[0]["metrics"]:
            raise ConfigError(f"{board.path}: tasks.{task}.metric {metric!r} is not scored per sample; use one of "
                              f"{', '.join(sorted({primary[task], *samples[0]['metrics']}))}")
        scores[task] = {(s["doc_id"], s["repeat"]): float(s["score"] if metric == primary[task] else s["metrics"][metric])
                        for s in samples}
        rows += [{"task": task, "doc_id": d, "repeat": r, "metric": metric, "score": v, "run_id": run["id"],
                  "checkpoint": run["checkpoint"], "fingerprint": run["fingerprint"],
                  "sfteval_version": run["sfteval_version"]} for (d, r), v in sorted(scores[task].items())]
    return Units(scores, metrics, run["id"], run["checkpoint"], run["checkpoint_path"] or run["checkpoint"][:12]), rows


def write(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist(rows), path)
    else:
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def read(path: Path, board: Leaderboard) -> Units:
    """The committed baseline of a leaderboard; every task it gates must be there, with the metric it gates."""
    hint = f"write it with `sfteval baseline --leaderboard {board.path} --run RUN_ID` (or --ckpt CHECKPOINT)"
    if not path.is_file():
        raise ConfigError(f"baseline file {path} not found: {hint}")
    try:
        if path.suffix == ".parquet":
            import pyarrow.parquet as pq

            rows = pq.read_table(path).to_pylist()
        else:
            rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        missing = [c for c in COLUMNS if rows and c not in rows[0]]
    except Exception as e:  # any unreadable file gets the same one-line answer
        raise ConfigError(f"baseline file {path} cannot be read ({type(e).__name__}: {str(e)[:120]}): {hint}") from None
    if missing:
        raise ConfigError(f"baseline file {path} has no {missing[0]!r} column: {hint}")
    scores, metrics = {}, {}
    for r in rows:
        scores.setdefault(r["task"], {})[(int(r["doc_id"]), int(r["repeat"]))] = float(r["score"])
        metrics[r["task"]] = r["metric"]
    for task in board.tasks:
        if task not in scores:
            raise ConfigError(f"baseline file {path} has no {task} rows: {hint}")
        wanted = board.tasks[task].metric
        if wanted and metrics[task] != wanted:
            raise ConfigError(f"baseline file {path} holds {task} {metrics[task]!r} but {board.path} gates "
                              f"{wanted!r}: {hint}")
    first = next(r for r in rows if r["task"] in board.tasks)
    return Units(scores, metrics, first["run_id"], first["checkpoint"], path.name)


def load(board: Leaderboard, db: Path | None) -> Units:
    """The leaderboard's baseline: its committed file, or its run in a store (the leaderboard's db, else --db)."""
    spec = board.baseline
    if spec.file:
        return read(board.resolve(spec.file), board)
    store = Store(board.resolve(spec.db) if spec.db else db, read_only=True)
    check_run(board, store.run(spec.run))
    return from_run(store, spec.run, board)[0]
