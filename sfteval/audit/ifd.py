"""Instruction-Following Difficulty (Li et al., "From Quantity to Quality", NAACL 2024), scored with a small model
as Superfiltering (Li et al., ACL 2024) does for a large one.

IFD = loss(answer | instruction) / loss(answer alone), each the mean token cross-entropy of the scorer:
- with the instruction: the conversation rendered with the scorer's chat template, loss on the tokens training
  puts its loss on (the assistant turns and their end-of-turn tokens; encode.py);
- alone: the assistant turns' text by itself (joined by a blank line), tokenized without special tokens, loss on
  every token after the first.
A high IFD is an answer the instruction barely helps to predict: hard, informative data. IFD > 1 (the
instruction makes the answer less likely) marks a misaligned pair; Superfiltering drops those.
"""

from __future__ import annotations

import numpy as np

from sfteval.audit.cache import cached_array, content_key
from sfteval.audit.text import answers
from sfteval.audit.tokens import DEFAULT_TOKENIZER, load_tokenizer, model_id
from sfteval.train.encode import IGNORE, encode
from sfteval.train.sources import Example

MAX_LENGTH = 1024       # tokens of a conversation that are scored
TOKENS_PER_BATCH = 4096


def ifd_scores(examples: list[Example], scorer: str = DEFAULT_TOKENIZER, max_length: int = MAX_LENGTH) -> np.ndarray:
    """(n, 3) array per example: IFD, loss with the instruction, loss alone (nan where an answer has no scored
    token within max_length)."""
    ident, _ = model_id(scorer)

    def compute():
        import torch

        tokenizer, model = load_tokenizer(scorer), _load_model(scorer)
        rows = []
        for e in examples:
            row = encode(tokenizer, list(e.messages), max_length)
            alone = tokenizer(answers(e), add_special_tokens=False)["input_ids"][:max_length]
            rows.append((row["input_ids"], row["labels"], alone, alone))
        with torch.inference_mode():
            with_instruction = mean_losses(model, [(r[0], r[1]) for r in rows], tokenizer.pad_token_id or 0)
            alone = mean_losses(model, [(r[2], r[3]) for r in rows], tokenizer.pad_token_id or 0)
        return np.stack([with_instruction / alone, with_instruction, alone], axis=1).reshape(-1, 3)

    return cached_array("ifd", content_key(scorer=ident, max_length=max_length, examples=[e.sha256 for e in examples]),
                        compute)


def mean_losses(model, rows: list[tuple[list[int], list[int]]], pad_id: int) -> np.ndarray:
    """Mean cross-entropy over the labelled tokens of each (input_ids, labels) row (label i is predicted from
    tokens < i, -100 unscored), in length-sorted batches of about TOKENS_PER_BATCH tokens."""
    import torch
    import torch.nn.functional as F

    out = np.full(len(rows), np.nan)
    batches = [[]]
    for i in sorted(range(len(rows)), key=lambda i: len(rows[i][0])):  # the newest row is the longest
        if batches[-1] and len(rows[i][0]) * (len(batches[-1]) + 1) > TOKENS_PER_BATCH:
            batches.append([])
        batches[-1].append(i)
    for batch in batches if rows else []:
        width = len(rows[batch[-1]][0])
        ids = torch.full((len(batch), width), pad_id)
        labels = torch.full((len(batch), width), IGNORE)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for b, i in enumerate(batch):
            n = len(rows[i][0])
            ids[b, :n], labels[b, :n], mask[b, :n] = torch.tensor(rows[i][0]), torch.tensor(rows[i][1]), 1
        logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1].float()
        target = labels[:, 1:]
        nll = F.cross_entropy(logits.transpose(1, 2), target, ignore_index=IGNORE, reduction="none")
        counts = (target != IGNORE).sum(dim=1)
        for b, i in enumerate(batch):
            if counts[b] > 0:
                out[i] = float(nll[b].sum() / counts[b])
    return out


def _load_model(name: str):
    from transformers import AutoModelForCausalLM
    from transformers.utils import logging

    from sfteval.checkpoints import resolve

    logging.disable_progress_bar()  # GGUF conversion bars are noise in a grid's plan

    ckpt = resolve(name)
    path = ckpt.base if ckpt.kind == "peft" else ckpt.path
    model = AutoModelForCausalLM.from_pretrained(path, gguf_file=ckpt.gguf_file)
    if ckpt.kind == "peft":
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, ckpt.path).merge_and_unload()
    return model.eval()
