"""A solution to exercise 3 (``exercises/top_p.py``)."""

from __future__ import annotations

import numpy as np


def top_p_probabilities(logits: np.ndarray, p: float) -> np.ndarray:
    probs = np.exp(logits - logits.max())
    probs /= probs.sum()
    order = np.argsort(-probs, kind="stable")  # most likely first
    cumulative = np.cumsum(probs[order])
    keep = int(np.searchsorted(cumulative, p)) + 1  # the smallest prefix reaching p
    kept = np.zeros_like(probs)
    kept[order[:keep]] = probs[order[:keep]]
    return kept / kept.sum()


def sample_top_p(logits: np.ndarray, p: float, rng: np.random.Generator) -> int:
    probs = top_p_probabilities(logits, p)
    return int(rng.choice(len(probs), p=probs))
