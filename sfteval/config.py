"""Validated settings of an evaluation run: what the CLI parses and what the runner and backends read."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, ValidationError, field_validator

Backend = Literal["hf", "vllm", "api"]
ChatTemplate = Literal["auto", "vicuna", "alpaca", "chatml", "none"]


class ConfigError(ValueError):
    """Bad settings; the message names the option and the fix."""


class RunSettings(BaseModel):
    backend: Backend = "hf"
    tasks: list[str] = Field(default_factory=list)          # empty: every available task
    limit: int | None = Field(default=None, ge=1)
    batch_size: int = Field(default=8, ge=1)
    max_new_tokens: int | None = Field(default=None, ge=1)  # None: each task's own default
    samples: int = Field(default=1, ge=1)                   # samples per problem, for pass@k
    temperature: float | None = Field(default=None, ge=0)
    device: str | None = None                               # None: cuda when available, else cpu
    dtype: str = "auto"
    chat_template: ChatTemplate = "auto"                    # auto: the model's own template
    api_base: str | None = None
    api_model: str | None = None

    @field_validator("tasks")
    @classmethod
    def _no_empty_names(cls, tasks: list[str]) -> list[str]:
        return [t.strip() for t in tasks if t.strip()]

    def output_settings(self) -> dict:
        """The settings that can change a generated output (batch size and device only change speed)."""
        return self.model_dump(include={"backend", "dtype", "chat_template", "api_base", "api_model"})


_HINTS = {
    "limit": "--limit must be a positive number of problems (omit it for all)",
    "batch_size": "--batch-size must be at least 1",
    "max_new_tokens": "--max-new-tokens must be at least 1",
    "samples": "--samples must be at least 1",
    "temperature": "--temperature must be >= 0",
    "backend": "--backend must be one of hf, vllm, api",
    "chat_template": "--chat-template must be one of auto, vicuna, alpaca, chatml, none",
}


def run_settings(**values) -> RunSettings:
    try:
        settings = RunSettings(**values)
    except ValidationError as e:
        field = str(e.errors()[0]["loc"][0])
        raise ConfigError(f"{_HINTS.get(field, field)} (got {values.get(field)!r})") from None
    if settings.backend == "api":
        if not settings.api_base or not settings.api_model:
            raise ConfigError("--backend api needs --api-base URL (e.g. http://127.0.0.1:8000/v1) and --api-model NAME")
    if settings.samples > 1 and not settings.temperature:
        raise ConfigError("--samples > 1 needs --temperature > 0 (greedy decoding gives the same sample every time)")
    return settings
