"""GPU memory and tokens of a training stage, estimated before any GPU is rented.

Per device, in bytes, for a Llama-style decoder trained as sfteval trains (sft.py: torch AdamW; fp32 master
weights unless dtype is bfloat16; bf16 autocast on a GPU):
- weights: every parameter (wb bytes: 2 with dtype bfloat16, else 4); LoRA adds its adapters in fp32, and
  autocast keeps a bf16 copy of each fp32 linear weight from forward to backward;
- gradients and AdamW's two moments: one and two copies of the trainable parameters;
- activations, for micro_batch x max_length tokens (ab bytes: 2 under autocast, 4 in fp32), per layer and token:
  the RMSNorms keep their fp32 input and output (2 x 2 x h x 4 bytes); attention keeps q, k and v (k, v widened
  to all heads) and its output (4h); the MLP keeps gate, up and SiLU(gate) (3i); the trained linear layers keep
  their inputs (full: the attention output h and the MLP product i; LoRA: the dropout copy of each adapted
  layer's input, and its mask). With gradient checkpointing a layer keeps only its input (4h bytes) and one layer
  is recomputed at a time. The logits cost V x (ab + 4 + 4 + 4) bytes per token: the model's output, its fp32
  copy (under autocast), the log-softmax that cross-entropy keeps and that log-softmax's gradient;
- ZeRO-3 over N devices divides weights, gradients and optimizer states by N (activations are per device).
Not counted: the CUDA context and allocator fragmentation (about 1 GB on a GPU).
The model's shape comes from its config.json or GGUF metadata, a known LLaMA shape for an unreachable hub id,
or `--params` (the nearest known LLaMA shape at that size).
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from sfteval.config import ConfigError, LoraSettings, TrainSettings

GIB = 1 << 30
LORA_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@dataclass(frozen=True)
class Shape:
    params: int
    hidden: int
    layers: int
    intermediate: int
    heads: int
    kv_heads: int
    vocab: int
    tied: bool = False
    source: str = ""

    @property
    def kv(self) -> int:
        return self.hidden * self.kv_heads // self.heads

    def modules(self) -> dict[str, tuple[int, int]]:
        """(in, out) features of each linear layer of one decoder layer."""
        h, i = self.hidden, self.intermediate
        return {"q_proj": (h, h), "k_proj": (h, self.kv), "v_proj": (h, self.kv), "o_proj": (h, h),
                "gate_proj": (h, i), "up_proj": (h, i), "down_proj": (i, h)}


def llama(hidden: int, layers: int, intermediate: int, heads: int, kv_heads: int, vocab: int, tied: bool = False,
          source: str = "") -> Shape:
    """A Llama decoder's shape with its parameter count (embeddings, attention, SwiGLU MLP, RMSNorms, head)."""
    shape = Shape(0, hidden, layers, intermediate, heads, kv_heads, vocab, tied, source)
    per_layer = sum(a * b for a, b in shape.modules().values()) + 2 * hidden
    return replace(shape, params=vocab * hidden * (1 if tied else 2) + layers * per_layer + hidden)


KNOWN = {  # LLaMA (Touvron et al., 2023), the paper's models
    "llama-7b": llama(4096, 32, 11008, 32, 32, 32000, source="LLaMA-7B"),
    "llama-13b": llama(5120, 40, 13824, 40, 40, 32000, source="LLaMA-13B"),
    "llama-33b": llama(6656, 60, 17920, 52, 52, 32000, source="LLaMA-33B"),
    "llama-65b": llama(8192, 80, 22016, 64, 64, 32000, source="LLaMA-65B"),
}


def model_shape(base: str, params: float | None = None) -> Shape:
    """The shape of checkpoint `base` (config.json, GGUF metadata, or a known LLaMA hub id); with `params`, the
    nearest known LLaMA shape at that size."""
    if params:
        near = min(KNOWN.values(), key=lambda s: abs(s.params - params))
        return replace(near, params=int(params), source=f"--params {params:.3g} ({near.source} shape)")
    from sfteval import checkpoints

    path = Path(base).expanduser()
    if base in checkpoints.DEMO_MODELS:
        return _gguf_shape(checkpoints.fetch_demo(base))
    if path.is_file() and path.suffix == ".gguf":
        return _gguf_shape(path)
    if (path / "config.json").is_file():
        return _config_shape(json.loads((path / "config.json").read_text()), str(path / "config.json"))
    if path.is_dir() and (ggufs := sorted(path.glob("*.gguf"))):
        return _gguf_shape(ggufs[0])
    name = base.rstrip("/").split("/")[-1].lower()
    if name in KNOWN:
        return KNOWN[name]
    if config := _hub_config(base):
        return _config_shape(config, f"{base} config.json")
    raise ConfigError(f"cannot read the shape of {base} here (no config.json or GGUF, not a known LLaMA id): pass "
                      "--params 7e9 for an estimate at that size")


def _hub_config(repo_id: str) -> dict | None:
    """A hub model's config.json alone (from the local hub cache when offline); None when it cannot be had."""
    if repo_id.count("/") != 1 or repo_id.startswith((".", "/", "~")):
        return None
    try:
        from huggingface_hub import hf_hub_download

        return json.loads(Path(hf_hub_download(repo_id, "config.json")).read_text())
    except Exception:  # offline, unknown or gated repo: the caller falls back to known shapes or --params
        return None


def _config_shape(c: dict, where: str) -> Shape:
    c = c.get("text_config", c)
    return llama(c["hidden_size"], c["num_hidden_layers"], c["intermediate_size"], c["num_attention_heads"],
                 c.get("num_key_value_heads") or c["num_attention_heads"], c["vocab_size"],
                 bool(c.get("tie_word_embeddings", False)), source=where)


def _gguf_shape(file: Path) -> Shape:
    """From the GGUF metadata; remembered by the file's content hash (reading the metadata takes seconds)."""
    from sfteval.checkpoints import cache_dir, file_sha256

    memo = cache_dir() / "shapes" / f"{file_sha256(file)}.json"
    if memo.is_file():
        return Shape(**json.loads(memo.read_text()))
    from gguf import GGUFReader

    reader = GGUFReader(str(file))
    arch = reader.fields["general.architecture"].contents()
    meta = {k.removeprefix(f"{arch}."): reader.fields[k].contents() for k in reader.fields if k.startswith(arch)}
    names = {t.name for t in reader.tensors}
    shape = Shape(sum(int(t.n_elements) for t in reader.tensors), meta["embedding_length"], meta["block_count"],
                  meta["feed_forward_length"], meta["attention.head_count"],
                  meta.get("attention.head_count_kv", meta["attention.head_count"]),
                  meta.get("vocab_size") or len(reader.fields["tokenizer.ggml.tokens"].data),
                  "output.weight" not in names, f"GGUF {file.name}")
    try:
        memo.parent.mkdir(parents=True, exist_ok=True)
        memo.write_text(json.dumps(asdict(shape)))
    except OSError:
        pass
    return shape


def _lora_targets(adapter: LoraSettings) -> list[str]:
    targets = adapter.target_modules
    if targets == "all-linear":
        return list(LORA_MODULES)
    targets = [targets] if isinstance(targets, str) else targets
    return [m for m in LORA_MODULES if any(re.fullmatch(t, m) or t == m for t in targets)]


def estimate(shape: Shape, settings: TrainSettings, *, lora: bool, checkpointing: bool, gpus: int = 1,
             zero3: bool = False, device: str = "gpu") -> dict[str, float]:
    """Bytes per device by part: weights, gradients, optimizer, activations, total."""
    h, i, n_layers = shape.hidden, shape.intermediate, shape.layers
    wb = 2 if settings.dtype == "bfloat16" else 4
    ab = 2 if device == "gpu" and settings.dtype != "float32" else 4
    shard = gpus if zero3 else 1
    linear = n_layers * sum(a * b for a, b in shape.modules().values()) + shape.vocab * shape.hidden
    adapter = settings.lora or LoraSettings()  # the defaults when the config trains fully
    targets, dropout = _lora_targets(adapter), adapter.dropout
    if lora:
        trainable = n_layers * adapter.r * sum(sum(shape.modules()[m]) for m in targets)
        weights, state_bytes = shape.params * wb + trainable * 4, 4
        inputs = {"o_proj": h, "down_proj": i}  # the inputs full fine-tuning keeps; q/k/v/gate/up share a norm's
        kept = sum(shape.modules()[m][0] * (ab + 1) for m in targets) if dropout else \
            sum(inputs.get(m, 0) * ab for m in set(targets))
    else:
        trainable, state_bytes = shape.params, wb
        weights, kept = shape.params * wb, (h + i) * ab
    autocast = (linear * 2 if wb == 4 and ab == 2 else 0) / (n_layers if zero3 else 1)  # ZeRO-3: a layer at a time
    layer = 16 * h + ab * (4 * h + 3 * i) + kept
    tokens = settings.micro_batch * settings.max_length
    stored = n_layers * 4 * h + layer if checkpointing else n_layers * layer
    activations = tokens * (stored + shape.vocab * (ab + 12))
    parts = {"weights": weights / shard + autocast,
             "gradients": trainable * state_bytes / shard, "optimizer": 2 * trainable * state_bytes / shard,
             "activations": activations}
    return {**parts, "total": sum(parts.values()), "trainable_params": trainable}


def memory_table(shape: Shape, settings: TrainSettings, gpus: int = 1) -> list[dict]:
    """The estimate in GiB for full fine-tuning and LoRA, with and without gradient checkpointing, on one device
    and with ZeRO-3 over `gpus`."""
    rows = []
    for method in ("full", "lora"):
        for checkpointing in (False, True):
            for zero3 in ((False, True) if gpus > 1 else (False,)):
                e = estimate(shape, settings, lora=method == "lora", checkpointing=checkpointing, gpus=gpus,
                             zero3=zero3)
                rows.append({"method": method, "checkpointing": checkpointing, "zero3_gpus": gpus if zero3 else None,
                             **{k: v / GIB for k, v in e.items() if k != "trainable_params"},
                             "configured": (method == "lora") == (settings.lora is not None)
                             and checkpointing == settings.gradient_checkpointing})
    return rows


def stage_tokens(stages, tokenizer, max_length: int) -> dict[str, int]:
    """Tokens of each stage's mixture as training sees them (chat template, cut at max_length), for one epoch;
    each distinct example is tokenized once."""
    from sfteval.audit.tokens import conversation_tokens

    unique = {e.sha256: e for sp in stages if sp.mixture for e in sp.mixture.examples}
    counts = dict(zip(unique, conversation_tokens(tokenizer, list(unique.values())).tolist()))
    return {sp.stage.key: sum(min(counts[e.sha256], max_length) for e in sp.mixture.examples)
            for sp in stages if sp.mixture}


def plan_costs(config, stages, gpus: int = 1, params: float | None = None) -> dict:
    """What `sfteval grid --dry-run` adds to a plan: the model's shape, the memory table, tokens per stage."""
    from sfteval.audit.tokens import training_tokenizer

    notes = []
    try:
        shape = model_shape(config.base, params)
        memory = memory_table(shape, config.train, gpus)
    except ConfigError as e:
        shape, memory = None, None
        notes.append(str(e))
    tokenizer, note = training_tokenizer(config.base, config.train.chat_template)
    notes += [note] if note else []
    return {"shape": asdict(shape) if shape else None, "gpus": gpus, "memory": memory,
            "tokens": stage_tokens(stages, tokenizer, config.train.max_length), "notes": notes}
