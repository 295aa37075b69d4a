"""`sfteval data`: audit, contamination, decontaminate and overlap of SFT sources and grid mixtures."""

from __future__ import annotations

import json
from functools import wraps
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

app = typer.Typer(add_completion=False, no_args_is_help=True)
out = Console()
err = Console(stderr=True)

TARGET_HELP = "a data file (with --format) or a grid config YAML (every source, and every mixture of its plan)"
FORMAT_HELP = "gsm8k | gsm8k_rft | code_alpaca | sharegpt | messages (for a data file)"


def _user_errors(fn):
    """sfteval.cli's handling: bad input is one `error: ...` line and exit 2 (looked up at call time: cli imports
    this module)."""
    @wraps(fn)
    def wrapper(*args, **kwargs):
        from sfteval.cli import _user_errors as handled

        return handled(fn)(*args, **kwargs)

    return wrapper


def _target(target: Path, fmt: Optional[str]):
    """(sources by name, the grid config or None) of a data file with --format, or of a grid config."""
    from sfteval.audit.decontaminate import check_format
    from sfteval.config import ConfigError, SourceSpec, load_grid
    from sfteval.train.sources import load_source

    if fmt:
        check_format(fmt)
        return {target.stem: load_source(target.stem, SourceSpec(path=str(target), format=fmt))}, None
    if target.suffix not in (".yaml", ".yml"):
        raise ConfigError(f"{target}: pass --format FORMAT for a data file ({FORMAT_HELP}), or a grid config .yaml")
    config = load_grid(target)
    return {name: load_source(name, spec) for name, spec in config.sources.items()}, config


def _tokenizer(name: Optional[str], config):
    from sfteval.audit.tokens import DEFAULT_TOKENIZER, load_tokenizer, training_tokenizer

    if name or not config:
        return load_tokenizer(name or DEFAULT_TOKENIZER)
    tokenizer, note = training_tokenizer(config.base, config.train.chat_template)
    if note:
        err.print(f"[yellow]note:[/] {escape(note)} (pass --tokenizer DIR for the base's own)", soft_wrap=True)
    return tokenizer


@app.command()
@_user_errors
def audit(target: Path = typer.Argument(..., help=TARGET_HELP),
          format: Optional[str] = typer.Option(None, "--format", help=FORMAT_HELP),
          tokenizer: Optional[str] = typer.Option(None, help="model whose chat template counts tokens (default: the "
                                                  "grid's base, else demo:smollm2-135m)"),
          limit: int = typer.Option(4096, help="token limit whose excess share is reported"),
          as_json: bool = typer.Option(False, "--json", help="one JSON object on stdout")):
    """Counts, token lengths, duplicates, languages, turns, math reasoning and dropped records."""
    from sfteval.audit.report import audit_grid, audit_source

    sources, config = _target(target, format)
    tok = _tokenizer(tokenizer, config)
    result = audit_grid(config, tok, limit) if config else {"sources": [audit_source(s, tok, limit)
                                                                          for s in sources.values()], "mixtures": []}
    if as_json:
        print(json.dumps(result))
        return
    for kind in ("sources", "mixtures"):
        if result[kind]:
            out.print(_audit_table(result[kind], kind, limit))
    for row in result["sources"] + result["mixtures"]:
        _print_details(row)


def _audit_table(rows: list[dict], kind: str, limit: int) -> Table:
    table = Table("name", "records", "tokens", "prompt p50/p90/max", "answer p50/p90/max", f"> {limit}",
                  "multi-turn", "exact dup", "near dup", "13-gram hits", "languages", "math steps/bare", title=kind)
    for r in rows:
        p, a = r["length"]["prompt"], r["length"]["answer"]
        math = r.get("reasoning")
        table.add_row(escape(r["name"]), f"{r['records']:,}", f"{r['tokens']:,}",
                      f"{p['p50']:.0f}/{p['p90']:.0f}/{p['max']}", f"{a['p50']:.0f}/{a['p90']:.0f}/{a['max']}",
                      f"{r['length']['conversation']['over_limit']:.1%}", f"{r['multi_turn']:.1%}",
                      str(r["duplicates"]["exact"]["removable"]), str(r["duplicates"]["near"]["removable"]),
                      str(r["contamination"]["records"]),
                      " ".join(f"{k} {v:.0%}" for k, v in list(r["languages"].items())[:3]),
                      f"{math['step_by_step']:.0%}/{math['bare_number']:.0%}" if math else "-")
    return table


def _print_details(row: dict) -> None:
    lines = []
    for kind, d in row["duplicates"].items():
        for g in d["examples"][:3]:
            lines.append(f"  {kind} duplicates: {', '.join(g['ids'][:6])}{' ...' if len(g['ids']) > 6 else ''}: "
                         f"{g['prompt'][:70]!r}")
    for hit in row["contamination"]["examples"][:3]:
        lines.append(f"  13-gram with {hit['benchmark']} {hit['eval_id']}: record {hit['id']}: {hit['ngram']!r}")
    for reason, n in row.get("dropped", {}).items():
        lines.append(f"  dropped {n}: {reason}")
    if lines:
        out.print(f"[bold]{escape(row['name'])}[/]\n" + escape("\n".join(lines)), highlight=False, soft_wrap=True)


@app.command()
@_user_errors
def contamination(target: Path = typer.Argument(..., help=TARGET_HELP),
                  format: Optional[str] = typer.Option(None, "--format", help=FORMAT_HELP),
                  threshold: float = typer.Option(0.9, help="list records whose prompt has an eval item at this "
                                                  "cosine or more (all-MiniLM-L6-v2)"),
                  embeddings: bool = typer.Option(True, help="also compare embeddings (slower; cached)"),
                  as_json: bool = typer.Option(False, "--json", help="one JSON object on stdout")):
    """Training records that look like eval problems: 13-grams shared with GSM8K test, HumanEval, MT-Bench,
    and nearest-eval-item cosine."""
    from sfteval.audit.contamination import NgramIndex, embedding_matches, eval_items, ngram_matches

    sources, _ = _target(target, format)
    items = eval_items()
    index = NgramIndex(items)
    result = {name: {"records": len(s.examples), "ngram": ngram_matches(s.examples, index),
                     "embedding": embedding_matches(s.examples, items, threshold) if embeddings else None}
              for name, s in sources.items()}
    if as_json:
        print(json.dumps(result))
        return
    table = Table("source", "record id", "how", "eval item", "evidence",
                  title="training records that look like eval problems")
    for name, r in result.items():
        for hit in r["ngram"]:
            table.add_row(name, hit["id"], "13-gram", f"{hit['benchmark']} {hit['eval_id']}", escape(hit["ngram"]))
        for hit in r["embedding"] or []:
            table.add_row(name, hit["id"], f"cosine {hit['cosine']:.3f}", f"{hit['benchmark']} {hit['eval_id']}",
                          escape(hit["eval_text"][:80]))
    out.print(table)
    out.print("; ".join(f"{name}: {len(r['ngram'])} of {r['records']} share a 13-gram"
                        + (f", {len(r['embedding'])} at cosine >= {threshold}" if r["embedding"] is not None else "")
                        for name, r in result.items()))


@app.command()
@_user_errors
def decontaminate(source: Path = typer.Argument(..., help="the training data file"),
                  format: str = typer.Option(..., "--format", help=FORMAT_HELP),
                  out_path: Path = typer.Option(..., "--out", help="the filtered copy (same file type)"),
                  embedding_threshold: Optional[float] = typer.Option(
                      None, help="also remove records whose prompt has an eval item at this cosine or more"),
                  as_json: bool = typer.Option(False, "--json", help="print the report as JSON")):
    """Write a copy without the records sharing a 13-gram with an eval set; the report goes beside it."""
    from sfteval.audit.decontaminate import decontaminate_file

    report = decontaminate_file(source, format, out_path, embedding_threshold)
    if as_json:
        print(json.dumps(report))
        return
    table = Table("record", "line", "eval item", "evidence", title=f"removed from {source}")
    for r in report["removed"]:
        table.add_row(r["id"], str(r["index"] + 1), f"{r['benchmark']} {r['eval_id']}",
                      escape(r.get("ngram") or f"cosine {r['cosine']:.3f}"))
    out.print(table)
    out.print(f"kept {report['kept']} of {report['read']} records in {out_path}; report in "
              f"{out_path}.decontamination.json", soft_wrap=True)


@app.command()
@_user_errors
def overlap(config: Path = typer.Argument(..., help="grid config YAML"),
            limit: Optional[int] = typer.Option(None, help="embed a seeded sample of at most N records per source"),
            as_json: bool = typer.Option(False, "--json", help="the rows as JSON")):
    """Semantic distance between a grid's sources: centroid cosine and nearest-neighbour overlap."""
    from sfteval.audit.overlap import overlap as pairwise

    sources, _ = _target(config, None)
    frame = pairwise(sources, limit=limit)
    if as_json:
        print(frame.to_json(orient="records"))
        return
    table = Table("A", "B", "centroid cosine", "A's nearest neighbour in B", "if indistinguishable",
                  title="source overlap (all-MiniLM-L6-v2 on first user turns)")
    for r in frame.itertuples():
        table.add_row(r.a, r.b, f"{r.centroid_cosine:.3f}", f"{r.nn_overlap:.1%}", f"{r.chance:.1%}")
    out.print(table)
