"""Strategies: the paper's Table 1 (strategy x ability, with intervals and a paired test against multitask), and
DMT's k sweep."""

import streamlit as st

from sfteval.ui import charts, common


def paper_label(strategy: str, sources: str, k: str) -> str:
    """The paper's rows named as strategies() names ours: "single math", "mixed sequential", "dmt k=1/256"."""
    if strategy == "single":
        return f"single {sources}"
    return f"dmt k={k}" if strategy == "dmt" else strategy.replace("_", " ")


runs = common.runs_or_stop()
st.title("Training strategies")
grid = common.grid_or_stop(runs)
frame = common.read("strategies", grid=grid)
if frame.empty:
    st.info(f"Grid {grid} has no evaluated strategy cell yet.")
    st.stop()
base = st.sidebar.selectbox("Base model", sorted(frame["base"].unique()), key="st_base")
amounts = common.by_fraction(frame.loc[frame["base"] == base, "amount"])
amount = st.sidebar.selectbox("Data amount", amounts, index=len(amounts) - 1, key="st_amount")
rows = frame[(frame["base"] == base) & (frame["amount"] == amount)]
tasks = common.task_columns(rows, headline_only=True)

common.show_scores(rows, {"label": "strategy"}, tasks, p="_p_holm")
st.caption("p: paired test of each strategy against multitask on the same problems (McNemar's exact test for "
           "right/wrong, paired bootstrap for judge scores), Holm-adjusted. Intervals are 95%.")

paper = common.paper_overlay("strategies", "st")
if paper is not None:
    paper = paper.assign(label=[paper_label(*r) for r in zip(paper["strategy"], paper["sources"], paper["k"])])
st.plotly_chart(charts.panels(common.long_by_task(rows, tasks, ["label"]), "label", None,
                              f"Strategies on {base}, data amount {amount}", "strategy", bars=True, paper=paper))

dmt = frame[(frame["base"] == base) & (frame["strategy"] == "dmt")]
if not dmt.empty:
    st.subheader("DMT: how much specialist data to replay")
    dmt = dmt.assign(k_value=dmt["k"].map(common.number), amount="data amount " + dmt["amount"])
    paper = common.paper_overlay("dmt_k", "dmt")
    if paper is not None:
        paper = paper[paper["strategy"] == "dmt"]
        paper = paper.assign(k_value=paper["k"].map(common.number))
    ticks = {common.number(k): k for part in (dmt, paper) if part is not None for k in part["k"].unique()}
    st.plotly_chart(charts.panels(common.long_by_task(dmt, tasks, ["k_value", "amount"]), "k_value", "amount",
                                  f"DMT on {base}: score vs k, per data amount", "k (replayed share, log)",
                                  paper=paper, log_x=True, ticks=ticks))
