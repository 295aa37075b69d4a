"""Data diagnostics throughput, each beside what a user would run instead (issue 9's benchmark):

- audit: `sfteval.audit` on the full ShareGPT sample (991 conversations) and GSM8K train (7,473), cold (nothing
  cached) and warm (token counts cached), vs a plain loop that only counts chat-template tokens
  (`tokenizer.apply_chat_template(messages, tokenize=True)` per record), records/s;
- contamination: 13-gram check of the three training sources (GSM8K train, Code Alpaca 2k, ShareGPT 1000)
  against all eval sets (GSM8K test, HumanEval, MT-Bench), vs lm-eval's own decontamination `Janitor` (the
  same 13-grams; register the eval items, `clean` every training conversation), seconds, and whether both
  flag the same records;
- embedding: all-MiniLM-L6-v2 on GSM8K train questions through `sfteval.audit.embed` (cold, then cached) vs
  sentence-transformers' `encode` called directly, texts/s.
The cold runs use an empty cache (models and tokenizers linked from the user's cache). Writes
bench/out/data.json.

    python bench/bench_data.py [--embed-n 512]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
OUT = Path(__file__).parent / "out"
SOURCES = {"math": ("gsm8k/train.jsonl", "gsm8k"), "code": ("code_alpaca/code_alpaca_2k.json", "code_alpaca"),
           "general": ("sharegpt/sharegpt_v3_sample_1000.json", "sharegpt")}


def fresh_cache() -> str:
    """An empty sfteval cache that still holds the user's models, tokenizers and file hashes."""
    user = Path(os.environ.get("SFTEVAL_CACHE") or Path.home() / ".cache" / "sfteval")
    folder = Path(tempfile.mkdtemp(prefix="sfteval-bench-cache-"))
    for part in ("models", "tokenizers", "hashes", "shapes"):
        if (user / part).exists():
            (folder / part).symlink_to(user / part)
    return str(folder)


def clock(fn):
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def bench_audit(sources, tokenizer) -> dict:
    from sfteval.audit.report import audit_source

    out = {}
    for name in ("general", "math"):
        source = sources[name]
        n = len(source.examples)
        cold, _ = clock(lambda: audit_source(source, tokenizer))
        warm, _ = clock(lambda: audit_source(source, tokenizer))
        plain, _ = clock(lambda: [len(tokenizer.apply_chat_template(list(e.messages), tokenize=True))
                                  for e in source.examples])
        out[name] = {"records": n, "audit_cold_rps": n / cold, "audit_warm_rps": n / warm,
                     "token_count_only_rps": n / plain, "cold_vs_token_count": plain / cold}
    return out


def bench_contamination(sources) -> dict:
    from lm_eval.decontamination.janitor import Janitor

    from sfteval.audit.contamination import NgramIndex, eval_items, ngram_matches
    from sfteval.audit.text import conversation

    def ours():
        index = NgramIndex(eval_items())
        return {name: [h["position"] for h in ngram_matches(s.examples, index)] for name, s in sources.items()}

    def janitor():  # what lm-eval's decontamination runs (its python path: the C++ helper is not shipped)
        j = Janitor(ngram_n=13)
        for item in eval_items():
            j.register_contaminant_python(item.text)
        for s in sources.values():
            for e in s.examples:
                j.clean_python(conversation(e))
        return j

    ours_s, ours_hits = clock(ours)
    janitor_s, j = clock(janitor)
    janitor_hits = {name: [i for i, e in enumerate(s.examples) if _dirty(j, conversation(e))]
                    for name, s in sources.items()}
    return {"records": sum(len(s.examples) for s in sources.values()), "sfteval_s": ours_s, "janitor_s": janitor_s,
            "speedup": janitor_s / ours_s, "sfteval_flagged": ours_hits, "janitor_flagged": janitor_hits}


def _dirty(janitor, text: str) -> bool:
    """Whether the Janitor holds any 13-gram of `text`, by its own normalisation (its clean() returns chunks)."""
    from lm_eval.decontamination.janitor import word_ngrams

    return any(g in janitor.dirt_ngrams for g in word_ngrams(janitor.normalize_string(text), janitor.ngram_n))


def bench_embed(sources, n: int) -> dict:
    from sfteval.audit.embed import _model, embed_texts
    from sfteval.audit.text import prompt

    texts = [prompt(e) for e in sources["math"].examples[:n]]
    _model().encode(texts[:8])  # load and warm up outside the clock
    direct, _ = clock(lambda: _model().encode(texts, batch_size=64, normalize_embeddings=True))
    cold, _ = clock(lambda: embed_texts(texts))
    warm, _ = clock(lambda: embed_texts(texts))
    return {"texts": n, "sentence_transformers_tps": n / direct, "sfteval_cold_tps": n / cold,
            "sfteval_warm_tps": n / warm, "cold_vs_direct": direct / cold}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--embed-n", type=int, default=512, help="GSM8K questions to embed")
    args = parser.parse_args()
    os.environ["SFTEVAL_CACHE"] = fresh_cache()
    sys.path.insert(0, str(ROOT))
    from sfteval.audit.tokens import load_tokenizer
    from sfteval.config import SourceSpec
    from sfteval.train.sources import load_source

    sources = {name: load_source(name, SourceSpec(path=str(DATA / path), format=fmt))
               for name, (path, fmt) in SOURCES.items()}
    result = {"cpus": os.cpu_count(), "load_average_at_start": os.getloadavg()[0],
              "contamination": bench_contamination(sources), "embedding": bench_embed(sources, args.embed_n),
              "audit": bench_audit(sources, load_tokenizer())}
    result["load_average_at_end"] = os.getloadavg()[0]
    OUT.mkdir(exist_ok=True)
    (OUT / "data.json").write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
