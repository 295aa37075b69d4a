"""Audits put together: per source, and per mixture of a grid's plan (one per unique stage)."""

from __future__ import annotations

from sfteval.audit import dedup
from sfteval.audit.contamination import NgramIndex, eval_items, ngram_matches
from sfteval.audit.stats import LIMIT, describe, reasoning
from sfteval.audit.tokens import prompt_answer_tokens
from sfteval.config import GridConfig
from sfteval.train.sources import Example, Source

MATH_FORMATS = ("gsm8k", "gsm8k_rft")


def audit_examples(name: str, examples: list[Example], tokenizer, limit: int = LIMIT, math: list[Example] = (),
                   index: NgramIndex | None = None) -> dict:
    """Counts, lengths, languages, turns, duplicates and 13-gram contamination of `examples`; the reasoning
    shares of `math`, the math examples among them."""
    out = {"name": name, **describe(examples, prompt_answer_tokens(tokenizer, examples), limit)}
    if math:
        out["reasoning"] = reasoning(list(math))
    out["duplicates"] = {"exact": dedup.describe(examples, dedup.exact_groups(examples)),
                         "same_prompt": dedup.describe(examples, dedup.prompt_groups(examples)),
                         "near": dedup.describe(examples, dedup.near_groups(examples))}
    hits = ngram_matches(examples, index or NgramIndex(eval_items()))
    out["contamination"] = {"records": len(hits), "examples": hits[:5]}
    return out


def is_math(source: Source, config: GridConfig | None = None) -> bool:
    ability = config.ability(source.name) if config else source.spec.ability
    return ability == "math" or source.spec.format in MATH_FORMATS


def audit_source(source: Source, tokenizer, limit: int = LIMIT, index: NgramIndex | None = None,
                 config: GridConfig | None = None) -> dict:
    out = audit_examples(source.name, source.examples, tokenizer, limit,
                         source.examples if is_math(source, config) else (), index)
    return {**out, "dropped": source.dropped}


def audit_grid(config: GridConfig, tokenizer, limit: int = LIMIT) -> dict:
    """{"sources": [...], "mixtures": [...]}: every source in full, and the mixture of every unique stage."""
    from sfteval.train.grid import plan_grid
    from sfteval.train.sources import load_source

    index = NgramIndex(eval_items())
    sources = {name: load_source(name, spec) for name, spec in config.sources.items()}
    _, stages = plan_grid(config, None)
    by_id = {(name, e.id): e for name, source in sources.items() for e in source.examples}
    mixtures = []
    for sp in stages:
        math = [by_id[name, i] for name, entry in sp.mixture.manifest["sources"].items()
                if is_math(sources[name], config) for i in entry["ids"]]
        mixtures.append({"stage": sp.stage.key[:10], "used_by": sp.uses,
                         **audit_examples(sp.stage.label, sp.mixture.examples, tokenizer, limit, math, index)})
    return {"sources": [audit_source(s, tokenizer, limit, index, config) for s in sources.values()],
            "mixtures": mixtures}
