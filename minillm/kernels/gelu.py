"""GELU, forward and backward, in both forms PyTorch offers.

    exact:  gelu(x) = x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2))
            gelu'(x) = Phi(x) + x * phi(x),   phi(x) = exp(-x^2 / 2) / sqrt(2 pi)
    tanh:   gelu(x) ~ 0.5 x (1 + tanh(u)),    u = sqrt(2/pi) (x + 0.044715 x^3)
            gelu'(x) = 0.5 (1 + tanh u) + 0.5 x (1 - tanh^2 u) sqrt(2/pi) (1 + 3 * 0.044715 x^2)

Shapes: flat 1-D arrays of N elements (callers pass ``.ravel()`` views of contiguous arrays).
Called by ``minillm.ops.elementwise.GELU``.

The exact form needs erf, which NumPy lacks: the twin maps Python's ``math.erf`` over the array
(slow but obviously right). The Numba version computes Phi(x) from ``erfc_pos`` of ``_math.py``,
a vectorizable erfc (two polynomials and an exp, selected per element), as

    Phi(x) = 1 - erfc(z) / 2  for z = x / sqrt 2 >= 0,   erfc(|z|) / 2  below 0

so the negative tail keeps its relative precision, and phi(x) = exp(-z^2) / sqrt(2 pi) shares
the exp. It runs in the input's dtype: float32 arithmetic for float32 (twice the SIMD lanes),
float64 for float64 (3e-15 from the twin). The tanh form (GPT-2's) runs in float64 for every
input; its tanh goes through the SIMD exp of ``_math.py``, tanh(u) = 1 - 2 / (exp(2u) + 1),
which is exact to a few 1e-16 in absolute terms (all that matters inside 1 + tanh u) and
saturates cleanly to +-1, so the whole loop vectorizes.
"""

from __future__ import annotations

import math

import numpy as np

from minillm.kernels._math import erfc_pos, exp
from minillm.kernels._numba import jit, overload_by_float

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


def normal_cdf_pdf(x: float) -> tuple[float, float]:
    """(Phi(x), phi(x)) of the standard normal. Compiled kernels get float32 or float64
    arithmetic by the type of x; in Python it is math.erfc.

    >>> [round(v, 6) for v in normal_cdf_pdf(0.0)]
    [0.5, 0.398942]
    """
    return 0.5 * math.erfc(-x * _INV_SQRT_2), math.exp(-0.5 * x * x) * _INV_SQRT_2PI


@jit(inline="always")
def _cdf_pdf64(x: float) -> tuple[float, float]:
    z = x * _INV_SQRT_2
    c = erfc_pos(abs(z))
    return (1.0 - 0.5 * c if z >= 0.0 else 0.5 * c), exp(-z * z) * _INV_SQRT_2PI


_F = np.float32
_HALF_32, _ONE_32, _INV_SQRT_2_32, _INV_SQRT_2PI_32 = (
    _F(0.5), _F(1.0), _F(_INV_SQRT_2), _F(_INV_SQRT_2PI))  # fmt: skip


@jit(inline="always")
def _cdf_pdf32(x: np.float32) -> tuple[np.float32, np.float32]:
    z = x * _INV_SQRT_2_32
    c = erfc_pos(abs(z))
    return (_ONE_32 - _HALF_32 * c if z >= 0 else _HALF_32 * c), exp(-z * z) * _INV_SQRT_2PI_32


overload_by_float(normal_cdf_pdf, _cdf_pdf32, _cdf_pdf64, inline_ir=True)


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
            cdf, _ = normal_cdf_pdf(x[i])
            out[i] = x[i] * cdf


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
            cdf, pdf = normal_cdf_pdf(x[i])
            dx[i] = dout[i] * (cdf + x[i] * pdf)
