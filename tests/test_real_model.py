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
        outputs = con.execute("SELECT task, output, extracted FROM samples ORDER BY task, doc_id").fetchall()
        ckpt = con.execute("SELECT hash, kind FROM checkpoints").fetchall()
    assert [t for t, _, _ in outputs] == ["gsm8k"] * 4 + ["humaneval"] * 4
    # A real model answers each question in words (HumanEval completions may be empty: SmolLM2 often starts
    # with a top-level "\n#" comment, which lm-eval's stop sequences cut away).
    assert all(len(o.split()) > 5 for t, o, _ in outputs if t == "gsm8k")
    assert all('"result": ' in e and '"isolation": ' in e for t, _, e in outputs if t == "humaneval")
    assert ckpt == [(smollm2.hash, "gguf")]

    start = time.monotonic()
    again = sfteval(*args, "--json")
    assert last_json(again.stdout)["generated"] == 0
    assert time.monotonic() - start < 30
