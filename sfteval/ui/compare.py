"""Compare two runs: per task the scores, the difference with its interval and paired p-value, the problems that
flipped, and both outputs of a problem side by side."""

import pandas as pd
import streamlit as st

from sfteval.ui import common

runs = common.runs_or_stop()
st.title("Compare two runs")
names = common.run_names(runs)
ids = list(names)
if len(ids) < 2:
    st.info("The store holds one finished run; comparing needs two.")
    st.stop()
# By default the newest run against the newest earlier one that scored a task it scored (a grid evaluates each
# checkpoint in several runs, one per sample limit, so the two newest often share none).
tasks = {r: set(t) for r, t in zip(runs["run_id"], runs["tasks"])}
default_a = next((i for i, r in enumerate(ids[1:], 1) if tasks[r] & tasks[ids[0]]), 1)
left, right = st.columns(2)
run_a = left.selectbox("Run A", ids, index=default_a, format_func=names.get, key="cmp_a")
run_b = right.selectbox("Run B", ids, index=0, format_func=names.get, key="cmp_b")
comparisons = common.read("compare", run_a, run_b)
if not comparisons:
    st.info("These runs share no task with per-sample scores.")
    st.stop()

st.dataframe(pd.DataFrame([{
    "task": c.task, "A": common.fmt(c.task, c.a), "B": common.fmt(c.task, c.b),
    "B - A [95% CI]": common.interval(c.task, c.delta, c.lo, c.hi), "p": common.p_text(c.p), "test": c.test,
    "paired units": c.n, "right -> wrong": len(c.flipped_to_wrong), "wrong -> right": len(c.flipped_to_right),
} for c in comparisons]), hide_index=True)
st.caption("Scores in display units; the test pairs the two runs on the same problems (McNemar's exact test for "
           "right/wrong, paired bootstrap otherwise).")

st.subheader("Flipped problems")
by_task = {c.task: c for c in comparisons}
task = st.selectbox("Task", list(by_task), key="cmp_task")
chosen = by_task[task]
left, right = st.columns(2)
left.markdown(f"**Right in A, wrong in B** ({len(chosen.flipped_to_wrong)}): "
              + (", ".join(map(str, chosen.flipped_to_wrong)) or "none"))
right.markdown(f"**Wrong in A, right in B** ({len(chosen.flipped_to_right)}): "
               + (", ".join(map(str, chosen.flipped_to_right)) or "none"))

flipped = [*chosen.flipped_to_wrong, *chosen.flipped_to_right]
samples_a = common.read("samples", run_a, task)
doc_ids = flipped + [d for d in sorted(samples_a["doc_id"].unique()) if d not in flipped]
doc = st.selectbox("Problem (flipped first)", doc_ids, key="cmp_doc")
rows_a = common.read("samples", run_a, task, only=[doc])
rows_b = common.read("samples", run_b, task, only=[doc])
if not rows_a.empty:
    with st.expander("prompt"):
        st.code(rows_a["prompt"].iloc[0], language=None, wrap_lines=True)
for where, side, run_id, rows in zip(st.columns(2), "AB", (run_a, run_b), (rows_a, rows_b)):
    where.markdown(f"#### {side}: {names[run_id]}")
    for _, sample in rows.iterrows():
        common.sample_view(sample, where)
