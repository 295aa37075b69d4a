"""The analyses: statistics against hand-computed values, the study's tables on a real store of a small grid
(tests/analysis_store.py: real tiny-model runs, real MT-Bench judgments, hand-made outputs scored by the real
scorers), the paper's published numbers, and `sfteval report` as a real subprocess."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
from collections import defaultdict

import numpy as np
import pandas as pd
import pytest
from scipy.stats import binomtest

from conftest import sfteval
from sfteval.analysis import tables
from sfteval.analysis.abilities import ABILITIES, Ability
from sfteval.analysis.stats import holm, is_binary, mcnemar_exact, mean_ci, paired_bootstrap, paired_test, wilson
from sfteval.judge.fastchat import import_files
from sfteval.store import Store, StoreError

Z = 1.959963984540054  # the normal quantile of a 95% interval


def wilson_by_hand(k: int, n: int) -> tuple[float, float]:
    p = k / n
    center, half = (p + Z**2 / (2 * n)), Z * math.sqrt(p * (1 - p) / n + Z**2 / (4 * n**2))
    return (center - half) / (1 + Z**2 / n), (center + half) / (1 + Z**2 / n)


def mtbench_units(shared_data, model: str) -> pd.Series:
    """Per (question, turn): the mean of the judge's valid ratings, straight from FastChat's judgment file."""
    ratings = defaultdict(list)
    for line in (shared_data / "mt_bench" / "model_judgment" / "gpt-4_single.jsonl").read_text().splitlines():
        row = json.loads(line)
        if row["model"] == model and row["score"] != -1:
            ratings[row["question_id"], row["turn"] - 1].append(row["score"])
    return pd.Series({key: sum(v) / len(v) for key, v in ratings.items()}).sort_index()


# --- statistics ----------------------------------------------------------------------------------------------

def test_mcnemar_exact_by_hand():
    # Two-sided: 2 * P(X <= min(b, c)) for X ~ Binomial(b + c, 1/2).
    assert mcnemar_exact(1, 5) == pytest.approx(2 * (1 + 6) / 64) == 0.21875
    assert mcnemar_exact(0, 6) == pytest.approx(2 / 64) == 0.03125
    assert mcnemar_exact(5, 1) == mcnemar_exact(1, 5)
    assert mcnemar_exact(6, 1) == pytest.approx(2 * (1 + 7) / 128)
    assert mcnemar_exact(3, 3) == 1.0 and mcnemar_exact(0, 0) == 1.0


def test_wilson_interval_by_hand():
    for k, n in ((8, 10), (0, 4), (7, 8), (4, 4)):
        value, lo, hi = wilson(k, n)
        assert value == k / n and (lo, hi) == pytest.approx(wilson_by_hand(k, n))
    assert all(math.isnan(x) for x in wilson(0, 0))
    # arrays of many runs at once, each as scipy's own Wilson interval
    k, n = np.array([0, 3, 17, 50]), np.array([5, 10, 40, 50])
    _, lo, hi = wilson(k, n)
    for i in range(len(k)):
        ci = binomtest(int(k[i]), int(n[i])).proportion_ci(method="wilson")
        assert (lo[i], hi[i]) == pytest.approx((ci.low, ci.high))


def test_bootstrap_is_seeded_and_covers_a_clear_difference():
    rng = np.random.default_rng(7)
    a = rng.normal(5.0, 1.0, 200)
    b = a + 0.5 + rng.normal(0, 0.3, 200)  # true difference 0.5
    first, again = paired_bootstrap(a, b), paired_bootstrap(a, b)
    assert first == again
    assert first.delta == pytest.approx((b - a).mean()) and first.lo < 0.5 < first.hi and first.hi - first.lo < 0.2
    assert first.p == pytest.approx(2 / 10_001) and first.test == "bootstrap" and first.n == 200
    assert paired_bootstrap(a, b, seed=1) != first  # another seed, another resampling
    same = paired_bootstrap(a, a)
    assert (same.delta, same.lo, same.hi, same.p) == (0.0, 0.0, 0.0, 1.0)

    mean, lo, hi = mean_ci([1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
    assert mean == 5.5 and lo < 5.5 < hi and (mean, lo, hi) == mean_ci([1, 2, 3, 4, 5, 6, 7, 8, 9, 10])


def test_paired_test_picks_mcnemar_for_right_wrong_units():
    a = [1, 1, 0, 0, 0, 0, 0, 1]
    b = [1, 0, 1, 1, 1, 1, 1, 1]  # one right -> wrong, five wrong -> right
    result = paired_test(a, b, binary=True)
    assert (result.test, result.lower, result.higher, result.n) == ("mcnemar", 1, 5, 8)
    assert result.p == 0.21875 and result.delta == pytest.approx(0.5)
    assert paired_test(a, b, binary=False).test == "bootstrap"
    assert is_binary([0, 1, 1.0]) and not is_binary([0, 0.5]) and not is_binary([])


def test_holm_by_hand():
    # sorted 0.01, 0.03, 0.04 -> 3*0.01, max(0.03, 2*0.03), max(0.06, 1*0.04); NaN is not a test
    assert holm([0.01, 0.04, 0.03, float("nan")])[:3] == pytest.approx([0.03, 0.06, 0.06])
    assert math.isnan(holm([0.01, 0.04, 0.03, float("nan")])[3])
    assert holm([0.5, 0.9]) == [1.0, 1.0] and holm([]) == []  # 2*0.5, then never below it


# --- forgetting and backward transfer on a hand table ----------------------------------------------------------

def test_forgetting_and_backward_transfer_by_hand(monkeypatch):
    monkeypatch.setitem(ABILITIES, "gsm8k_nll", Ability("gsm8k_nll", "math", "nll", "GSM8K NLL",
                                                        higher_is_better=False))
    sources = [["code"], ["math"], ["general"]]
    values = {"gsm8k": [0.10, 0.60, 0.40], "humaneval": [0.30, 0.20, 0.25], "gsm8k_nll": [2.0, 1.2, 1.5],
              "mtbench": [3.0, 3.5, 6.0]}
    stage_scores = pd.DataFrame([
        {"cell": "seq", "stage_index": i, "n_stages": 3, "sources": sources[i], "task": task,
         "ability": ABILITIES[task].ability, "value": v}
        for task, vs in values.items() for i, v in enumerate(vs)])

    f = tables.forgetting(stage_scores).set_index(["task", "stage_index"])
    assert f.loc["gsm8k", "forgetting"].tolist()[1:] == pytest.approx([0.10 - 0.60, 0.60 - 0.40])
    assert f.loc["gsm8k", "best_before"].tolist()[1:] == pytest.approx([0.10, 0.60])
    assert f.loc["humaneval", "forgetting"].tolist()[1:] == pytest.approx([0.30 - 0.20, 0.30 - 0.25])
    # lower is better: the best earlier value is the smallest, and a rise is forgetting
    assert f.loc["gsm8k_nll", "forgetting"].tolist()[1:] == pytest.approx([1.2 - 2.0, 1.5 - 1.2])
    assert f.groupby(level=0)["forgetting"].apply(lambda s: math.isnan(s.iloc[0])).all()

    bwt = tables.backward_transfer(stage_scores).set_index("task")
    assert bwt.loc["gsm8k", ["learned_at", "after_learning", "final"]].tolist() == [1, 0.60, 0.40]
    assert bwt.loc["gsm8k", "bwt"] == pytest.approx(-0.20)
    assert bwt.loc["humaneval", "bwt"] == pytest.approx(-0.05) and bwt.loc["humaneval", "learned_at"] == 0
    assert bwt.loc["gsm8k_nll", "bwt"] == pytest.approx(-0.3)
    assert "mtbench" not in bwt.index  # general is first trained in the last stage: no backward transfer


def test_every_table_of_an_empty_store_is_empty(tmp_path):
    Store(tmp_path / "s.duckdb")
    store = Store(tmp_path / "s.duckdb", read_only=True)
    for name in ("runs", "leaderboard", "strategies", "conflict", "scaling", "ratio", "stage_scores", "mixtures"):
        assert getattr(tables, name)(store).empty, name
    assert tables.forgetting(tables.stage_scores(store)).empty and tables.grids(store) == []


# --- tables on the fixture store (built once per session, about a minute: the tests on it are marked slow) -----

@pytest.fixture(scope="module")
def store(analysis_store):
    return Store(analysis_store.path, read_only=True)


@pytest.mark.slow
def test_leaderboard_values_intervals_and_filters(store, analysis_store, shared_data):
    board = tables.leaderboard(store, grid="fixture")
    row = board[board["run_id"] == "hand-math1"].iloc[0]
    assert (row["cell"], row["strategy"], row["amount"], row["gsm8k"], row["gsm8k_n"]) == \
           ("single math @1", "single", "1", 0.875, 8)
    assert (row["gsm8k_lo"], row["gsm8k_hi"]) == pytest.approx(wilson_by_hand(7, 8))
    real = board[board["run_id"] == analysis_store.real_run["math1"]].iloc[0]
    assert (real["gsm8k"], real["humaneval"], real["gsm8k_n"], real["backend"]) == (0.0, 0.0, 4, "hf")
    assert (real["gsm8k_lo"], real["gsm8k_hi"]) == pytest.approx(wilson_by_hand(0, 4))

    capybara = board[board["run_id"] == analysis_store.imported["mistral-orpo-capybara"]].iloc[0]
    units = mtbench_units(shared_data, "mistral-orpo-capybara")
    assert capybara["mtbench"] == pytest.approx(6.81875) and capybara["mtbench_n"] == len(units) == 160
    assert (capybara["mtbench_lo"], capybara["mtbench_hi"]) == pytest.approx(mean_ci(units.to_numpy())[1:])

    shared = board[board["run_id"] == "hand-code1"]  # sequential's first stage is single code's stage
    assert sorted(shared["cell"]) == ["sequential code>math>general @1", "single code @1"]
    assert set(tables.leaderboard(store, strategy="multitask")["run_id"]) == {
        "hand-multitask1", analysis_store.imported["mistral-orpo"]}
    assert set(tables.leaderboard(store, fraction="1/4")["run_id"]) == {"hand-math4", analysis_store.real_run["math4"]}
    final = tables.leaderboard(store, grid="fixture", stage="final")
    assert "hand-seq_math" not in set(final["run_id"]) and "hand-seq_general" in set(final["run_id"])
    assert set(tables.leaderboard(store, stage=1)["run_id"]) == {"hand-seq_math", "hand-dmt"}
    assert tables.leaderboard(store, base="llama-7b").empty
    assert tables.leaderboard(store, sort="gsm8k")["run_id"].iloc[0] == "hand-seq_general"  # 8/8, best first
    assert len(tables.runs(store)) == len(board) == 16 and tables.grids(store) == ["fixture"]


@pytest.mark.slow
def test_conflict_pairs_mixed_and_single_per_problem(store, shared_data):
    rows = tables.conflict(store, "fixture").set_index("task")
    math_row, code_row, general = rows.loc["gsm8k"], rows.loc["humaneval"], rows.loc["mtbench"]
    # GSM8K: single math right on 0-6, multitask on 0 and 7: 6 right -> wrong, 1 wrong -> right
    assert (math_row["single"], math_row["mixed"], math_row["delta"], math_row["n"]) == (0.875, 0.25, -0.625, 8)
    assert (math_row["test"], math_row["p"]) == ("mcnemar", 0.125)
    # HumanEval: single code passes 0-5, multitask only 0: 5 right -> wrong
    assert (code_row["delta"], code_row["p"], code_row["fraction"]) == (-0.625, 0.0625, "1")
    # MT-Bench: orpo (multitask) against capybara (single general), paired by question and turn
    orpo, capybara = mtbench_units(shared_data, "mistral-orpo"), mtbench_units(shared_data, "mistral-orpo-capybara")
    assert general["test"] == "bootstrap" and general["n"] == 160
    assert general["delta"] == pytest.approx((orpo - capybara).mean())
    assert general["lo"] < general["delta"] < general["hi"] < 0 and general["p"] == pytest.approx(2 / 10_001)
    assert (general["single"], general["mixed"]) == pytest.approx((6.81875, 5.85893), abs=1e-5)
    assert rows["p_holm"].tolist() == pytest.approx(holm(rows["p"].tolist()))


@pytest.mark.slow
def test_strategies_table_against_multitask(store):
    table = tables.strategies(store, "fixture")
    assert table["label"].tolist() == ["single general", "single math", "single code", "multitask", "sequential",
                                       "dmt k=1/4", "single math"]
    assert table["amount"].tolist() == ["1"] * 6 + ["1/4"]
    top = table[table["amount"] == "1"].set_index("label")
    assert top["gsm8k"].tolist()[1:] == [0.875, 0.0, 0.25, 1.0, 0.75]
    # multitask right on 0 and 7; sequential on all 8 (b=0, c=6); dmt on 0-5 (b=1, c=5); single math on 0-6
    assert top.loc["sequential", "gsm8k_p"] == 0.03125 and top.loc["dmt k=1/4", "gsm8k_p"] == 0.21875
    assert top.loc["single math", "gsm8k_p"] == 0.125 and top.loc["single code", "gsm8k_p"] == 1.0
    assert math.isnan(top.loc["multitask", "gsm8k_p"])
    holm_by_hand = {"sequential": 4 * 0.03125, "single math": 3 * 0.125, "dmt k=1/4": 2 * 0.21875, "single code": 1.0}
    for label, p in holm_by_hand.items():
        assert top.loc[label, "gsm8k_p_holm"] == pytest.approx(p)
    assert top.loc["dmt k=1/4", "humaneval"] == 0.375 and top.loc["dmt k=1/4", "humaneval_p"] == 0.5
    assert top.loc["dmt k=1/4", "k"] == "1/4" and top.loc["dmt k=1/4", "gsm8k_run"] == "hand-dmt"
    assert top.loc["single general", "mtbench"] == pytest.approx(6.81875)
    assert top.loc["single math", "humaneval_n"] == 4  # its real run: 4 problems, none passed
    assert math.isnan(table.iloc[-1]["gsm8k_p"])  # no multitask cell at 1/4


@pytest.mark.slow
def test_scaling_and_ratio(store):
    scaling = tables.scaling(store, "fixture")
    math_rows = scaling[scaling["task"] == "gsm8k"]
    assert math_rows[["fraction", "n_examples", "value"]].values.tolist() == [["1/4", 16, 0.5], ["1", 64, 0.875]]
    assert set(scaling["task"]) == {"gsm8k", "humaneval", "mtbench"}

    ratio = tables.ratio(store, "fixture")
    assert set(ratio["setting"]) == {"general=1, specialist varies"}
    gsm8k = ratio[ratio["task"] == "gsm8k"]
    assert gsm8k[["general", "specialist", "k", "value"]].values.tolist() == [["1", "1/4", "1/4", 0.375],
                                                                          ["1", "1", "1", 0.25]]


def test_ratio_counts_a_shared_stage_once(analysis_store, tmp_path):
    """The planner makes the ratio cell at fraction 1 the multitask cell's stage: one point, not one per cell."""
    import shutil

    path = tmp_path / "shared.duckdb"
    shutil.copy(analysis_store.path, path)
    store = Store(path)
    cells = [{**c, "sources": list(c["sources"]), "fractions": json.loads(c["fractions"])}
             for c in store.frame("SELECT * FROM grid_cells WHERE grid = 'fixture'").to_dict("records")]
    multitask = next(c for c in cells if c["cell"] == "multitask @1")
    store.save_cells(cells + [{**multitask, "cell": "ratio [general=1] code+math @1", "strategy": "ratio"}])
    gsm8k = tables.ratio(store, "fixture").query("task == 'gsm8k'")
    assert gsm8k[["specialist", "value"]].values.tolist() == [["1/4", 0.375], ["1", 0.25]]


@pytest.mark.slow
def test_stage_scores_forgetting_and_backward_transfer_of_the_grid(store):
    stages = tables.stage_scores(store, "fixture")
    seq = stages[(stages["strategy"] == "sequential") & (stages["task"] == "humaneval")]
    assert seq["value"].tolist() == [0.75, 0.25, 0.125] and seq["run_id"].tolist()[0] == "hand-code1"
    forgetting = tables.forgetting(stages).set_index(["cell", "task"])
    assert forgetting.loc[("sequential code>math>general @1", "humaneval"), "forgetting"].tolist()[1:] == [0.5, 0.625]
    assert forgetting.loc[("dmt k=1/4 @1", "gsm8k"), "forgetting"].tolist()[1:] == [0.125]
    bwt = tables.backward_transfer(stages).set_index(["cell", "task"])["bwt"].to_dict()
    assert bwt == {("dmt k=1/4 @1", "gsm8k"): -0.125, ("dmt k=1/4 @1", "humaneval"): -0.125,
                   ("sequential code>math>general @1", "gsm8k"): 0.25,
                   ("sequential code>math>general @1", "humaneval"): -0.625}


@pytest.mark.slow
def test_compare_two_runs_lists_flipped_problems(store, analysis_store):
    by_task = {c.task: c for c in tables.compare(store, "hand-multitask1", "hand-d")}  # a prefix is enough
    gsm8k = by_task["gsm8k"]
    assert (gsm8k.a, gsm8k.b, gsm8k.delta, gsm8k.p, gsm8k.test) == (0.25, 0.75, 0.5, 0.21875, "mcnemar")
    assert gsm8k.flipped_to_wrong == [7] and gsm8k.flipped_to_right == [1, 2, 3, 4, 5]
    assert by_task["humaneval"].flipped_to_right == [1, 2] and set(by_task) == {"gsm8k", "humaneval"}

    orpo, capybara = analysis_store.imported["mistral-orpo"], analysis_store.imported["mistral-orpo-capybara"]
    judged = tables.compare(store, orpo, capybara)
    assert [(c.task, c.test, c.n, c.flipped_to_wrong) for c in judged] == [("mtbench", "bootstrap", 160, [])]
    assert judged[0].delta > 0 and judged[0].p < 0.05
    with pytest.raises(StoreError, match="no run matching 'nope'"):
        tables.compare(store, "nope", "hand-dmt")


@pytest.mark.slow
def test_samples_and_mixtures(store, analysis_store):
    wrong = tables.samples(store, "hand-dmt", "gsm8k", only="wrong")
    assert wrong["doc_id"].tolist() == [6, 7] and set(wrong["output"]) == {"I do not know."}
    right = tables.samples(store, "hand-dmt", "humaneval", only="right")
    assert right["doc_id"].tolist() == [0, 1, 2] and right["extracted"].iloc[0]["verdict"]["result"] == "passed"
    picked = tables.samples(store, analysis_store.imported["mistral-orpo"], only=[81])
    assert picked[["doc_id", "repeat"]].values.tolist() == [[81, 0], [81, 1]] and picked["score"].notna().all()
    assert tables.samples(store, "hand-dmt", only="unscored").empty

    mix = tables.mixtures(store, "fixture")
    dmt = mix[(mix["cell"] == "dmt k=1/4 @1") & (mix["stage_index"] == 1)].set_index("source")
    assert dmt["fraction"].to_dict() == {"general": "1", "code": "1/4", "math": "1/4"}
    assert dmt["n"].to_dict() == {"general": 64, "code": 16, "math": 16}
    assert set(dmt["mixture_n"]) == {96} and set(dmt["mixture_tokens"]) == {9600}


@pytest.mark.slow
def test_read_only_store_never_writes_and_waits_for_a_writer(analysis_store, tmp_path):
    with pytest.raises(StoreError, match="no store at .*sfteval run"):
        Store(tmp_path / "missing.duckdb", read_only=True)
    old = tmp_path / "old.duckdb"
    Store(old)
    with Store(old).connect() as con:
        con.execute("DELETE FROM schema_version WHERE version = 3")
    with pytest.raises(StoreError, match="schema version 2, older than this sfteval"):
        Store(old, read_only=True)

    before = analysis_store.path.stat().st_mtime_ns
    tables.strategies(Store(analysis_store.path, read_only=True))
    assert analysis_store.path.stat().st_mtime_ns == before

    holder = subprocess.Popen([sys.executable, "-c", "import duckdb, time; c = duckdb.connect("
                               f"{str(analysis_store.path)!r}); print('held', flush=True); time.sleep(1.5)"],
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    start = time.monotonic()
    board = tables.leaderboard(Store(analysis_store.path, read_only=True))  # waits for the writer's lock
    assert time.monotonic() - start > 0.5 and len(board) == 16
    holder.wait()


# --- the paper's numbers --------------------------------------------------------------------------------------

def test_paper_tables_are_published_numbers():
    strategies = tables.paper("strategies")
    assert len(strategies) == 51 and set(strategies["source"]) == {"published, Dong et al. 2024"}
    dmt = strategies[(strategies["model"] == "LLaMA-7B") & (strategies["strategy"] == "dmt")].set_index("task")
    assert dmt["printed"].to_dict() == {"gsm8k": 41.92, "humaneval": 17.68, "mtbench": 6.08}
    assert dmt["value"].to_dict() == pytest.approx({"gsm8k": 0.4192, "humaneval": 0.1768, "mtbench": 6.08})
    math_only = strategies[(strategies["row"] == "Math only")]
    assert set(math_only["task"]) == {"gsm8k"}  # the paper prints "-" for its other benchmarks

    mixed = tables.paper("single_vs_mixed")
    row = mixed[(mixed["model"] == "LLaMA-33B") & (mixed["row"] == "Mix(k=1/256)") & (mixed["task"] == "gsm8k")]
    assert row[["table", "strategy", "fraction", "printed"]].values.tolist() == [
        ["Table 3", "multitask", "1/256", 36.54]]
    k_sweep = tables.paper("dmt_k")
    assert sorted(set(k_sweep["k"].dropna())) == ["1", "1/16", "1/256", "1/4", "1/64"]
    assert len(tables.paper("ratio")) == 45
    with pytest.raises(ValueError, match="unknown paper table 'table9'"):
        tables.paper("table9")


# --- sfteval report ---------------------------------------------------------------------------------------------

@pytest.mark.slow
def test_report_markdown_and_json(analysis_store):
    md = sfteval("report", "--grid", "fixture", "--db", str(analysis_store.path))
    assert md.returncode == 0, md.stderr
    for section in ("## Leaderboard", "## Strategies", "## Conflict", "## Scaling", "## Ratio", "## Forgetting",
                    "## Backward transfer"):
        assert section in md.stdout
    dmt = "| fixture | tiny-llama | 1 | dmt k=1/4 | 75.0 [40.9, 92.9] | 0.438 | 37.5 [13.7, 69.4] | 1 | - | - |"
    assert dmt in md.stdout
    assert "| gsm8k | tiny-llama | 1 | 87.5 | 25.0 | -62.5 [-100.0, -12.5] | 0.125 | 0.125 | mcnemar | 8 |" in md.stdout
    assert "| sequential code>math>general @1 | humaneval | 1 | 75.0 | 12.5 | -62.5 |" in md.stdout

    out = sfteval("report", "--format", "json", "--db", str(analysis_store.path))
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert set(report["tables"]) == {"leaderboard", "strategies", "conflict", "scaling", "ratio", "forgetting",
                                     "backward_transfer"}
    conflict = {r["task"]: r for r in report["tables"]["conflict"]}
    assert (conflict["gsm8k"]["delta"], conflict["gsm8k"]["p"], conflict["gsm8k"]["test"]) == (-0.625, 0.125, "mcnemar")
    assert len(report["tables"]["leaderboard"]) == 16


@pytest.mark.slow
def test_report_on_empty_and_grid_less_stores_and_bad_input(tmp_path, shared_data):
    empty = tmp_path / "empty.duckdb"
    Store(empty)
    shown = sfteval("report", "--db", str(empty))
    assert shown.returncode == 0 and len(shown.stdout.strip().splitlines()) == 1
    assert shown.stdout.startswith(f"no finished runs in {empty}: fill it with `sfteval run")

    missing = sfteval("report", "--db", str(tmp_path / "nope.duckdb"))
    assert missing.returncode == 2 and "error: no store at" in missing.stderr

    imported = tmp_path / "imported.duckdb"  # two MT-Bench runs, no grid
    mt_bench = shared_data / "mt_bench"
    import_files(Store(imported), mt_bench / "model_answer", mt_bench / "model_judgment" / "gpt-4_single.jsonl")
    plain = sfteval("report", "--db", str(imported))
    assert plain.returncode == 0, plain.stderr
    assert "| mistral-orpo-capybara | - | - | 6.82 [" in plain.stdout and "## Strategies\n\n_none_" in plain.stdout
    assert "No grid in this store" in plain.stdout
    bad_grid = sfteval("report", "--grid", "nope", "--db", str(imported))
    assert bad_grid.returncode == 2 and "--grid nope: no such grid" in bad_grid.stderr
    bad_format = sfteval("report", "--format", "xml", "--db", str(imported))
    assert bad_format.returncode == 2 and "--format must be md or json" in bad_format.stderr
