"""The DuckDB store: schema versioning, locking, all-or-nothing task writes."""

from __future__ import annotations

import subprocess
import sys
import time

import duckdb
import pytest

from sfteval.store import SCHEMA_VERSION, Store, StoreError


def test_new_store_has_the_versioned_schema(tmp_path):
    store = Store(tmp_path / "s.duckdb")
    with store.connect() as con:
        assert con.execute("SELECT max(version) FROM schema_version").fetchone()[0] == SCHEMA_VERSION == 3
        tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    assert {"checkpoints", "runs", "scores", "samples", "generations", "judgments", "mixtures", "stages",
            "grid_cells"} <= tables
    Store(tmp_path / "s.duckdb")  # re-opening applies nothing twice
    with store.connect() as con:
        assert con.execute("SELECT count(*) FROM schema_version").fetchone()[0] == 3


def test_newer_schema_is_refused(tmp_path):
    path = tmp_path / "s.duckdb"
    Store(path)
    with duckdb.connect(str(path)) as con:
        con.execute("INSERT INTO schema_version VALUES (99, now())")
    with pytest.raises(StoreError, match="schema version 99, newer than this sfteval"):
        Store(path)


def test_unwritable_locations(tmp_path):
    with pytest.raises(StoreError, match="folder is missing or read-only"):
        Store(tmp_path / "no" / "such" / "dir" / "s.duckdb")
    with pytest.raises(StoreError, match="is a directory"):
        Store(tmp_path)


def test_waits_for_another_writer(tmp_path):
    path = tmp_path / "s.duckdb"
    store = Store(path)
    holder = subprocess.Popen([sys.executable, "-c",
                               f"import duckdb,time; c=duckdb.connect({str(path)!r}); print('held', flush=True); time.sleep(1.5)"],
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    start = time.monotonic()
    store.save_generations([("k", "v")])  # blocks on the lock, then succeeds
    assert time.monotonic() - start > 0.5
    holder.wait()
    assert store.cached_generations(["k", "other"]) == {"k": "v"}


def test_save_task_replaces_and_never_duplicates(tmp_path):
    store = Store(tmp_path / "s.duckdb")
    sample = dict(doc_id=0, repeat=0, prompt="p", output="o", target="1", extracted={"flexible": "1"},
                  metrics={"exact_match,flexible": 1.0}, score=1.0)
    score = dict(metric="exact_match,flexible", value=1.0, stderr=None, n=1)
    for _ in range(2):
        store.save_task("r1", "gsm8k", [sample], [score])
    assert len(store.samples("r1")) == 1 and len(store.scores("r1")) == 1
    assert store.samples("r1")[0]["extracted"] == {"flexible": "1"}
    with pytest.raises(duckdb.ConstraintException):
        store.save_task("r1", "gsm8k", [sample, sample], [score])  # a failed write leaves the old rows
    assert len(store.samples("r1")) == 1


def test_unknown_run(tmp_path):
    with pytest.raises(StoreError, match="no run matching 'nope'"):
        Store(tmp_path / "s.duckdb").run("nope")
