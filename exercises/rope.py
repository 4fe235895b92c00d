"""Exercise 2: rotary position embedding (RoPE, Su et al. 2021), the position scheme of Llama.

Instead of adding a position vector, RoPE rotates each pair of channels (x[2i], x[2i+1]) of a
query or key at position t by the angle t * base^(-2i/D). Then q_t . k_s depends on t and s only
through t - s: attention sees relative positions. Write ``apply_rope`` on NumPy arrays of shape
(..., T, D) with D even. The checks: ``exercises/test_exercises.py -k rope`` (a rotation keeps
norms; position 0 is the identity; the dot product of rotated q and k depends only on the offset).
Adding it to the GPT (``minillm/models/gpt.py``: rotate q and k in ``CausalSelfAttention`` and
drop ``wpe``) is the follow-up.
"""

from __future__ import annotations

import numpy as np


def apply_rope(x: np.ndarray, positions: np.ndarray, base: float = 10000.0) -> np.ndarray:
    """``x`` (..., T, D) rotated pairwise by angle ``positions[t] * base ** (-2i / D)``."""
    raise NotImplementedError("exercise 2: rotate each (x[2i], x[2i+1]) pair")
