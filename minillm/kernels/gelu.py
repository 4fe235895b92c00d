"""GELU, forward and backward, in both forms PyTorch offers.

    exact:  gelu(x) = x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2))
            gelu'(x) = Phi(x) + x * phi(x),   phi(x) = exp(-x^2 / 2) / sqrt(2 pi)
    tanh:   gelu(x) ~ 0.5 x (1 + tanh(u)),    u = sqrt(2/pi) (x + 0.044715 x^3)
            gelu'(x) = 0.5 (1 + tanh u) + 0.5 x (1 - tanh^2 u) sqrt(2/pi) (1 + 3 * 0.044715 x^2)

Shapes: flat 1-D arrays of N elements (callers pass ``.ravel()`` views of contiguous arrays).
Called by ``minillm.ops.elementwise.GELU``. The exact form needs erf, which NumPy lacks: the twin
maps Python's ``math.erf`` over the array (slow but obviously right); the Numba version calls the
same libm erf.
"""

from __future__ import annotations

import math

import numpy as np

from minillm.kernels._numba import njit

_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_INV_SQRT_2 = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_erf = np.frompyfunc(math.erf, 1, 1)


def gelu_forward_ref(out: np.ndarray, x: np.ndarray, tanh_approx: bool) -> None:
    xd = x.astype(np.float64)
    if tanh_approx:
        y = 0.5 * xd * (1.0 + np.tanh(_SQRT_2_OVER_PI * (xd + 0.044715 * xd**3)))
    else:
        y = 0.5 * xd * (1.0 + _erf(xd * _INV_SQRT_2).astype(np.float64))
    out[:] = y


def gelu_backward_ref(dx: np.ndarray, dout: np.ndarray, x: np.ndarray, tanh_approx: bool) -> None:
    xd = x.astype(np.float64)
    if tanh_approx:
        t = np.tanh(_SQRT_2_OVER_PI * (xd + 0.044715 * xd**3))
        du = _SQRT_2_OVER_PI * (1.0 + 3.0 * 0.044715 * xd**2)
        local = 0.5 * (1.0 + t) + 0.5 * xd * (1.0 - t * t) * du
    else:
        cdf = 0.5 * (1.0 + _erf(xd * _INV_SQRT_2).astype(np.float64))
        local = cdf + xd * _INV_SQRT_2PI * np.exp(-0.5 * xd * xd)
    dx[:] = dout * local


@njit(cache=True, nogil=True)
def gelu_forward(out: np.ndarray, x: np.ndarray, tanh_approx: bool) -> None:
    for i in range(x.size):
        xi = np.float64(x[i])
        if tanh_approx:
            out[i] = 0.5 * xi * (1.0 + math.tanh(_SQRT_2_OVER_PI * (xi + 0.044715 * xi * xi * xi)))
        else:
            out[i] = 0.5 * xi * (1.0 + math.erf(xi * _INV_SQRT_2))


@njit(cache=True, nogil=True)
def gelu_backward(dx: np.ndarray, dout: np.ndarray, x: np.ndarray, tanh_approx: bool) -> None:
    for i in range(x.size):
        xi = np.float64(x[i])
        if tanh_approx:
            t = math.tanh(_SQRT_2_OVER_PI * (xi + 0.044715 * xi * xi * xi))
            du = _SQRT_2_OVER_PI * (1.0 + 3.0 * 0.044715 * xi * xi)
            local = 0.5 * (1.0 + t) + 0.5 * xi * (1.0 - t * t) * du
        else:
            cdf = 0.5 * (1.0 + math.erf(xi * _INV_SQRT_2))
            local = cdf + xi * _INV_SQRT_2PI * math.exp(-0.5 * xi * xi)
        dx[i] = dout[i] * local
