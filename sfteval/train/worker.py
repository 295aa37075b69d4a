"""One training stage in its own process: `python -m sfteval.train.worker SPEC.json` (or under a launcher
such as `accelerate launch`). The grid writes the spec; the worker trains and writes the metrics."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from sfteval.config import TrainSettings
from sfteval.train.sft import train_stage


def main(spec_path: str) -> None:
    spec = json.loads(Path(spec_path).read_text())
    with open(spec["data"]) as f:
        conversations = [json.loads(line)["messages"] for line in f]
    metrics = train_stage(spec["init"], spec["gguf_file"], conversations, TrainSettings(**spec["settings"]),
                          Path(spec["out_dir"]))
    if _is_main_process():
        Path(spec["metrics"]).write_text(json.dumps(metrics))


def _is_main_process() -> bool:
    from accelerate import PartialState

    return PartialState().is_main_process


if __name__ == "__main__":
    main(sys.argv[1])
