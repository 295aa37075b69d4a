"""Forgetting: each multi-stage cell's scores stage by stage, how much of an ability later stages cost
(forgetting: best earlier score minus current), and backward transfer."""

import streamlit as st

from sfteval.analysis import tables
from sfteval.ui import charts, common

runs = common.runs_or_stop()
st.title("Forgetting across stages")
grid = common.grid_or_stop(runs)
stages = common.read("stage_scores", grid=grid)
stages = stages[stages["n_stages"] > 1] if not stages.empty else stages
if stages.empty:
    st.info(f"Grid {grid} has no evaluated multi-stage cell (sequential, mixed sequential, DMT).")
    st.stop()

cells = list(stages["cell"].unique())
picked = st.multiselect("Cells", cells, default=cells[:4], key="fg_cells")
rows = stages[stages["cell"].isin(picked)]
if rows.empty:
    st.stop()
# Say what each stage trained on, so a drop can be read against the data that caused it.
rows = rows.assign(stage=rows["stage_index"] + 1,
                   trained=rows["sources"].map(lambda s: "+".join(s)))
st.plotly_chart(charts.panels(rows, "stage", "cell", "Score after each training stage", "stage",
                              ticks={s: str(s) for s in sorted(rows["stage"].unique())}))
trained = rows.drop_duplicates(["cell", "stage"])[["cell", "stage", "trained"]]
st.dataframe(trained.pivot(index="cell", columns="stage", values="trained").add_prefix("stage ").fillna(""))

st.subheader("Forgetting")
forgetting = tables.forgetting(rows)
forgetting = forgetting.assign(stage=forgetting["stage_index"] + 1, shown=[
    common.fmt(t, f) for t, f in zip(forgetting["task"], forgetting["forgetting"])])
st.dataframe(forgetting.pivot_table(index=["cell", "ability"], columns="stage", values="shown", aggfunc="first")
             .add_prefix("after stage ").fillna(""))
st.caption("Forgetting of an ability after a stage = its best score at an earlier stage minus its score now "
           "(Chaudhry et al. 2018), in display units; positive = lost, direction-aware for lower-is-better metrics.")

st.subheader("Backward transfer")
bwt = tables.backward_transfer(rows)
shown = bwt.assign(learned_at=bwt["learned_at"] + 1, **{c: [common.fmt(t, v) for t, v in zip(bwt["task"], bwt[c])]
                                                        for c in ("after_learning", "final", "bwt")})
st.dataframe(shown[["cell", "ability", "learned_at", "after_learning", "final", "bwt"]].rename(columns={
    "learned_at": "learned at stage", "after_learning": "right after", "final": "after the last stage"}),
    hide_index=True)
st.caption("BWT = final score minus the score right after the stage that taught the ability "
           "(Lopez-Paz & Ranzato 2017); negative = forgotten.")
