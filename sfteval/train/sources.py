"""SFT sources: raw files (or hub datasets) in five formats -> chat examples that end with an assistant turn.

Every format goes through one cleaning pass, `_conversation`, so ShareGPT's mess and a GSM8K record with an
empty answer are handled by the same rules:
- roles are normalised (human/user -> user; gpt/chatgpt/bard/bing/model/assistant -> assistant; system);
- a message with an unknown role, empty content, a system message after the start, or an assistant message
  before the first user message is dropped;
- consecutive messages of one role are merged (joined by a blank line), not dropped: in ShareGPT they come
  from an answer split by "continue generating" or from an empty user message between two answers, and the
  text is still a coherent turn;
- messages after the last assistant message are dropped (nothing to learn from them);
- a conversation left without a user -> assistant pair is dropped.
`Source.dropped` counts each by reason: whole records for the last rule (so kept + that count = records
read), messages removed or merged for the others, counted in kept conversations only.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from sfteval.config import ConfigError, SourceSpec

ROLES = {"human": "user", "user": "user", "system": "system",
         **dict.fromkeys(["gpt", "chatgpt", "bard", "bing", "model", "assistant"], "assistant")}
NO_PAIR = "conversation without a user->assistant pair"
_FILE_KINDS = (".json", ".jsonl", ".parquet")
_HUB_ID = re.compile(r"[\w-][\w.-]*/[\w.-]+")
_CALCULATOR = re.compile(r"<<[^<>]*>>")


class SourceError(ConfigError):
    """A source that cannot be read or does not match its format; one line naming the file and the fix."""


def canonical_json(value) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Example:
    id: str                      # the record's own id, else its 0-based index in the file; unique per source
    messages: tuple[dict, ...]   # {"role": "system"|"user"|"assistant", "content": str}, ends with assistant
    sha256: str                  # of the canonical JSON of messages: the content address


@dataclass
class Source:
    name: str
    spec: SourceSpec
    examples: list[Example]
    dropped: dict[str, int]      # reason -> count: records for NO_PAIR, messages of kept records otherwise
    file_sha256: str | None      # of the file as read; None for a hub dataset


# --- formats: a record -> raw (role, content) turns; a missing key or a non-text value raises -------------

def _text(record: dict, key: str) -> str:
    value = record[key]
    if not isinstance(value, str):
        raise TypeError(key)
    return value


def _gsm8k(question: str, answer: str, spec: SourceSpec) -> list[tuple[str, str]]:
    return [("user", question), ("assistant", _CALCULATOR.sub("", answer) if spec.strip_calculator else answer)]


def _alpaca(r: dict, spec: SourceSpec) -> list[tuple[str, str]]:
    extra = _text(r, "input") if "input" in r else ""
    prompt = _text(r, "instruction") + (f"\n\n{extra}" if extra.strip() else "")  # as Alpaca's prompt_input
    return [("user", prompt), ("assistant", _text(r, "output"))]


def _turns(r: dict, key: str, role: str, content: str) -> list[tuple[str, str]]:
    if not isinstance(r[key], list):
        raise TypeError(key)
    return [(_text(m, role), _text(m, content)) for m in r[key]]


FORMATS = {  # format -> (the keys it expects, as said in errors; the adapter)
    "gsm8k": ("question, answer", lambda r, s: _gsm8k(_text(r, "question"), _text(r, "answer"), s)),
    "gsm8k_rft": ("query, response", lambda r, s: _gsm8k(_text(r, "query"), _text(r, "response"), s)),
    "code_alpaca": ("instruction, input (optional), output", _alpaca),
    "sharegpt": ("conversations: [{from, value}]", lambda r, s: _turns(r, "conversations", "from", "value")),
    "messages": ("messages: [{role, content}]", lambda r, s: _turns(r, "messages", "role", "content")),
}


def _conversation(turns: list[tuple[str, str]], dropped: Counter) -> tuple[dict, ...] | None:
    fixes, out = Counter(), []
    for raw_role, content in turns:
        role = ROLES.get(raw_role.lower())
        if role is None:
            fixes["message with an unknown role"] += 1
        elif not content.strip():
            fixes["empty message"] += 1
        elif role == "system" and out:
            fixes["system message after the start"] += 1
        elif role == "assistant" and not any(m["role"] == "user" for m in out):
            fixes["assistant message before the first user message"] += 1
        elif out and out[-1]["role"] == role:
            out[-1]["content"] += "\n\n" + content
            fixes["same-role message merged into the previous one"] += 1
        else:
            out.append({"role": role, "content": content})
    if not any(m["role"] == "assistant" for m in out):
        dropped[NO_PAIR] += 1  # a dropped record counts once, not also by the messages it lost
        return None
    while out[-1]["role"] != "assistant":
        out.pop()
        fixes["message after the last assistant message"] += 1
    dropped.update(fixes)
    return tuple(out)


# --- reading --------------------------------------------------------------------------------------------

def _parse(raw: bytes, kind: str) -> list:
    if kind == ".parquet":
        return pq.read_table(pa.BufferReader(raw)).to_pylist()
    text = raw.decode("utf-8")
    if text.lstrip().startswith("["):  # a JSON list; anything else is read as JSON lines, as datasets does
        return json.loads(text)
    records = []
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise ValueError(f"line {number} is not JSON ({e.msg})") from None
    return records


def _read_file(path: Path) -> tuple[list, str]:
    raw = path.read_bytes()
    kind = Path(path.stem).suffix if path.suffix == ".gz" else path.suffix
    if kind not in _FILE_KINDS:
        raise SourceError(f"{path}: unsupported file type; use .json, .jsonl or .parquet, optionally .gz-compressed")
    try:
        records = _parse(gzip.decompress(raw) if path.suffix == ".gz" else raw, kind)
    except (OSError, EOFError, ValueError) as e:  # bad gzip, bad UTF-8, bad JSON, bad parquet (ArrowInvalid)
        detail = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise SourceError(f"{path}: cannot read it as {kind}{'.gz' if kind != path.suffix else ''}: {detail}") from None
    return records, hashlib.sha256(raw).hexdigest()


def _read_hub(spec: SourceSpec) -> list:
    import datasets

    try:
        return list(datasets.load_dataset(spec.path, split=spec.split))
    except Exception as e:  # datasets raises many types (connection, missing split, bad repo): all mean "cannot load"
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise SourceError(f"cannot load hub dataset {spec.path!r} (split {spec.split!r}): {first}; "
                          "pass a local .json/.jsonl/.parquet path instead") from None


def is_hub_id(path: str) -> bool:
    return bool(_HUB_ID.fullmatch(path)) and not path.endswith(tuple(_FILE_KINDS) + (".gz",))


def load_source(name: str, spec: SourceSpec) -> Source:
    """Read `spec.path` (relative paths from the working directory) and turn every record into an Example."""
    if spec.format not in FORMATS:
        raise SourceError(f"source {name}: unknown format {spec.format!r}; use one of {', '.join(FORMATS)}")
    keys, adapter = FORMATS[spec.format]
    path = Path(spec.path).expanduser()
    if path.is_file():
        records, file_sha256 = _read_file(path)
    elif is_hub_id(spec.path) and not path.exists():
        records, file_sha256 = _read_hub(spec), None
    else:
        raise SourceError(f"source {name}: {spec.path} is not a file (nor a hub dataset id like org/name): "
                          "check the source's path")
    examples, dropped, seen = [], Counter(), set()
    for index, record in enumerate(records):
        try:
            turns = adapter(record, spec)
        except (KeyError, TypeError):
            got = ", ".join(map(str, record)) if isinstance(record, dict) else type(record).__name__
            raise SourceError(f"{spec.path}: record {index} does not match format {spec.format} "
                              f"(expected text keys {keys}; got {got or 'nothing'})") from None
        messages = _conversation(turns, dropped)
        if messages is None:
            continue
        own = record.get("id")
        uid = str(own) if isinstance(own, (str, int)) else str(index)
        uid = f"{uid}@{index}" if uid in seen else uid  # a repeated id in the file stays unique
        seen.add(uid)
        examples.append(Example(uid, messages, sha256_text(canonical_json(messages))))
    return Source(name, spec, examples, dict(dropped), file_sha256)
