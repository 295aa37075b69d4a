"""The judge `sfteval run --judge ...` asks for, checked before anything is written."""

from __future__ import annotations

from sfteval.checkpoints import resolve
from sfteval.config import ConfigError, RunSettings
from sfteval.judge.client import MODES, ApiJudge, Judge
from sfteval.judge.data import TASK  # the one task a judge scores
from sfteval.judge.local import LocalJudge
from sfteval.judge.prompts import JUDGE_MAX_TOKENS

KINDS = ("none", "api", "hf")


def build_judge(kind: str | None, settings: RunSettings, *, model: str | None = None, base: str | None = None,
                ckpt: str | None = None, mode: str = "generate", max_new_tokens: int | None = None) -> Judge | None:
    """None for no judge (answers only). Without --judge, a --judge-ckpt means hf and a --judge-model means api."""
    kind = kind or ("hf" if ckpt else "api" if model else "none")
    if kind not in KINDS:
        raise ConfigError(f"--judge must be one of {', '.join(KINDS)} (got {kind!r})")
    if mode not in MODES:
        raise ConfigError(f"--judge-mode must be one of {', '.join(MODES)} (got {mode!r})")
    if max_new_tokens is not None and max_new_tokens < 1:
        raise ConfigError(f"--judge-max-new-tokens must be at least 1 (got {max_new_tokens})")
    if kind == "none":
        return None
    if settings.tasks and TASK not in settings.tasks:  # no --tasks: every task, MT-Bench included
        raise ConfigError(f"--judge scores MT-Bench answers: add --tasks {TASK}")
    max_new_tokens = max_new_tokens or JUDGE_MAX_TOKENS
    if kind == "api":
        if not model or not base:
            raise ConfigError("--judge api needs --judge-model NAME and --judge-base URL "
                              "(e.g. http://127.0.0.1:8000/v1); the key comes from $OPENAI_API_KEY")
        return ApiJudge(model, base, mode, max_tokens=max_new_tokens)
    if not ckpt:
        raise ConfigError("--judge hf needs --judge-ckpt PATH (a model dir, .gguf file, hub id or demo:smollm2-135m)")
    return LocalJudge(resolve(ckpt), mode, settings, max_new_tokens)
