"""Bad input: one clear line naming the problem and the fix, exit code 2, nothing written to the store."""

from __future__ import annotations

import shutil

import pytest

from conftest import sfteval


def _corrupt_safetensors(tiny_model, root):
    copy = root / "ckpt"
    shutil.copytree(tiny_model, copy)
    w = copy / "model.safetensors"
    w.write_bytes(w.read_bytes()[:1000])
    return copy


def _no_weights(tiny_model, root):
    (root / "ckpt").mkdir()
    shutil.copy(tiny_model / "config.json", root / "ckpt")
    return root / "ckpt"


def _bad_gguf(tiny_model, root):
    (root / "m.gguf").write_bytes(b"GGUF" + bytes(10))
    return root / "m.gguf"


CASES = [
    (["--ckpt", "/no/such/model"], "no such file or directory"),
    ([_no_weights], "has no weights"),
    ([_corrupt_safetensors], "corrupt or truncated safetensors"),
    ([_bad_gguf], "corrupt GGUF file"),
    (["--tasks", "gsm8k,nope"], "unknown task 'nope': available tasks are"),
    (["--backend", "tpu"], "--backend must be one of hf, vllm, api"),
    (["--limit", "0"], "--limit must be a positive number"),
    (["--limit", "-3"], "--limit must be a positive number"),
    (["--backend", "api"], "--backend api needs --api-base URL"),
    (["--samples", "5"], "--samples > 1 needs --temperature > 0"),
    (["--chat-template", "llama9"], "--chat-template must be one of"),
]


@pytest.mark.parametrize("args, message", CASES)
def test_bad_run_input(tmp_path, tiny_model, args, message):
    if callable(args[0]):
        args = ["--ckpt", str(args[0](tiny_model, tmp_path))]
    if "--tasks" not in args:
        args = [*args, "--tasks", "gsm8k"]
    db = tmp_path / "store.duckdb"
    done = sfteval("run", *args, "--db", str(db))
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 2, done.stderr
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], done.stderr
    assert not db.exists()


def test_unwritable_db(tmp_path, tiny_model):
    done = sfteval("run", "--ckpt", str(tiny_model), "--tasks", "gsm8k", "--db", str(tmp_path / "no" / "dir" / "s.duckdb"))
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"error: cannot write the store at {tmp_path / 'no' / 'dir' / 's.duckdb'}: its folder is missing or read-only; "
        "pass --db PATH in a writable folder"]


def test_vllm_missing_is_explained(tmp_path, tiny_model):
    pytest.importorskip("torch")
    done = sfteval("run", "--ckpt", str(tiny_model), "--backend", "vllm", "--tasks", "gsm8k", "--db", str(tmp_path / "s.duckdb"))
    assert done.returncode == 2
    assert "--backend vllm needs" in done.stderr and not (tmp_path / "s.duckdb").exists()


def test_show_unknown_run(tmp_path):
    done = sfteval("show", "nope", "--db", str(tmp_path / "s.duckdb"))
    assert done.returncode == 2 and "no run matching 'nope'" in done.stderr
