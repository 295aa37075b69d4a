"""The mixture/strategy trainer: sources -> nested mixtures -> stages -> checkpoints registered in the store.

sources.py turns raw files into chat examples, mixture.py draws nested seeded subsets and their manifests,
plan.py turns a grid config into cells and content-addressed stages, sft.py trains one stage with TRL,
grid.py runs a plan: trains what is missing, evaluates what is not yet evaluated.
"""


class StageError(RuntimeError):
    """A training stage failed; it is marked failed in the store and the grid stops (finished stages are kept)."""
