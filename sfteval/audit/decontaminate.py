"""`sfteval data decontaminate`: a copy of a training file without the records that hold an eval problem."""

from __future__ import annotations

import gzip
import io
import json
from pathlib import Path

import numpy as np

from sfteval.audit.contamination import NgramIndex, eval_items, nearest_eval
from sfteval.config import ConfigError, SourceSpec
from sfteval.train.sources import FORMATS, ROLES, _read_file, load_source


def decontaminate_file(path: Path, fmt: str, out: Path, embedding_threshold: float | None = None) -> dict:
    """Write the records of `path` that share no 13-gram with an eval item (and, with a threshold, whose first
    user turn has no eval item at cosine >= it) to `out`, as the same file type, and the report of what was
    removed to `out`.decontamination.json. Records the source adapter drops (no user->assistant pair) are kept:
    the copy is the file less its contaminated records, nothing else."""
    path, out = Path(path), Path(out)
    check_format(fmt)
    spec = SourceSpec(path=str(path), format=fmt)
    load_source(path.name, spec)  # the same checks (and one-line errors) as training
    if _kind(out) != _kind(path):
        raise ConfigError(f"--out {out} must end in {_kind(path)} like the input: the copy keeps its format")
    if out.resolve() == path.resolve():
        raise ConfigError(f"--out {out} is the input file: write the filtered copy elsewhere")
    records, _ = _read_file(path)
    turns = [FORMATS[fmt][1](r, spec) for r in records]
    index, removed = NgramIndex(eval_items()), {}
    for i, t in enumerate(turns):
        if hit := index.match("\n".join(content for _, content in t)):
            removed[i] = {"benchmark": hit[0].benchmark, "eval_id": hit[0].id, "ngram": hit[1]}
    if embedding_threshold is not None:
        _by_embedding(turns, index.items, embedding_threshold, removed)
    kept = [r for i, r in enumerate(records) if i not in removed]
    _write(out, path, kept)
    report = {"source": str(path), "format": fmt, "out": str(out), "read": len(records), "kept": len(kept),
              "ngram": index.n, "embedding_threshold": embedding_threshold,
              "removed": [{"index": i, "id": _record_id(records[i], i), **removed[i]} for i in sorted(removed)]}
    Path(f"{out}.decontamination.json").write_text(json.dumps(report, indent=1, ensure_ascii=False))
    return report


def check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise ConfigError(f"--format {fmt!r} is unknown: use one of {', '.join(FORMATS)}")


def _by_embedding(turns: list, items: list, threshold: float, removed: dict) -> None:
    from sfteval.audit.embed import embed_texts

    prompts = [next((c for role, c in t if ROLES.get(role.lower()) == "user"), "") for t in turns]
    where, best = nearest_eval(embed_texts(prompts), embed_texts([i.text for i in items]))
    for i in np.flatnonzero(best >= threshold):
        removed.setdefault(int(i), {"benchmark": items[where[i]].benchmark, "eval_id": items[where[i]].id,
                                    "cosine": round(float(best[i]), 4)})


def _record_id(record, index: int) -> str:
    own = record.get("id") if isinstance(record, dict) else None
    return str(own) if isinstance(own, (str, int)) else str(index)


def _kind(path: Path) -> str:
    return "".join(path.suffixes[-2:]) if path.suffix == ".gz" else path.suffix


def _write(out: Path, like: Path, records: list) -> None:
    kind = _kind(like).removesuffix(".gz")
    if kind == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        buffer = io.BytesIO()
        pq.write_table(pa.Table.from_pylist(records), buffer)
        data = buffer.getvalue()
    elif kind == ".jsonl":
        data = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode("utf-8")
    else:
        data = json.dumps(records, ensure_ascii=False, indent=1).encode("utf-8")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(gzip.compress(data) if like.suffix == ".gz" else data)
