"""sfteval's gsm8k_5shot is lm-eval's gsm8k: the real `lm_eval` CLI and `sfteval run` on the same model agree
sample by sample (outputs, extracted answers) and in the score."""

from __future__ import annotations

import json
import sys

import duckdb
import pytest

from conftest import ROOT, last_json, sfteval

sys.path.insert(0, str(ROOT / "bench"))
from lm_eval_cli import run_lm_eval  # noqa: E402
from offline_hub import prepare  # noqa: E402

pytestmark = pytest.mark.slow
LIMIT, BATCH, MAX_NEW = "3", "3", "48"


def test_gsm8k_5shot_matches_the_lm_eval_cli(tmp_path, smollm2, shared_data):
    workdir = prepare(tmp_path / "hub", shared_data)
    theirs = run_lm_eval(smollm2.path, smollm2.gguf_file, "gsm8k", int(LIMIT), int(BATCH), int(MAX_NEW),
                         workdir, tmp_path / "lm-eval")
    db = tmp_path / "s.duckdb"
    done = sfteval("run", "--ckpt", "demo:smollm2-135m", "--tasks", "gsm8k_5shot", "--limit", LIMIT,
                   "--batch-size", BATCH, "--max-new-tokens", MAX_NEW, "--db", str(db), "--json")
    assert done.returncode == 0, done.stderr
    ours = last_json(done.stdout)["scores"]["gsm8k_5shot"]
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute("SELECT doc_id, prompt, output, extracted FROM samples ORDER BY doc_id").fetchall()

    assert [r[0] for r in rows] == [s["doc_id"] for s in theirs["samples"]] == list(range(int(LIMIT)))
    for (doc_id, prompt, output, extracted), sample in zip(rows, theirs["samples"]):
        assert prompt == sample["prompt"], f"doc {doc_id}: different 5-shot prompt"
        assert output == sample["resp"], f"doc {doc_id}: different generation"
        assert json.loads(extracted) == sample["filtered"]
    for metric in ("exact_match,strict-match", "exact_match,flexible-extract"):
        assert ours[metric] == pytest.approx(theirs["scores"][metric], abs=1e-12)
