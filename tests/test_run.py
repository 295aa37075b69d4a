"""`sfteval run` end to end on a tiny random model: rows in a real DuckDB file, cache, kill and resume."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import duckdb
import pytest

from conftest import last_json, sfteval

FAST = ["--max-new-tokens", "16", "--batch-size", "4"]


def _count(db, sql):
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql).fetchone()[0]


def test_run_stores_everything_and_reruns_from_cache(tmp_path, tiny_model):
    db = tmp_path / "s.duckdb"
    first = sfteval("run", "--ckpt", str(tiny_model), "--tasks", "gsm8k,humaneval", "--limit", "3", *FAST,
                    "--db", str(db), "--json")
    assert first.returncode == 0, first.stderr
    result = last_json(first.stdout)
    assert result["generated"] == 6 and not result["resumed"] and result["db"] == str(db.resolve())
    assert set(result["scores"]) == {"gsm8k", "humaneval"}
    assert result["scores"]["humaneval"]["pass@1"] == 0.0  # random weights write no working code
    assert _count(db, "SELECT count(*) FROM samples") == 6
    assert _count(db, "SELECT count(*) FROM generations") == 6
    assert _count(db, "SELECT status FROM runs") == "finished"
    assert _count(db, "SELECT count(*) FROM scores WHERE task = 'gsm8k'") >= 2  # strict and flexible

    start = time.monotonic()
    again = sfteval("run", "--ckpt", str(tiny_model), "--tasks", "gsm8k,humaneval", "--limit", "3", *FAST,
                    "--db", str(db), "--json")
    assert again.returncode == 0, again.stderr
    rerun = last_json(again.stdout)
    assert rerun["generated"] == 0 and rerun["scores"] == result["scores"] and rerun["run_id"] != result["run_id"]
    assert time.monotonic() - start < 30
    assert _count(db, "SELECT count(*) FROM generations") == 6

    # A longer limit reuses the three cached generations.
    more = last_json(sfteval("run", "--ckpt", str(tiny_model), "--tasks", "gsm8k", "--limit", "5", *FAST,
                             "--db", str(db), "--json").stdout)
    assert more["generated"] == 2


@pytest.mark.parametrize("sig, status, code", [(signal.SIGKILL, "running", -signal.SIGKILL),
                                               (signal.SIGINT, "interrupted", 130)])
def test_killed_run_resumes_without_loss_or_duplicates(tmp_path, tiny_model, sig, status, code):
    db = tmp_path / "s.duckdb"
    args = [sys.executable, "-m", "sfteval", "run", "--ckpt", str(tiny_model), "--tasks", "gsm8k", "--limit", "48",
            "--max-new-tokens", "24", "--batch-size", "2", "--db", str(db), "--json"]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    done_before_kill = 0
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            done_before_kill = _count(db, "SELECT count(*) FROM generations")
        except (duckdb.Error, FileNotFoundError):
            pass  # the writer holds the file for a moment
        if done_before_kill >= 16:
            proc.send_signal(sig)
            break
        time.sleep(0.2)
    proc.wait()
    assert proc.returncode == code, "the run finished before it could be killed"
    assert _count(db, "SELECT status FROM runs") == status
    killed_run = _count(db, "SELECT id FROM runs")
    kept = _count(db, "SELECT count(*) FROM generations")
    assert 16 <= kept < 48

    resumed = subprocess.run(args, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    result = last_json(resumed.stdout)
    assert result["resumed"] and result["run_id"] == killed_run
    assert result["generated"] == 48 - kept
    assert _count(db, "SELECT count(*) FROM runs") == 1
    assert _count(db, "SELECT status FROM runs") == "finished"
    assert _count(db, "SELECT count(*) FROM samples") == 48
    assert _count(db, "SELECT count(DISTINCT doc_id) FROM samples") == 48
    assert _count(db, "SELECT count(*) FROM generations") == 48


def test_ls_show_export(tmp_path, tiny_model):
    db = tmp_path / "s.duckdb"
    run_id = last_json(sfteval("run", "--ckpt", str(tiny_model), "--tasks", "gsm8k", "--limit", "2", *FAST,
                               "--db", str(db), "--json").stdout)["run_id"]
    listing = sfteval("ls", "--db", str(db))
    assert run_id in listing.stdout and "finished" in listing.stdout
    shown = sfteval("show", run_id[:15], "--db", str(db))
    assert shown.returncode == 0 and "exact_match,flexible" in shown.stdout and "gsm8k #0" in shown.stdout

    out = tmp_path / "s.jsonl"
    assert sfteval("export", run_id, "--format", "jsonl", "--out", str(out), "--db", str(db)).returncode == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["doc_id"] for r in rows] == [0, 1] and rows[0]["task"] == "gsm8k"

    pq = tmp_path / "s.parquet"
    assert sfteval("export", run_id, "--format", "parquet", "--out", str(pq), "--db", str(db)).returncode == 0
    assert duckdb.connect().execute(f"SELECT count(*) FROM '{pq}'").fetchone()[0] == 2

    folder = tmp_path / "lm"
    assert sfteval("export", run_id, "--format", "lm-eval", "--out", str(folder), "--db", str(db)).returncode == 0
    samples = [json.loads(line) for f in folder.glob("samples_gsm8k_*.jsonl") for line in f.read_text().splitlines()]
    assert {s["filter"] for s in samples} == {"strict", "flexible"} and len(samples) == 4
    assert {"doc_id", "resps", "filtered_resps", "exact_match", "arguments"} <= set(samples[0])
    results = json.loads(next(folder.glob("results_*.json")).read_text())["results"]["gsm8k"]
    assert "exact_match,flexible" in results and "exact_match_stderr,flexible" in results

    bad = sfteval("export", run_id, "--format", "xml", "--db", str(db))
    assert bad.returncode == 2 and "unknown export format 'xml'" in bad.stderr
