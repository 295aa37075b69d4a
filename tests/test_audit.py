"""Audit, contamination and decontamination on the real data (../shared/data), with planted duplicates and
planted GSM8K test problems."""

from __future__ import annotations

import json
from fractions import Fraction

import pytest

from conftest import last_json, sfteval
from sfteval.audit.contamination import NgramIndex, embedding_matches, eval_items, ngram_matches
from sfteval.config import SourceSpec
from sfteval.train.mixture import build_mixture
from sfteval.train.plan import source_identity
from sfteval.train.sources import load_source

PLANTED_TEST = [3, 17, 40]  # GSM8K test problems copied into a training file


def _lines(path, n=None) -> list[dict]:
    with open(path) as f:
        rows = [json.loads(line) for line in f if line.strip()]
    return rows[:n] if n else rows


@pytest.fixture(scope="module")
def gsm8k_train(shared_data):
    return load_source("math", SourceSpec(path=str(shared_data / "gsm8k" / "train.jsonl"), format="gsm8k"))


@pytest.fixture(scope="module")
def planted(tmp_path_factory, shared_data) -> tuple:
    """30 clean GSM8K train records (lines 31-60), then 3 GSM8K test problems with their answers, as one
    gsm8k-format file."""
    train = _lines(shared_data / "gsm8k" / "train.jsonl", 60)[30:]
    test = _lines(shared_data / "gsm8k" / "test.jsonl")
    rows = train + [test[i] for i in PLANTED_TEST]
    path = tmp_path_factory.mktemp("planted") / "train.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path, rows


def test_thirteen_grams_find_exactly_the_four_known_gsm8k_train_lines(gsm8k_train):
    hits = ngram_matches(gsm8k_train.examples, NgramIndex(eval_items()))
    assert [h["position"] + 1 for h in hits] == [21, 407, 1315, 5163]  # 1-based lines of train.jsonl
    assert {h["benchmark"] for h in hits} == {"gsm8k"}
    assert [h["eval_id"] for h in hits] == ["test/632", "test/581", "test/602", "test/602"]
    assert hits[0]["ngram"] == "bought stamps at the post office some of the stamps had a snowflake"


def test_decontaminate_removes_the_planted_test_problems(planted, tmp_path):
    path, rows = planted
    out = tmp_path / "clean.jsonl"
    done = sfteval("data", "decontaminate", str(path), "--format", "gsm8k", "--out", str(out), "--json")
    assert done.returncode == 0, done.stderr
    report = last_json(done.stdout)
    assert [r["index"] for r in report["removed"]] == [30, 31, 32]
    assert [r["eval_id"] for r in report["removed"]] == [f"test/{i}" for i in PLANTED_TEST]
    assert report["read"] == 33 and report["kept"] == 30
    assert _lines(out) == rows[:30]  # the same records, in the same format, nothing else changed
    assert json.loads((tmp_path / "clean.jsonl.decontamination.json").read_text()) == report


def test_embeddings_find_the_planted_copies(planted, shared_data):
    path, _ = planted
    source = load_source("planted", SourceSpec(path=str(path), format="gsm8k"))
    items = [i for i in eval_items() if i.benchmark == "gsm8k"][:60]  # the planted ones and 57 others
    hits = embedding_matches(source.examples, items, threshold=0.95)
    assert sorted(h["position"] for h in hits) == [30, 31, 32]
    assert all(h["cosine"] > 0.999 and h["eval_id"] == f"test/{PLANTED_TEST[h['position'] - 30]}" for h in hits)


def test_grid_option_decontaminate_records_removed_ids_in_the_manifest(planted):
    path, _ = planted
    plain = SourceSpec(path=str(path), format="gsm8k")
    spec = plain.model_copy(update={"decontaminate": True})
    mixture = build_mixture({"math": (load_source("math", spec), Fraction(1))}, seed=42)
    entry = mixture.manifest["sources"]["math"]
    assert entry["selection"]["removed"] == {"decontaminate": ["30", "31", "32"]}
    assert entry["selection"]["decontaminate"] is True and entry["n"] == 30
    assert not {"30", "31", "32"} & {e.id for e in mixture.examples}
    assert source_identity(spec) != source_identity(plain)
    plain_mixture = build_mixture({"math": (load_source("math", plain), Fraction(1))}, seed=42)
    assert "selection" not in plain_mixture.manifest["sources"]["math"] and plain_mixture.hash != mixture.hash


@pytest.fixture(scope="module")
def duplicated(tmp_path_factory, shared_data):
    """40 GSM8K train records plus two exact copies of record 3, a near copy of record 5 (one number changed)
    and a record whose answer is a bare number."""
    rows = _lines(shared_data / "gsm8k" / "train.jsonl", 40)
    near = dict(rows[5], question=rows[5]["question"].replace("Mark", "Luke", 1))
    assert near != rows[5]
    rows += [rows[3], rows[3], near, {"question": rows[7]["question"], "answer": "#### 72"}]
    path = tmp_path_factory.mktemp("dups") / "train.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path, rows


def test_audit_counts_duplicates_and_reasoning(duplicated, smollm2):
    from transformers import AutoTokenizer

    path, rows = duplicated
    done = sfteval("data", "audit", str(path), "--format", "gsm8k", "--json")
    assert done.returncode == 0, done.stderr
    (audit,) = last_json(done.stdout)["sources"]
    assert audit["records"] == 44 and audit["dropped"] == {}
    tok = AutoTokenizer.from_pretrained(smollm2.path, gguf_file=smollm2.gguf_file)
    texts = [tok.apply_chat_template([{"role": "user", "content": r["question"]},
                                      {"role": "assistant", "content": r["answer"]}], tokenize=False) for r in rows]
    assert audit["tokens"] == sum(len(tok(t)["input_ids"]) for t in texts)
    dups = audit["duplicates"]
    assert dups["exact"]["groups"] == 1 and dups["exact"]["removable"] == 2
    assert dups["exact"]["examples"][0]["ids"] == ["3", "40", "41"]
    assert dups["near"]["removable"] == 3 and dups["near"]["examples"][0]["ids"] == ["3", "40", "41"]
    assert ["5", "42"] in [g["ids"] for g in dups["near"]["examples"]]
    assert dups["same_prompt"]["removable"] == 3  # the exact copies and the bare-number answer to record 7
    assert audit["reasoning"] == {"step_by_step": 43 / 44, "bare_number": 1 / 44, "other": 0.0}
    assert audit["multi_turn"] == 0 and audit["languages"] == {"en": 1.0}
    assert audit["length"]["conversation"]["over_limit"] == 0
    # train line 21 is among the 40: one of the four that share a 13-gram with a test question
    assert audit["contamination"]["records"] == 1 and audit["contamination"]["examples"][0]["id"] == "20"


@pytest.mark.slow
def test_audit_of_real_sharegpt_reports_its_mess(shared_data):
    from sfteval.audit.report import audit_source
    from sfteval.audit.tokens import load_tokenizer

    source = load_source("general", SourceSpec(path=str(shared_data / "sharegpt" / "sharegpt_v3_sample_1000.json"),
                                               format="sharegpt"))
    audit = audit_source(source, load_tokenizer())
    assert audit["records"] == 991 and audit["dropped"] == source.dropped
    assert audit["dropped"]["conversation without a user->assistant pair"] == 9
    assert audit["duplicates"]["exact"]["removable"] == 5  # five conversations appear twice
    assert 0.9 < audit["languages"]["en"] < 0.97 and len(audit["languages"]) > 2
    assert 0.3 < audit["multi_turn"] < 0.9 and audit["length"]["conversation"]["over_limit"] > 0


@pytest.mark.slow
def test_overlap_puts_general_nearer_code_than_math(shared_data, tmp_path):
    """The paper's reading of its conflicts: general data overlaps code, not math. On 150 records per source."""
    config = tmp_path / "grid.yaml"
    config.write_text(f"""
name: overlap
base: demo:smollm2-135m
sources:
  math: {{path: {shared_data}/gsm8k/train.jsonl, format: gsm8k}}
  code: {{path: {shared_data}/code_alpaca/code_alpaca_2k.json, format: code_alpaca}}
  general: {{path: {shared_data}/sharegpt/sharegpt_v3_sample_1000.json, format: sharegpt}}
strategies: [single]
""")
    done = sfteval("data", "overlap", str(config), "--limit", "150", "--json")
    assert done.returncode == 0, done.stderr
    rows = {(r["a"], r["b"]): r for r in json.loads(done.stdout.strip().splitlines()[-1])}
    assert len(rows) == 6 and all(r["n_a"] == 150 and r["chance"] == pytest.approx(150 / 299) for r in rows.values())
    # measured: general's nearest neighbour is code for 21% of its records, math for 9%; centroids 0.295 vs 0.259
    assert rows["general", "code"]["nn_overlap"] > 2 * rows["general", "math"]["nn_overlap"]
    assert rows["code", "general"]["centroid_cosine"] > rows["math", "general"]["centroid_cosine"]
    assert rows["code", "general"]["centroid_cosine"] == pytest.approx(rows["general", "code"]["centroid_cosine"])
    assert all(r["nn_overlap"] < r["chance"] for r in rows.values())  # distinct sources, all of them


def test_bad_input_is_one_line_and_exit_2(planted, tmp_path):
    path, _ = planted
    cases = [(["audit", str(path)], "pass --format FORMAT for a data file"),
             (["audit", str(path), "--format", "alpaca"], "--format 'alpaca' is unknown: use one of gsm8k,"),
             (["decontaminate", str(path), "--format", "gsm8k", "--out", str(tmp_path / "x.json")],
              "must end in .jsonl like the input"),
             (["contamination", str(tmp_path / "missing.jsonl"), "--format", "gsm8k"], "is not a file")]
    for args, message in cases:
        done = sfteval("data", *args)
        assert done.returncode == 2 and done.stderr.startswith("error: ") and message in done.stderr, done.stderr
        assert len(done.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_audit_of_a_grid_covers_sources_and_every_stage_mixture(duplicated, shared_data, tmp_path):
    math_path, _ = duplicated
    code_path = tmp_path / "code.json"
    code_path.write_text(json.dumps(json.loads((shared_data / "code_alpaca" / "code_alpaca_2k.json").read_text())[:40]))
    config = tmp_path / "grid.yaml"
    config.write_text(f"""
name: small
base: demo:smollm2-135m
sources:
  math: {{path: {math_path}, format: gsm8k}}
  code: {{path: {code_path}, format: code_alpaca}}
fractions: [1, 1/2]
strategies: [single, multitask]
""")
    done = sfteval("data", "audit", str(config), "--json")
    assert done.returncode == 0, done.stderr
    result = last_json(done.stdout)
    assert {s["name"]: s["records"] for s in result["sources"]} == {"math": 44, "code": 40}
    mixtures = {m["name"]: m for m in result["mixtures"]}
    assert {name: m["records"] for name, m in mixtures.items()} == {
        "math@1": 44, "math@1/2": 22, "code@1": 40, "code@1/2": 20, "code@1 + math@1": 84, "code@1/2 + math@1/2": 42}
    assert "reasoning" not in mixtures["code@1"] and "reasoning" in mixtures["code@1 + math@1"]
    assert mixtures["code@1 + math@1"]["duplicates"]["exact"]["removable"] == 2
    assert sum(m["used_by"] for m in result["mixtures"]) == 6
