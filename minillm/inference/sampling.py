"""Turning next-token logits into a token: temperature, top-k, top-p (nucleus) and greedy choice.

Given logits z over the vocabulary, sampling draws from p = softmax(z / temperature):
  * temperature < 1 sharpens p, > 1 flattens it; temperature -> 0 is greedy (argmax);
  * top-k keeps only the k largest logits (the rest get probability 0);
  * top-p keeps the smallest set of most-likely tokens whose total probability reaches p.
The filters compose (top-k first, then top-p), and the survivors are renormalized so they sum to 1.

Everything is NumPy on the logits of the last position, (B, V), with no autograd involved.

Read next: ``minillm/inference/generate.py``.
"""

from __future__ import annotations

import numpy as np


def probabilities(
    logits: np.ndarray,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
) -> np.ndarray:
    """The distribution sampling draws from: filtered, renormalized softmax(logits / temperature).

    Args:
        logits: (B, V) or (V,) scores for the next token.
        temperature: > 0; use ``greedy`` in ``sample`` for the limit temperature -> 0.
        top_k: keep the k most likely tokens (ties at the k-th value are all kept).
        top_p: keep the smallest most-likely set with total probability >= top_p, in (0, 1].

    >>> p = probabilities(np.array([2.0, 1.0, 0.0, -1.0]), top_k=2)
    >>> p.round(3).tolist()
    [0.731, 0.269, 0.0, 0.0]
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0 (use greedy=True for argmax), got {temperature}")
    z = np.asarray(logits, dtype=np.float64)
    V = z.shape[-1]
    if top_k is not None:  # on the raw logits: shifting first could round two of them into a tie
        if not top_k >= 1:
            raise ValueError(f"top_k must be >= 1, got {top_k}")
        if top_k < V:
            kth = np.partition(z, V - top_k, axis=-1)[..., V - top_k : V - top_k + 1]
            z = np.where(z < kth, -np.inf, z)
    # Shift before dividing: (z - max) / T is <= 0 for any T > 0, so even T = 1e-300 gives a
    # finite, greedy-like distribution instead of inf - inf = NaN.
    with np.errstate(over="ignore"):  # -huge / tiny T is -inf: probability 0, as it should be
        z = (z - z.max(axis=-1, keepdims=True)) / temperature
    z = z - z.max(axis=-1, keepdims=True)
    p = np.exp(z)
    p /= p.sum(axis=-1, keepdims=True)
    if top_p is not None:
        if not 0.0 < top_p <= 1.0:
            raise ValueError(f"top_p must be in (0, 1], got {top_p}")
        order = np.argsort(-p, axis=-1, kind="stable")
        sorted_p = np.take_along_axis(p, order, axis=-1)
        before = np.cumsum(sorted_p, axis=-1) - sorted_p  # mass strictly before each token
        keep_sorted = before < top_p  # the first token is always kept
        keep = np.zeros_like(keep_sorted)
        np.put_along_axis(keep, order, keep_sorted, axis=-1)
        p = np.where(keep, p, 0.0)
        p /= p.sum(axis=-1, keepdims=True)
    return p


def sample(
    logits: np.ndarray,
    rng: np.random.Generator,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    greedy: bool = False,
) -> np.ndarray:
    """Draw one token id per row of ``logits`` (B, V) -> (B,) int64.

    Raises FloatingPointError when a row has no finite maximum (NaN, +inf, or all -inf).

    >>> rng = np.random.default_rng(0)
    >>> sample(np.array([[0.0, 5.0, 1.0]]), rng, greedy=True).tolist()
    [1]
    """
    logits = np.atleast_2d(logits)
    # NaN would silently become token 0 (argmax and the CDF both skip it); a row of -inf has no
    # distribution at all. Either means the model or its weights broke: say so.
    if not np.isfinite(logits.max(axis=-1)).all():
        raise FloatingPointError(
            "the logits hold NaN or +inf (or a row is all -inf): the model's output is not finite"
        )
    if greedy:
        return np.argmax(logits, axis=-1).astype(np.int64)
    p = probabilities(logits, temperature, top_k, top_p)
    if not (np.isfinite(p).all() and (p.sum(axis=-1) > 0).all()):
        raise FloatingPointError("the sampling distribution is not finite")
    # inverse-CDF sampling: one uniform per row, so a seed fixes the whole sequence
    u = rng.random((p.shape[0], 1))
    cdf = np.cumsum(p, axis=-1)
    ids = (cdf <= u * cdf[:, -1:]).sum(axis=-1)  # never lands on a zero-probability token
    return np.minimum(ids, p.shape[-1] - 1).astype(np.int64)
