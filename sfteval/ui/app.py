"""The Streamlit app: `streamlit run app.py [-- --db PATH]`, or `sfteval ui`. Navigation only: each page is a
script in this folder that reads sfteval.analysis and draws."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

HERE = Path(__file__).resolve().parent
PAGES = [
    ("leaderboard.py", "Leaderboard", ":material/leaderboard:"),
    ("strategies.py", "Strategies", ":material/table_chart:"),
    ("scaling.py", "Scaling and conflict", ":material/trending_up:"),
    ("ratios.py", "Ratios", ":material/balance:"),
    ("forgetting.py", "Forgetting", ":material/history:"),
    ("compare.py", "Compare two runs", ":material/compare_arrows:"),
    ("samples.py", "Samples", ":material/article:"),
    ("data.py", "Data", ":material/database:"),
]


def main() -> None:
    st.set_page_config(page_title="sfteval", page_icon=":material/science:", layout="wide")
    st.navigation([st.Page(HERE / file, title=title, icon=icon) for file, title, icon in PAGES]).run()


if __name__ == "__main__":  # `streamlit run sfteval/ui/app.py` runs this file as __main__
    main()
