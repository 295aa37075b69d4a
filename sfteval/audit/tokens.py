"""Chat-template token counts of examples, with the tokenizer of any checkpoint (`--ckpt` forms)."""

from __future__ import annotations

import os
import shutil

import numpy as np

from sfteval import checkpoints
from sfteval.audit.cache import cached_array, content_key
from sfteval.train.encode import IGNORE, encode
from sfteval.train.sources import Example

DEFAULT_TOKENIZER = "demo:smollm2-135m"


def load_tokenizer(name: str = DEFAULT_TOKENIZER):
    """The tokenizer (and chat template) of checkpoint `name`. It is saved once under the cache: converting a
    GGUF tokenizer takes seconds, loading the saved one a fraction of that."""
    from transformers import AutoTokenizer

    ident, ckpt = model_id(name)
    folder = checkpoints.cache_dir() / "tokenizers" / ident[:24]
    if not (folder / "tokenizer_config.json").is_file():
        ckpt = ckpt or checkpoints.resolve(name)
        source = ckpt.base if ckpt.kind == "peft" and not _has_tokenizer(ckpt.path) else ckpt.path
        tokenizer = AutoTokenizer.from_pretrained(source, gguf_file=ckpt.gguf_file)
        tmp = folder.with_name(f"{folder.name}.{os.getpid()}.tmp")
        tokenizer.save_pretrained(tmp)
        shutil.rmtree(folder, ignore_errors=True)
        os.replace(tmp, folder)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    tokenizer.cache_id = ident  # names the tokenizer in cache keys
    return tokenizer


def training_tokenizer(base: str, chat_template: str = "auto") -> tuple[object, str | None]:
    """(tokenizer, note): the base model's tokenizer with the chat template training renders with; where the base
    cannot be loaded here (an offline hub id), the demo model's, and a note that says so."""
    from sfteval.backends import CHAT_TEMPLATES

    note = None
    try:
        tokenizer = load_tokenizer(base)
    except checkpoints.CheckpointError:
        tokenizer = load_tokenizer(DEFAULT_TOKENIZER)
        note = f"cannot load the tokenizer of {base} here: tokens are counted with {DEFAULT_TOKENIZER}'s"
    if chat_template == "vicuna":
        tokenizer.chat_template = CHAT_TEMPLATES["vicuna"]
        tokenizer.cache_id += ":vicuna"
    return tokenizer, note


def model_id(name: str) -> tuple[str, checkpoints.Checkpoint | None]:
    """A model's content hash (and its Checkpoint, unless it is a demo model, whose hash is known: resolving a
    GGUF parses the whole file)."""
    demo = checkpoints.DEMO_MODELS.get(name)
    if demo:
        return demo["sha256"], None
    ckpt = checkpoints.resolve(name)
    return ckpt.hash, ckpt


def _has_tokenizer(path: str) -> bool:
    return any(os.path.isfile(os.path.join(path, f)) for f in ("tokenizer.json", "tokenizer_config.json"))


def prompt_answer_tokens(tokenizer, examples: list[Example]) -> np.ndarray:
    """(n, 2) array: per example the tokens of everything but the assistant turns, and of the assistant turns
    (what training puts the loss on, end-of-turn tokens included); no truncation."""
    def compute():
        rows = [encode(tokenizer, list(e.messages), max_length=1 << 30) for e in examples]
        answer = [sum(label != IGNORE for label in r["labels"]) for r in rows]
        return np.array([[len(r["input_ids"]) - a, a] for r, a in zip(rows, answer)], dtype=np.int64).reshape(-1, 2)

    return cached_array("tokens", content_key(tokenizer=tokenizer.cache_id, what="prompt_answer",
                                              examples=[e.sha256 for e in examples]), compute)


def conversation_tokens(tokenizer, examples: list[Example]) -> np.ndarray:
    """Tokens of each whole conversation as the chat template renders it (rendered, then tokenized in batches:
    much faster than encode, for totals and the max_tokens filter)."""
    def compute():
        texts = [tokenizer.apply_chat_template(list(e.messages), tokenize=False) for e in examples]
        bos = tokenizer.bos_token
        counts = []
        for start in range(0, len(texts), 256):
            batch = texts[start:start + 256]
            ids = tokenizer(batch, add_special_tokens=not (bos and batch and batch[0].startswith(bos)))["input_ids"]
            counts += [len(i) for i in ids]
        return np.array(counts, dtype=np.int64)

    return cached_array("tokens", content_key(tokenizer=tokenizer.cache_id, what="conversation",
                                              examples=[e.sha256 for e in examples]), compute)
