"""GELU, forward and backward, in both forms PyTorch offers.

    exact:  gelu(x) = x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2))
            gelu'(x) = Phi(x) + x * phi(x),   phi(x) = exp(-x^2 / 2) / sqrt(2 pi)
    tanh:   gelu(x) ~ 0.5 x (1 + tanh(u)),    u = sqrt(2/pi) (x + 0.044715 x^3)
            gelu'(x) = 0.5 (1 + tanh u) + 0.5 x (1 - tanh^2 u) sqrt(2/pi) (1 + 3 * 0.044715 x^2)

Shapes: flat 1-D arrays of N elements (callers pass ``.ravel()`` views of contiguous arrays).
Called by ``minillm.ops.elementwise.GELU``. Arithmetic is float64 for every input dtype.

The exact form needs erf, which NumPy lacks: the twin maps Python's ``math.erf`` over the array
(slow but obviously right); the Numba version calls the same libm erf, one element at a time. The
tanh form (GPT-2's) is the hot one: its Numba version writes tanh through the SIMD exp of
``_math.py``, tanh(u) = 1 - 2 / (exp(2u) + 1), which is exact to a few 1e-16 in absolute terms (all
that matters inside 1 + tanh u) and saturates cleanly to +-1, so the whole loop vectorizes.
"""

from __future__ import annotations

import math

import numpy as np

from minillm.kernels._math import exp
from minillm.kernels._numba import jit

_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_INV_SQRT_2 = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_erf = np.frompyfunc(math.erf, 1, 1)


def gelu_forward_ref(out: np.ndarray, x: np.ndarray, tanh_approx: bool) -> None:
    xd = x.astype(np.float64)
    if tanh_approx:
        y = 0.5 * xd * (1.0 + np.tanh(_SQRT_2_OVER_PI * (xd + 0.044715 * xd * xd * xd)))
    else:
        y = 0.5 * xd * (1.0 + _erf(xd * _INV_SQRT_2).astype(np.float64))
    out[:] = y


def gelu_backward_ref(dx: np.ndarray, dout: np.ndarray, x: np.ndarray, tanh_approx: bool) -> None:
    xd = x.astype(np.float64)
    if tanh_approx:
        t = np.tanh(_SQRT_2_OVER_PI * (xd + 0.044715 * xd * xd * xd))
        du = _SQRT_2_OVER_PI * (1.0 + 3.0 * 0.044715 * xd * xd)
        local = 0.5 * (1.0 + t) + 0.5 * xd * (1.0 - t * t) * du
    else:
        cdf = 0.5 * (1.0 + _erf(xd * _INV_SQRT_2).astype(np.float64))
        local = cdf + xd * _INV_SQRT_2PI * np.exp(-0.5 * xd * xd)
    dx[:] = dout * local


@jit(inline="always")
def _tanh(u: float) -> float:
    """tanh(u) = 1 - 2 / (e^(2u) + 1): e^(2u) = inf gives 1, e^(2u) = 0 gives -1."""
    return 1.0 - 2.0 / (exp(2.0 * u) + 1.0)


@jit
def gelu_forward(out: np.ndarray, x: np.ndarray, tanh_approx: bool) -> None:
    if tanh_approx:
        for i in range(x.size):
            xi = np.float64(x[i])
            out[i] = 0.5 * xi * (1.0 + _tanh(_SQRT_2_OVER_PI * (xi + 0.044715 * xi * xi * xi)))
    else:
        for i in range(x.size):
            xi = np.float64(x[i])
            out[i] = 0.5 * xi * (1.0 + math.erf(xi * _INV_SQRT_2))


@jit
def gelu_backward(dx: np.ndarray, dout: np.ndarray, x: np.ndarray, tanh_approx: bool) -> None:
    if tanh_approx:
        for i in range(x.size):
            xi = np.float64(x[i])
            t = _tanh(_SQRT_2_OVER_PI * (xi + 0.044715 * xi * xi * xi))
            du = _SQRT_2_OVER_PI * (1.0 + 3.0 * 0.044715 * xi * xi)
            dx[i] = dout[i] * (0.5 * (1.0 + t) + 0.5 * xi * (1.0 - t * t) * du)
    else:
        for i in range(x.size):
            xi = np.float64(x[i])
            cdf = 0.5 * (1.0 + math.erf(xi * _INV_SQRT_2))
            dx[i] = dout[i] * (cdf + xi * _INV_SQRT_2PI * exp(-0.5 * xi * xi))
