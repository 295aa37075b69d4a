"""Validated settings of an evaluation run: what the CLI parses and what the runner and backends read."""

from __future__ import annotations

import os
import re
from fractions import Fraction
from pathlib import Path
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
    limit: int | None = Field(default=None, ge=1)              # the "full" set: a seeded sample of this many records
    # data selection (sfteval/audit/select.py): filters remove records, then `select` orders what is left, and
    # every subset is a prefix of that order; the defaults keep the seeded random order of all records
    select: Literal["random", "kcenter", "ifd"] = "random"
    max_tokens: int | None = Field(default=None, ge=1)         # drop conversations longer (scorer's chat template)
    dedup: Literal["exact", "near"] | None = None              # keep the first of each duplicate group
    decontaminate: bool = False                                # drop records sharing a 13-gram with an eval set
    scorer: str = "demo:smollm2-135m"                          # ifd's small model; its tokenizer counts max_tokens


Amount = Fraction


class Strategy(BaseModel):
    """One strategy of a grid. `fractions` defaults to the grid's for single/multitask/ratio and to [1]
    (all the data, as in the paper's RQ4) for the multi-stage strategies."""
    kind: Literal["single", "multitask", "sequential", "mixed_sequential", "dmt", "ratio"]
    fractions: list[Fraction] | None = None
    order: list[str] = Field(default_factory=lambda: ["code", "math", "general"])  # sequential
    k: list[Fraction] = Field(default_factory=list)                                # dmt replay fractions
    fixed: dict[str, Fraction] = Field(default_factory=dict)                       # ratio: sources held fixed
    vary: list[str] = Field(default_factory=list)                                  # ratio: sources scaled

    @field_validator("fractions", "k", mode="before")
    @classmethod
    def _fractions(cls, values):
        return None if values is None else [parse_fraction(v) for v in values]

    @field_validator("fixed", mode="before")
    @classmethod
    def _fixed(cls, values: dict):
        return {name: parse_fraction(v) for name, v in (values or {}).items()}


class EvalSpec(BaseModel):
    tasks: list[str] = Field(default_factory=lambda: ["gsm8k", "humaneval", "mtbench"])
    limit: int | None = Field(default=None, ge=1)
    limits: dict[str, int] = Field(default_factory=dict)  # per-task overrides, e.g. cheap probes on more items
    batch_size: int = Field(default=8, ge=1)
    max_new_tokens: int | None = Field(default=None, ge=1)
    judge: dict | None = None  # build_judge's arguments, e.g. {kind: hf, ckpt: demo:smollm2-135m, mode: logprob}


class GridConfig(BaseModel):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    base: str
    sources: dict[str, SourceSpec]
    fractions: list[Fraction] = Field(default_factory=lambda: [Fraction(1)])
    strategies: list[Strategy]
    train: TrainSettings = Field(default_factory=TrainSettings)
    eval: EvalSpec = Field(default_factory=EvalSpec)
    seed: int = 42
    out_dir: str = "sfteval-runs"           # stage checkpoints go to OUT_DIR/stages/<hash>
    launcher: str | None = None             # e.g. "accelerate launch --config_file configs/accelerate/ddp.yaml"

    @field_validator("fractions", mode="before")
    @classmethod
    def _fractions(cls, values):
        return [parse_fraction(v) for v in values]

    @field_validator("strategies", mode="before")
    @classmethod
    def _strategies(cls, values):
        # YAML shorthand: `single` or `{dmt: {k: [...]}}` -> {"kind": ..., **options}
        out = []
        for v in values:
            if isinstance(v, str):
                out.append({"kind": v})
            elif isinstance(v, dict) and len(v) == 1 and "kind" not in v:
                (kind, options), = v.items()
                out.append({"kind": kind, **(options if isinstance(options, dict) else {"order": options})})
            else:
                out.append(v)
        return out

    def ability(self, source: str) -> str:
        return self.sources[source].ability or source


def read_yaml_mapping(path: Path, what: str, example: str, fields: str) -> dict:
    """A YAML file holding a mapping (its `name` defaults to the file's stem), or a one-line ConfigError."""
    import yaml

    if not path.is_file():
        raise ConfigError(f"{what} {path} not found: pass a YAML file such as {example}")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise ConfigError(f"{path} is not valid YAML ({str(e).splitlines()[0]}): fix the file") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path} must hold a mapping ({fields}): see {example}")
    raw.setdefault("name", path.stem)
    return raw


def load_grid(path: str | Path) -> GridConfig:
    """Read a grid YAML; ${VAR} in source paths and out_dir come from the environment."""
    path = Path(path)
    raw = read_yaml_mapping(path, "grid config", "configs/demo.yaml", "name, base, sources, strategies, ...")
    try:
        config = GridConfig(**_expand(raw, path))
    except ValidationError as e:
        err = e.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise ConfigError(f"{path}: {where}: {err['msg']}") from None
    _check_names(config, path)
    return config


def _expand(value, path: Path):
    if isinstance(value, str):
        missing = [v for v in re.findall(r"\$\{(\w+)\}", value) if v not in os.environ]
        if missing:
            raise ConfigError(f"{path} uses ${{{missing[0]}}} but it is not set: export {missing[0]}=... "
                              "(e.g. the folder holding your SFT data)")
        return os.path.expandvars(value)
    if isinstance(value, dict):
        return {k: _expand(v, path) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand(v, path) for v in value]
    return value


def _check_names(config: GridConfig, path: Path) -> None:
    known = set(config.sources) | {config.ability(n) for n in config.sources}
    for s in config.strategies:
        if s.kind == "dmt" and not s.k:
            raise ConfigError(f"{path}: dmt needs k, e.g. {{dmt: {{k: [1, 1/4, 1/16]}}}}")
        if s.kind == "ratio" and not (s.fixed and s.vary):
            raise ConfigError(f"{path}: ratio needs fixed and vary, e.g. {{ratio: {{fixed: {{general: 1}}, vary: [math, code]}}}}")
        used = set(s.order if s.kind == "sequential" else []) | set(s.fixed) | set(s.vary)
        if s.kind in ("mixed_sequential", "dmt"):
            used |= {"general"} if known & {"math", "code"} else {"general", "math or code"}
        if unknown := sorted(used - known):
            raise ConfigError(f"{path}: strategy {s.kind} needs source {unknown[0]!r} but sources are "
                              f"{', '.join(sorted(config.sources))}: add it under sources (or set its ability:)")
