"""Layer normalization over the last axis of an (N, C) array, forward and backward.

    mean = sum_c x_c / C,   var = sum_c (x_c - mean)^2 / C   (biased, as PyTorch),
    rstd = 1 / sqrt(var + eps),   xhat = (x - mean) rstd,   y = xhat w + b

    backward, with dxhat = dy w:
    dx = rstd (dxhat - mean_c(dxhat) - xhat mean_c(dxhat xhat)),
    dw = sum_n dy xhat,   db = sum_n dy

The variance is computed in two passes (subtract the mean first), in float64, so rows with a large
offset (x = 1e4 + small noise) keep their small variance. ``mean`` and ``rstd`` are saved by the
forward for the backward, which then never recomputes a reduction over x.

``residual_layernorm_forward`` first adds a sublayer's output and its bias to the residual stream
in place, ``x += y + bias``, then normalizes the sum: a transformer block's add and the next layer
norm in one pass over the row (generation's engine calls it after every projection).

Shapes: ``x, y, dy, dx`` C-contiguous (N, C); ``w, b, dw, db, bias`` (C,); ``mean, rstd`` (N,)
float64. Called by ``minillm.ops.fused.LayerNorm`` and ``minillm.inference.engine``.
"""

from __future__ import annotations

import math

import numpy as np

from minillm.kernels._math import row_dot, row_sq_dev, row_sum
from minillm.kernels._numba import entry, jit


def layernorm_forward_ref(
    y: np.ndarray,
    mean: np.ndarray,
    rstd: np.ndarray,
    x: np.ndarray,
    w: np.ndarray,
    b: np.ndarray,
    eps: float,
) -> None:
    x64 = x.astype(np.float64)
    mean[:] = x64.mean(axis=1)
    centered = x64 - mean[:, None]
    rstd[:] = 1.0 / np.sqrt((centered * centered).mean(axis=1) + eps)
    y[:] = centered * rstd[:, None] * w + b


def residual_layernorm_forward_ref(
    h: np.ndarray,
    mean: np.ndarray,
    rstd: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    bias: np.ndarray,
    w: np.ndarray,
    b: np.ndarray,
    eps: float,
) -> None:
    x += y + bias  # the sublayer's bias first, then the residual add: the model's rounding order
    layernorm_forward_ref(h, mean, rstd, x, w, b, eps)


def layernorm_backward_ref(
    dx: np.ndarray,
    dw: np.ndarray,
    db: np.ndarray,
    dy: np.ndarray,
    x: np.ndarray,
    mean: np.ndarray,
    rstd: np.ndarray,
    w: np.ndarray,
) -> None:
    xhat = (x.astype(np.float64) - mean[:, None]) * rstd[:, None]
    dy64 = dy.astype(np.float64)
    dxhat = dy64 * w
    dx[:] = rstd[:, None] * (
        dxhat
        - dxhat.mean(axis=1, keepdims=True)
        - xhat * (dxhat * xhat).mean(axis=1, keepdims=True)
    )
    dw[:] = (dy64 * xhat).sum(axis=0)
    db[:] = dy64.sum(axis=0)


# Numba versions: row sums by the SIMD helpers of _math.py; loops that update per-column arrays
# (dw, db) are kept apart from the row sums, so both vectorize.


@jit(inline="always")
def _normalize_rows(
    y: np.ndarray,
    mean: np.ndarray,
    rstd: np.ndarray,
    x: np.ndarray,
    w: np.ndarray,
    b: np.ndarray,
    eps: float,
) -> None:
    N, C = y.shape
    for n in range(N):
        xn, yn = x[n], y[n]
        mu = row_sum(xn) / C
        r = 1.0 / math.sqrt(row_sq_dev(xn, mu) / C + eps)
        mean[n] = mu
        rstd[n] = r
        for c in range(C):
            yn[c] = (xn[c] - mu) * r * w[c] + b[c]


@entry(layernorm_forward_ref)
def layernorm_forward(
    y: np.ndarray,
    mean: np.ndarray,
    rstd: np.ndarray,
    x: np.ndarray,
    w: np.ndarray,
    b: np.ndarray,
    eps: float,
) -> None:
    _normalize_rows(y, mean, rstd, x, w, b, eps)


@entry(residual_layernorm_forward_ref)
def residual_layernorm_forward(
    h: np.ndarray,
    mean: np.ndarray,
    rstd: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    bias: np.ndarray,
    w: np.ndarray,
    b: np.ndarray,
    eps: float,
) -> None:
    N, C = x.shape
    for n in range(N):
        xn, yn = x[n], y[n]
        for c in range(C):
            xn[c] += yn[c] + bias[c]
    _normalize_rows(h, mean, rstd, x, w, b, eps)


@entry(layernorm_backward_ref)
def layernorm_backward(
    dx: np.ndarray,
    dw: np.ndarray,
    db: np.ndarray,
    dy: np.ndarray,
    x: np.ndarray,
    mean: np.ndarray,
    rstd: np.ndarray,
    w: np.ndarray,
) -> None:
    N, C = dx.shape
    # dw and db accumulate across rows in float64 scratch, rounded once at the end.
    dw64 = np.zeros(C)
    db64 = np.zeros(C)
    xhat = np.empty(C)
    dxhat = np.empty(C)
    for n in range(N):
        xn, dyn, dxn = x[n], dy[n], dx[n]
        mu = mean[n]
        r = rstd[n]
        for c in range(C):
            g = np.float64(dyn[c])
            xhat[c] = (xn[c] - mu) * r
            dxhat[c] = g * w[c]
            dw64[c] += g * xhat[c]
            db64[c] += g
        s1 = row_sum(dxhat) / C
        s2 = row_dot(dxhat, xhat) / C
        for c in range(C):
            dxn[c] = r * (dxhat[c] - s1 - xhat[c] * s2)
    for c in range(C):
        dw[c] = dw64[c]
        db[c] = db64[c]
