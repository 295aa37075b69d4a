"""The training engine: label masking on the real SmolLM2 tokenizer, packing without cross-sample attention,
a full fine-tuning stage on the tiny model and a LoRA stage on the real demo model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from sfteval.backends import CHAT_TEMPLATES, Generator
from sfteval.checkpoints import resolve
from sfteval.config import ConfigError, LoraSettings, RunSettings, TrainSettings
from sfteval.train.encode import IGNORE, count_tokens, encode
from sfteval.train.sft import STAGE_FILE, load_for_training, train_stage

CHAT = [{"role": "system", "content": "Answer briefly."},
        {"role": "user", "content": "What is 2+2?"},
        {"role": "assistant", "content": "2+2 = 4. The answer is 4."}]
MULTI = [{"role": "user", "content": "Name a prime."},
         {"role": "assistant", "content": "7 is prime."},
         {"role": "user", "content": "And an even one?"},
         {"role": "assistant", "content": "2 is the only even prime."}]


@pytest.fixture(scope="module")
def tokenizer(tiny_model):
    return AutoTokenizer.from_pretrained(tiny_model)  # SmolLM2's real tokenizer and ChatML template


@pytest.fixture(scope="module")
def vicuna_tokenizer(tiny_model):
    _, tok = load_for_training(str(tiny_model), None, TrainSettings(chat_template="vicuna"))
    return tok


def gsm8k(shared_data: Path, n: int) -> list[list[dict]]:
    with open(shared_data / "gsm8k" / "train.jsonl") as f:
        rows = [json.loads(next(f)) for _ in range(n)]
    return [[{"role": "user", "content": r["question"]}, {"role": "assistant", "content": r["answer"]}] for r in rows]


def split(tok, row: dict) -> tuple[str, str]:
    """(decoded trained tokens, decoded masked tokens)"""
    trained = [t for t, label in zip(row["input_ids"], row["labels"]) if label != IGNORE]
    masked = [t for t, label in zip(row["input_ids"], row["labels"]) if label == IGNORE]
    assert [label for label in row["labels"] if label != IGNORE] == trained  # a trained label is its own token
    return tok.decode(trained), tok.decode(masked)


def test_chatml_masks_system_and_user(tokenizer):
    row = encode(tokenizer, CHAT, 2048)
    trained, masked = split(tokenizer, row)
    assert trained == "2+2 = 4. The answer is 4.<|im_end|>"
    assert masked == ("<|im_start|>system\nAnswer briefly.<|im_end|>\n<|im_start|>user\nWhat is 2+2?<|im_end|>\n"
                      "<|im_start|>assistant\n\n")  # the newline after the end-of-turn token is not trained
    assert tokenizer.decode(row["input_ids"]) == tokenizer.apply_chat_template(CHAT, tokenize=False)


def test_vicuna_trains_what_evaluation_prompts(tiny_model, vicuna_tokenizer):
    row = encode(vicuna_tokenizer, CHAT, 2048)
    trained, masked = split(vicuna_tokenizer, row)
    # After the prompt ` ASSISTANT:` the model must write ` <answer></s>`: the space belongs to the answer.
    assert trained == " 2+2 = 4. The answer is 4.</s>"
    prompt = Generator(resolve(str(tiny_model)), RunSettings(chat_template="vicuna")).templater()(CHAT[:2])
    assert prompt == "Answer briefly. USER: What is 2+2? ASSISTANT:"
    assert masked == prompt
    assert vicuna_tokenizer.decode(row["input_ids"]) == prompt + trained
    # Tokenized together the prompt keeps the tokens it has alone at evaluation: training and test contexts agree.
    prompt_ids = vicuna_tokenizer(prompt)["input_ids"]
    assert row["input_ids"][:len(prompt_ids)] == prompt_ids and row["labels"][len(prompt_ids)] != IGNORE


@pytest.mark.parametrize("template", ["model", "vicuna"])
def test_multi_turn_masks_every_user_turn(tokenizer, vicuna_tokenizer, template):
    tok = tokenizer if template == "model" else vicuna_tokenizer
    row = encode(tok, MULTI, 2048)
    trained, masked = split(tok, row)
    if template == "model":
        assert trained == "7 is prime.<|im_end|>2 is the only even prime.<|im_end|>"
    else:
        assert trained == " 7 is prime.</s> 2 is the only even prime.</s>"
    for user in ("Name a prime.", "And an even one?"):
        assert user in masked and user not in trained
    # The masked tokens are exactly the conversation's text without the assistant turns
    full = tok.apply_chat_template(MULTI, tokenize=False)
    assert len(tok.decode(row["input_ids"])) == len(trained) + len(masked) == len(full)


def test_truncation_and_token_counts(tokenizer):
    full = encode(tokenizer, MULTI, 2048)
    first_trained = next(i for i, label in enumerate(full["labels"]) if label != IGNORE)
    cut = encode(tokenizer, MULTI, first_trained + 3)  # ends inside the first answer
    assert len(full["input_ids"]) > first_trained + 3 and len(cut["input_ids"]) == first_trained + 3
    assert cut == {"input_ids": full["input_ids"][:first_trained + 3], "labels": full["labels"][:first_trained + 3]}
    assert sum(label != IGNORE for label in cut["labels"]) == 3
    # A budget that ends inside the prompt leaves nothing to train on
    prompt_only = encode(tokenizer, CHAT, 10)
    assert len(prompt_only["input_ids"]) == 10 and set(prompt_only["labels"]) == {IGNORE}
    tokens, trainable = count_tokens(tokenizer, [MULTI, CHAT], 2048)
    chat = encode(tokenizer, CHAT, 2048)
    assert tokens == len(full["input_ids"]) + len(chat["input_ids"])
    assert trainable == sum(label != IGNORE for r in (full, chat) for label in r["labels"])
    # Conversations that truncation leaves without a trained token are not trained, so not counted
    long_question = [{"role": "user", "content": "Why? " * 50}, {"role": "assistant", "content": "Because."}]
    assert count_tokens(tokenizer, [MULTI, long_question], first_trained + 3) == (first_trained + 3, 3)


def test_bad_conversations_name_the_problem(tokenizer):
    with pytest.raises(ConfigError, match="no assistant turn"):
        encode(tokenizer, CHAT[:2], 2048)
    with pytest.raises(ConfigError, match="start conversations with a user turn"):
        encode(tokenizer, [{"role": "assistant", "content": "Hi."}], 2048)


def test_a_base_that_cannot_be_loaded_is_a_config_error(tmp_path):
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(ConfigError, match=f"cannot load {tmp_path} for training"):
        load_for_training(str(tmp_path), None, TrainSettings())
    with pytest.raises(ConfigError, match="cannot load"):
        load_for_training(str(tmp_path / "missing"), None, TrainSettings())


@pytest.mark.parametrize("attention", ["sdpa", "eager"])
def test_packed_row_has_the_logits_of_its_examples_alone(tiny_model, tokenizer, shared_data, attention):
    """TRL's packing (bfd, padding-free) as SFTTrainer runs it: restarting position_ids and no attention mask.
    transformers turns the restarts into a block-diagonal mask, so no example sees another one."""
    from datasets import Dataset
    from trl.data_utils import pack_dataset
    from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

    rows = [encode(tokenizer, messages, 512) for messages in gsm8k(shared_data, 3)]
    packed = pack_dataset(Dataset.from_list(rows), 1024, "bfd")
    assert len(packed) == 1 and sorted(packed[0]["seq_lengths"]) == sorted(len(r["input_ids"]) for r in rows)
    batch = DataCollatorForLanguageModeling(pad_token_id=tokenizer.pad_token_id, padding_free=True)([packed[0]])
    assert "attention_mask" not in batch

    model = AutoModelForCausalLM.from_pretrained(tiny_model, attn_implementation=attention).eval()
    with torch.no_grad():
        # The forward SFTTrainer.compute_loss makes: the batch and use_cache=False (with a cache, transformers
        # would not look for restarting positions and the examples would see each other)
        logits = model(**{k: v for k, v in batch.items() if k != "labels"}, use_cache=False).logits[0]
        crossed = model(input_ids=batch["input_ids"], attention_mask=torch.ones_like(batch["input_ids"])).logits[0]
    starts = (batch["position_ids"][0] == 0).nonzero().flatten().tolist() + [batch["input_ids"].shape[1]]
    by_ids = {tuple(r["input_ids"]): r for r in rows}
    for start, end in zip(starts, starts[1:]):
        ids = batch["input_ids"][0, start:end]
        row = by_ids[tuple(ids.tolist())]
        with torch.no_grad():
            alone = model(input_ids=ids[None]).logits[0]
        torch.testing.assert_close(logits[start:end], alone, atol=1e-5, rtol=1e-4)
        # Labels travel with their tokens; the first of each example is never predicted from the previous one
        assert batch["labels"][0, start].item() == IGNORE
        assert batch["labels"][0, start + 1:end].tolist() == row["labels"][1:]
    # The check has teeth: with one causal mask over the row, the later examples' logits change
    assert not torch.allclose(crossed[starts[1]:], logits[starts[1]:], atol=1e-3)


@pytest.mark.slow
def test_full_fine_tuning_stages_chain_and_load(tiny_model, tokenizer, shared_data, tmp_path):
    data = gsm8k(shared_data, 8)
    first = tmp_path / "stage1"
    (tmp_path / "tmp-stage1").mkdir()
    (tmp_path / "tmp-stage1" / "junk.bin").write_text("a killed run left this")
    settings = TrainSettings(epochs=1, max_steps=2, lr=1e-3, global_batch=4, micro_batch=2, max_length=128,
                             packing=True, seed=7)
    metrics = train_stage(str(tiny_model), None, data, settings, first, progress=False)

    assert sorted(p.name for p in tmp_path.iterdir()) == ["stage1"]  # no tmp- folder left, junk gone with it
    assert json.loads((first / STAGE_FILE).read_text()) == json.loads(json.dumps(metrics))
    # One answer starts after token 128: that example has nothing to train on and is dropped
    assert metrics["steps"] == 2 and len(metrics["losses"]) == 2
    assert (metrics["examples"], metrics["dropped_examples"]) == (7, 1)
    assert metrics["loss_first"] == metrics["losses"][0] and metrics["loss_last"] == metrics["losses"][-1]
    assert (metrics["tokens"], metrics["trainable_tokens"]) == count_tokens(tokenizer, data, 128)
    assert metrics["padding_share"] == 0 and metrics["tokens_per_s"] > 0 and metrics["global_batch_effective"] == 4
    ckpt = resolve(str(first))
    assert ckpt.kind == "hf" and ckpt.hash != resolve(str(tiny_model)).hash
    before = AutoModelForCausalLM.from_pretrained(tiny_model).state_dict()
    after = AutoModelForCausalLM.from_pretrained(first).state_dict()
    assert before.keys() == after.keys() and any(not torch.equal(before[k], after[k]) for k in before)

    # The next stage starts from the previous one's directory, with the Vicuna template and without packing
    second = tmp_path / "stage2"
    settings = settings.model_copy(update={"packing": False, "chat_template": "vicuna", "global_batch": 5,
                                        "max_length": 256})
    metrics = train_stage(str(first), None, data, settings, second, progress=False)
    assert metrics["global_batch_effective"] == 6  # 5 is rounded up to whole micro-batches of 2
    assert 0 < metrics["padding_share"] < 1
    assert AutoTokenizer.from_pretrained(second).chat_template == CHAT_TEMPLATES["vicuna"]
    assert resolve(str(second)).kind == "hf"

    with pytest.raises(ConfigError, match="already exists"):
        train_stage(str(first), None, data, settings, second, progress=False)
    with pytest.raises(ConfigError, match="has an assistant token within max_length 16"):
        train_stage(str(first), None, data, settings.model_copy(update={"max_length": 16}), tmp_path / "s3",
                    progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["stage1", "stage2"]


@pytest.mark.slow
def test_lora_stage_on_the_demo_model_learns_and_merges(smollm2, shared_data, tmp_path):
    # 4 examples = one optimizer step: every step sees the same batch, so the loss must fall. Kept small: a step of
    # 4 x 128 tokens through the 135M model takes 20 s (idle) to 60 s (busy) on 2 CPU cores.
    settings = TrainSettings(epochs=10, max_steps=3, lr=1e-4, warmup_ratio=0, global_batch=4, micro_batch=4,
                             max_length=128, lora=LoraSettings(r=16, alpha=32, dropout=0.0))
    out = tmp_path / "lora"
    metrics = train_stage(smollm2.path, smollm2.gguf_file, gsm8k(shared_data, 4), settings, out, progress=False)
    assert metrics["steps"] == 3 and metrics["losses"] == sorted(metrics["losses"], reverse=True)
    assert metrics["loss_last"] < metrics["loss_first"] - 0.01
    assert not any(p.name.startswith("adapter") for p in out.iterdir())
    ckpt = resolve(str(out))
    assert ckpt.kind == "hf"
    model = AutoModelForCausalLM.from_pretrained(out)
    assert not any("lora" in name for name in model.state_dict())
    assert AutoTokenizer.from_pretrained(out).chat_template == AutoTokenizer.from_pretrained(
        smollm2.path, gguf_file=smollm2.gguf_file).chat_template


@pytest.mark.parametrize("name", ["ddp", "fsdp", "deepspeed_zero3"])
def test_accelerate_configs_load(name):
    from accelerate.commands.config.config_args import load_config_from_file

    config = load_config_from_file(str(Path(__file__).parents[1] / "configs" / "accelerate" / f"{name}.yaml"))
    assert config.distributed_type.value == {"ddp": "MULTI_GPU", "fsdp": "FSDP", "deepspeed_zero3": "DEEPSPEED"}[name]
    if name == "deepspeed_zero3":
        assert config.deepspeed_config["zero_stage"] == 3
    if name == "fsdp":
        assert config.fsdp_config["fsdp_state_dict_type"] == "FULL_STATE_DICT"


@pytest.mark.slow
def test_ddp_launch_trains_one_stage_on_two_processes(tiny_model, shared_data, tmp_path):
    """configs/accelerate/ddp.yaml under `accelerate launch`, two CPU processes (gloo) instead of two GPUs."""
    import os
    import subprocess
    import sys

    script = tmp_path / "stage.py"
    script.write_text(f"""
import json
from pathlib import Path
from sfteval.config import LoraSettings, TrainSettings
from sfteval.train.sft import train_stage
data = {json.dumps(gsm8k(shared_data, 8))}
settings = TrainSettings(max_steps=2, global_batch=4, micro_batch=1, max_length=128, lora=LoraSettings())
train_stage({str(tiny_model)!r}, None, data, settings, Path({str(tmp_path / 'out')!r}), progress=False)
""")
    root = Path(__file__).parents[1]
    done = subprocess.run([sys.executable, "-m", "accelerate.commands.launch", "--config_file",
                           str(root / "configs" / "accelerate" / "ddp.yaml"), "--num_processes", "2",
                           "--mixed_precision", "no", str(script)], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "ACCELERATE_USE_CPU": "true", "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    metrics = json.loads((tmp_path / "out" / STAGE_FILE).read_text())
    # 4 examples a step: 1 per micro-batch on each of 2 processes, 2 accumulation steps
    assert (metrics["world_size"], metrics["global_batch_effective"], metrics["steps"]) == (2, 4, 2)
    assert resolve(str(tmp_path / "out")).kind == "hf"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "stage.py"]
