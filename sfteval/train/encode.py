"""Chat examples -> token ids and labels: the loss falls on what the assistant says, nothing else.

The text is rendered with the tokenizer's chat template exactly as evaluation renders it, so a model trained
here is prompted at test time with the very tokens it was trained on. The trained spans are found by rendering
each assistant turn's prefix with the generation prompt: what follows it, up to the end of the turn, is what the
model must produce after that prompt at evaluation time (the Vicuna template's space after `ASSISTANT:`
included); whitespace the template puts after the end-of-turn token is not trained.
"""

from __future__ import annotations

from sfteval.config import ConfigError

IGNORE = -100  # the label of a token that carries no loss (PyTorch's cross-entropy ignore_index)


def encode(tokenizer, messages: list[dict], max_length: int) -> dict:
    """{"input_ids", "labels"} of one conversation, truncated to its first max_length tokens; labels are the
    token ids on the assistant turns (content and end-of-turn token) and -100 elsewhere."""
    text = tokenizer.apply_chat_template(messages, tokenize=False)
    spans = _assistant_spans(tokenizer, messages, text)
    # The tokenizer's own special tokens unless the template already starts with BOS: what lm-eval's HFLM does
    # when it tokenizes a rendered chat prompt.
    bos = tokenizer.bos_token
    encoded = tokenizer(text, add_special_tokens=not (bos and text.startswith(bos)), return_offsets_mapping=True)
    ids = encoded["input_ids"]
    labels = [tid if any(a <= start < b for a, b in spans) else IGNORE
              for tid, (start, _) in zip(ids, encoded["offset_mapping"])]
    return {"input_ids": ids[:max_length], "labels": labels[:max_length]}


def count_tokens(tokenizer, conversations: list[list[dict]], max_length: int) -> tuple[int, int]:
    """(tokens, trainable tokens) of conversations after truncation to max_length; a conversation that truncation
    leaves without a trainable token is not trained (train_stage drops it), so it is not counted."""
    tokens = trainable = 0
    for messages in conversations:
        row = encode(tokenizer, messages, max_length)
        n = sum(label != IGNORE for label in row["labels"])
        tokens += len(row["input_ids"]) if n else 0
        trainable += n
    return tokens, trainable


def _assistant_spans(tokenizer, messages: list[dict], text: str) -> list[tuple[int, int]]:
    """Character spans of `text` that the model is trained to produce: each assistant turn after its prompt."""
    spans = []
    for i, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        # An assistant turn needs a prompt before it (templates cannot render an empty conversation)
        prompt = tokenizer.apply_chat_template(messages[:i], tokenize=False, add_generation_prompt=True) if i else None
        through = tokenizer.apply_chat_template(messages[:i + 1], tokenize=False).rstrip()
        if prompt is None or not (text.startswith(prompt) and text.startswith(through) and len(through) > len(prompt)):
            raise ConfigError(f"the chat template does not render assistant turn {i} after its own prompt "
                              f"({_opening(messages)}): start conversations with a user turn, or train with "
                              "chat_template: vicuna")
        spans.append((len(prompt), len(through)))
    if not spans:
        raise ConfigError(f"a conversation has no assistant turn ({_opening(messages)}): every training example "
                          "must end with the assistant's answer")
    return spans


def _opening(messages: list[dict]) -> str:
    return f"starting {str(messages[0]['content'])[:40]!r}" if messages else "no messages"

