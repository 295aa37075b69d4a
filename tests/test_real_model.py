"""The real SmolLM2-135M-Instruct through `sfteval run`: what a user gets from the Quick start."""

from __future__ import annotations

import time

import duckdb
import pytest

from conftest import last_json, sfteval

pytestmark = pytest.mark.slow


def test_demo_model_end_to_end(tmp_path, smollm2):
    db = tmp_path / "s.duckdb"
    args = ["run", "--ckpt", "demo:smollm2-135m", "--tasks", "gsm8k,humaneval", "--limit", "4",
            "--max-new-tokens", "160", "--db", str(db)]
    first = sfteval(*args)
    assert first.returncode == 0, first.stderr
    assert "exact_match,flexible" in first.stdout and "pass@1" in first.stdout
    assert f"stored in {db.resolve()}" in first.stdout.replace("\n", "")
    with duckdb.connect(str(db), read_only=True) as con:
        outputs = con.execute("SELECT task, output FROM samples ORDER BY task, doc_id").fetchall()
        ckpt = con.execute("SELECT hash, kind FROM checkpoints").fetchall()
    assert len(outputs) == 8 and all(o.strip() for _, o in outputs)  # a real model writes real text
    assert ckpt == [(smollm2.hash, "gguf")]

    start = time.monotonic()
    again = sfteval(*args, "--json")
    assert last_json(again.stdout)["generated"] == 0
    assert time.monotonic() - start < 30
