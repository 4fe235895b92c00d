"""Exercise 3: a top-p (nucleus) sampler (Holtzman et al. 2019).

Keep the smallest set of most likely tokens whose probabilities add up to at least p, renormalize,
and sample from it; everything else gets probability 0. Write ``top_p_probabilities`` (the filtered
distribution of one row of logits) and ``sample_top_p``. The checks compare with
``minillm.inference.probabilities`` (minillm's own sampler, in ``minillm/inference/sampling.py``):
``exercises/test_exercises.py -k top_p``.
"""

from __future__ import annotations

import numpy as np


def top_p_probabilities(logits: np.ndarray, p: float) -> np.ndarray:
    """The nucleus distribution of a (V,) row of logits, for 0 < p <= 1."""
    raise NotImplementedError("exercise 3: softmax, sort, cumulative sum, cut, renormalize")


def sample_top_p(logits: np.ndarray, p: float, rng: np.random.Generator) -> int:
    """One token id drawn from ``top_p_probabilities(logits, p)``."""
    raise NotImplementedError("exercise 3: draw from the nucleus")
