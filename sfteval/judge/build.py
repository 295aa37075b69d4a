"""The judge `sfteval run --judge ...` (or `sfteval mtbench pair`) asks for, checked before anything is written."""

from __future__ import annotations

from sfteval.checkpoints import resolve
from sfteval.config import ConfigError, RunSettings
from sfteval.judge.client import MODES, ApiJudge, Judge
from sfteval.judge.cost import parse_price
from sfteval.judge.data import TASK  # the one task a judge scores
from sfteval.judge.local import LocalJudge
from sfteval.judge.prompts import JUDGE_MAX_TOKENS

KINDS = ("none", "api", "hf", "vllm")


def build_judge(kind: str | None, settings: RunSettings, *, model: str | None = None, base: str | None = None,
                ckpt: str | None = None, mode: str = "generate", max_new_tokens: int | None = None,
                concurrency: int | None = None, timeout: float | None = None,
                price: str | None = None) -> Judge | None:
    """None for no judge (answers only). Without --judge, a --judge-ckpt means hf and a --judge-model means api.
    `price` is --judge-price IN,OUT (USD per 1M tokens), replacing the list price (api) or zero (local)."""
    kind = kind or ("hf" if ckpt else "api" if model else "none")
    if kind not in KINDS:
        raise ConfigError(f"--judge must be one of {', '.join(KINDS)} (got {kind!r})")
    if mode not in MODES:
        raise ConfigError(f"--judge-mode must be one of {', '.join(MODES)} (got {mode!r})")
    if max_new_tokens is not None and max_new_tokens < 1:
        raise ConfigError(f"--judge-max-new-tokens must be at least 1 (got {max_new_tokens})")
    if concurrency is not None and concurrency < 1:
        raise ConfigError(f"--judge-concurrency must be at least 1 (got {concurrency})")
    if timeout is not None and timeout <= 0:
        raise ConfigError(f"--judge-timeout must be a positive number of seconds (got {timeout})")
    if kind == "none":
        return None
    if settings.tasks and TASK not in settings.tasks:  # no --tasks: every task, MT-Bench included
        raise ConfigError(f"--judge scores MT-Bench answers: add --tasks {TASK}")
    max_new_tokens = max_new_tokens or JUDGE_MAX_TOKENS
    override = parse_price(price) if price is not None else None
    if kind == "api":
        if not model or not base:
            raise ConfigError("--judge api needs --judge-model NAME and --judge-base URL "
                              "(e.g. http://127.0.0.1:8000/v1); the key comes from $OPENAI_API_KEY")
        network = {k: v for k, v in (("concurrency", concurrency), ("timeout", timeout)) if v is not None}
        return ApiJudge(model, base, mode, max_tokens=max_new_tokens, price=override, **network)
    if concurrency is not None or timeout is not None:
        raise ConfigError(f"--judge-concurrency and --judge-timeout apply to --judge api, not --judge {kind}")
    if not ckpt:
        raise ConfigError(f"--judge {kind} needs --judge-ckpt PATH (a model dir, .gguf file, hub id or "
                          f"demo:smollm2-135m)")
    local = {"price": override} if override is not None else {}
    return LocalJudge(resolve(ckpt), mode, settings, max_new_tokens, backend=kind, **local)
