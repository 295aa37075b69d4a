"""Source adapters on the real files of ../shared/data, and on small files written here for the other formats."""

from __future__ import annotations

import gzip
import hashlib
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sfteval.config import ConfigError, SourceSpec
from sfteval.train.sources import NO_PAIR, SourceError, is_hub_id, load_source

GPT = {"gpt", "chatgpt", "bard", "bing", "model", "assistant"}


def load(name, path, fmt, **kw):
    return load_source(name, SourceSpec(path=str(path), format=fmt, **kw))


def test_gsm8k_keeps_every_record_and_strips_calculator_notes_on_request(shared_data):
    path = shared_data / "gsm8k" / "train.jsonl"
    raw = [json.loads(line) for line in path.read_text().splitlines()]
    kept = load("math", path, "gsm8k")
    assert len(raw) == len(kept.examples) == 7473 and kept.dropped == {}
    assert kept.file_sha256.startswith("17f347dc")  # the README's sha256 of the upstream file
    assert [e.id for e in kept.examples[:3]] == ["0", "1", "2"]
    assert kept.examples[0].messages == ({"role": "user", "content": raw[0]["question"]},
                                         {"role": "assistant", "content": raw[0]["answer"]})
    assert "<<48/2=24>>" in kept.examples[0].messages[1]["content"]

    stripped = load("math", path, "gsm8k", strip_calculator=True)
    assert stripped.examples[0].messages[1]["content"] == (
        "Natalia sold 48/2 = 24 clips in May.\nNatalia sold 48+24 = 72 clips altogether in April and May.\n#### 72")
    with_notes = sum("<<" in r["answer"] for r in raw)
    assert with_notes > 7000 and not any("<<" in e.messages[1]["content"] for e in stripped.examples)
    assert all(a.id == b.id and a.sha256 != b.sha256 for a, b in zip(kept.examples, stripped.examples)
               if "<<" in a.messages[1]["content"])


def test_code_alpaca_drops_the_two_records_without_output_and_appends_inputs(shared_data):
    path = shared_data / "code_alpaca" / "code_alpaca_2k.json"
    raw = json.loads(path.read_text())
    no_output = [i for i, r in enumerate(raw) if not r["output"].strip()]
    assert len(raw) == 2017 and no_output == [237, 1859]

    code = load("code", path, "code_alpaca")
    assert len(code.examples) == 2015 and code.dropped == {NO_PAIR: 2}
    by_id = {e.id: e for e in code.examples}
    assert "237" not in by_id and "1859" not in by_id
    assert by_id["0"].messages[0]["content"] == (
        "What are the distinct values from the given list?\n\ndataList = [3, 9, 3, 5, 7, 9, 5]")
    no_input = next(i for i, r in enumerate(raw) if not r["input"].strip())
    assert by_id[str(no_input)].messages == ({"role": "user", "content": raw[no_input]["instruction"]},
                                             {"role": "assistant", "content": raw[no_input]["output"]})


def test_sharegpt_sample_counts_every_fix_and_drop(shared_data):
    path = shared_data / "sharegpt" / "sharegpt_v3_sample_1000.json"
    raw = json.loads(path.read_text())
    general = load("general", path, "sharegpt")
    assert general.dropped == {
        "assistant message before the first user message": 331,
        "empty message": 4,
        "same-role message merged into the previous one": 2,
        NO_PAIR: 9,
    }
    assert len(general.examples) == 991 and len(general.examples) + general.dropped[NO_PAIR] == len(raw)

    # the same numbers, counted straight from the raw file
    nonempty = {r["id"]: [m for m in r["conversations"] if m["value"].strip()] for r in raw}
    no_user = [i for i, c in nonempty.items() if not any(m["from"] == "human" for m in c)]
    assert len(no_user) == 9 and all({m["from"] for m in nonempty[i]} == {"gpt"} for i in no_user)
    leading = {i: next(k for k, m in enumerate(c) if m["from"] in ("human", "system"))
               for i, c in nonempty.items() if i not in no_user}
    assert sum(leading.values()) == 331
    assert sum(not m["value"].strip() for r in raw for m in r["conversations"]) == 4
    rest = {i: [m["from"] for m in c[leading[i]:]] for i, c in nonempty.items() if i in leading}
    merged = {i: sum(a == b for a, b in zip(f, f[1:])) for i, f in rest.items()}
    assert {i: n for i, n in merged.items() if n} == {"WMCH9HX_0": 1, "fU9LsAB_17": 1}

    # what survives: alternating turns that end with the assistant, under the records' own ids
    examples = {e.id: e for e in general.examples}
    assert set(examples) == set(leading)
    for e in general.examples:
        roles = [m["role"] for m in e.messages if m["role"] != "system"]
        assert roles == ["user", "assistant"] * (len(roles) // 2) and len(roles) >= 2
    # the README's 660 strictly alternating conversations pass unchanged, but for the one with an empty
    # message; the one that opens with a system turn passes unchanged too
    strict = {r["id"] for r in raw if [m["from"] for m in r["conversations"]] == ["human", "gpt"] * (len(r["conversations"]) // 2)}
    role = {"human": "user", "gpt": "assistant", "system": "system"}
    unchanged = {r["id"] for r in raw if r["id"] in examples and examples[r["id"]].messages == tuple(
        {"role": role[m["from"]], "content": m["value"]} for m in r["conversations"])}
    assert len(strict) == 660 and unchanged == strict - {"WMCH9HX_0"} | {"ufsbA0x_0"}
    assert [m["role"] for m in examples["ufsbA0x_0"].messages] == ["system", "user", "assistant"]
    assert examples["WMCH9HX_0"].messages[-1]["content"].endswith(
        "\n\nOnly one message at a time. Please allow any other responses to complete before sending another message, or wait one minute.")


def test_roles_are_normalised_and_bad_turns_fixed(tmp_path):
    record = {"messages": [
        {"role": "assistant", "content": "leading answer"}, {"role": "system", "content": "be brief"},
        {"role": "USER", "content": "hi"}, {"role": "system", "content": "late system"},
        {"role": "narrator", "content": "?"}, {"role": "user", "content": " "}, {"role": "user", "content": "there"},
        {"role": "Bard", "content": "hello"}, {"role": "human", "content": "bye"}]}
    path = tmp_path / "chat.jsonl"
    path.write_text(json.dumps(record) + "\n\n" + json.dumps({"id": 7, "messages": [{"role": "user", "content": "q"}]}) + "\n")
    source = load("chat", path, "messages")
    [e] = source.examples
    assert e.id == "0" and e.messages == ({"role": "system", "content": "be brief"},
                                          {"role": "user", "content": "hi\n\nthere"},
                                          {"role": "assistant", "content": "hello"})
    assert source.dropped == {"assistant message before the first user message": 1,
                              "system message after the start": 1, "message with an unknown role": 1,
                              "empty message": 1, "same-role message merged into the previous one": 1,
                              "message after the last assistant message": 1, NO_PAIR: 1}


def test_every_file_kind_reads_the_same_examples(tmp_path):
    records = [{"id": f"r{i}", "query": f"What is {i}+1?", "response": f"{i}+1=<<{i}+1={i + 1}>>{i + 1}\n#### {i + 1}"}
               for i in range(5)] + [{"id": "r0", "query": "again?", "response": "yes"}]
    lines = "".join(json.dumps(r) + "\n" for r in records)
    files = {"a.jsonl": lines.encode(), "a.json": json.dumps(records).encode(), "lines.json": lines.encode(),
             "a.jsonl.gz": gzip.compress(lines.encode()), "a.json.gz": gzip.compress(json.dumps(records).encode())}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    pq.write_table(pa.Table.from_pylist(records), tmp_path / "a.parquet")
    (tmp_path / "a.parquet.gz").write_bytes(gzip.compress((tmp_path / "a.parquet").read_bytes()))

    reference = load("rft", tmp_path / "a.jsonl", "gsm8k_rft", strip_calculator=True)
    assert [e.id for e in reference.examples] == ["r0", "r1", "r2", "r3", "r4", "r0@5"]  # a repeated id stays unique
    assert reference.examples[3].messages[1]["content"] == "3+1=4\n#### 4"
    for name in [*files, "a.parquet", "a.parquet.gz"]:
        source = load("rft", tmp_path / name, "gsm8k_rft", strip_calculator=True)
        assert source.examples == reference.examples, name
        assert source.file_sha256 == hashlib.sha256((tmp_path / name).read_bytes()).hexdigest()

    conversations = [{"conversations": [{"from": "human", "value": "q"}, {"from": "chatgpt", "value": "a"}]}]
    pq.write_table(pa.Table.from_pylist(conversations), tmp_path / "s.parquet")  # nested lists of structs
    [e] = load("general", tmp_path / "s.parquet", "sharegpt").examples
    assert e.messages == ({"role": "user", "content": "q"}, {"role": "assistant", "content": "a"})


def test_hub_ids_are_told_apart_from_paths():
    assert is_hub_id("openai/gsm8k") and is_hub_id("OFA-Sys/gsm8k-ScRel")
    assert not any(map(is_hub_id, ["../shared/data/x.jsonl", "data/train.json", "train.jsonl", "a/b/c", "org/x.parquet"]))


def error(name, path, fmt, **kw) -> str:
    with pytest.raises(SourceError) as e:
        load(name, path, fmt, **kw)
    message = str(e.value)
    assert isinstance(e.value, ConfigError) and "\n" not in message
    return message


def test_bad_sources_say_what_is_wrong_in_one_line(tmp_path, shared_data):
    code = shared_data / "code_alpaca" / "code_alpaca_2k.json"
    assert error("math", code, "gsm8k") == (
        f"{code}: record 0 does not match format gsm8k (expected text keys question, answer; "
        "got instruction, input, output)")
    assert error("m", "../nowhere/train.jsonl", "gsm8k") == (
        "source m: ../nowhere/train.jsonl is not a file (nor a hub dataset id like org/name): check the source's path")
    assert error("m", tmp_path, "gsm8k") == (
        f"source m: {tmp_path} is not a file (nor a hub dataset id like org/name): check the source's path")

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "q", "answer": "a"}\n{"question": "q", "answer": null}\n')
    assert error("m", bad, "gsm8k") == f"{bad}: record 1 does not match format gsm8k (expected text keys question, answer; got question, answer)"
    bad.write_text('{"question": "q", "answer": "a"}\n{"question": \n')
    assert error("m", bad, "gsm8k") == f"{bad}: cannot read it as .jsonl: line 2 is not JSON (Expecting value)"
    bad.write_text('{"conversations": [{"from": "human", "text": "hi"}]}\n')
    assert error("g", bad, "sharegpt") == (
        f"{bad}: record 0 does not match format sharegpt (expected text keys conversations: [{{from, value}}]; got conversations)")
    bad.write_text('["just", "strings"]')
    assert error("m", bad, "messages") == (
        f"{bad}: record 0 does not match format messages (expected text keys messages: [{{role, content}}]; got str)")
    bad.write_text('{"a": 1}')
    assert error("m", bad, "gsm8k") == f"{bad}: record 0 does not match format gsm8k (expected text keys question, answer; got a)"

    gz = tmp_path / "broken.jsonl.gz"
    gz.write_bytes(b"not gzip at all")
    assert error("m", gz, "gsm8k") == f"{gz}: cannot read it as .jsonl.gz: Not a gzipped file (b'no')"
    cut = tmp_path / "cut.json"
    cut.write_text('[{"question": "q", "answer": "a"},')
    assert error("m", cut, "gsm8k") == f"{cut}: cannot read it as .json: Expecting value: line 1 column 35 (char 34)"
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"PAR1 nonsense")
    assert error("m", broken, "gsm8k").startswith(f"{broken}: cannot read it as .parquet: ")
    csv = tmp_path / "data.csv"
    csv.write_text("question,answer\n")
    assert error("m", csv, "gsm8k") == f"{csv}: unsupported file type; use .json, .jsonl or .parquet, optionally .gz-compressed"

    with pytest.raises(SourceError, match=r"^source m: unknown format 'csv'; use one of gsm8k, gsm8k_rft, code_alpaca, sharegpt, messages$"):
        load_source("m", SourceSpec.model_construct(path=str(csv), format="csv", split="train", strip_calculator=False))
