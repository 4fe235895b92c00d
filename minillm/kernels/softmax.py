"""Softmax and log-softmax over the last axis of an (N, C) array, forward and backward.

    softmax:      y_c = exp(x_c - m) / s,   m = max_c x_c,  s = sum_c exp(x_c - m)
                  dx = y * (dy - sum_c dy_c y_c)
    log-softmax:  y_c = x_c - m - log s
                  dx = dy - exp(y) * sum_c dy_c

Subtracting the row maximum keeps exp() in (0, 1], so logits of +-1e4 neither overflow nor lose the
answer. A row that is entirely -inf has no maximum to subtract and gives NaN, as in PyTorch.
Row sums accumulate in float64 for every input dtype.

Shapes: ``x, y, dy, dx`` are C-contiguous (N, C). Called by ``minillm.ops.reduce.Softmax`` and
``LogSoftmax`` (which move the reduced axis last first).
"""

from __future__ import annotations

import math

import numpy as np

from minillm.kernels._math import exp, row_dot, row_max, row_sum
from minillm.kernels._numba import entry


def softmax_forward_ref(y: np.ndarray, x: np.ndarray) -> None:
    with np.errstate(invalid="ignore"):  # an all -inf row: -inf - -inf = NaN, by design
        e = np.exp(x - x.max(axis=1, keepdims=True))
    y[:] = e / e.sum(axis=1, keepdims=True, dtype=np.float64)


def softmax_backward_ref(dx: np.ndarray, dy: np.ndarray, y: np.ndarray) -> None:
    dot = np.sum(dy * y, axis=1, keepdims=True, dtype=np.float64)
    dx[:] = y * (dy - dot)


def log_softmax_forward_ref(y: np.ndarray, x: np.ndarray) -> None:
    with np.errstate(invalid="ignore"):  # an all -inf row: -inf - -inf = NaN, by design
        shifted = x - x.max(axis=1, keepdims=True)
    y[:] = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True, dtype=np.float64))


def log_softmax_backward_ref(dx: np.ndarray, dy: np.ndarray, y: np.ndarray) -> None:
    dx[:] = dy - np.exp(y) * dy.sum(axis=1, keepdims=True, dtype=np.float64)


# Numba versions. A loop that both calls exp and sums is not vectorized (a float sum is kept in
# order), so each row takes separate SIMD passes: max, exp (stored), sum, scale.


@entry(softmax_forward_ref)
def softmax_forward(y: np.ndarray, x: np.ndarray) -> None:
    N, C = y.shape
    for n in range(N):
        xn, yn = x[n], y[n]
        m = row_max(xn)
        for c in range(C):
            yn[c] = exp(xn[c] - m)
        inv = 1.0 / row_sum(yn)
        for c in range(C):
            yn[c] *= inv


@entry(softmax_backward_ref)
def softmax_backward(dx: np.ndarray, dy: np.ndarray, y: np.ndarray) -> None:
    N, C = dx.shape
    for n in range(N):
        dot = row_dot(dy[n], y[n])
        for c in range(C):
            dx[n, c] = y[n, c] * (dy[n, c] - dot)


@entry(log_softmax_forward_ref)
def log_softmax_forward(y: np.ndarray, x: np.ndarray) -> None:
    N, C = y.shape
    for n in range(N):
        xn, yn = x[n], y[n]
        m = row_max(xn)
        for c in range(C):
            yn[c] = exp(xn[c] - m)  # y is scratch for the exps here
        log_s = math.log(row_sum(yn))
        for c in range(C):
            yn[c] = (xn[c] - m) - log_s


@entry(log_softmax_backward_ref)
def log_softmax_backward(dx: np.ndarray, dy: np.ndarray, y: np.ndarray) -> None:
    N, C = dx.shape
    for n in range(N):
        total = row_sum(dy[n])
        for c in range(C):
            dx[n, c] = dy[n, c] - exp(y[n, c]) * total
