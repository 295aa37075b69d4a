"""The *_nll probes: lm-eval's loglikelihood of gold answers, checked against transformers on the real demo model,
scored over answer tokens only, and run, stored and cached by `sfteval run`."""

from __future__ import annotations

import json
import math

import duckdb
import pytest
import torch

from conftest import last_json, sfteval
from sfteval.backends import Generator
from sfteval.config import RunSettings
from sfteval.runner import plan_tasks
from sfteval.tasks import load_task, probes

PROBES = ["gsm8k_nll", "humaneval_nll", "mtbench_nll"]


@pytest.fixture(scope="module")
def demo(smollm2):
    """The real SmolLM2-135M-Instruct behind lm-eval's HFLM, as `sfteval run` builds it."""
    generator = Generator(smollm2, RunSettings(batch_size=4))
    generator.loglikelihood([("a", " b")])  # builds the model once for the module
    return generator


def _direct(generator: Generator, prompt: str, answer: str) -> tuple[float, int, list[int]]:
    """Mean NLL per token of the answer by transformers itself: one forward pass over prompt + answer with the
    prompt's labels masked (-100). The prompt's trailing whitespace is scored with the answer, as lm-eval does."""
    tokenizer, model = generator.tokenizer(), generator._lm(True).model
    context = tokenizer(prompt.rstrip())["input_ids"]
    ids = tokenizer(prompt + answer)["input_ids"]
    assert ids[:len(context)] == context
    labels = torch.tensor([[-100] * len(context) + ids[len(context):]])
    with torch.inference_mode():
        loss = model(input_ids=torch.tensor([ids]), labels=labels).loss
    return float(loss), len(ids) - len(context), ids[len(context):]


@pytest.mark.slow
@pytest.mark.parametrize("name", ["gsm8k_nll", "humaneval_nll"])
def test_nll_is_transformers_loss_on_answer_tokens_only(demo, name):
    task = load_task(name)
    requests = task.requests(2, demo.templater() if task.uses_chat_template else None)
    results = demo.loglikelihood([(r.prompt, r.continuation) for r in requests])
    samples, _ = task.score(requests, [json.dumps(r) for r in results])
    tokenizer = demo.tokenizer()
    for request, sample, result in zip(requests, samples, results):
        nll, count, answer_ids = _direct(demo, request.prompt, request.continuation)
        assert sample.score == pytest.approx(nll, abs=1e-4)
        assert result["tokens"] == count == sample.metrics["tokens"]
        # The scored tokens spell the answer and nothing of the prompt but the newline that ends it.
        assert tokenizer.decode(answer_ids) == "\n" + request.continuation
        assert sample.metrics["bytes"] == len(("\n" + request.continuation).encode())
        assert sample.metrics["bpb"] == pytest.approx(nll * count / math.log(2) / sample.metrics["bytes"], rel=1e-6)

    # Another prompt ending (its last tokens changed) changes the likelihood, not what is scored.
    request = requests[0]
    cut = request.prompt.rstrip().rfind(" ")
    other = request.prompt[:cut] + " Explain." + request.prompt[len(request.prompt.rstrip()):]
    (again,) = demo.loglikelihood([(other, request.continuation)])
    assert again["tokens"] == results[0]["tokens"] and again["logprob"] != results[0]["logprob"]


def test_bits_per_byte_of_a_known_string():
    # "héllo wörld": 11 characters, 13 UTF-8 bytes; 13 bits over 4 tokens.
    metrics = probes.process_results({}, [{"logprob": -13 * math.log(2), "tokens": 4, "text": "héllo wörld"}])
    assert metrics == {"nll": pytest.approx(13 * math.log(2) / 4), "bpb": pytest.approx(1.0), "tokens": 4,
                       "bytes": 13}
    assert probes.scored_text("<|im_start|>assistant\n", "Hi") == "\nHi"
    assert probes.scored_text('    """\n', "    return 1") == "\n    return 1"


def test_pooled_ratio_and_its_standard_error():
    # sum 6 / sum 4; residuals a - 1.5 b = -0.5, 0.5, 0 -> sqrt(0.5 / (3 * 2)) / (4 / 3)
    assert probes.pooled([1, 2, 3], [1, 1, 2]) == (1.5, pytest.approx(math.sqrt(0.5 / 6) * 0.75))
    assert probes.pooled([2], [4]) == (0.5, None)


def test_probe_data():
    gsm8k = load_task("gsm8k_nll").requests(1)[0]
    assert "<<" not in gsm8k.continuation and gsm8k.continuation.endswith("#### 18")
    assert gsm8k.continuation.startswith("Janet sells 16 - 3 - 4 = 9 duck eggs a day.")
    docs = probes.load_mtbench()["test"]
    assert len(docs) == 80 and docs["question_id"] == list(range(81, 161))
    by_source = {s: {c for c, src in zip(docs["category"], docs["source"]) if src == s} for s in set(docs["source"])}
    assert by_source == {"gpt-4": {"math", "reasoning", "coding"},
                         "mistral-orpo-capybara": {"writing", "roleplay", "extraction", "stem", "humanities"}}
    # Every answer is scored as written: a Jinja target "[3, 1, 5]" would reach lm-eval as a list.
    assert [r.continuation for r in load_task("mtbench_nll").requests()] == docs["answer"]
    humaneval = load_task("humaneval_nll").requests(1)[0]
    assert humaneval.prompt.startswith("from typing import List") and humaneval.continuation.startswith("    for ")


def test_probes_ignore_generation_settings():
    task = load_task("gsm8k_nll", samples=4, temperature=0.7, max_new_tokens=16)
    assert task.fingerprint == load_task("gsm8k_nll").fingerprint
    assert [r.request_type for r in task.requests(2)] == ["loglikelihood"] * 2


@pytest.mark.slow
def test_run_stores_probes_and_reruns_from_cache(tmp_path, tiny_model):
    db = tmp_path / "s.duckdb"
    args = ["run", "--ckpt", str(tiny_model), "--tasks", ",".join(PROBES), "--limit", "4", "--db", str(db), "--json"]
    first = sfteval(*args)
    assert first.returncode == 0, first.stderr
    result = last_json(first.stdout)
    assert result["generated"] == 12 and set(result["scores"]) == set(PROBES)
    with duckdb.connect(str(db), read_only=True) as con:
        scores = con.execute("SELECT task, metric, value, stderr, n FROM scores ORDER BY task, metric").fetchall()
        samples = con.execute("SELECT task, doc_id, score, metrics, output FROM samples "
                              "ORDER BY task, doc_id").fetchall()
        cached = con.execute("SELECT count(*) FROM generations").fetchone()[0]
    assert cached == 12
    assert {(t, m) for t, m, *_ in scores} == {(t, m) for t in PROBES for m in
                                               ("nll", "bpb", "nll_corpus", "bpb_corpus", "tokens", "bytes")}
    assert all(n == 4 for *_, n in scores)
    assert [(t, d) for t, d, *_ in samples] == [(t, d) for t in sorted(PROBES) for d in range(4)]
    for task, _, score, metrics, output in samples:
        metrics, output = json.loads(metrics), json.loads(output)
        assert set(metrics) == {"nll", "bpb", "tokens", "bytes"} and set(output) == {"logprob", "greedy", "tokens"}
        assert score == pytest.approx(-output["logprob"] / output["tokens"]) == pytest.approx(metrics["nll"])
        assert score > 5  # a random 2-layer model: near log(49152) = 10.8 nats per token
    values = {(t, m): v for t, m, v, *_ in scores}
    for task in PROBES:
        nll = [s for t, _, s, *_ in samples if t == task]
        assert values[task, "nll"] == pytest.approx(sum(nll) / 4)

    again = sfteval(*args)
    assert again.returncode == 0, again.stderr
    rerun = last_json(again.stdout)
    assert rerun["generated"] == 0 and rerun["scores"] == result["scores"]


def test_api_backend_refuses_probes_before_writing(tmp_path):
    db = tmp_path / "s.duckdb"
    api = ["--backend", "api", "--api-base", "http://127.0.0.1:9/v1", "--api-model", "m", "--db", str(db)]
    done = sfteval("run", *api, "--tasks", "gsm8k,gsm8k_nll")
    assert done.returncode == 2 and not db.exists()
    assert done.stderr.strip() == "error: task 'gsm8k_nll' needs the model's own tokens: use --backend hf or vllm"
    # Without --tasks, every task: every task this backend can run.
    settings = RunSettings(backend="api", api_base="http://127.0.0.1:9/v1", api_model="m")
    assert not set(PROBES) & {t.name for t in plan_tasks(settings)}
