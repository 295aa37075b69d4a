"""Data: what each cell of a grid trained on, stage by stage: examples per source, and tokens."""

import plotly.express as px
import streamlit as st

from sfteval.ui import common


def bars(frame, x: str, color: str, title: str, x_title: str, order: list[str]) -> None:
    """Horizontal bars, one per cell stage in `order`: stacked by source, or side by side for token counts."""
    figure = px.bar(frame, x=x, y="row", color=color, orientation="h", title=title,
                    barmode="stack" if color == "source" else "group", category_orders={"row": order},
                    labels={x: x_title, "row": "cell · stage"}, color_discrete_map=common.SOURCE_COLORS,
                    hover_data=[c for c in ("fraction", "mixture") if c in frame.columns])
    figure.update_layout(height=max(320, 26 * len(order) + 140))
    st.plotly_chart(figure)


runs = common.runs_or_stop()
st.title("Training data")
grid = common.grid_or_stop(runs)
mixtures = common.read("mixtures", grid=grid)
if mixtures.empty:
    st.info(f"Grid {grid} has no mixture recorded yet.")
    st.stop()

mixtures = mixtures.assign(stage_number=mixtures["stage_index"] + 1,
                           row=mixtures["cell"] + " · stage " + (mixtures["stage_index"] + 1).astype(str))
order = list(mixtures.sort_values(["strategy", "cell", "stage_index"])["row"].unique())

bars(mixtures, "n", "source", f"Examples per source in each stage of grid {grid}", "examples", order)
if mixtures["tokens"].notna().any():
    bars(mixtures, "tokens", "source", f"Tokens per source in each stage of grid {grid}", "tokens", order)
elif mixtures["mixture_tokens"].notna().any():
    stages = mixtures.drop_duplicates("row")[["row", "mixture_tokens", "trainable_tokens"]].melt(
        id_vars="row", var_name="count", value_name="tokens")
    stages["count"] = stages["count"].map({"mixture_tokens": "all tokens", "trainable_tokens": "trainable (assistant)"})
    bars(stages, "tokens", "count", f"Tokens in each stage of grid {grid}", "tokens", order)
else:
    st.info("Token counts are recorded when a stage is trained; none is yet.")

table = mixtures.pivot_table(index=["cell", "stage_number"], columns="source", values="n", aggfunc="sum", fill_value=0)
totals = mixtures.drop_duplicates(["cell", "stage_number"]).set_index(["cell", "stage_number"])[
    ["strategy", "mixture_n", "mixture_tokens", "trainable_tokens", "mixture"]]
st.dataframe(table.add_suffix(" examples").join(totals).reset_index().rename(columns={
    "stage_number": "stage", "mixture_n": "examples", "mixture_tokens": "tokens",
    "trainable_tokens": "trainable tokens"}), hide_index=True)
st.caption("Fractions are of each source's full data. A mixture's manifest lists every example it holds, so it can "
           "be rebuilt and audited; `mixture` is its hash.")
