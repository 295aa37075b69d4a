"""The Streamlit app under Streamlit's AppTest: every page on the real fixture store (tests/analysis_store.py),
with the numbers the fixture's hand-made outputs give; a judged run outside any grid (judge text, grid pages);
every page on an empty and a missing store; reading on while another process writes to the store."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from conftest import last_json, sfteval
from judge_server import JudgeServer, Rate
from sfteval.audit.overlap import overlap
from sfteval.config import SourceSpec
from sfteval.store import Store
from sfteval.train.sources import load_source

ROOT = Path(__file__).resolve().parents[1]
PAGES = ["leaderboard", "strategies", "scaling", "ratios", "forgetting", "compare", "samples", "data"]


def open_app(db: Path, monkeypatch, page: str | None = None) -> AppTest:
    monkeypatch.setenv("SFTEVAL_DB", str(db))
    st.cache_data.clear()  # each test reads its own store
    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120).run()
    if page:
        app.switch_page(f"sfteval/ui/{page}.py").run()
    assert not app.exception, [e.value for e in app.exception]
    return app


def table(app: AppTest, index: int = 0):
    return app.dataframe[index].value


@pytest.fixture
def store_path(analysis_store):
    return analysis_store.path


def test_leaderboard(store_path, monkeypatch):
    app = open_app(store_path, monkeypatch)
    assert app.title[0].value == "Leaderboard"
    board = table(app).set_index(["run", "cell / checkpoint"])
    row = board.loc[("hand-math1", "single math @1")]  # 7 of 8 right: Wilson interval [52.9, 97.8]
    assert row["GSM8K accuracy (%)"] == pytest.approx(87.5)
    assert row["GSM8K accuracy (%) 95% CI"] == "[52.9, 97.8]"
    orpo = board.xs("multitask @1", level=1)
    assert orpo["MT-Bench score (1-10)"].dropna().tolist() == [pytest.approx(5.858934, abs=1e-6)]

    app.selectbox(key="lb_strategy").set_value("sequential").run()
    app.selectbox(key="lb_stage").set_value(3).run()
    board = table(app)
    assert board["run"].tolist() == ["hand-seq_general"[:12]]  # run ids show their first 12 characters
    assert board["stage"].tolist() == [3] and board["GSM8K accuracy (%)"].tolist() == [100.0]


def test_strategies(store_path, monkeypatch):
    app = open_app(store_path, monkeypatch, "strategies")
    rows = table(app).set_index("strategy")
    assert list(rows.index) == ["single general", "single math", "single code", "multitask", "sequential",
                                "dmt k=1/4"]
    assert rows.loc["sequential", "GSM8K accuracy (%)"] == 100.0
    assert rows.loc["sequential", "GSM8K accuracy (%) p"] == "0.125"   # McNemar 0 vs 6 discordant, Holm
    assert rows.loc["multitask", "GSM8K accuracy (%) p"] == "-"
    assert rows.loc["single general", "MT-Bench score (1-10)"] == pytest.approx(6.81875)
    assert len(app.get("plotly_chart")) == 2  # the strategy bars and DMT's k sweep

    app.toggle(key="paper_st").set_value(True).run()
    app.toggle(key="paper_dmt").set_value(True).run()
    assert not app.exception, [e.value for e in app.exception]
    assert app.multiselect(key="paper_models_st").value == ["LLaMA-7B"]
    bars = app.get("plotly_chart")[0].proto.spec
    assert "LLaMA-7B (published, Dong et al. 2024)" in bars and "mixed sequential" in bars


def test_scaling_and_conflict(store_path, monkeypatch):
    app = open_app(store_path, monkeypatch, "scaling")
    scaling, conflict = table(app, 0), table(app, 1)
    math = scaling[scaling["ability"] == "math"].set_index("fraction")["score"]
    assert math.to_dict() == {"1/4": "50.0 [21.5, 78.5]", "1": "87.5 [52.9, 97.8]"}
    code = conflict[conflict["ability"] == "code"].iloc[0]
    assert (code["single"], code["mixed"], code["mixed - single"]) == ("75.0", "12.5", "-62.5 [-87.5, -25.0]")
    assert code["test"] == "mcnemar" and code["p"] == "0.062"
    general = conflict[conflict["ability"] == "general"].iloc[0]
    assert (general["single"], general["mixed"], general["test"]) == ("6.82", "5.86", "bootstrap")

    app.toggle(key="paper_scaling").set_value(True).run()
    app.toggle(key="paper_conflict").set_value(True).run()
    assert not app.exception, [e.value for e in app.exception]


def test_source_overlap_beside_conflict(store_path, monkeypatch, shared_data):
    app = open_app(store_path, monkeypatch, "scaling")
    app.number_input(key="overlap_limit").set_value(40).run()
    app.button(key="overlap_button").click().run()
    assert not app.exception, [e.value for e in app.exception]
    shown = table(app, 2)
    sources = {"code": load_source("code", SourceSpec(path=str(shared_data / "code_alpaca/code_alpaca_2k.json"),
                                                      format="code_alpaca")),
               "math": load_source("math", SourceSpec(path=str(shared_data / "gsm8k/train.jsonl"), format="gsm8k"))}
    expected = overlap(sources, limit=40)
    assert list(shown["a"]) == ["code", "math"] and list(shown["b"]) == ["math", "code"]
    assert list(shown["nearest neighbour in B"]) == pytest.approx(list(expected["nn_overlap"]))
    assert (shown["nearest neighbour in B"] < shown["if indistinguishable"]).all()  # code and math are apart
    warnings = [w.value for w in app.warning]
    assert any(w.startswith("Source general was not measured:") and "moved/sharegpt.json" in w for w in warnings)


def test_ratios(store_path, monkeypatch):
    app = open_app(store_path, monkeypatch, "ratios")
    rows = table(app)
    math = rows[rows["ability"] == "math"].set_index("k")["score"]
    assert math.to_dict() == {"1/4": "37.5 [13.7, 69.4]", "1": "25.0 [7.1, 59.1]"}
    assert set(rows["setting"]) == {"general=1, specialist varies"}
    app.toggle(key="paper_ratio").set_value(True).run()
    assert not app.exception, [e.value for e in app.exception]


def test_forgetting(store_path, monkeypatch):
    app = open_app(store_path, monkeypatch, "forgetting")
    trained, forgetting, bwt = table(app, 0), table(app, 1), table(app, 2)
    assert trained.loc["sequential code>math>general @1"].tolist() == ["code", "math", "general"]
    code = forgetting.loc[("sequential code>math>general @1", "code")]
    assert code.tolist() == ["-", "50.0", "62.5"]  # HumanEval 75 -> 25 -> 12.5
    bwt = bwt.set_index(["cell", "ability"])
    assert bwt.loc[("sequential code>math>general @1", "code"), "bwt"] == "-62.5"
    assert bwt.loc[("sequential code>math>general @1", "math"), "bwt"] == "25.0"


def test_compare(store_path, monkeypatch):
    app = open_app(store_path, monkeypatch, "compare")
    app.selectbox(key="cmp_a").set_value("hand-multitask1").run()
    app.selectbox(key="cmp_b").set_value("hand-math1").run()
    gsm8k = table(app).set_index("task").loc["gsm8k"]
    assert (gsm8k["A"], gsm8k["B"], gsm8k["p"], gsm8k["test"]) == ("25.0", "87.5", "0.125", "mcnemar")
    assert (gsm8k["right -> wrong"], gsm8k["wrong -> right"]) == (1, 6)
    app.selectbox(key="cmp_task").set_value("gsm8k").run()
    assert app.selectbox(key="cmp_doc").options[:7] == ["7", "1", "2", "3", "4", "5", "6"]
    outputs = [c.value for c in app.code]
    assert "The answer is 18" not in outputs[1:] and "I do not know." in outputs  # doc 7: right in A only
    assert any(o.startswith("The answer is") for o in outputs)


def test_samples(store_path, monkeypatch, analysis_store):
    app = open_app(store_path, monkeypatch, "samples")
    app.selectbox(key="sm_run").set_value("hand-math4").run()
    app.selectbox(key="sm_task").set_value("gsm8k").run()
    app.radio(key="sm_only").set_value("wrong").run()
    assert table(app)["doc_id"].tolist() == [4, 5, 6, 7]
    assert "I do not know." in [c.value for c in app.code]

    app.selectbox(key="sm_run").set_value(analysis_store.imported["mistral-orpo"]).run()
    app.selectbox(key="sm_task").set_value("mtbench").run()
    app.radio(key="sm_only").set_value("all").run()
    listing = table(app)
    assert len(listing) == 160  # 80 questions x 2 turns
    first = listing.iloc[0]
    # question 81, turn 1: FastChat's file holds two GPT-4 ratings of it, 8 and 10
    assert (first["doc_id"], first["repeat"], first["score"]) == (81, 0, 9.0)
    assert json.loads(app.json[0].value) == {"ratings": [8.0, 10.0]}
    assert app.code[-1].value.startswith("Title: Aloha from Hawaii: Unforgettable Cultural Experiences")


@pytest.mark.slow  # a real `sfteval run` in a subprocess
def test_samples_show_the_judges_text(tmp_path, tiny_model, monkeypatch):
    db = tmp_path / "judged.duckdb"
    with JudgeServer(Rate()) as judge:
        done = sfteval("run", "--ckpt", str(tiny_model), "--tasks", "mtbench", "--limit", "1", "--max-new-tokens",
                       "8", "--db", str(db), "--judge", "api", "--judge-model", "judge-x", "--judge-base",
                       judge.base_url, "--json", env={"OPENAI_API_KEY": "sk-judge"})
    assert done.returncode == 0, done.stderr
    run_id = last_json(done.stdout)["run_id"]
    app = open_app(db, monkeypatch, "samples")
    assert app.selectbox(key="sm_run").value == run_id
    assert table(app)[["doc_id", "repeat"]].values.tolist() == [[81, 0], [81, 1]]
    judged = app.expander[-1]
    assert judged.label == "judge's text"
    assert judged.markdown[0].value.startswith("The assistant's answer is hard to follow.\n\nRating: [[")

    # a store of runs outside any grid: the leaderboard lists them, the grid pages say how to train one
    app.switch_page("sfteval/ui/leaderboard.py").run()
    assert table(app)["run"].tolist() == [run_id[:12]] and "MT-Bench score (1-10)" in table(app).columns
    for page in ("strategies", "scaling", "ratios", "forgetting", "data"):
        app.switch_page(f"sfteval/ui/{page}.py").run()
        assert not app.exception and "belongs to a training grid" in app.info[0].value
        assert app.code[0].value == f"sfteval grid configs/demo.yaml --db {db}"


def test_data(store_path, monkeypatch):
    app = open_app(store_path, monkeypatch, "data")
    counts = table(app, 0).set_index(["cell", "stage"])
    assert counts.loc[("single math @1/4", 1), "math examples"] == 16
    assert counts.loc[("dmt k=1/4 @1", 2)][["code examples", "general examples", "math examples"]].tolist() == [
        16, 64, 16]
    assert counts.loc[("dmt k=1/4 @1", 2), "tokens"] == 9600  # the fixture counts 100 tokens an example
    assert len(app.get("plotly_chart")) == 2


@pytest.mark.parametrize("page", PAGES)
def test_empty_store_says_how_to_fill_it(page, tmp_path, monkeypatch):
    Store(tmp_path / "empty.duckdb")  # migrated, no run
    app = open_app(tmp_path / "empty.duckdb", monkeypatch, page)
    assert app.title[0].value == "No results to show yet"
    assert f"sfteval run --ckpt demo:smollm2-135m --limit 10 --db {tmp_path / 'empty.duckdb'}" in app.code[0].value
    assert "sfteval grid configs/demo.yaml" in app.code[0].value


def test_missing_store_says_how_to_fill_it(tmp_path, monkeypatch):
    app = open_app(tmp_path / "none.duckdb", monkeypatch, "strategies")
    assert app.title[0].value == "No results to show yet"
    assert "no store at" in app.warning[0].value
    assert not (tmp_path / "none.duckdb").exists()  # the app never creates a store


WRITER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from sfteval.store import Store
    store, stop, i = Store(sys.argv[1]), Path(sys.argv[2]), 0
    while not stop.exists():
        with store.connect() as con:  # a writer holding its connection, as a grid saving a task does
            con.execute("INSERT INTO generations VALUES (?, 'x', now())", [f"writer-{i}"])
            time.sleep(0.2)
        i += 1
        print(i, flush=True)
""")


def test_pages_read_while_another_process_writes(store_path, tmp_path, monkeypatch):
    db, stop = tmp_path / "busy.duckdb", tmp_path / "stop"
    db.write_bytes(store_path.read_bytes())
    app = open_app(db, monkeypatch)
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(db), str(stop)], stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline()  # the writer has committed once and is looping
        for page in ["leaderboard", "strategies", "leaderboard"]:
            st.cache_data.clear()  # every rerun really reads the file
            app.switch_page(f"sfteval/ui/{page}.py").run()
            assert not app.exception, [e.value for e in app.exception]
            assert app.title[0].value in ("Leaderboard", "Training strategies")
            assert "GSM8K accuracy (%)" in table(app).columns
        assert writer.poll() is None  # still writing: the reads overlapped the writes
    finally:
        stop.touch()
        out, _ = writer.communicate(timeout=60)
    assert writer.returncode == 0
    written = Store(db, read_only=True).query("SELECT count(*) AS n FROM generations WHERE key LIKE 'writer-%'")
    assert written[0]["n"] == int(out.split()[-1]) > 2
