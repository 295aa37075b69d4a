"""--backend vllm: runs only where vllm and a CUDA GPU are present (never on CPU CI machines)."""

from __future__ import annotations

import importlib.util

import pytest

from conftest import last_json, sfteval


def _gpu_with_vllm() -> bool:
    if importlib.util.find_spec("vllm") is None:
        return False
    import torch

    return torch.cuda.is_available()


@pytest.mark.skipif(not _gpu_with_vllm(), reason="needs vllm and a CUDA GPU")
def test_vllm_backend_generates_and_stores(tmp_path, tiny_model):
    common = ["--ckpt", str(tiny_model), "--tasks", "gsm8k", "--limit", "4", "--max-new-tokens", "16",
              "--db", str(tmp_path / "s.duckdb"), "--json"]
    vllm = sfteval("run", "--backend", "vllm", *common)
    assert vllm.returncode == 0, vllm.stderr
    assert last_json(vllm.stdout)["generated"] == 4
