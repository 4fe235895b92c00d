"""A solution to exercise 2 (``exercises/rope.py``)."""

from __future__ import annotations

import numpy as np


def apply_rope(x: np.ndarray, positions: np.ndarray, base: float = 10000.0) -> np.ndarray:
    D = x.shape[-1]
    freqs = base ** (-np.arange(0, D, 2) / D)  # (D/2,): one frequency per channel pair
    angles = np.asarray(positions)[:, None] * freqs  # (T, D/2)
    cos, sin = np.cos(angles), np.sin(angles)
    even, odd = x[..., 0::2], x[..., 1::2]  # (..., T, D/2) each
    out = np.empty_like(x)
    out[..., 0::2] = even * cos - odd * sin  # a 2-D rotation of every (even, odd) pair
    out[..., 1::2] = even * sin + odd * cos
    return out
