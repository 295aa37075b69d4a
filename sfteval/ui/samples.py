"""Samples: a run's outputs, one task at a time: prompt, output, extracted answer, verdict, judge's text."""

import streamlit as st

from sfteval.ui import common

runs = common.runs_or_stop()
st.title("Samples")
names = common.run_names(runs)
side = st.sidebar
run_id = side.selectbox("Run", list(names), format_func=names.get, key="sm_run")
tasks = runs.loc[runs["run_id"] == run_id, "tasks"].iloc[0]
task = side.selectbox("Task", list(tasks), key="sm_task")
only = side.radio("Show", ["all", "right", "wrong", "unscored"], horizontal=True, key="sm_only")
rows = common.read("samples", run_id, task, only=None if only == "all" else only)
if rows.empty:
    st.info(f"No {only} sample of {task} in run {run_id[:12]}.")
    st.stop()

st.caption(f"{len(rows)} samples of {task} in run {run_id} ({names[run_id]}).")
listing = rows.assign(answer=rows["extracted"].map(common.short_json), score=rows["score"],
                      output=rows["output"].str.slice(0, 120))
st.dataframe(listing[["doc_id", "repeat", "score", "answer", "output"]], hide_index=True, height=260)

keys = list(zip(rows["doc_id"], rows["repeat"]))
picked = st.selectbox("Sample", range(len(keys)), key="sm_pick",
                      format_func=lambda i: f"#{keys[i][0]} (repeat/turn {keys[i][1]})")
sample = rows.iloc[picked]
st.markdown("**Prompt**")
st.code(sample["prompt"], language=None, wrap_lines=True)
common.sample_view(sample)
