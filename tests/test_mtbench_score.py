"""`sfteval mtbench score` and `import` on FastChat's real files, through the real CLI."""

from __future__ import annotations

import json

import duckdb
import pytest

from conftest import sfteval


@pytest.fixture(scope="module")
def files(shared_data):
    root = shared_data / "mt_bench"
    return {"answers": root / "model_answer", "judgments": root / "model_judgment" / "gpt-4_single.jsonl"}


def test_score_gives_fastchats_numbers(files):
    r = sfteval("mtbench", "score", "--judgments", str(files["judgments"]), "--json")
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)
    assert result == {
        "mistral-orpo": pytest.approx({"turn1": 6.675, "turn2": 5.03774, "overall": 5.85893, "n": 319}, abs=1e-5),
        "mistral-orpo-capybara": pytest.approx({"turn1": 7.125, "turn2": 6.5125, "overall": 6.81875, "n": 160},
                                               abs=1e-5)}
    assert result["mistral-orpo"]["n"] == 319 and result["mistral-orpo-capybara"]["n"] == 160

    table = sfteval("mtbench", "score", "--judgments", str(files["judgments"]), env={"COLUMNS": "200"})
    assert table.returncode == 0, table.stderr
    for text in ("mistral-orpo-capybara", "6.67500", "5.03774", "5.85893", "7.12500", "6.51250", "6.81875", "319",
                 "humanities", "95% CI"):
        assert text in table.stdout


def test_import_stores_a_run_per_model(files, tmp_path):
    db = tmp_path / "s.duckdb"
    args = ("mtbench", "import", "--answers", str(files["answers"]), "--judgments", str(files["judgments"]),
            "--db", str(db))
    r = sfteval(*args)
    assert r.returncode == 0, r.stderr
    assert sfteval(*args).returncode == 0  # importing again replaces the runs, adds none
    with duckdb.connect(str(db), read_only=True) as con:
        def q(sql, *params):
            return con.execute(sql, list(params)).fetchall()

        runs = q("""SELECT c.path, r.id, r.status, r.tasks, r.backend, c.kind FROM runs r
                    JOIN checkpoints c ON c.hash = r.checkpoint ORDER BY c.path""")
        run = {model: run_id for model, run_id, *_ in runs}
        scores = {(run_id, metric): (value, n)
                  for run_id, metric, value, n in q("SELECT run_id, metric, value, n FROM scores")}
        samples = q("SELECT run_id, count(*), count(DISTINCT doc_id) FROM samples GROUP BY run_id ORDER BY run_id")
        q158 = q("SELECT extracted, score, metrics FROM samples WHERE run_id = ? AND doc_id = 158 AND repeat = 1",
                 run["mistral-orpo"])[0]
        q101 = q("SELECT prompt, target FROM samples WHERE run_id = ? AND doc_id = 101 AND repeat = 0",
                 run["mistral-orpo-capybara"])[0]
        judgments = q("SELECT judge, mode, count(*) FROM judgments GROUP BY ALL")
    assert [row[:1] + row[2:] for row in runs] == [
        ("mistral-orpo", "finished", ["mtbench"], "imported", "imported"),
        ("mistral-orpo-capybara", "finished", ["mtbench"], "imported", "imported")]
    orpo, capybara = run["mistral-orpo"], run["mistral-orpo-capybara"]
    assert scores[orpo, "score"] == (pytest.approx(5.85893, abs=1e-5), 319)
    assert scores[orpo, "score,turn1"] == (pytest.approx(6.675), 160)
    assert scores[orpo, "score,turn2"] == (pytest.approx(5.03774, abs=1e-5), 159)
    assert scores[capybara, "score"] == (pytest.approx(6.81875), 160)
    assert scores[capybara, "score,writing"] == (pytest.approx(9.15), 20)
    assert [row[1:] for row in samples] == [(160, 80), (160, 80)]  # a row per question-turn
    extracted, score, metrics = json.loads(q158[0]), q158[1], json.loads(q158[2])
    assert extracted["ratings"][0] == -1 and len(extracted["ratings"]) == 2  # judged twice, once without a rating
    assert score == extracted["ratings"][1] and metrics["turn"] == 2 and metrics["category"] == "humanities"
    assert q101[0].startswith("Imagine you are participating in a race")  # the question's turn 1
    assert q101[1].startswith("If you have just overtaken the second person")  # GPT-4's reference answer
    assert judgments == [("gpt-4", "generate", 480)]  # the judge cache is seeded with every judgment

    ls = sfteval("ls", "--db", str(db), env={"COLUMNS": "200"})
    assert ls.returncode == 0 and orpo in ls.stdout and capybara in ls.stdout


@pytest.mark.parametrize("case", ["missing", "not-json", "pairwise", "no-answers"])
def test_bad_input_is_one_line_and_exit_2(case, files, tmp_path):
    bad = tmp_path / "bad.jsonl"
    answers = files["answers"]
    if case == "not-json":
        bad.write_text("{not json\n")
    elif case == "pairwise":
        bad.write_text(json.dumps({"question_id": 81, "model_1": "a", "model_2": "b", "g1_winner": "tie",
                                   "g2_winner": "tie", "judge": ["gpt-4", "pair-v2"], "turn": 1}) + "\n")
    elif case == "no-answers":
        bad = files["judgments"]
        answers = tmp_path / "empty"
        answers.mkdir()
        (answers / "other-model.jsonl").write_text("")
    r = sfteval("mtbench", "import", "--answers", str(answers), "--judgments", str(bad),
                "--db", str(tmp_path / "s.duckdb"))
    assert r.returncode == 2
    assert r.stderr.startswith("error: ") and len(r.stderr.strip().splitlines()) == 1, r.stderr
    if case != "no-answers":
        s = sfteval("mtbench", "score", "--judgments", str(bad))
        assert s.returncode == 2 and s.stderr.startswith("error: ") and len(s.stderr.strip().splitlines()) == 1
