"""Continuous ability probes: how likely a model finds the gold answer, not whether it writes one.

A small or early checkpoint scores ~0% on GSM8K and HumanEval, so accuracy cannot show what its training
data did; the likelihood of gold answers moves smoothly (Schaeffer et al. 2023) and is what proxy-model
studies of data mixtures read (RegMix, Data Mixing Laws). One forward pass per answer, no generation:

- gsm8k_nll:     GSM8K test question as the user turn of the chat template, its gold solution as the answer,
                 without the calculator notes `<<48/2=24>>` (a calculator-tool format, not reasoning: a model
                 never taught it pays for those tokens whatever its math).
- humaneval_nll: the HumanEval prompt as raw text, continued by the canonical solution. Raw, as the `humaneval`
                 task prompts: the solution is a function body that only continues the signature and
                 docstring, not an answer a chat model would give in a turn.
- mtbench_nll:   each MT-Bench question's turn 1 as the user turn; the answer is GPT-4's reference for the 30
                 math, reasoning and coding questions, and mistral-orpo-capybara's answer (FastChat format,
                 Apache-2.0, sfteval/data/mt_bench/model_answer/) for the 50 writing, roleplay, extraction,
                 stem and humanities questions: licensed, on MT-Bench's own general questions, in no SFT source
                 (held out), from the stronger of the two public models shipped (MT-Bench 6.8 vs 5.9).

A backend scores the answer with lm-eval's loglikelihood (sfteval.backends.Generator.loglikelihood), whose
split of prompt and answer is lm-eval's: whitespace that ends the prompt (the newline after the chat
template's assistant header) is scored with the answer. Per answer: `nll`, nats per scored token, and `bpb`,
bits per UTF-8 byte of the scored text (comparable across tokenizers). Lower is better.
"""

from __future__ import annotations

import json
import math
import re

from datasets import Dataset, DatasetDict

from sfteval.judge import data as mtbench_data
from sfteval.tasks import Request, SampleResult, Score, Task

CALCULATOR = re.compile(r"<<[^<>]*>>")
GENERAL_ANSWERS = mtbench_data.DATA_DIR / "model_answer" / "mistral-orpo-capybara.jsonl"


def gsm8k_solution(doc: dict) -> str:
    return CALCULATOR.sub("", doc["answer"])


def answer(doc: dict) -> str:
    """The answer as it is: lm-eval reads a Jinja target that looks like a list ("[3, 1, 5]") as a list."""
    return doc["answer"]


def load_mtbench(**_metadata) -> DatasetDict:
    """lm-eval `custom_dataset` hook: the 80 MT-Bench questions (turn 1) with one gold answer each."""
    references = mtbench_data.references()
    general = mtbench_data.read_answers(GENERAL_ANSWERS)[GENERAL_ANSWERS.stem]
    rows = []
    for q in mtbench_data.questions():
        qid = q["question_id"]
        source, turns = ("gpt-4", references[qid]) if qid in references else (GENERAL_ANSWERS.stem, general[qid])
        rows.append({"question_id": qid, "category": q["category"], "question": q["turns"][0],
                     "answer": turns[0], "source": source})
    return DatasetDict({"test": Dataset.from_list(rows)})


def scored_text(prompt: str, continuation: str) -> str:
    """The text lm-eval scores: it moves the prompt's trailing whitespace into the continuation
    (TemplateLM._encode_pair) so that the boundary tokenizes as it would in running text."""
    return prompt[len(prompt.rstrip()):] + continuation


def process_results(doc: dict, results: list[dict]) -> dict[str, float]:
    """lm-eval `process_results` hook: one answer's {"logprob", "tokens", "text"} (log-probability of the
    scored text, its token count) -> nll per token, bits per byte, tokens, bytes."""
    (result,) = results
    nbytes = len(result["text"].encode("utf-8"))
    return {"nll": -result["logprob"] / result["tokens"], "bpb": -result["logprob"] / math.log(2) / nbytes,
            "tokens": result["tokens"], "bytes": nbytes}


def pooled(numerators: list[float], denominators: list[float]) -> tuple[float, float | None]:
    """sum(a) / sum(b) and its standard error by the delta method (the ratio estimator's, over items)."""
    n, total = len(numerators), sum(denominators)
    ratio = sum(numerators) / total
    if n < 2:
        return ratio, None
    spread = sum((a - ratio * b) ** 2 for a, b in zip(numerators, denominators))
    return ratio, math.sqrt(spread / (n * (n - 1))) / (total / n)


class Probe(Task):
    """A loglikelihood task: each output is the JSON of one Generator.loglikelihood result."""

    def score(self, requests: list[Request], outputs: list[str]) -> tuple[list[SampleResult], list[Score]]:
        if len(requests) != len(outputs):
            raise ValueError(f"{len(requests)} requests but {len(outputs)} outputs")
        docs = self._lm_task.eval_docs
        samples = []
        for request, output in sorted(zip(requests, outputs), key=lambda pair: pair[0].doc_id):
            result = {**json.loads(output), "text": scored_text(request.prompt, request.continuation)}
            metrics = self._lm_task.process_results(docs[request.doc_id], [result])
            samples.append(SampleResult(request.doc_id, request.repeat, request.prompt, output,
                                        request.continuation, {}, metrics, metrics["nll"]))
        per = {key: [s.metrics[key] for s in samples] for key in ("nll", "bpb", "tokens", "bytes")}
        n = len(samples)
        scores = self._aggregate({"nll": per["nll"], "bpb": per["bpb"]})  # means over answers, as lm-eval's
        # Token- and byte-weighted over all answers: the corpus loss, as lm-eval's bits_per_byte pools it.
        nats = [x * t for x, t in zip(per["nll"], per["tokens"])]
        scores.append(Score("nll_corpus", *pooled(nats, per["tokens"]), n))
        scores.append(Score("bpb_corpus", *pooled([x / math.log(2) for x in nats], per["bytes"]), n))
        scores += [Score("tokens", float(sum(per["tokens"])), None, n),
                   Score("bytes", float(sum(per["bytes"])), None, n)]
        return samples, scores
