"""L2 normalisation, written once for every embedder and bridge."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

__all__ = ["l2_normalize"]


def l2_normalize(vectors: ArrayLike, dtype: DTypeLike = np.float32) -> np.ndarray[Any, Any]:
    """``vectors`` (one vector, or one per row) scaled to unit L2 length, as ``dtype``.

    An all-zero vector stays all zero (never NaN). The core expects embedders to return
    unit vectors, so that a dot product is the cosine similarity.
    """
    arr = np.asarray(vectors, dtype=dtype)
    norms = np.linalg.norm(arr, axis=-1, keepdims=True)
    out: np.ndarray[Any, Any] = np.divide(arr, norms, out=np.zeros_like(arr), where=norms > 0)
    return out
