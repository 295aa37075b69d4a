"""The memory estimate of sfteval/train/memory.py against the measured peak memory of real CPU training steps of
SmolLM2-135M (full fine-tuning and LoRA), and the dry-run columns."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from sfteval.config import LoraSettings, TrainSettings
from sfteval.train.memory import KNOWN, estimate, model_shape


def _probe(model_dir: str, method: str, micro_batch: int, max_length: int, steps: int = 2) -> dict:
    """Run in a fresh process: load the model, train `steps` AdamW steps on random tokens, and report the peak
    resident memory of the training (VmHWM, reset after loading) and the resident memory before loading."""
    import gc
    import re

    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    def status(field: str) -> int:
        return int(re.search(rf"{field}:\s+(\d+) kB", open("/proc/self/status").read()).group(1)) * 1024

    torch.manual_seed(0)
    gc.collect()
    before = status("VmRSS")
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    for param in model.parameters():  # out of the safetensors mmap into the process's own memory, as training has it
        param.data = param.data.clone()
    if method == "lora":
        lora = LoraSettings()
        model = get_peft_model(model, LoraConfig(r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout,
                                                 target_modules=lora.target_modules, task_type="CAUSAL_LM"))
    model.train()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5)
    gc.collect()
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # the peak (VmHWM) restarts from here: loading's transient copies are not training memory
    ids = torch.randint(0, model.config.vocab_size, (micro_batch, max_length))
    for _ in range(steps):
        model(input_ids=ids, labels=ids).loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    return {"before": before, "end": status("VmRSS"), "peak": status("VmHWM")}


@pytest.fixture(scope="module")
def smollm2_dir(tmp_path_factory, smollm2) -> str:
    """SmolLM2-135M as a safetensors model directory: loading the GGUF leaves dequantization buffers resident,
    which training would then reuse unseen."""
    from transformers import AutoModelForCausalLM, GgufConfig

    folder = tmp_path_factory.mktemp("smollm2-hf")
    AutoModelForCausalLM.from_pretrained(smollm2.path, gguf_file=smollm2.gguf_file,
                                         quantization_config=GgufConfig(dequantize=True)).save_pretrained(folder)
    return str(folder)


def measure(model_dir: str, method: str, micro_batch: int, max_length: int) -> int:
    """Peak training memory in bytes: the process's peak resident memory from the start of training, less its
    resident memory before the model was loaded (so the weights count, loading's transient buffers do not).
    glibc is told to hand freed blocks of 64 KiB or more back at once: with its default, growing mmap threshold
    it keeps one step's freed activations in its heap, and the peak counts that retention (about 0.5 GB more
    for the LoRA run here), not tensors; a GPU allocator's own caching is left out of the estimate too."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MALLOC_MMAP_THRESHOLD_": "65536"}
    done = subprocess.run([sys.executable, __file__, json.dumps([model_dir, method, micro_batch, max_length])],
                          capture_output=True, text=True, timeout=1200, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    probe = json.loads(done.stdout.strip().splitlines()[-1])
    return probe["peak"] - probe["before"]


@pytest.mark.slow
@pytest.mark.parametrize("method,micro_batch,max_length", [("full", 2, 128), ("lora", 2, 256)])
def test_estimate_within_25_percent_of_measured_cpu_training(smollm2_dir, method, micro_batch, max_length):
    settings = TrainSettings(micro_batch=micro_batch, max_length=max_length, dtype="float32",
                             lora=LoraSettings() if method == "lora" else None)
    shape = model_shape("demo:smollm2-135m")
    assert (shape.params, shape.hidden, shape.layers, shape.vocab) == (134_515_008, 576, 30, 49152)
    predicted = estimate(shape, settings, lora=method == "lora", checkpointing=False, device="cpu")
    measured = measure(smollm2_dir, method, micro_batch, max_length)
    assert abs(predicted["total"] - measured) / measured < 0.25, (predicted, measured)


def test_known_shapes_and_sharding():
    llama7b = KNOWN["llama-7b"]
    assert llama7b.params == 6_738_415_616  # LLaMA-7B's published count, from its shape
    assert model_shape("huggyllama/llama-7b") == llama7b
    assert model_shape("anything", params=13e9).hidden == 5120
    settings = TrainSettings(dtype="bfloat16", micro_batch=4, max_length=2048)
    one = estimate(llama7b, settings, lora=False, checkpointing=True)
    eight = estimate(llama7b, settings, lora=False, checkpointing=True, gpus=8, zero3=True)
    assert one["optimizer"] == 2 * llama7b.params * 2 and eight["optimizer"] == one["optimizer"] / 8
    assert eight["activations"] == one["activations"]   # ZeRO-3 shards states, not activations
    lora = estimate(llama7b, settings.model_copy(update={"lora": LoraSettings(r=16)}), lora=True, checkpointing=True)
    assert lora["trainable_params"] == 32 * 16 * (9 * 4096 + 2 * 4096 + 3 * 11008)  # all-linear adapters
    assert lora["total"] < one["total"] / 2
    plain = estimate(llama7b, settings, lora=False, checkpointing=False)
    assert plain["activations"] > 4 * one["activations"]


def test_dry_run_shows_memory_and_tokens(shared_data, tmp_path):
    from conftest import ROOT, sfteval

    done = sfteval("grid", str(ROOT / "configs" / "demo.yaml"), "--dry-run", "--json", "--gpus", "4",
                   env={"SFTEVAL_DATA": str(shared_data)}, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    plan = json.loads(done.stdout)
    assert plan["shape"]["params"] == 134_515_008 and plan["gpus"] == 4
    configured = [r for r in plan["memory"] if r["configured"]]
    assert [(r["method"], r["checkpointing"]) for r in configured] == [("lora", False), ("lora", False)]
    assert {r["zero3_gpus"] for r in plan["memory"]} == {None, 4}
    tokens = plan["stage_tokens"]
    assert set(tokens) == {s["key"] for s in plan["stages"]} and all(t > s["examples"] * 50 for s in plan["stages"]
                                                                   for t in [tokens[s["key"]]])
    assert plan["tokens_to_train"] == sum(tokens.values())  # 1 epoch, nothing trained yet


if __name__ == "__main__":
    print(json.dumps(_probe(*json.loads(sys.argv[1]))))
