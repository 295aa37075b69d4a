"""Nested seeded subsets and mixtures of the real sources; manifests in a real DuckDB store."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from fractions import Fraction

import pytest

from sfteval.config import ConfigError, SourceSpec
from sfteval.store import Store
from sfteval.train.mixture import build_mixture, save, subset
from sfteval.train.sources import Source, load_source

FRACTIONS = [Fraction(1), Fraction(1, 4), Fraction(1, 16), Fraction(1, 64), Fraction(1, 256)]
SPECS = {"math": ("gsm8k/train.jsonl", "gsm8k"), "code": ("code_alpaca/code_alpaca_2k.json", "code_alpaca"),
         "general": ("sharegpt/sharegpt_v3_sample_1000.json", "sharegpt")}


@pytest.fixture(scope="module")
def sources(shared_data) -> dict[str, Source]:
    return {name: load_source(name, SourceSpec(path=str(shared_data / path), format=fmt))
            for name, (path, fmt) in SPECS.items()}


def ids(examples) -> list[str]:
    return [e.id for e in examples]


def test_subsets_are_nested_random_and_sized_by_rounding(sources):
    math = sources["math"]
    chosen = {f: ids(subset(math, f, seed=42)) for f in FRACTIONS}
    assert [len(chosen[f]) for f in FRACTIONS] == [7473, 1868, 467, 117, 29]  # round(7473 * f)
    for big, small in zip(FRACTIONS, FRACTIONS[1:]):
        assert set(chosen[small]) < set(chosen[big]) and chosen[big][:len(chosen[small])] == chosen[small]
    assert set(chosen[Fraction(1)]) == set(ids(math.examples))
    first = [int(i) for i in chosen[Fraction(1, 256)]]
    assert first != list(range(29)) and first != sorted(first) and max(first) > 1000  # not a prefix of the file

    assert [len(subset(sources["general"], f, 42)) for f in FRACTIONS] == [991, 248, 62, 15, 4]
    assert len(subset(sources["code"], Fraction(1, 4096), 42)) == 1  # never empty
    assert ids(subset(math, 100, 42)) == chosen[Fraction(1)][:100]   # a count is the same order's prefix


def test_same_seed_same_ids_other_seed_other_ids(sources):
    code = sources["code"]
    assert ids(subset(code, Fraction(1, 16), 42)) == ids(subset(code, Fraction(1, 16), 42))
    a, b = set(ids(subset(code, Fraction(1, 16), 42))), set(ids(subset(code, Fraction(1, 16), 43)))
    assert len(a) == len(b) == 126 and len(a & b) < 40  # about 126/16 shared by chance


def test_bad_amounts_are_config_errors(sources):
    code = sources["code"]
    with pytest.raises(ConfigError, match=r"^source code: a count of 2016 examples is outside 1\.\.2015: "
                                          r"ask for at most the examples it has, or use a fraction such as 1/4$"):
        subset(code, 2016, 42)
    with pytest.raises(ConfigError, match="count of 0 examples"):
        subset(code, 0, 42)
    with pytest.raises(ConfigError, match=r"^fraction 3/2 is outside \(0, 1\]"):
        subset(code, Fraction(3, 2), 42)
    empty = Source("empty", code.spec, [], {"conversation without a user->assistant pair": 3}, None)
    with pytest.raises(ConfigError, match=r"^source empty has no usable examples \(dropped: "):
        subset(empty, Fraction(1), 42)
    with pytest.raises(ConfigError, match=r"^the mixture is empty: give it at least one source$"):
        build_mixture({}, 42)


def test_mixture_manifest_and_shuffle(sources, shared_data):
    mix = build_mixture({"math": (sources["math"], Fraction(1, 64)), "code": (sources["code"], 50)}, seed=42)
    manifest = mix.manifest
    assert manifest["seed"] == 42 and manifest["n"] == len(mix.examples) == 117 + 50
    math, code = manifest["sources"]["math"], manifest["sources"]["code"]
    assert math["amount"] == "1/64" and code["amount"] == 50
    assert math["path"] == str(shared_data / "gsm8k" / "train.jsonl") and math["format"] == "gsm8k"
    assert math["ids"] == ids(subset(sources["math"], Fraction(1, 64), 42)) and math["n"] == 117
    assert math["file_sha256"].startswith("17f347dc") and code["dropped"] == {"conversation without a user->assistant pair": 2}
    chosen_code = {e.sha256 for e in subset(sources["code"], 50, 42)}
    assert sum(e.sha256 in chosen_code for e in mix.examples) == 50
    # shuffled across sources: code examples are spread through the list, not in a block
    is_code = [e.sha256 in chosen_code for e in mix.examples]
    positions = [i for i, c in enumerate(is_code) if c]
    assert positions[0] < 20 and positions[-1] > 140
    assert build_mixture({"code": (sources["code"], 50), "math": (sources["math"], Fraction(1, 64))}, 42).hash == mix.hash
    assert build_mixture({"math": (sources["math"], Fraction(1, 64)), "code": (sources["code"], 50)}, 7).hash != mix.hash
    assert build_mixture({"math": (sources["math"], Fraction(1, 16)), "code": (sources["code"], 50)}, 42).hash != mix.hash


def test_hash_ignores_where_the_data_lives_but_not_what_it_is(sources, shared_data, tmp_path):
    moved = tmp_path / "train.jsonl"
    shutil.copy(shared_data / "gsm8k" / "train.jsonl", moved)
    here = load_source("math", SourceSpec(path=str(moved), format="gsm8k"))
    stripped = load_source("math", SourceSpec(path=str(moved), format="gsm8k", strip_calculator=True))
    original = build_mixture({"math": (sources["math"], Fraction(1, 16))}, 42)
    assert build_mixture({"math": (here, Fraction(1, 16))}, 42).hash == original.hash
    other = build_mixture({"math": (stripped, Fraction(1, 16))}, 42)
    assert other.manifest["sources"]["math"]["ids"] == original.manifest["sources"]["math"]["ids"]
    assert other.hash != original.hash  # same records, other text


def test_manifest_hash_is_the_same_in_another_process(sources, shared_data):
    mix = build_mixture({name: (s, Fraction(1, 16)) for name, s in sources.items()}, 42)
    script = f"""
import json
from fractions import Fraction
from sfteval.config import SourceSpec
from sfteval.train.mixture import build_mixture
from sfteval.train.sources import load_source
specs = {{name: SourceSpec(path=path, format=fmt) for name, (path, fmt) in json.loads({json.dumps(json.dumps(
        {name: (str(shared_data / path), fmt) for name, (path, fmt) in SPECS.items()}))}).items()}}
mix = build_mixture({{name: (load_source(name, spec), Fraction(1, 16)) for name, spec in reversed(specs.items())}}, 42)
print(json.dumps({{"hash": mix.hash, "first": [e.sha256 for e in mix.examples[:5]]}}))
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONHASHSEED": "12345"}).stdout
    assert json.loads(out) == {"hash": mix.hash, "first": [e.sha256 for e in mix.examples[:5]]}


def test_save_writes_the_manifest_to_duckdb(sources, tmp_path):
    store = Store(tmp_path / "s.duckdb")
    mix = build_mixture({"code": (sources["code"], Fraction(1, 256)), "general": (sources["general"], 3)}, 42)
    save(store, mix)
    save(store, mix, tokens=1234, trainable_tokens=567)
    [row] = store.query("SELECT * FROM mixtures")
    assert (row["hash"], row["seed"], row["n_examples"], row["tokens"], row["trainable_tokens"]) == (
        mix.hash, 42, 8 + 3, 1234, 567)
    assert json.loads(row["manifest"]) == mix.manifest
