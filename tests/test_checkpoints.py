"""--ckpt resolution and content identity, on real files."""

from __future__ import annotations

import json
import shutil

import pytest

from sfteval.checkpoints import CheckpointError, resolve


def test_demo_alias_is_the_real_gguf(smollm2):
    assert smollm2.kind == "gguf"
    assert smollm2.gguf_file == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert smollm2.hash == "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
    assert smollm2.params["tensors"] == 272


def test_moved_and_renamed_checkpoint_keeps_its_identity(tiny_model, tmp_path):
    original = resolve(str(tiny_model))
    moved = tmp_path / "somewhere" / "renamed"
    shutil.copytree(tiny_model, moved)
    (moved / "README.md").write_text("notes do not change the model")
    again = resolve(str(moved))
    assert again.hash == original.hash and again.kind == "hf"
    assert again.path == str(moved.resolve())


def test_changed_weights_change_the_identity(tiny_model, tmp_path):
    copy = tmp_path / "ckpt"
    shutil.copytree(tiny_model, copy)
    before = resolve(str(copy)).hash
    config = json.loads((copy / "config.json").read_text())
    config["rms_norm_eps"] = 1e-5 if config.get("rms_norm_eps") != 1e-5 else 1e-6
    (copy / "config.json").write_text(json.dumps(config))
    assert resolve(str(copy)).hash != before


def test_gguf_renamed_or_in_its_folder_is_the_same_model(smollm2, tmp_path):
    link = tmp_path / "renamed.gguf"
    link.symlink_to(f"{smollm2.path}/{smollm2.gguf_file}")
    assert resolve(str(link)).hash == smollm2.hash


def test_peft_adapter_resolves_its_base(tiny_model, tmp_path):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = get_peft_model(AutoModelForCausalLM.from_pretrained(tiny_model), LoraConfig(r=2, target_modules=["q_proj"]))
    model.save_pretrained(tmp_path / "adapter")
    ckpt = resolve(str(tmp_path / "adapter"))
    assert ckpt.kind == "peft"
    assert ckpt.base == str(tiny_model.resolve())
    assert ckpt.params["base_hash"] == resolve(str(tiny_model)).hash
    assert ckpt.hash != ckpt.params["base_hash"]


def _bad_checkpoint(case: str, root):
    path = root / case
    if case == "empty":
        path.mkdir()
    elif case == "noweights":
        path.mkdir()
        (path / "config.json").write_text("{}")
    elif case == "notes.txt":
        path.write_text("hi")
    elif case == "badmagic.gguf":
        path.write_bytes(b"NOPE" + bytes(100))
    elif case == "truncated.gguf":
        path.write_bytes(b"GGUF\x03\x00\x00\x00" + bytes(5))
    return path


@pytest.mark.parametrize("case, message", [
    ("missing", "no such file or directory"),
    ("empty", "has no config.json"),
    ("noweights", "has no weights"),
    ("notes.txt", "not a .gguf"),
    ("badmagic.gguf", "bad magic bytes"),
    ("truncated.gguf", "corrupt GGUF"),
])
def test_bad_checkpoints_name_the_problem(tmp_path, case, message):
    with pytest.raises(CheckpointError, match=message):
        resolve(str(_bad_checkpoint(case, tmp_path)))


def test_truncated_safetensors_is_rejected(tiny_model, tmp_path):
    copy = tmp_path / "ckpt"
    shutil.copytree(tiny_model, copy)
    weights = copy / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="corrupt or truncated safetensors"):
        resolve(str(copy))


def test_hub_id_offline_gives_a_clear_error(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(CheckpointError, match="cannot fetch 'HuggingFaceTB/SmolLM2-135M' from the Hugging Face hub"):
        resolve("HuggingFaceTB/SmolLM2-135M")


def test_unknown_demo_alias():
    with pytest.raises(CheckpointError, match="unknown demo model 'demo:nope'"):
        resolve("demo:nope")
