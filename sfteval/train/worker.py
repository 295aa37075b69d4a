"""One training stage in its own process: `python -m sfteval.train.worker SPEC.json` (or under a launcher
such as `accelerate launch`). The grid writes the spec; train_stage writes the model and its metrics."""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

from sfteval.config import ConfigError, TrainSettings
from sfteval.train.sft import train_stage


def main(spec_path: str) -> None:
    spec = json.loads(Path(spec_path).read_text())
    with open(spec["data"]) as f:
        conversations = [json.loads(line)["messages"] for line in f]
    train_stage(spec["init"], spec["gguf_file"], conversations, TrainSettings(**spec["settings"]), Path(spec["out_dir"]))


if __name__ == "__main__":
    # TRL calls transformers' deprecated spelling on every stage: a warning the user can do nothing about.
    warnings.filterwarnings("ignore", message="`is_gradient_checkpointing` is deprecated", category=FutureWarning)
    try:
        main(sys.argv[1])
    except ConfigError as e:  # bad data or settings: one line, as the CLI prints it, not a traceback
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
