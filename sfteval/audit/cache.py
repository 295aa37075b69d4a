"""Arrays computed from content (embeddings, IFD scores, token counts), kept on disk under the sfteval cache
and keyed by a hash of what they were computed from, so a grid or a second audit does not compute them again."""

from __future__ import annotations

import hashlib
import json
import os
from typing import Callable

import numpy as np

from sfteval.checkpoints import cache_dir


def content_key(**parts) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode("utf-8")).hexdigest()


def cached_array(kind: str, key: str, compute: Callable[[], np.ndarray]) -> np.ndarray:
    path = cache_dir() / "audit" / kind / f"{key}.npy"
    if path.is_file():
        return np.load(path)
    value = np.asarray(compute())
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{key}.{os.getpid()}.tmp.npy")
        np.save(tmp, value)
        os.replace(tmp, path)  # a concurrent reader sees the whole file or none
    except OSError:
        pass  # a read-only cache only costs recomputing next time
    return value
