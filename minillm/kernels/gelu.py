"""GELU, forward and backward, in both forms PyTorch offers.

    exact:  gelu(x) = x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2))
            gelu'(x) = Phi(x) + x * phi(x),   phi(x) = exp(-x^2 / 2) / sqrt(2 pi)
    tanh:   gelu(x) ~ 0.5 x (1 + tanh(u)),    u = sqrt(2/pi) (x + 0.044715 x^3)
            gelu'(x) = 0.5 (1 + tanh u) + 0.5 x (1 - tanh^2 u) sqrt(2/pi) (1 + 3 * 0.044715 x^2)

Shapes: flat 1-D arrays of N elements (callers pass ``.ravel()`` views of contiguous arrays).
Called by ``minillm.ops.elementwise.GELU``. ``bias_gelu_forward`` adds a Linear layer's bias first,
``out = gelu(x + bias)`` over (N, F) rows, in one pass (generation's engine, after c_fc).

The exact form needs erf, which NumPy lacks: the twin maps Python's ``math.erf`` over the array
(slow but obviously right). The Numba version computes Phi(x) from ``erfc_pos`` of ``_math.py``,
a vectorizable erfc (two polynomials and an exp, selected per element), as

    Phi(x) = 1 - erfc(z) / 2  for z = x / sqrt 2 >= 0,   erfc(|z|) / 2  below 0

so the negative tail keeps its relative precision, and phi(x) = exp(-z^2) / sqrt(2 pi). The tanh
form (GPT-2's) writes tanh through the SIMD exp of ``_math.py``, tanh(u) = 1 - 2 / (exp(2u) + 1),
exact to a few ulp in absolute terms (all that matters inside 1 + tanh u) and saturating cleanly
to +-1. Both run in the input's dtype (``gelu_and_grad``): float32 arithmetic for float32, twice
the SIMD lanes of float64, within ~1e-7 of the float64 twin; float64 for float64.
"""

from __future__ import annotations

import math

import numpy as np

from minillm.kernels._math import erfc_pos, exp
from minillm.kernels._numba import entry, jit, overload_by_float

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


def bias_gelu_forward_ref(
    out: np.ndarray, x: np.ndarray, bias: np.ndarray, tanh_approx: bool
) -> None:
    gelu_forward_ref(out.reshape(-1), (x + bias).reshape(-1), tanh_approx)


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


def gelu_and_grad(x: float, tanh_approx: bool) -> tuple[float, float]:
    """(gelu(x), gelu'(x)) in either form. Compiled kernels get float32 arithmetic for a float32
    x and float64 otherwise (the constants are typed to match, so nothing widens); a kernel that
    uses only one of the two leaves the other to LLVM to drop.

    >>> [round(v, 6) for v in gelu_and_grad(1.0, False)]
    [0.841345, 1.083315]
    """
    if tanh_approx:
        t = math.tanh(_SQRT_2_OVER_PI * (x + 0.044715 * x**3))
        du = _SQRT_2_OVER_PI * (1.0 + 3.0 * 0.044715 * x * x)
        return 0.5 * x * (1.0 + t), 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * du
    cdf = 0.5 * math.erfc(-x * _INV_SQRT_2)
    return x * cdf, cdf + x * math.exp(-0.5 * x * x) * _INV_SQRT_2PI


def _make(dtype: type) -> object:
    """The compiled ``gelu_and_grad`` for one float dtype: the same lines, typed constants."""
    c = {name: dtype(v) for name, v in {
        "half": 0.5, "one": 1.0, "two": 2.0, "k": 0.044715, "k3": 3.0 * 0.044715,
        "s2pi": _SQRT_2_OVER_PI, "is2": _INV_SQRT_2, "is2pi": _INV_SQRT_2PI}.items()}  # fmt: skip
    half, one, two, k, k3 = c["half"], c["one"], c["two"], c["k"], c["k3"]
    s2pi, is2, is2pi = c["s2pi"], c["is2"], c["is2pi"]

    @jit(inline="always")
    def body(x, tanh_approx):
        if tanh_approx:  # tanh u = 1 - 2 / (e^(2u) + 1): e^(2u) = inf gives 1, 0 gives -1
            u = s2pi * (x + k * x * x * x)
            t = one - two / (exp(two * u) + one)
            du = s2pi * (one + k3 * x * x)
            return half * x * (one + t), half * (one + t) + half * x * (one - t * t) * du
        z = x * is2  # Phi(x) = 1 - erfc(z)/2 for z >= 0, erfc(|z|)/2 below: the tail stays exact
        e = erfc_pos(abs(z))
        cdf = one - half * e if z >= 0 else half * e
        return x * cdf, cdf + x * exp(-z * z) * is2pi

    return body


overload_by_float(gelu_and_grad, _make(np.float32), _make(np.float64), inline_ir=True)


@entry(gelu_forward_ref)
def gelu_forward(out: np.ndarray, x: np.ndarray, tanh_approx: bool) -> None:
    for i in range(x.size):
        y, _ = gelu_and_grad(x[i], tanh_approx)
        out[i] = y


@entry(bias_gelu_forward_ref)
def bias_gelu_forward(out: np.ndarray, x: np.ndarray, bias: np.ndarray, tanh_approx: bool) -> None:
    N, F = x.shape
    for n in range(N):
        xn, on = x[n], out[n]
        for f in range(F):
            y, _ = gelu_and_grad(xn[f] + bias[f], tanh_approx)
            on[f] = y


@entry(gelu_backward_ref)
def gelu_backward(dx: np.ndarray, dout: np.ndarray, x: np.ndarray, tanh_approx: bool) -> None:
    for i in range(x.size):
        _, d = gelu_and_grad(x[i], tanh_approx)
        dx[i] = dout[i] * d
