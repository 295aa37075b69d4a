"""What every page shares: which store, cached reads through sfteval.analysis, the page for an empty store, the
grid picker, the paper toggle, and how a value with its interval is written and drawn."""

from __future__ import annotations

import argparse
import json
import os
import sys
from fractions import Fraction
from pathlib import Path

import pandas as pd
import streamlit as st

from sfteval.analysis import tables
from sfteval.analysis.abilities import ABILITIES, HEADLINE
from sfteval.config import parse_fraction
from sfteval.store import DEFAULT_DB, Store, StoreError

# A grid writing to the store shows up within this many seconds; within it, reruns cost no query.
TTL_S = 5
PAPER_LABEL = "published, Dong et al. 2024"
ALL = "(all)"
SOURCE_COLORS = {"math": "#1f77b4", "code": "#ff7f0e", "general": "#2ca02c"}  # one color per SFT source


def db_path() -> Path:
    """`streamlit run app.py -- --db PATH`, else $SFTEVAL_DB, else ./sfteval.duckdb."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--db")
    args, _ = parser.parse_known_args(sys.argv[1:])
    return Path(args.db or os.environ.get("SFTEVAL_DB") or DEFAULT_DB)


@st.cache_data(ttl=TTL_S, show_spinner=False)
def _read(path: str, name: str, args: tuple, kwargs: tuple):
    # A read-only store opens a short connection per query, so a grid can write between two of them.
    return getattr(tables, name)(Store(path, read_only=True), *args, **dict(kwargs))


def read(name: str, *args, **kwargs):
    """sfteval.analysis.tables.<name>(store, *args, **kwargs) on the app's store, cached for TTL_S seconds."""
    return _read(str(db_path()), name, args, tuple(sorted(kwargs.items())))


@st.cache_data(show_spinner=False, max_entries=32)
def source_overlap(sources: tuple[tuple[str, str | None, str | None, str | None], ...], limit: int):
    """sfteval.audit.overlap of the sources (source, path, format, file_sha256) that can still be read as their
    manifests recorded them, and a note on each that cannot. Cached: embedding is the slow part."""
    from sfteval.audit.overlap import overlap
    from sfteval.config import SourceSpec
    from sfteval.train.sources import SourceError, load_source

    loaded, notes = {}, []
    for name, path, fmt, sha in sources:
        try:
            source = load_source(name, SourceSpec(path=path or "", format=fmt or "messages"))
        except (SourceError, ValueError, OSError) as e:
            notes.append(f"Source {name} was not measured: {e}")
            continue
        if sha and source.file_sha256 and source.file_sha256 != sha:
            notes.append(f"Source {name}: {path} changed since the grid read it; measured as it is now.")
        loaded[name] = source
    if len(loaded) < 2:
        notes.append("Overlap needs two readable sources.")
        return pd.DataFrame(), notes
    return overlap(loaded, limit=limit), notes


@st.cache_data(show_spinner=False)
def paper(table: str) -> pd.DataFrame:
    return tables.paper(table)


def runs_or_stop() -> pd.DataFrame:
    """The store's finished runs; with none (or no store), a page on how to fill it, and the page stops."""
    path = db_path()
    try:
        runs = read("runs")
    except StoreError as e:
        if path.is_file():  # a store that cannot be read (another schema, held too long by a writer)
            st.error(str(e))
            st.stop()
        runs, problem = None, str(e)
    else:
        problem = f"The store {path} holds no finished run yet."
    if runs is None or runs.empty:
        how_to_fill(path, problem)
        st.stop()
    return runs


def how_to_fill(path: Path, problem: str) -> None:
    st.title("No results to show yet")
    st.warning(problem)
    st.markdown("Fill the store, then reload this page:")
    st.code(f"# evaluate one checkpoint\nsfteval run --ckpt demo:smollm2-135m --limit 10 --db {path}\n"
            f"# train and evaluate every cell of a grid\nsfteval grid configs/demo.yaml --db {path}", language="bash")
    st.markdown("Another store: `sfteval ui --db PATH`, or `streamlit run app.py -- --db PATH`.")


def pick_grid(runs: pd.DataFrame, allow_all: bool = False) -> str | None:
    """The grid the page shows, picked in the sidebar; None: every run (allow_all) or no grid in the store."""
    grids = sorted(runs["grid"].dropna().unique())
    options = ([ALL] if allow_all else []) + grids
    if not options:
        return None
    # Widgets vanish with the page that drew them; a plain session key carries the choice across pages.
    kept = st.session_state.get("grid")
    choice = st.sidebar.selectbox("Grid", options, index=options.index(kept) if kept in options else 0,
                                  key="grid_choice", on_change=_keep)
    return None if choice == ALL else choice


def _keep() -> None:
    st.session_state["grid"] = st.session_state["grid_choice"]


def pick(where, text: str, options, key: str):
    """A selectbox with an "all" first option; returns None for it."""
    choice = where.selectbox(text, [ALL, *options], key=key)
    return None if choice == ALL else choice


def number(fraction: str) -> float:
    """"1/16" -> 0.0625, "4" -> 4.0 (a ratio k can exceed 1), for numeric (log) axes."""
    return float(Fraction(fraction))


def by_fraction(values) -> list[str]:
    """Distinct fractions ("1/16", "1") from smallest to largest."""
    return sorted(pd.Series(values).dropna().unique(), key=parse_fraction)


def paper_overlay(table: str, key: str) -> pd.DataFrame | None:
    """The paper's rows of `table` for the published models picked, while the overlay toggle is on."""
    if not st.toggle(f"Overlay the paper's numbers ({PAPER_LABEL})", key=f"paper_{key}"):
        return None
    rows = paper(table)
    models = list(rows["model"].unique())
    picked = st.multiselect("Published models", models, default=models[:1], key=f"paper_models_{key}")
    return rows[rows["model"].isin(picked)]


def label(task: str) -> str:
    return ABILITIES[task].label


def fmt(task: str, value) -> str:
    """A store value in display units (GSM8K, HumanEval: %), `-` when missing."""
    if value is None or pd.isna(value):
        return "-"
    return f"{value * ABILITIES[task].scale:.{1 if ABILITIES[task].scale != 1 else 2}f}"


def interval(task: str, value, lo, hi) -> str:
    """`41.2 [38.5, 44.0]` in display units."""
    if lo is None or pd.isna(lo):
        return fmt(task, value)
    return f"{fmt(task, value)} [{fmt(task, lo)}, {fmt(task, hi)}]"


def intervals(frame: pd.DataFrame, column: str = "value") -> list[str]:
    """interval() of each row of a long frame (task, column, lo, hi)."""
    return [interval(*row) for row in zip(frame["task"], frame[column], frame["lo"], frame["hi"])]


def p_text(p) -> str:
    return "-" if p is None or pd.isna(p) else (f"{p:.3f}" if p >= 0.001 else "<0.001")


def in_display_units(frame: pd.DataFrame, task_col: str = "task") -> pd.DataFrame:
    """value/lo/hi (where present) scaled per row's task, and the error bar lengths plotly wants."""
    scale = frame[task_col].map(lambda t: ABILITIES[t].scale).astype(float)  # float also when frame is empty
    out = frame.assign(**{c: frame[c] * scale for c in ("value", "lo", "hi", "delta", "single", "mixed")
                          if c in frame.columns})
    if {"lo", "hi"} <= set(out.columns):
        ref = out["delta"] if "delta" in out.columns else out["value"]
        out = out.assign(err_plus=out["hi"] - ref, err_minus=ref - out["lo"])
    return out


def task_columns(frame: pd.DataFrame, headline_only: bool = False) -> list[str]:
    """Tasks a wide frame holds `<task>`, `<task>_lo`, `<task>_hi` for: the abilities' headline benchmarks (math,
    code, general), then the others unless headline_only."""
    headline = list(HEADLINE.values())
    others = [] if headline_only else [t for t in ABILITIES if t not in headline]
    return [t for t in headline + others if t in frame.columns and f"{t}_lo" in frame.columns]


def score_table(frame: pd.DataFrame, keep: dict[str, str], tasks: list[str], p: str | None = None):
    """A wide frame for st.dataframe and its column formats: the `keep` columns renamed, then per task its value
    in display units (a number, so the column sorts), its 95% interval, and the `<task><p>` p-value if asked."""
    table, formats = frame[list(keep)].rename(columns=keep), {}
    for t in tasks:
        table[label(t)] = frame[t] * ABILITIES[t].scale
        formats[label(t)] = st.column_config.NumberColumn(format="%.1f" if ABILITIES[t].scale != 1 else "%.2f")
        table[f"{label(t)} 95% CI"] = ["" if pd.isna(lo) else f"[{fmt(t, lo)}, {fmt(t, hi)}]" for lo, hi in
                                       zip(frame[f"{t}_lo"], frame[f"{t}_hi"])]
        if p:
            table[f"{label(t)} p"] = frame[f"{t}{p}"].map(p_text)
    return table, formats


def show_scores(frame: pd.DataFrame, keep: dict[str, str], tasks: list[str], p: str | None = None) -> None:
    table, formats = score_table(frame, keep, tasks, p)
    st.dataframe(table, column_config=formats, hide_index=True)


def long_by_task(frame: pd.DataFrame, tasks: list[str], keep: list[str]) -> pd.DataFrame:
    """A wide frame (`<task>`, `<task>_lo`, `<task>_hi`) as rows of (keep..., task, value, lo, hi)."""
    parts = [frame[keep].assign(task=t, value=frame[t], lo=frame[f"{t}_lo"], hi=frame[f"{t}_hi"]) for t in tasks]
    return pd.concat(parts, ignore_index=True).dropna(subset=["value"])


def grid_or_stop(runs: pd.DataFrame) -> str:
    """The picked grid; without any grid in the store, how to train one, and the page stops."""
    grid = pick_grid(runs)
    if grid is None:
        st.info("No run in this store belongs to a training grid; this page reads grids. Train and evaluate one:")
        st.code(f"sfteval grid configs/demo.yaml --db {db_path()}", language="bash")
        st.stop()
    return grid


def run_names(runs: pd.DataFrame) -> dict[str, str]:
    """run_id -> `short id · cells (or checkpoint path)`, newest run first."""
    names = {}
    for run_id, group in runs.groupby("run_id", sort=False):
        cells = ", ".join(group["cell"].dropna().unique()) or str(group["checkpoint_path"].iloc[0])
        names[run_id] = f"{run_id[:12]} · {cells}"
    return names


def sample_view(sample: pd.Series, where=st) -> None:
    """One sample: output, extracted answer or verdict, target, score, the judge's text."""
    score = "none" if pd.isna(sample["score"]) else f"{sample['score']:g}"
    where.markdown(f"**{sample['task']} #{sample['doc_id']}**, repeat/turn {sample['repeat']}: score **{score}**")
    where.code(sample["output"], language=None, wrap_lines=True)
    where.caption("extracted answer / verdict")
    where.json(sample["extracted"])
    if pd.notna(sample["target"]):
        where.caption(f"target: {str(sample['target'])[:300]}")
    if sample.get("judgment"):
        where.expander("judge's text").markdown(sample["judgment"])


def short_json(value, limit: int = 80) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[:limit - 1] + "…"
