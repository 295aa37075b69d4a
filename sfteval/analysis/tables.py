"""Every analysis table in one namespace, for the app and `sfteval report`: `tables.leaderboard(store, ...)`.

Pure functions over a Store (read-only is enough) returning pandas DataFrames; see each module for the columns.
"""

from sfteval.analysis.compare import TaskComparison, compare
from sfteval.analysis.forgetting import backward_transfer, forgetting, stage_scores
from sfteval.analysis.paper import PAPER_TABLES, SOURCE, paper
from sfteval.analysis.runs import grid_sources, grids, leaderboard, mixtures, runs, samples
from sfteval.analysis.study import conflict, ratio, scaling, strategies

__all__ = ["PAPER_TABLES", "SOURCE", "TaskComparison", "backward_transfer", "compare", "conflict", "forgetting",
           "grid_sources", "grids", "leaderboard", "mixtures", "paper", "ratio", "runs", "samples", "scaling",
           "stage_scores", "strategies"]
