"""Fused Adam / AdamW update over flat buffers: one pass instead of ~10 array operations.

    decoupled (AdamW):  p <- p (1 - lr wd)          coupled (Adam):  g <- g + wd p
    m <- b1 m + (1 - b1) g
    v <- b2 v + (1 - b2) g^2
    v_max <- max(v_max, v)                          amsgrad only (``v_max`` given): then v_max
    bc1 = 1 - b1^step,  bc2 = 1 - b2^step             replaces v in the denominator
    denom = sqrt(v) / sqrt(bc2) + eps
    p <- p - (lr / bc1) m / denom

The operation order is PyTorch's, and so is the precision: the per-step scalars are computed in
float64 and rounded to the parameters' dtype, and the elementwise arithmetic runs in that dtype
(float32 math fills twice the SIMD lanes of float64, and this loop is bound by memory traffic and
the divide/sqrt units). Results agree with ``torch.optim.Adam``/``AdamW`` to float rounding.

Shapes: ``p, g, m, v`` (and ``v_max``) are 1-D contiguous arrays of N elements and one float
dtype; ``p, m, v, v_max`` are updated in place. Called by ``minillm.optim`` (Adam, AdamW) through
``kernels.adam.adam_step``, once per parameter on its flattened (``reshape(-1)``) view; the
benchmark also times one flat buffer.
"""

from __future__ import annotations

import math

import numpy as np

from minillm.kernels._numba import entry


def _scalars(
    lr: float, beta1: float, beta2: float, weight_decay: float, step: int, decoupled: bool
) -> tuple[float, float, float]:
    """(step size lr / bc1, sqrt(bc2), the decoupled shrink factor 1 - lr wd) in float64."""
    step_size = lr / (1.0 - beta1**step)
    sqrt_bc2 = math.sqrt(1.0 - beta2**step)
    shrink = 1.0 - lr * weight_decay if decoupled else 1.0
    return step_size, sqrt_bc2, shrink


def adam_step_ref(
    p: np.ndarray,
    g: np.ndarray,
    m: np.ndarray,
    v: np.ndarray,
    lr: float,
    beta1: float,
    beta2: float,
    eps: float,
    weight_decay: float,
    step: int,
    decoupled: bool,
    v_max: np.ndarray | None = None,
) -> None:
    # Python-float scalars keep NumPy's arithmetic in the arrays' dtype (NEP 50).
    step_size, sqrt_bc2, shrink = _scalars(lr, beta1, beta2, weight_decay, step, decoupled)
    if decoupled:
        p *= shrink
    elif weight_decay != 0.0:
        g = g + weight_decay * p
    m[:] = beta1 * m + (1.0 - beta1) * g
    v[:] = beta2 * v + (1.0 - beta2) * g * g
    if v_max is not None:
        np.maximum(v_max, v, out=v_max)
    p -= step_size * m / (np.sqrt(v if v_max is None else v_max) / sqrt_bc2 + eps)


@entry(adam_step_ref)
def adam_step(
    p: np.ndarray,
    g: np.ndarray,
    m: np.ndarray,
    v: np.ndarray,
    lr: float,
    beta1: float,
    beta2: float,
    eps: float,
    weight_decay: float,
    step: int,
    decoupled: bool,
    v_max: np.ndarray | None = None,
) -> None:
    step_size = lr / (1.0 - beta1**step)  # the same three scalars as _scalars (float64)
    sqrt_bc2 = math.sqrt(1.0 - beta2**step)
    shrink = 1.0 - lr * weight_decay if decoupled else 1.0
    # Each scalar rounded to p's dtype by a store into a p-typed array: the loop then stays in
    # that dtype instead of widening every element to float64.
    c = np.empty(9, dtype=p.dtype)
    c[0], c[1], c[2], c[3] = beta1, 1.0 - beta1, beta2, 1.0 - beta2
    c[4], c[5], c[6] = step_size, sqrt_bc2, eps
    c[7], c[8] = shrink, 0.0 if decoupled else weight_decay
    b1, omb1, b2, omb2 = c[0], c[1], c[2], c[3]
    lr_t, sqrt_bc2_t, eps_t, shrink_t, wd_t = c[4], c[5], c[6], c[7], c[8]
    # One branch-free loop body, so LLVM vectorizes it (sqrt and divide have SIMD forms). Numba
    # compiles a separate version for v_max None, so the test below costs nothing per element.
    for i in range(p.size):
        gi = g[i] + wd_t * p[i]  # coupled weight decay (wd_t is 0 for AdamW)
        mi = b1 * m[i] + omb1 * gi
        vi = b2 * v[i] + omb2 * gi * gi
        m[i] = mi
        v[i] = vi
        if v_max is not None:
            vi = max(v_max[i], vi)
            v_max[i] = vi
        p[i] = p[i] * shrink_t - lr_t * mi / (math.sqrt(vi) / sqrt_bc2_t + eps_t)
