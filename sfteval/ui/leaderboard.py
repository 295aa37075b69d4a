"""Leaderboard: every finished run x every benchmark, with 95% intervals; filters in the sidebar."""

import plotly.express as px
import streamlit as st

from sfteval.ui import common

runs = common.runs_or_stop()
st.title("Leaderboard")
grid = common.pick_grid(runs, allow_all=True)
in_grid = runs if grid is None else runs[runs["grid"] == grid]
side = st.sidebar
base = common.pick(side, "Base model", sorted(in_grid["base"].dropna().unique()), "lb_base")
strategy = common.pick(side, "Strategy", sorted(in_grid["strategy"].dropna().unique()), "lb_strategy")
fraction = common.pick(side, "Data amount", common.by_fraction(in_grid["amount"]), "lb_fraction")
# Stages are numbered from 1 on screen, from 0 in the store.
stage = common.pick(side, "Stage", ["final", *sorted(in_grid["stage_index"].dropna().astype(int).unique() + 1)],
                    "lb_stage")

board = common.read("leaderboard", grid=grid, base=base, strategy=strategy, fraction=fraction,
                    stage=stage if stage in (None, "final") else int(stage) - 1)
if board.empty:
    st.info("No run matches these filters.")
    st.stop()
tasks = common.task_columns(board)
board = board.assign(run=board["run_id"].str[:12], name=board["cell"].fillna(board["checkpoint_path"]),
                     stage=board["stage_index"] + 1)
st.caption(f"{len(board)} rows from {board['run_id'].nunique()} runs in {common.db_path()}. Click a column "
           "header to sort. Intervals: Wilson for right/wrong scores, bootstrap for judge scores.")
common.show_scores(board, {"run": "run", "name": "cell / checkpoint", "base": "base", "strategy": "strategy",
                           "amount": "amount", "stage": "stage"}, tasks)

task = st.selectbox("Chart", tasks, format_func=common.label, key="lb_task")
shown = board.dropna(subset=[task]).sort_values(task)
shown = shown.assign(value=shown[task], lo=shown[f"{task}_lo"], hi=shown[f"{task}_hi"], task=task,
                     row=shown["name"] + " · " + shown["run"])
shown = common.in_display_units(shown)
figure = px.scatter(shown, x="value", y="row", error_x="err_plus", error_x_minus="err_minus",
                    color="strategy" if shown["strategy"].notna().any() else None,
                    title=f"{common.label(task)} per run, with 95% intervals",
                    labels={"value": common.label(task), "row": ""})
figure.update_layout(height=max(300, 28 * len(shown) + 120))
st.plotly_chart(figure)
