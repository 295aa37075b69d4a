"""Validated settings of an evaluation run: what the CLI parses and what the runner and backends read."""

from __future__ import annotations

from fractions import Fraction
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


# --- training and grids ---------------------------------------------------------------------------------

def parse_fraction(value: str | int | float) -> Fraction:
    """`1/16`, `0.25` or `1` -> an exact Fraction in (0, 1]; the one place fractions are parsed."""
    try:
        f = Fraction(str(value).strip()).limit_denominator(1 << 20)
    except (ValueError, ZeroDivisionError):
        raise ConfigError(f"fraction {value!r} is not a number: write it as 1, 1/4, 1/16 or 0.25") from None
    if not 0 < f <= 1:
        raise ConfigError(f"fraction {value} is outside (0, 1]: use 1 for all of a source, 1/256 for the smallest")
    return f


def fraction_text(f: Fraction) -> str:
    return str(f)  # Fraction(1, 16) -> "1/16", Fraction(1) -> "1"


class LoraSettings(BaseModel):
    r: int = Field(default=16, ge=1)
    alpha: int = Field(default=32, ge=1)
    dropout: float = Field(default=0.05, ge=0, lt=1)
    target_modules: list[str] | str = "all-linear"


class TrainSettings(BaseModel):
    """Hyperparameters of one training stage; the defaults are the paper's (Dong et al., 2024, Sec. 3)."""
    epochs: float = Field(default=3, gt=0)
    max_steps: int | None = Field(default=None, ge=1)        # caps a stage (demos); None: run all epochs
    lr: float = Field(default=2e-5, gt=0)
    warmup_ratio: float = Field(default=0.03, ge=0, lt=1)
    scheduler: str = "cosine"
    weight_decay: float = Field(default=0.0, ge=0)
    global_batch: int = Field(default=128, ge=1)              # reached by gradient accumulation
    micro_batch: int = Field(default=4, ge=1)                 # per device
    max_length: int = Field(default=2048, ge=16)
    packing: bool = False                                     # packed rows never attend across samples
    chat_template: Literal["auto", "vicuna"] = "auto"         # auto: the model's own template
    lora: LoraSettings | None = None                          # None: full fine-tuning
    gradient_checkpointing: bool = False
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    seed: int = 42


class SourceSpec(BaseModel):
    """One SFT source: a file path or hub id, and the adapter that turns its records into chat messages."""
    path: str
    format: Literal["gsm8k", "gsm8k_rft", "code_alpaca", "sharegpt", "messages"]
    ability: Literal["math", "code", "general"] | None = None  # None: the source's name in the config
    split: str = "train"                                       # hub ids only
    strip_calculator: bool = False                             # gsm8k: drop the <<48/2=24>> notes
