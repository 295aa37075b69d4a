"""Ratios: each ability vs the specialist:general data ratio k, in the fixed-data settings."""

from fractions import Fraction

import streamlit as st

from sfteval.ui import charts, common


def paper_setting(row: str, general: str) -> str:
    """Table 4's three blocks, named as ratio() names its settings. The row labels say which side is fixed:
    "Mix[(code,math),1/4 general]" is all of code and math with a quarter of general;
    "Mix[1/4(code,math),1/64general]" is a quarter of code and math with 1/64 of general."""
    if row.startswith("Mix[(code,math)"):
        return "specialist=1, general varies"
    return f"general={general}, specialist varies"


runs = common.runs_or_stop()
st.title("Data ratios")
grid = common.grid_or_stop(runs)
ratio = common.read("ratio", grid=grid)
if ratio.empty:
    st.info(f"Grid {grid} has no ratio cell (strategy `ratio`); the paper's RQ3 settings need one.")
    st.stop()

ratio = ratio.assign(x=ratio["k"].map(common.number))
paper = common.paper_overlay("ratio", "ratio")
if paper is not None:
    k = [Fraction(s) / Fraction(g) for s, g in zip(paper["specialist"], paper["general"])]
    paper = paper.assign(k=[str(x) for x in k], x=[float(x) for x in k],
                         setting=[paper_setting(r, g) for r, g in zip(paper["row"], paper["general"])])
for base in sorted(ratio["base"].unique()):
    rows = ratio[ratio["base"] == base]
    ticks = dict(zip(rows["x"], rows["k"])) | (dict(zip(paper["x"], paper["k"])) if paper is not None else {})
    st.plotly_chart(charts.panels(rows, "x", "setting", f"{base}: score vs specialist:general ratio k",
                                  "k = specialist / general (log)", paper=paper,
                                  paper_series="setting", log_x=True, ticks=ticks))

shown = ratio.assign(score=common.intervals(ratio))
st.dataframe(shown[["setting", "base", "general", "specialist", "k", "ability", "score", "n", "run_id"]],
             hide_index=True)
st.caption("Each setting fixes one side's amount and varies the other; intervals are 95%.")
