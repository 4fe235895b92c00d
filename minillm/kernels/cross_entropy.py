"""Fused log-softmax + cross-entropy over class indices, with ignore_index and label smoothing.

For row n with logits x (C,), target t and smoothing eps (PyTorch's definition):

    lse = m + log sum_c exp(x_c - m),  m = max_c x_c          (log-sum-exp, stable at +-1e4)
    nll = lse - x_t                                            (-log softmax(x)_t)
    smooth = lse - mean_c x_c                                  (mean_c of -log softmax(x)_c)
    loss_n = (1 - eps) nll + eps smooth,    0 where t == ignore_index
    dx_c = dloss_n (softmax(x)_c - (1 - eps) [c == t] - eps / C)

The one-hot target is never built: the only target-dependent term is one subtraction at column t.
Row sums accumulate in float64.

Shapes: ``logits, dlogits`` (N, C) C-contiguous; ``target`` (N,) int64; ``losses, lse, dlosses``
(N,) float64. The caller (``minillm.ops.fused.CrossEntropy``) checks targets are in range, reduces
the per-row losses and hands back per-row gradient weights ``dlosses`` (g / count for a mean).
"""

from __future__ import annotations

import math

import numpy as np

from minillm.kernels._math import exp, row_max, row_sum
from minillm.kernels._numba import entry


def cross_entropy_forward_ref(
    losses: np.ndarray,
    lse: np.ndarray,
    logits: np.ndarray,
    target: np.ndarray,
    ignore_index: int,
    smoothing: float,
) -> None:
    N = logits.shape[0]
    x = logits.astype(np.float64)
    m = x.max(axis=1, keepdims=True)
    lse[:] = (m + np.log(np.exp(x - m).sum(axis=1, keepdims=True)))[:, 0]
    keep = target != ignore_index
    safe_t = np.where(keep, target, 0)
    nll = lse - x[np.arange(N), safe_t]
    smooth = lse - x.mean(axis=1)
    losses[:] = np.where(keep, (1.0 - smoothing) * nll + smoothing * smooth, 0.0)


def cross_entropy_backward_ref(
    dlogits: np.ndarray,
    dlosses: np.ndarray,
    logits: np.ndarray,
    lse: np.ndarray,
    target: np.ndarray,
    ignore_index: int,
    smoothing: float,
) -> None:
    N, C = logits.shape
    keep = target != ignore_index
    grad = np.exp(logits.astype(np.float64) - lse[:, None]) - smoothing / C
    grad[np.arange(N), np.where(keep, target, 0)] -= 1.0 - smoothing
    dlogits[:] = np.where(keep, dlosses, 0.0)[:, None] * grad


# Numba versions: per row, SIMD passes (max; exps into a scratch row; sums) as in softmax.py. The
# exps take x - m in the logits' dtype, m being one of the logits: exact enough at +-1e4 even in
# float32, where x - lse would lose lse's rounding (~1e-3 at 1e4) in every probability.


@entry(cross_entropy_forward_ref)
def cross_entropy_forward(
    losses: np.ndarray,
    lse: np.ndarray,
    logits: np.ndarray,
    target: np.ndarray,
    ignore_index: int,
    smoothing: float,
) -> None:
    N, C = logits.shape
    scratch = np.empty(C, dtype=logits.dtype)
    for n in range(N):
        xn = logits[n]
        m = row_max(xn)
        for c in range(C):
            scratch[c] = exp(xn[c] - m)
        lse_n = m + math.log(row_sum(scratch))
        lse[n] = lse_n
        t = target[n]
        if t == ignore_index:
            losses[n] = 0.0
            continue
        nll = lse_n - xn[t]
        losses[n] = (1.0 - smoothing) * nll + smoothing * (lse_n - row_sum(xn) / C)


@entry(cross_entropy_backward_ref)
def cross_entropy_backward(
    dlogits: np.ndarray,
    dlosses: np.ndarray,
    logits: np.ndarray,
    lse: np.ndarray,
    target: np.ndarray,
    ignore_index: int,
    smoothing: float,
) -> None:
    N, C = logits.shape
    off = smoothing / C
    for n in range(N):
        t = target[n]
        if t == ignore_index:
            dlogits[n, :] = 0.0
            continue
        xn, dn = logits[n], dlogits[n]
        m = row_max(xn)
        w = dlosses[n]
        w_inv_s = w * math.exp(m - lse[n])  # softmax_c = exp(x_c - m) / s,  1/s = exp(m - lse)
        for c in range(C):
            dn[c] = w_inv_s * exp(xn[c] - m) - w * off
        dn[t] -= w * (1.0 - smoothing)
