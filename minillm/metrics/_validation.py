"""The input checks every metric shares, raising scikit-learn's messages."""

from __future__ import annotations

from typing import Any

import numpy as np


def check_lengths(*arrays: Any) -> None:
    """A ValueError unless every array has the same number of samples (rows)."""
    lengths = [len(a) for a in arrays]
    if len(set(lengths)) > 1:
        raise ValueError(f"Found input variables with inconsistent numbers of samples: {lengths}")


def check_sample_weight(sample_weight: Any, n: int) -> np.ndarray | None:
    """``sample_weight`` as an (n,) array of its own dtype (None stays None), or a ValueError."""
    if sample_weight is None:
        return None
    weights = np.asarray(sample_weight)
    if weights.shape != (n,):
        raise ValueError(f"sample_weight.shape == {weights.shape}, expected {(n,)}!")
    return weights
