"""Grid plans: the shipped configs, stage reuse, and bad configs (one line, exit 2)."""

from __future__ import annotations

import json
from fractions import Fraction

import pytest

from conftest import ROOT, sfteval
from sfteval.config import ConfigError, GridConfig, load_grid, parse_fraction


@pytest.fixture(scope="module")
def paper_data(tmp_path_factory, shared_data):
    """$SFTEVAL_DATA for configs/paper.yaml: GSM8K train in RFT's {"query","response"} shape stands in for RFT."""
    folder = tmp_path_factory.mktemp("paper-data")
    with open(shared_data / "gsm8k" / "train.jsonl") as src, open(folder / "gsm8k_rft.jsonl", "w") as dst:
        for line in src:
            r = json.loads(line)
            dst.write(json.dumps({"query": r["question"], "response": r["answer"]}) + "\n")
    (folder / "code_alpaca_20k.json").symlink_to(shared_data / "code_alpaca" / "code_alpaca_2k.json")
    (folder / "sharegpt.json").symlink_to(shared_data / "sharegpt" / "sharegpt_v3_sample_1000.json")
    return folder


def test_paper_plan_shares_stages(paper_data, tmp_path):
    done = sfteval("grid", str(ROOT / "configs" / "paper.yaml"), "--dry-run", "--json",
                   env={"SFTEVAL_DATA": str(paper_data), "HF_HUB_OFFLINE": "1"}, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    plan = json.loads(done.stdout)
    cells = {c["cell"]: c["stages"] for c in plan["cells"]}
    # 15 single + 5 multitask + 2x5 ratio + sequential + mixed_sequential + 5 dmt
    assert plan["n_cells"] == 37 and plan["n_stage_slots"] == 45
    assert plan["n_unique_stages"] == 37 and plan["n_reused_slots"] == 8
    # sequential's first stage is single-source code on all of it
    assert cells["sequential code>math>general @1"][0] == cells["single code @1"][0]
    # every DMT k starts from mixed_sequential's code+math stage, and their second stages all differ
    code_math = cells["mixed_sequential @1"][0]
    dmt = [stages for name, stages in cells.items() if name.startswith("dmt")]
    assert len(dmt) == 5 and all(s[0] == code_math for s in dmt) and len({s[1] for s in dmt}) == 5
    # a ratio setting at fraction 1 is the multitask mixture itself
    assert cells["ratio [general=1] math+code @1"] == cells["multitask @1"]
    assert cells["ratio [code=1,math=1] general @1"] == cells["multitask @1"]
    by_key = {s["key"]: s for s in plan["stages"]}
    assert by_key[code_math]["used_by"] == 6 and by_key[cells["multitask @1"][0]]["used_by"] == 3
    assert by_key[code_math]["examples"] == 7473 + 2015  # 2 Code Alpaca records have no answer
    sizes = {s["mix"]: s["examples"] for s in plan["stages"] if s["parent"] is None}
    assert sizes["math@1/256"] == round(7473 / 256) and sizes["code@1/16"] == round(2015 / 16)
    assert plan["examples_to_train"] < plan["examples_without_reuse"]
    assert 0.1 < plan["compute_saved"] < 0.5


def test_demo_plan_is_nested_and_reused(shared_data, monkeypatch):
    from sfteval.train.grid import plan_grid

    monkeypatch.setenv("SFTEVAL_DATA", str(shared_data))
    plan, stages = plan_grid(load_grid(ROOT / "configs" / "demo.yaml"), None)
    assert len(plan.cells) == 16 and len(stages) == 16
    mixtures = {sp.stage.label: sp.mixture for sp in stages if sp.stage.parent is None}
    ids = {label: {e.id for e in m.examples} for label, m in mixtures.items()}
    assert len(ids["math@1"]) == 8 and len(ids["math@1/4"]) == 2
    assert ids["math@1/4"] < ids["math@1"]            # nested: the quarter is inside the whole
    assert ids["code@1"] | ids["math@1"] == ids["code@1 + math@1"]
    # DMT k=1/4 replays a quarter of what its code+math stage trained on
    dmt = next(sp for sp in stages if sp.stage.label == "code@1/4 + general@1 + math@1/4" and sp.stage.parent)
    replay = {e.id for e in dmt.mixture.examples} - ids["general@1"]
    assert len(replay) == 4 and replay < ids["code@1 + math@1"]


def test_stage_keys_follow_inputs(shared_data, monkeypatch):
    from sfteval.train.plan import build_plan

    monkeypatch.setenv("SFTEVAL_DATA", str(shared_data))
    config = load_grid(ROOT / "configs" / "demo.yaml")
    keys = lambda c, base="b": {s.key for s in build_plan(c, base).stages}  # noqa: E731
    same = keys(config)
    assert keys(config) == same
    assert keys(config, "other-base").isdisjoint(same)
    assert keys(config.model_copy(update={"seed": 7})).isdisjoint(same)
    changed = config.model_copy(update={"train": config.train.model_copy(update={"lr": 1e-4})})
    assert keys(changed).isdisjoint(same)


@pytest.mark.parametrize("text,value", [("1/16", Fraction(1, 16)), ("1", Fraction(1)), ("0.25", Fraction(1, 4))])
def test_parse_fraction(text, value):
    assert parse_fraction(text) == value


@pytest.mark.parametrize("yaml_text,message", [
    ("fractions: [2]", "fraction 2 is outside (0, 1]"),
    ("fractions: [one]", "fraction 'one' is not a number"),
    ("strategies: [{sequential: [code, poetry]}]", "strategy sequential needs source 'poetry'"),
    ("strategies: [dmt]", "dmt needs k"),
    ("strategies: [boosting]", "strategies.0.kind"),
    ("sources: {math: {path: x.jsonl, format: csv}}", "sources.math.format"),
])
def test_bad_grid_configs(tmp_path, shared_data, yaml_text, message):
    base = (f"name: t\nbase: demo:smollm2-135m\n"
            f"sources: {{math: {{path: {shared_data}/gsm8k/train.jsonl, format: gsm8k}},"
            f" code: {{path: {shared_data}/code_alpaca/code_alpaca_2k.json, format: code_alpaca}}}}\n"
            "strategies: [single]\n")
    key = yaml_text.split(":")[0]
    lines = [line for line in base.splitlines() if not line.startswith(key + ":")] + [yaml_text]
    config = tmp_path / "grid.yaml"
    config.write_text("\n".join(lines) + "\n")
    done = sfteval("grid", str(config), "--dry-run")
    assert done.returncode == 2
    assert done.stderr.startswith("error: ") and message in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_missing_env_var_and_file(tmp_path, monkeypatch):
    monkeypatch.delenv("SFTEVAL_DATA", raising=False)
    with pytest.raises(ConfigError, match=r"uses \$\{SFTEVAL_DATA\} but it is not set"):
        load_grid(ROOT / "configs" / "demo.yaml")
    with pytest.raises(ConfigError, match="grid config .* not found"):
        load_grid(tmp_path / "nope.yaml")


def test_unreadable_source_in_a_real_run_is_an_error(tmp_path):
    config = GridConfig(name="t", base="demo:smollm2-135m", strategies=["single"],
                        sources={"math": {"path": str(tmp_path / "missing.jsonl"), "format": "gsm8k"}})
    from sfteval.train.grid import plan_grid

    with pytest.raises(ConfigError, match="missing.jsonl"):
        plan_grid(config, None)


def _write_grid(tmp_path, base: str, general_path: str) -> str:
    path = tmp_path / "g.yaml"
    path.write_text(f"name: g\nbase: {base}\nsources: {{general: {{path: {general_path}, format: sharegpt}}}}\n"
                    "strategies: [single]\n")
    return str(path)


def test_unloadable_base_stops_before_anything_is_written(tmp_path, shared_data):
    config = _write_grid(tmp_path, "/no/such/model", shared_data / "sharegpt" / "sharegpt_v3_sample_1000.json")
    done = sfteval("train", "--config", config, "--db", str(tmp_path / "s.duckdb"))
    assert done.returncode == 2 and done.stderr.startswith("error: ") and "/no/such/model" in done.stderr
    import duckdb

    with duckdb.connect(str(tmp_path / "s.duckdb"), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM stages").fetchone()[0] == 0
        assert con.execute("SELECT count(*) FROM grid_cells").fetchone()[0] == 0


def test_a_source_with_nothing_left_is_an_error(tmp_path):
    data = tmp_path / "only_gpt.json"
    data.write_text(json.dumps([{"id": "a", "conversations": [{"from": "gpt", "value": "hello"}]}]))
    done = sfteval("grid", _write_grid(tmp_path, "demo:smollm2-135m", data), "--dry-run")
    assert done.returncode == 2 and done.stderr.startswith("error: source general has no usable examples")
