"""Write a stored run's samples in the formats users already read: jsonl, parquet, lm-eval's log_samples,
FastChat's MT-Bench model_answer file."""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from datetime import timezone
from pathlib import Path

from sfteval.config import ConfigError
from sfteval.store import Store

FORMATS = ("jsonl", "parquet", "lm-eval", "fastchat")


def export(store: Store, run_id: str, fmt: str, out: Path | None) -> list[Path]:
    if fmt not in FORMATS:
        raise ConfigError(f"unknown export format '{fmt}': use one of {', '.join(FORMATS)}")
    run = store.run(run_id)
    rid = run["id"]
    if fmt == "parquet":
        out = out or Path(f"{rid}.parquet")
        with store.connect() as con:
            con.execute(f"COPY (SELECT * FROM samples WHERE run_id = ? ORDER BY task, doc_id, repeat) "
                        f"TO '{_sql_path(out)}' (FORMAT parquet)", [rid])
        return [out]
    samples = store.samples(rid)
    if fmt == "fastchat":
        return [_fastchat(run, samples, out)]
    if fmt == "jsonl":
        out = out or Path(f"{rid}.jsonl")
        with open(out, "w") as f:
            for s in samples:
                f.write(json.dumps(s, default=str) + "\n")
        return [out]
    return _lm_eval(store, run, samples, out or Path(f"{rid}-lm-eval"))


def _lm_eval(store: Store, run: dict, samples: list[dict], folder: Path) -> list[Path]:
    """lm-eval's --log_samples layout: one samples_<task>_<time>.jsonl per task (a row per doc and filter),
    and a results_<time>.json with the scores under results[task]["metric,filter"]."""
    folder.mkdir(parents=True, exist_ok=True)
    stamp = f"{run['started_at']:%Y-%m-%dT%H-%M-%S}"
    written, results = [], {}
    for s in store.scores(run["id"]):
        entry = results.setdefault(s["task"], {"alias": s["task"]})
        name = s["metric"] if "," in s["metric"] else f"{s['metric']},none"
        entry[name], entry[name.replace(",", "_stderr,", 1)] = s["value"], s["stderr"]
    for task in run["tasks"]:
        rows = [s for s in samples if s["task"] == task]
        path = folder / f"samples_{task}_{stamp}.jsonl"
        with open(path, "w") as f:
            for s in rows:
                for filt, value in (s["extracted"] or {"none": s["output"]}).items():
                    metrics = {m.split(",")[0]: v for m, v in s["metrics"].items() if m.endswith(f",{filt}") or "," not in m}
                    f.write(json.dumps({
                        "doc_id": s["doc_id"], "target": s["target"],
                        "arguments": {"gen_args_0": {"arg_0": s["prompt"]}},
                        "resps": [[s["output"]]], "filtered_resps": [value], "filter": filt,
                        "metrics": sorted(metrics), **metrics,
                        "prompt_hash": _sha(s["prompt"]), "target_hash": _sha(str(s["target"])),
                    }, default=str) + "\n")
        written.append(path)
    path = folder / f"results_{stamp}.json"
    path.write_text(json.dumps({"results": results, "config": {"model": run["checkpoint_path"], "run_id": run["id"]},
                               "sfteval_version": run["sfteval_version"]}, indent=2, default=str))
    return [*written, path]


def _fastchat(run: dict, samples: list[dict], out: Path | None) -> Path:
    """FastChat's model_answer file (gen_model_answer.py): a line per question with both turns in choices[0].
    FastChat names a model after its answer file, so the default file is <model_id>.jsonl."""
    turns = defaultdict(dict)
    for s in samples:
        if s["task"] == "mtbench":
            turns[s["doc_id"]][s["repeat"]] = s["output"]
    if not turns:
        raise ConfigError(f"run {run['id']} has no mtbench answers: --format fastchat exports MT-Bench runs")
    model_id = Path(run["checkpoint_path"] or run["id"]).name
    out = out or Path(f"{model_id}.jsonl")
    tstamp = run["started_at"].replace(tzinfo=timezone.utc).timestamp()  # the store keeps UTC
    with open(out, "w") as f:
        for qid, answer in sorted(turns.items()):
            choices = [{"index": 0, "turns": [answer[t] for t in sorted(answer)]}]
            f.write(json.dumps({"question_id": qid, "answer_id": _sha(f"{run['id']}/{qid}")[:22], "model_id": model_id,
                                "choices": choices, "tstamp": tstamp}, ensure_ascii=False) + "\n")
    return out


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _sql_path(path: Path) -> str:
    return str(path).replace("'", "''")
