"""Analyses of the store: the study's tables with honest uncertainty (tables.py), the statistics behind them
(stats.py), what each task measures (abilities.py), and the paper's published numbers (paper.py)."""
