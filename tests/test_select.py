"""Selection orders for nested subsets on the real data: k-center covers more than random, IFD scores match a
hand-run loss computation with the real SmolLM2, filters remove what they say and the manifest records it."""

from __future__ import annotations

import json
from fractions import Fraction

import numpy as np
import pytest

from sfteval.config import SourceSpec
from sfteval.train.mixture import build_mixture, subset
from sfteval.train.plan import source_identity
from sfteval.train.sources import load_source


def _write(path, rows) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


@pytest.fixture(scope="module")
def code_file(tmp_path_factory, shared_data) -> str:
    rows = json.loads((shared_data / "code_alpaca" / "code_alpaca_2k.json").read_text())[:300]
    return _write(tmp_path_factory.mktemp("code") / "code.jsonl", rows)


def coverage(vectors: np.ndarray, picked: list[int]) -> tuple[float, float]:
    """(max, mean) over all points of the cosine distance to the nearest picked point."""
    gap = (1 - vectors @ vectors[picked].T).min(axis=1)
    return float(gap.max()), float(gap.mean())


def test_kcenter_covers_more_than_random_and_stays_nested(code_file):
    from sfteval.audit.embed import embed_examples

    plain = load_source("code", SourceSpec(path=code_file, format="code_alpaca"))
    kcenter = load_source("code", SourceSpec(path=code_file, format="code_alpaca", select="kcenter"))
    vectors = embed_examples(plain.examples)
    row = {e.id: i for i, e in enumerate(plain.examples)}
    # the k-center objective: the farthest any record is from the picked ones. Measured here, random vs k-center:
    # max 0.981/0.890 (k=10), 0.837/0.769 (30), 0.776/0.646 (75), 0.751/0.489 (150); k-center puts outliers
    # first, so the mean distance is random's or worse at small k (0.506/0.549 at 30) and better later (0.208/0.185)
    for k in (10, 30, 75):
        random_max, _ = coverage(vectors, [row[e.id] for e in subset(plain, k, 42)])
        kcenter_max, _ = coverage(vectors, [row[e.id] for e in subset(kcenter, k, 42)])
        assert kcenter_max < random_max - 0.05, (k, random_max, kcenter_max)
    small, large = subset(kcenter, Fraction(1, 10), 42), subset(kcenter, Fraction(1, 4), 42)
    assert len(small) == 30 and large[:30] == small           # nested: a prefix of one order
    assert small[0] == subset(plain, 1, 42)[0]                # the greedy starts where the random order starts
    # greedy farthest point: each pick is the point farthest from those before it
    picked = [row[e.id] for e in large]
    for n in range(1, 20):
        gap = (1 - vectors @ vectors[picked[:n]].T).min(axis=1)
        assert gap[picked[n]] == pytest.approx(gap.max(), abs=1e-6)
    assert {e.id for e in subset(kcenter, Fraction(1), 42)} == set(row)
    mixture = build_mixture({"code": (kcenter, Fraction(1, 10))}, 42)
    assert mixture.manifest["sources"]["code"]["selection"]["select"] == "kcenter"
    assert mixture.manifest["sources"]["code"]["selection"]["embedder"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert source_identity(kcenter.spec) != source_identity(plain.spec)


def test_filters_remove_duplicates_and_long_records(tmp_path, shared_data):
    from sfteval.audit.tokens import conversation_tokens, load_tokenizer

    rows = [json.loads(line) for line in open(shared_data / "gsm8k" / "train.jsonl")][:20]
    rows += [rows[2], rows[4]]  # exact copies: records 20 and 21
    path = _write(tmp_path / "math.jsonl", rows)
    plain = load_source("math", SourceSpec(path=path, format="gsm8k"))
    lengths = conversation_tokens(load_tokenizer(), plain.examples)
    cut = int(np.sort(lengths)[-4])  # the 3 longest conversations are over it
    spec = SourceSpec(path=path, format="gsm8k", dedup="exact", max_tokens=cut)
    mixture = build_mixture({"math": (load_source("math", spec), Fraction(1))}, 42)
    removed = mixture.manifest["sources"]["math"]["selection"]["removed"]
    assert removed["dedup exact"] == ["20", "21"]
    long_ids = sorted((str(i) for i in range(20) if lengths[i] > cut), key=int)
    assert len(long_ids) == 3 and removed[f"over {cut} tokens"] == long_ids
    assert mixture.manifest["n"] == 20 - 3
    assert {e.id for e in mixture.examples} == {str(i) for i in range(20)} - set(long_ids)


@pytest.mark.slow
def test_ifd_scores_match_a_hand_run_loss_computation(tmp_path, shared_data, smollm2):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from sfteval.audit.ifd import ifd_scores

    rows = [json.loads(line) for line in open(shared_data / "gsm8k" / "train.jsonl")][:5]
    path = _write(tmp_path / "math.jsonl", rows)
    plain = load_source("math", SourceSpec(path=path, format="gsm8k"))
    pool = subset(plain, Fraction(1), 42)  # the order select: ifd scores in, so its scores come from the cache
    scores = ifd_scores(pool)

    tok = AutoTokenizer.from_pretrained(smollm2.path, gguf_file=smollm2.gguf_file)
    model = AutoModelForCausalLM.from_pretrained(smollm2.path, gguf_file=smollm2.gguf_file).eval()

    def mean_nll(ids: list[int], start: int) -> float:
        """Mean negative log-likelihood of ids[start:], each token given the ones before it."""
        with torch.no_grad():
            logp = torch.log_softmax(model(torch.tensor([ids])).logits[0].float(), dim=-1)
        return float(-torch.stack([logp[t - 1, ids[t]] for t in range(start, len(ids))]).mean())

    for e, (ifd, with_q, alone) in zip(pool, scores):
        messages = list(e.messages)
        prompt = tok.apply_chat_template(messages[:1], tokenize=False, add_generation_prompt=True)
        through = tok.apply_chat_template(messages, tokenize=False).rstrip()  # the answer and its <|im_end|>
        prompt_ids = tok(prompt, add_special_tokens=False)["input_ids"]
        ids = tok(through, add_special_tokens=False)["input_ids"]
        assert ids[:len(prompt_ids)] == prompt_ids
        hand_with_q = mean_nll(ids, len(prompt_ids))
        hand_alone = mean_nll(tok(messages[1]["content"], add_special_tokens=False)["input_ids"], 1)
        assert with_q == pytest.approx(hand_with_q, rel=1e-3) and alone == pytest.approx(hand_alone, rel=1e-3)
        assert ifd == pytest.approx(hand_with_q / hand_alone, rel=2e-3)
        assert 0 < ifd < 1  # GSM8K questions help predict their answers

    ranked = load_source("math", SourceSpec(path=path, format="gsm8k", select="ifd"))
    by_id = {e.id: s for e, s in zip(pool, scores[:, 0])}
    order = [e.id for e in subset(ranked, Fraction(1), 42)]
    assert order == sorted(by_id, key=lambda i: -by_id[i])       # hardest first
    assert [e.id for e in subset(ranked, 2, 42)] == order[:2]
    manifest = build_mixture({"math": (ranked, 2)}, 42).manifest["sources"]["math"]["selection"]
    assert manifest["select"] == "ifd" and manifest["scorer"] == "demo:smollm2-135m"
    assert manifest["removed"] == {"ifd > 1 or unscored": []}
