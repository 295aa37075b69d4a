"""A real grid end to end on a tiny random model: train two DMT stages, register them, evaluate them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import duckdb
import pytest

from conftest import sfteval

pytestmark = pytest.mark.slow


def _config(tmp_path, base, data) -> str:
    text = f"""
name: tiny
base: {base}
sources:
  math: {{path: {data}/gsm8k/train.jsonl, format: gsm8k, limit: 8}}
  code: {{path: {data}/code_alpaca/code_alpaca_2k.json, format: code_alpaca, limit: 8}}
  general: {{path: {data}/sharegpt/sharegpt_v3_sample_1000.json, format: sharegpt, limit: 8}}
strategies: [mixed_sequential, {{dmt: {{k: [1/2]}}}}]
train: {{epochs: 1, lr: 1.0e-3, global_batch: 4, micro_batch: 2, max_length: 128}}
eval: {{tasks: [gsm8k], limit: 2, max_new_tokens: 8}}
out_dir: {tmp_path}/runs
"""
    path = tmp_path / "grid.yaml"
    path.write_text(text)
    return str(path)


def _rows(db, sql):
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql).fetchall()


def test_dmt_grid_trains_registers_and_evaluates(tmp_path, tiny_model, shared_data):
    db = tmp_path / "s.duckdb"
    config = _config(tmp_path, tiny_model, shared_data)
    done = sfteval("grid", config, "--db", str(db), cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "4 checkpoints evaluated" in done.stdout  # base, code+math, general, general + half of code+math
    stages = _rows(db, "SELECT hash, parent, status, checkpoint, metrics FROM stages")
    assert len(stages) == 3 and {s[2] for s in stages} == {"finished"}
    roots = [s for s in stages if s[1] is None]
    assert len(roots) == 1 and sum(s[1] == roots[0][0] for s in stages) == 2  # both second stages start from it
    cells = _rows(db, "SELECT cell, stage_index, stage FROM grid_cells WHERE grid = 'tiny' ORDER BY cell, stage_index")
    assert [(c, i) for c, i, _ in cells] == [("dmt k=1/2 @1", 0), ("dmt k=1/2 @1", 1),
                                             ("mixed_sequential @1", 0), ("mixed_sequential @1", 1)]
    assert cells[0][2] == cells[2][2] == roots[0][0]
    runs = _rows(db, "SELECT r.status, c.hash FROM runs r JOIN checkpoints c ON c.hash = r.checkpoint")
    assert len(runs) == 4 and {r[0] for r in runs} == {"finished"}
    assert {s[3] for s in stages} <= {r[1] for r in runs}
    mixtures = _rows(db, "SELECT n_examples, tokens, trainable_tokens, manifest FROM mixtures ORDER BY n_examples")
    assert [m[0] for m in mixtures] == [8, 16, 16]  # general; code+math; general + half of each specialist
    assert all(m[1] > m[2] > 0 for m in mixtures)
    assert json.loads(stages[0][4])["steps"] >= 1

    again = sfteval("grid", config, "--db", str(db), cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.stderr.count("trained before, reused") == 3 and "training on" not in again.stderr
    assert len(_rows(db, "SELECT id FROM runs")) == 4  # evaluations are not repeated either


def test_killed_grid_resumes_with_the_unfinished_stage(tmp_path, tiny_model, shared_data):
    db = tmp_path / "s.duckdb"
    config = _config(tmp_path, tiny_model, shared_data)
    proc = subprocess.Popen([sys.executable, "-m", "sfteval", "grid", config, "--db", str(db)], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ.copy())
    deadline = time.time() + 300
    while time.time() < deadline:  # kill it once the first stage is stored and the second is training
        time.sleep(0.5)
        try:
            states = [s for (s,) in _rows(db, "SELECT status FROM stages")]
        except duckdb.Error:
            continue
        if states.count("finished") == 1 and "training" in states:
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert sorted(s for (s,) in _rows(db, "SELECT status FROM stages")) == ["finished", "training"]
    done = sfteval("grid", config, "--db", str(db), cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stderr.count("trained before, reused") == 1 and done.stderr.count("training on") == 2
    assert {s for (s,) in _rows(db, "SELECT status FROM stages")} == {"finished"}
