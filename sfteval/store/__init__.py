"""The DuckDB store: runs, scores, per-sample outputs, checkpoints and the generation cache.

DuckDB lets one process write a file at a time, and a reader cannot open it while a writer holds it. So
every call opens a short-lived connection, retries while another process holds the lock, and closes it:
no connection is ever held across model generation.
"""

from __future__ import annotations

import json
import os
import random
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from typing import Any, Iterator

import duckdb
import pyarrow as pa

SCHEMA_VERSION = 3
DEFAULT_DB = "sfteval.duckdb"
_LOCK_WAIT_S = 30.0


class StoreError(RuntimeError):
    """A store problem the user can fix (bad path, newer schema, unknown run)."""


def default_path() -> Path:
    return Path(os.environ.get("SFTEVAL_DB") or DEFAULT_DB)


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def _migrations() -> list[tuple[int, str]]:
    folder = resources.files("sfteval.store") / "migrations"
    files = sorted(f for f in folder.iterdir() if f.name.endswith(".sql"))
    return [(int(f.name.split("_")[0]), f.read_text()) for f in files]


class Store:
    def __init__(self, path: str | os.PathLike | None = None, read_only: bool = False):
        """read_only: open an existing store without migrating or writing (the app, `sfteval report`). Every
        connection is then read-only: readers share the file, and a writer (a running grid) and they wait for
        each other at most one short connection, as every connection here is short."""
        self.path = Path(path) if path is not None else default_path()
        self.read_only = read_only
        if read_only:
            self._check_readable()
        else:
            self._migrate()

    @contextmanager
    def connect(self, read_only: bool | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
        read_only = self.read_only if read_only is None else read_only
        deadline = time.monotonic() + _LOCK_WAIT_S
        while True:
            try:
                con = duckdb.connect(str(self.path), read_only=read_only)
                break
            except duckdb.IOException as e:
                if "lock" not in str(e).lower() or time.monotonic() > deadline:
                    raise StoreError(f"cannot open store {self.path}: {str(e).splitlines()[0]}") from e
                time.sleep(0.05 + random.random() * 0.2)
        try:
            yield con
        finally:
            con.close()

    def _check_readable(self) -> None:
        if self.path.is_dir():
            raise StoreError(f"--db {self.path} is a directory: pass the store file, e.g. {self.path / DEFAULT_DB}")
        if not self.path.is_file():
            raise StoreError(f"no store at {self.path}: fill one with `sfteval run --db {self.path}` "
                             "(or pass --db PATH to an existing store)")
        try:
            with self.connect() as con:
                version = con.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()[0]
        except duckdb.CatalogException:
            raise StoreError(f"{self.path} is not an sfteval store (no schema_version table): pass --db PATH "
                             "to a store that `sfteval run` wrote") from None
        if version > SCHEMA_VERSION:
            raise StoreError(f"{self.path} has schema version {version}, newer than this sfteval ({SCHEMA_VERSION}): "
                             "upgrade sfteval")
        if version < SCHEMA_VERSION:
            raise StoreError(f"{self.path} has schema version {version}, older than this sfteval ({SCHEMA_VERSION}): "
                             f"upgrade it once with a writing command, e.g. `sfteval ls --db {self.path}`")

    def _migrate(self) -> None:
        if self.path.is_dir():
            raise StoreError(f"--db {self.path} is a directory: pass a file path such as {self.path / DEFAULT_DB}")
        parent = self.path.parent.resolve()
        if not parent.is_dir() or not os.access(parent, os.W_OK):
            raise StoreError(f"cannot write the store at {self.path}: its folder is missing or read-only; pass --db PATH in a writable folder")
        if self.path.exists() and not os.access(self.path, os.W_OK):
            raise StoreError(f"cannot write the store at {self.path}: the file is read-only; pass --db PATH to a writable file")
        with self.connect() as con:
            con.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL, applied_at TIMESTAMP NOT NULL)")
            current = con.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()[0]
            if current > SCHEMA_VERSION:
                raise StoreError(f"{self.path} has schema version {current}, newer than this sfteval ({SCHEMA_VERSION}): upgrade sfteval")
            for version, sql in _migrations():
                if version <= current:
                    continue
                con.execute("BEGIN")
                con.execute(sql)
                con.execute("INSERT INTO schema_version VALUES (?, ?)", [version, _now()])
                con.execute("COMMIT")

    # --- checkpoints and runs -------------------------------------------------------------------------

    def upsert_checkpoint(self, hash: str, path: str, kind: str, base: str | None, params: dict) -> None:
        now = _now()
        with self.connect() as con:
            con.execute(
                """INSERT INTO checkpoints VALUES (?, ?, ?, ?, ?, ?, ?)
                   ON CONFLICT (hash) DO UPDATE SET path = excluded.path, last_seen = excluded.last_seen""",
                [hash, path, kind, base, json.dumps(params), now, now],
            )

    def resumable_run(self, fingerprint: str) -> str | None:
        """The newest unfinished run with this fingerprint: a killed or failed run is picked up again."""
        with self.connect() as con:
            row = con.execute(
                """SELECT id FROM runs WHERE fingerprint = ? AND status <> 'finished'
                   ORDER BY started_at DESC LIMIT 1""",
                [fingerprint],
            ).fetchone()
        return row[0] if row else None

    def finished_run(self, fingerprint: str) -> str | None:
        """A finished run with this fingerprint: the grid skips evaluations it has already done."""
        rows = self.query("SELECT id FROM runs WHERE fingerprint = ? AND status = 'finished' ORDER BY started_at DESC "
                          "LIMIT 1", [fingerprint])
        return rows[0]["id"] if rows else None

    def start_run(self, run_id: str, checkpoint: str, fingerprint: str, tasks: list[str], backend: str,
                  settings: dict, version: str, git_sha: str | None) -> None:
        with self.connect() as con:
            con.execute(
                """INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, 'running', NULL)
                   ON CONFLICT (id) DO UPDATE SET status = 'running', error = NULL, started_at = excluded.started_at""",
                [run_id, checkpoint, fingerprint, tasks, backend, json.dumps(settings), version, git_sha, _now()],
            )

    def end_run(self, run_id: str, status: str, error: str | None = None) -> None:
        with self.connect() as con:
            con.execute("UPDATE runs SET status = ?, error = ?, finished_at = ? WHERE id = ?",
                        [status, error, _now(), run_id])

    # --- generation cache -----------------------------------------------------------------------------

    def cached_generations(self, keys: list[str]) -> dict[str, str]:
        if not keys:
            return {}
        wanted = pa.table({"key": keys})  # duckdb joins an arrow table in one scan, far faster than row binds
        with self.connect() as con:
            con.register("wanted", wanted)
            rows = con.execute("SELECT g.key, g.output FROM generations g JOIN wanted USING (key)").fetchall()
        return dict(rows)

    def save_generations(self, pairs: list[tuple[str, str]]) -> None:
        now = _now()
        with self.connect() as con:
            con.executemany("INSERT INTO generations VALUES (?, ?, ?) ON CONFLICT (key) DO NOTHING",
                            [[k, out, now] for k, out in pairs])

    # --- results --------------------------------------------------------------------------------------

    def save_task(self, run_id: str, task: str, samples: list[dict[str, Any]], scores: list[dict[str, Any]]) -> None:
        """All samples and scores of one task in one transaction: a task is either stored whole or not at all."""
        with self.connect() as con:
            con.execute("BEGIN")
            con.execute("DELETE FROM samples WHERE run_id = ? AND task = ?", [run_id, task])
            con.execute("DELETE FROM scores WHERE run_id = ? AND task = ?", [run_id, task])
            con.executemany(
                "INSERT INTO samples VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [[run_id, task, s["doc_id"], s["repeat"], s["prompt"], s["output"], s["target"],
                  json.dumps(s["extracted"]), json.dumps(s["metrics"]), s["score"]] for s in samples],
            )
            if scores:  # executemany refuses an empty list
                con.executemany("INSERT INTO scores VALUES (?, ?, ?, ?, ?, ?)",
                                [[run_id, task, s["metric"], s["value"], s["stderr"], s["n"]] for s in scores])
            con.execute("COMMIT")

    # --- trainer lineage ------------------------------------------------------------------------------

    def save_mixture(self, hash: str, seed: int, n_examples: int, manifest: dict,
                     tokens: int | None = None, trainable_tokens: int | None = None) -> None:
        with self.connect() as con:
            con.execute(
                """INSERT INTO mixtures VALUES (?, ?, ?, ?, ?, ?, ?)
                   ON CONFLICT (hash) DO UPDATE SET tokens = coalesce(excluded.tokens, mixtures.tokens),
                       trainable_tokens = coalesce(excluded.trainable_tokens, mixtures.trainable_tokens)""",
                [hash, seed, n_examples, tokens, trainable_tokens, json.dumps(manifest), _now()])

    def stage(self, hash: str) -> dict[str, Any] | None:
        rows = self.query("SELECT * FROM stages WHERE hash = ?", [hash])
        return rows[0] if rows else None

    def start_stage(self, hash: str, parent: str | None, base: str, base_hash: str, mixture: str,
                    hyperparams: dict) -> None:
        with self.connect() as con:
            con.execute(
                """INSERT INTO stages VALUES (?, ?, ?, ?, ?, ?, 'training', NULL, NULL, NULL, NULL, ?, NULL)
                   ON CONFLICT (hash) DO UPDATE SET status = 'training', error = NULL, started_at = excluded.started_at""",
                [hash, parent, base, base_hash, mixture, json.dumps(hyperparams), _now()])

    def end_stage(self, hash: str, status: str, *, path: str | None = None, checkpoint: str | None = None,
                  metrics: dict | None = None, error: str | None = None) -> None:
        with self.connect() as con:
            con.execute("""UPDATE stages SET status = ?, path = ?, checkpoint = ?, metrics = ?, error = ?,
                               finished_at = ? WHERE hash = ?""",
                        [status, path, checkpoint, json.dumps(metrics) if metrics is not None else None, error,
                         _now(), hash])

    def save_cells(self, rows: list[dict[str, Any]]) -> None:
        """A grid's cells, replaced as a whole so that a re-planned grid never keeps stale cells."""
        grids = sorted({r["grid"] for r in rows})
        with self.connect() as con:
            con.execute("BEGIN")
            for grid in grids:
                con.execute("DELETE FROM grid_cells WHERE grid = ?", [grid])
            con.executemany(
                "INSERT INTO grid_cells VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [[r["grid"], r["cell"], r["strategy"], r["stage_index"], r["n_stages"], r["stage"], r["sources"],
                  json.dumps(r["fractions"]), r.get("k")] for r in rows])
            con.execute("COMMIT")

    # --- readers --------------------------------------------------------------------------------------

    def query(self, sql: str, params: list | None = None) -> list[dict[str, Any]]:
        with self.connect() as con:
            cur = con.execute(sql, params or [])
            names = [d[0] for d in cur.description]
            return [dict(zip(names, row)) for row in cur.fetchall()]

    def frame(self, sql: str, params: list | None = None):
        """A query's rows as a pandas DataFrame (the analyses read whole tables of samples this way)."""
        with self.connect() as con:
            return con.execute(sql, params or []).df()

    def runs(self, limit: int = 50) -> list[dict[str, Any]]:
        return self.query(
            """SELECT r.id, r.status, r.started_at, r.finished_at, r.tasks, r.backend, c.path AS checkpoint_path,
                      r.checkpoint
               FROM runs r LEFT JOIN checkpoints c ON c.hash = r.checkpoint
               ORDER BY r.started_at DESC LIMIT ?""", [limit])

    def run(self, run_id: str) -> dict[str, Any]:
        rows = self.query(
            """SELECT r.*, c.path AS checkpoint_path, c.kind AS checkpoint_kind
               FROM runs r LEFT JOIN checkpoints c ON c.hash = r.checkpoint
               WHERE r.id = ? OR r.id LIKE ? ORDER BY r.id""", [run_id, run_id + "%"])
        if len(rows) != 1:
            what = "no run" if not rows else f"{len(rows)} runs"
            raise StoreError(f"{what} matching '{run_id}' in {self.path}: list runs with `sfteval ls`")
        return rows[0]

    def scores(self, run_id: str) -> list[dict[str, Any]]:
        return self.query("SELECT task, metric, value, stderr, n FROM scores WHERE run_id = ? ORDER BY task, metric",
                          [run_id])

    def samples(self, run_id: str, task: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
        sql = "SELECT * FROM samples WHERE run_id = ?" + (" AND task = ?" if task else "")
        sql += " ORDER BY task, doc_id, repeat" + (f" LIMIT {int(limit)}" if limit else "")
        rows = self.query(sql, [run_id, task] if task else [run_id])
        for r in rows:
            r["extracted"], r["metrics"] = json.loads(r["extracted"]), json.loads(r["metrics"])
        return rows

