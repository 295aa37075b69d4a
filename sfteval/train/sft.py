"""Train one stage with TRL's SFTTrainer and write it as a plain Hugging Face model directory.

Each call is a fresh optimizer and learning-rate schedule on the weights at `init`. The conversations are
tokenized by encode.py (loss on assistant turns only) and handed to SFTTrainer pre-tokenized; packing is TRL's
best-fit-decreasing packing in padding-free form, whose restarting position_ids make transformers build a
block-diagonal attention mask, so packed examples never attend to each other. Runs unchanged under
`accelerate launch` (DDP, FSDP, DeepSpeed): the Trainer reads the launcher's environment.
"""

from __future__ import annotations

import gc
import json
import math
import os
import resource
import shutil
from pathlib import Path

import torch
from datasets import Dataset
from peft import LoraConfig, PeftModel
from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig, PrinterCallback
from trl import SFTConfig, SFTTrainer

from sfteval.backends import CHAT_TEMPLATES
from sfteval.config import ConfigError, TrainSettings
from sfteval.train.encode import IGNORE, encode

STAGE_FILE = "sfteval_stage.json"


def load_for_training(init: str, gguf_file: str | None, settings: TrainSettings):
    """(model, tokenizer) from a model directory or hub id, or a GGUF file in directory `init` (dequantized),
    with the chat template the stage trains with."""
    try:
        tokenizer = AutoTokenizer.from_pretrained(init, gguf_file=gguf_file)
        model = _load_model(init, gguf_file, settings.dtype)
    except (OSError, ValueError) as e:
        reason = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise ConfigError(f"cannot load {init}{f'/{gguf_file}' if gguf_file else ''} for training ({reason}): "
                          "start from a Hugging Face model directory, a hub id or a GGUF file") from e
    if settings.chat_template == "vicuna":
        tokenizer.chat_template = CHAT_TEMPLATES["vicuna"]  # the very template `--chat-template vicuna` evaluates
    elif not tokenizer.chat_template:
        raise ConfigError(f"{init} has no chat template: train it with chat_template: vicuna")
    return model, tokenizer


def train_stage(init: str, gguf_file: str | None, conversations: list[list[dict]], settings: TrainSettings,
                out_dir: Path, progress: bool = True) -> dict:
    """Fine-tune `init` on `conversations` and write the result to `out_dir` (LoRA merged into the weights,
    tokenizer with the chat template used, sfteval_stage.json with the returned metrics). The stage trains in
    out_dir.parent/"tmp-<name>" and is renamed at the end, so a killed stage leaves no out_dir behind."""
    out_dir = Path(out_dir)
    if out_dir.exists():
        raise ConfigError(f"{out_dir} already exists: a finished stage is never overwritten; remove it to retrain")
    model, tokenizer = load_for_training(init, gguf_file, settings)
    rows = [encode(tokenizer, messages, settings.max_length) for messages in conversations]
    rows = [r for r in rows if any(label != IGNORE for label in r["labels"])]  # answers cut off by max_length
    if not rows:
        raise ConfigError(f"none of the {len(conversations)} examples has an assistant token within max_length "
                          f"{settings.max_length}: raise max_length or check the mixture")

    # The global batch is reached by accumulation; when it does not divide evenly the accumulation is rounded
    # up, so a step never sees fewer examples than asked (the effective batch is in the metrics). WORLD_SIZE is
    # set by `accelerate launch` and torchrun.
    per_step = settings.micro_batch * int(os.environ.get("WORLD_SIZE", 1))
    accumulation = math.ceil(settings.global_batch / per_step)
    tmp = out_dir.parent / f"tmp-{out_dir.name}"
    args = SFTConfig(
        output_dir=str(tmp), num_train_epochs=settings.epochs, max_steps=settings.max_steps or -1,
        learning_rate=settings.lr, warmup_steps=settings.warmup_ratio, lr_scheduler_type=settings.scheduler,
        weight_decay=settings.weight_decay, per_device_train_batch_size=settings.micro_batch,
        gradient_accumulation_steps=accumulation, max_length=settings.max_length, packing=settings.packing,
        packing_strategy="bfd", activation_checkpointing=settings.gradient_checkpointing, seed=settings.seed,
        ddp_find_unused_parameters=False, logging_steps=1, save_strategy="no", report_to="none",
        dataloader_pin_memory=torch.cuda.is_available(),  # pinning without a GPU only warns
        disable_tqdm=not progress, **_autocast(settings.dtype))
    trainer = _CountingTrainer(model=model, args=args, processing_class=tokenizer, peft_config=_lora(settings),
                               train_dataset=Dataset.from_list(rows))
    trainer.remove_callback(PrinterCallback)  # without a progress bar, stay quiet instead of printing every log
    accelerator = trainer.accelerator
    if accelerator.is_main_process:
        shutil.rmtree(tmp, ignore_errors=True)  # what a killed run of this stage left
    accelerator.wait_for_everyone()
    result = trainer.train()
    # Gathers sharded weights (FSDP, ZeRO-3) and writes the tokenizer with its chat template; a PEFT model writes
    # its adapter only, merged below.
    trainer.save_model(str(tmp))

    losses = [log["loss"] for log in trainer.state.log_history if "loss" in log]
    processed = max((log["num_tokens"] for log in trainer.state.log_history if "num_tokens" in log), default=0)
    metrics = {
        "loss_first": losses[0], "loss_last": losses[-1], "losses": losses, "steps": trainer.state.global_step,
        "examples": len(rows), "dropped_examples": len(conversations) - len(rows),
        "tokens": sum(len(r["input_ids"]) for r in rows),
        "trainable_tokens": sum(label != IGNORE for r in rows for label in r["labels"]),
        "processed_tokens": int(processed), "tokens_per_s": processed / result.metrics["train_runtime"],
        "padding_share": 1 - trainer.real_tokens / max(trainer.token_slots, 1),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,  # of the process so far
        "runtime_s": result.metrics["train_runtime"], "global_batch_effective": accumulation * per_step,
        "world_size": accelerator.num_processes, "chat_template": settings.chat_template,
        "settings": settings.model_dump(), "init": init, "gguf_file": gguf_file,
    }
    del trainer, model
    gc.collect()
    if accelerator.is_main_process:
        if settings.lora:
            _merge_adapter(init, gguf_file, settings, tmp)
        (tmp / STAGE_FILE).write_text(json.dumps(metrics, indent=1))
        os.replace(tmp, out_dir)
    accelerator.wait_for_everyone()
    return metrics


class _CountingTrainer(SFTTrainer):
    """SFTTrainer that counts the token slots of its micro-batches, padding included, for the padding share."""
    token_slots = real_tokens = 0

    def training_step(self, model, inputs, num_items_in_batch=None):
        ids = inputs["input_ids"]
        self.token_slots += ids.numel()
        self.real_tokens += int(inputs["attention_mask"].sum()) if "attention_mask" in inputs else ids.numel()
        return super().training_step(model, inputs, num_items_in_batch)


def _merge_adapter(init: str, gguf_file: str | None, settings: TrainSettings, folder: Path) -> None:
    """Fold the LoRA adapter saved in `folder` into a fresh copy of the base weights: the one way that works the
    same whether training ran in one process or sharded over many."""
    base = _load_model(init, gguf_file, settings.dtype)
    merged = PeftModel.from_pretrained(base, str(folder)).merge_and_unload()
    for f in [*folder.glob("adapter_*"), folder / "README.md"]:  # the adapter and its model card
        f.unlink(missing_ok=True)
    merged.save_pretrained(folder)


def _load_model(init: str, gguf_file: str | None, dtype: str):
    if not gguf_file:
        return AutoModelForCausalLM.from_pretrained(init, dtype=_weights_dtype(dtype))
    # Dequantized at load, a GGUF model is a plain dense model (no quantizer attached), which the Trainer trains
    # and save_pretrained writes as safetensors; left packed it is neither trainable nor saveable.
    return AutoModelForCausalLM.from_pretrained(init, gguf_file=gguf_file, dtype=_weights_dtype(dtype),
                                                quantization_config=GgufConfig(dequantize=True))


def _lora(settings: TrainSettings):
    if settings.lora is None:
        return None
    return LoraConfig(r=settings.lora.r, lora_alpha=settings.lora.alpha, lora_dropout=settings.lora.dropout,
                      target_modules=settings.lora.target_modules, task_type="CAUSAL_LM")


def _weights_dtype(dtype: str) -> torch.dtype:
    # "auto" keeps float32 master weights and lets autocast do bf16 where the GPU has it; "float16" likewise
    # (fp16 weights cannot be updated by AdamW without loss scaling); "bfloat16" keeps the weights in bf16.
    return torch.bfloat16 if dtype == "bfloat16" else torch.float32


def _autocast(dtype: str) -> dict:
    gpu_bf16 = torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    return {"bf16": dtype == "bfloat16" or (dtype == "auto" and gpu_bf16), "fp16": dtype == "float16"}
