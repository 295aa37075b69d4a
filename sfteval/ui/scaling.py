"""Scaling and conflict: each ability's score vs the amount of its own data (single-source runs), what mixing
the three sources does at the same amount (mixed minus single, paired per problem), and how far apart the
sources are in meaning, which the paper gives as the reason for conflict."""

import streamlit as st

from sfteval.ui import charts, common


def numeric_fraction(frame):
    return frame.assign(x=frame["fraction"].map(common.number))


def fraction_ticks(*frames):
    return {common.number(f): f for frame in frames if frame is not None for f in frame["fraction"].unique()}


runs = common.runs_or_stop()
st.title("Scaling and conflict")
grid = common.grid_or_stop(runs)

st.header("Scaling: score vs amount of the ability's own data")
scaling = common.read("scaling", grid=grid)
if scaling.empty:
    st.info(f"Grid {grid} has no evaluated single-source cell.")
else:
    scaling = numeric_fraction(scaling)
    paper = common.paper_overlay("single_vs_mixed", "scaling")
    if paper is not None:
        paper = numeric_fraction(paper[paper["strategy"] == "single"])
    st.plotly_chart(charts.panels(scaling, "x", "base", "Single-source training: each ability vs its data amount",
                                  "fraction of its own data (log)", paper=paper, log_x=True,
                                  ticks=fraction_ticks(scaling, paper)))
    table = scaling.assign(score=common.intervals(scaling))
    st.dataframe(table[["ability", "base", "fraction", "n_examples", "score", "n", "run_id"]], hide_index=True)

st.header("Conflict: mixed minus single-source at the same amount")
conflict = common.read("conflict", grid=grid)
if conflict.empty:
    st.info(f"Grid {grid} has no pair of a multitask cell and a single-source cell at the same amount.")
else:
    conflict = numeric_fraction(conflict)
    paper = common.paper_overlay("single_vs_mixed", "conflict")
    if paper is not None:
        keys = ["model", "task", "fraction"]
        wide = paper.pivot_table(index=keys, columns="strategy", values="value").reset_index()
        paper = numeric_fraction(wide.assign(delta=wide["multitask"] - wide["single"]))
    st.plotly_chart(charts.signed_bars(conflict, "x", "Mixing all three sources vs training on one: "
                                       "positive = mixing helped, negative = conflict",
                                       "fraction of each source (log)", paper=paper,
                                       ticks=fraction_ticks(conflict, paper)))
    shown = conflict.assign(
        single=[common.fmt(t, v) for t, v in zip(conflict["task"], conflict["single"])],
        mixed=[common.fmt(t, v) for t, v in zip(conflict["task"], conflict["mixed"])],
        **{"mixed - single": common.intervals(conflict, "delta")},
        p=conflict["p"].map(common.p_text), p_holm=conflict["p_holm"].map(common.p_text))
    st.dataframe(shown[["ability", "base", "fraction", "single", "mixed", "mixed - single", "p", "p_holm", "test",
                        "n"]], hide_index=True)
    st.caption("Paired per problem: McNemar's exact test for right/wrong scores, paired bootstrap for judge "
               "scores; p_holm adjusts for the comparisons shown. Intervals are 95%.")

st.header("Overlap between the grid's sources")
st.caption("The paper explains the conflict of code and general data by their overlap, and math's independence "
           "of general data by its lack of one. Measured on the sources' first user turns with all-MiniLM-L6-v2: "
           "centroid cosine (1: the same centre), and the share of A's records whose nearest neighbour is in B, "
           "beside that share for sources that cannot be told apart.")
sources = common.read("grid_sources", grid=grid)
if sources["path"].isna().all():
    st.info(f"The manifests of grid {grid} do not say where its sources were read from.")
else:
    limit = st.number_input("Records embedded per source", min_value=20, max_value=5000, value=200, step=100,
                            key="overlap_limit")
    wanted = f"overlap_{grid}"
    if st.button("Measure the overlap", key="overlap_button"):
        st.session_state[wanted] = True
    if st.session_state.get(wanted):
        with st.spinner("Embedding the sources..."):
            pairs, notes = common.source_overlap(tuple(sources.itertuples(index=False, name=None)), int(limit))
        for note in notes:
            st.warning(note)
        if not pairs.empty:
            wide = pairs.pivot(index="a", columns="b", values="nn_overlap")
            st.plotly_chart(charts.heatmap(wide, "A's records whose nearest neighbour is in B", "B", "A"))
            st.dataframe(pairs.rename(columns={"nn_overlap": "nearest neighbour in B",
                                               "chance": "if indistinguishable"}), hide_index=True)
