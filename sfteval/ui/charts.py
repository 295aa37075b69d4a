"""Plotly figures the pages share: one panel per benchmark, 95% error bars, the paper's numbers as open diamonds."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from sfteval.ui import common

UP, DOWN = "#2e7d32", "#c62828"  # mixing helped / conflict


def panels(frame: pd.DataFrame, x: str, series: str | None, title: str, x_title: str, *, bars: bool = False,
           paper: pd.DataFrame | None = None, paper_series: str = "model", log_x: bool = False,
           ticks: dict | None = None) -> go.Figure:
    """A panel per task in `frame` (columns task, x, value, lo, hi in store units), a line (or bars) per
    `series` value with its error bars, and `paper` (task, x, value, paper_series) as diamonds; a paper series
    named like one of ours takes its color. `ticks` maps x values to tick labels."""
    ours = list(frame.groupby(series, sort=False)) if series else [("this store", frame)]
    theirs = list(paper.groupby(paper_series, sort=False)) if paper is not None else []
    colors = {name: qualitative.Plotly[i % 10] for i, (name, _) in enumerate(ours)}
    figure, legend = _figure(frame, paper, x_title, log_x, ticks), set()
    for col, task in enumerate(_tasks(frame, paper), start=1):
        for name, group in ours:
            rows = common.in_display_units(_ordered(group[group["task"] == task], x))
            if rows.empty:
                continue
            style = dict(x=rows[x], y=rows["value"], name=str(name), legendgroup=str(name), marker_color=colors[name],
                         showlegend=_first(legend, name), error_y=_errors(rows))
            figure.add_trace(go.Bar(**style) if bars else go.Scatter(mode="lines+markers", **style), row=1, col=col)
        for i, (name, group) in enumerate(theirs):
            rows = common.in_display_units(_ordered(group[group["task"] == task], x))
            figure.add_trace(_published(rows[x], rows["value"], name, colors.get(name, qualitative.Dark2[i % 8]),
                                        legend), row=1, col=col)
    figure.update_layout(title=title, barmode="group")
    return figure


def signed_bars(frame: pd.DataFrame, x: str, title: str, x_title: str, *, paper: pd.DataFrame | None = None,
                ticks: dict | None = None) -> go.Figure:
    """Differences (task, x, delta, lo, hi) as bars per task panel, green above zero and red below; the paper's
    differences (task, x, delta, model) as diamonds."""
    figure, legend = _figure(frame, None, x_title, True, ticks), set()
    for col, task in enumerate(_tasks(frame, None), start=1):
        rows = common.in_display_units(_ordered(frame[frame["task"] == task], x))
        figure.add_trace(go.Bar(x=rows[x], y=rows["delta"], name="mixed - single", showlegend=False,
                                marker_color=[UP if d >= 0 else DOWN for d in rows["delta"]], error_y=_errors(rows)),
                         row=1, col=col)
        for i, (name, group) in enumerate(paper.groupby("model", sort=False) if paper is not None else []):
            rows = common.in_display_units(group[group["task"] == task])
            figure.add_trace(_published(rows[x], rows["delta"], name, qualitative.Dark2[i % 8], legend), row=1, col=col)
        figure.add_hline(y=0, line_color="gray", row=1, col=col)
    figure.update_yaxes(title_text="mixed - single", row=1, col=1)
    figure.update_layout(title=title)
    return figure


def heatmap(wide: pd.DataFrame, title: str, x_title: str, y_title: str) -> go.Figure:
    """A share (0..1) per cell of `wide` (rows y, columns x), written in each cell; the diagonal is empty."""
    figure = go.Figure(go.Heatmap(z=wide.to_numpy(), x=list(wide.columns), y=list(wide.index), zmin=0, zmax=1,
                                  colorscale="Blues", texttemplate="%{z:.1%}", hoverongaps=False))
    figure.update_layout(title=title, xaxis_title=x_title, yaxis_title=y_title)
    return figure


def _tasks(frame: pd.DataFrame, paper: pd.DataFrame | None) -> list[str]:
    present = set(frame["task"]) | (set(paper["task"]) if paper is not None else set())
    return [t for t in common.ABILITIES if t in present]


def _figure(frame, paper, x_title: str, log_x: bool, ticks: dict | None) -> go.Figure:
    tasks = _tasks(frame, paper)
    figure = make_subplots(rows=1, cols=len(tasks), subplot_titles=[common.label(t) for t in tasks],
                           horizontal_spacing=0.08)
    figure.update_xaxes(title_text=x_title, type="log" if log_x else None,
                        **(dict(tickvals=list(ticks), ticktext=list(ticks.values())) if ticks else {}))
    figure.update_layout(height=460)  # the legend stays at the right: above or below, it collides with labels
    return figure


def _published(x, y, name: str, color: str, legend: set) -> go.Scatter:
    label = f"{name} ({common.PAPER_LABEL})"
    return go.Scatter(x=x, y=y, mode="markers", name=label, legendgroup=label, showlegend=_first(legend, label),
                      marker=dict(symbol="diamond-open", size=11, line=dict(width=2), color=color))


def _errors(rows: pd.DataFrame) -> dict:
    return dict(type="data", array=rows["err_plus"], arrayminus=rows["err_minus"])


def _first(legend: set, name) -> bool:
    """True once per legend entry, so a series drawn in three panels is listed once."""
    new = name not in legend
    legend.add(name)
    return new


def _ordered(rows: pd.DataFrame, x: str) -> pd.DataFrame:
    """Numeric x in order, so lines run left to right; categories keep the order the analysis gave them."""
    return rows.sort_values(x) if pd.api.types.is_numeric_dtype(rows[x]) else rows
