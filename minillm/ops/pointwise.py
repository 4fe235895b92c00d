"""The rest of the pointwise family: trigonometric, hyperbolic, log/exp variants, erf, rounding.

Each of these is y = f(x) with a derivative that fits in one line, so each is one small class of a
shared shape: ``f`` computes y, ``df(x, y)`` is dy/dx, and ``Pointwise`` does the rest (save x and
y, multiply the incoming gradient by ``df``). ``df`` uses only NumPy ufuncs and operators, so the
same formula given Tensors is the recorded backward that ``create_graph=True`` differentiates.
Reading one of them is reading all of them::

    class Sin(Pointwise):
        f = staticmethod(np.sin)               # y = sin x
        df = staticmethod(lambda x, y: np.cos(x))  # dy/dx = cos x

Rounding functions (floor, ceil, round, trunc, sign) are flat almost everywhere: their gradient is
zero, as in PyTorch. Two-input ones (fmod, remainder, logaddexp) are ordinary Functions below.
Constants are Python floats, so float32 stays float32.

Read next: ``minillm/ops/reduce.py``.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
from scipy import special

from minillm.autograd import Context, Function, constant
from minillm.ops.elementwise import ieee

if TYPE_CHECKING:
    from minillm.tensor import Tensor

Grads = tuple[np.ndarray | None, ...]
TensorGrads = tuple["Tensor | None", ...]


class Pointwise(Function):
    """y = f(x) elementwise;  dx = g * df(x, y). Subclasses set ``f`` and ``df``."""

    f: staticmethod
    df: staticmethod

    @classmethod
    def forward(cls, ctx: Context, x: np.ndarray) -> np.ndarray:  # type: ignore[override]
        with ieee():
            y = cls.f(x)
        ctx.save_for_backward(x, y)
        return y

    @classmethod
    def backward(cls, ctx: Context, g: np.ndarray) -> Grads:  # type: ignore[override]
        x, y = ctx.saved_tensors
        with ieee():
            return ((g * cls.df(x, y)).astype(g.dtype, copy=False),)

    @classmethod
    def backward_graph(cls, ctx: Context, g: Tensor, out: Tensor) -> TensorGrads:  # type: ignore[override]
        # The same ``df``, now given Tensors: NumPy's ufuncs on a Tensor run minillm's op
        # (``Tensor.__array_ufunc__``), so ``np.cos(x)`` is recorded and differentiable.
        return (g * cls.df(ctx.parents[0], out),)


def _zero(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.zeros_like(x)


class Sin(Pointwise):
    """y = sin x;  dy/dx = cos x."""

    f, df = staticmethod(np.sin), staticmethod(lambda x, y: np.cos(x))


class Cos(Pointwise):
    """y = cos x;  dy/dx = -sin x."""

    f, df = staticmethod(np.cos), staticmethod(lambda x, y: -np.sin(x))


class Tan(Pointwise):
    """y = tan x;  dy/dx = 1 + y^2."""

    f, df = staticmethod(np.tan), staticmethod(lambda x, y: 1.0 + y * y)


class Asin(Pointwise):
    """y = arcsin x;  dy/dx = 1 / sqrt(1 - x^2)."""

    f, df = staticmethod(np.arcsin), staticmethod(lambda x, y: 1.0 / np.sqrt(1.0 - x * x))


class Acos(Pointwise):
    """y = arccos x;  dy/dx = -1 / sqrt(1 - x^2)."""

    f, df = staticmethod(np.arccos), staticmethod(lambda x, y: -1.0 / np.sqrt(1.0 - x * x))


class Atan(Pointwise):
    """y = arctan x;  dy/dx = 1 / (1 + x^2)."""

    f, df = staticmethod(np.arctan), staticmethod(lambda x, y: 1.0 / (1.0 + x * x))


class Sinh(Pointwise):
    """y = sinh x;  dy/dx = cosh x."""

    f, df = staticmethod(np.sinh), staticmethod(lambda x, y: np.cosh(x))


class Cosh(Pointwise):
    """y = cosh x;  dy/dx = sinh x."""

    f, df = staticmethod(np.cosh), staticmethod(lambda x, y: np.sinh(x))


class Asinh(Pointwise):
    """y = arsinh x;  dy/dx = 1 / sqrt(x^2 + 1)."""

    f, df = staticmethod(np.arcsinh), staticmethod(lambda x, y: 1.0 / np.sqrt(x * x + 1.0))


class Acosh(Pointwise):
    """y = arcosh x (x >= 1);  dy/dx = 1 / sqrt(x^2 - 1)."""

    f, df = staticmethod(np.arccosh), staticmethod(lambda x, y: 1.0 / np.sqrt(x * x - 1.0))


class Atanh(Pointwise):
    """y = artanh x (|x| < 1);  dy/dx = 1 / (1 - x^2)."""

    f, df = staticmethod(np.arctanh), staticmethod(lambda x, y: 1.0 / (1.0 - x * x))


class Log1p(Pointwise):
    """y = ln(1 + x), exact for tiny x;  dy/dx = 1 / (1 + x)."""

    f, df = staticmethod(np.log1p), staticmethod(lambda x, y: 1.0 / (1.0 + x))


class Expm1(Pointwise):
    """y = e^x - 1, exact for tiny x;  dy/dx = y + 1."""

    f, df = staticmethod(np.expm1), staticmethod(lambda x, y: y + 1.0)


class Log2(Pointwise):
    """y = log2 x;  dy/dx = 1 / (x ln 2)."""

    f, df = staticmethod(np.log2), staticmethod(lambda x, y: 1.0 / (x * math.log(2.0)))


class Log10(Pointwise):
    """y = log10 x;  dy/dx = 1 / (x ln 10)."""

    f, df = staticmethod(np.log10), staticmethod(lambda x, y: 1.0 / (x * math.log(10.0)))


class Exp2(Pointwise):
    """y = 2^x;  dy/dx = y ln 2."""

    f, df = staticmethod(np.exp2), staticmethod(lambda x, y: y * math.log(2.0))


class Reciprocal(Pointwise):
    """y = 1 / x;  dy/dx = -y^2."""

    f, df = staticmethod(np.reciprocal), staticmethod(lambda x, y: -y * y)


class Square(Pointwise):
    """y = x^2;  dy/dx = 2 x."""

    f, df = staticmethod(np.square), staticmethod(lambda x, y: 2.0 * x)


class Rsqrt(Pointwise):
    """y = 1 / sqrt x (RMSNorm's scale);  dy/dx = -y^3 / 2."""

    f, df = staticmethod(lambda x: 1.0 / np.sqrt(x)), staticmethod(lambda x, y: -0.5 * y * y * y)


class Erf(Pointwise):
    """y = erf x = 2/sqrt(pi) int_0^x e^(-t^2) dt;  dy/dx = 2/sqrt(pi) e^(-x^2)."""

    f = staticmethod(special.erf)
    df = staticmethod(lambda x, y: (2.0 / math.sqrt(math.pi)) * np.exp(-x * x))


class Floor(Pointwise):
    """y = the largest integer <= x;  dy/dx = 0 (almost everywhere)."""

    f, df = staticmethod(np.floor), staticmethod(_zero)


class Ceil(Pointwise):
    """y = the smallest integer >= x;  dy/dx = 0."""

    f, df = staticmethod(np.ceil), staticmethod(_zero)


class Round(Pointwise):
    """y = x rounded to the nearest integer, halves to even (as PyTorch);  dy/dx = 0."""

    f, df = staticmethod(np.round), staticmethod(_zero)


class Trunc(Pointwise):
    """y = x rounded toward zero;  dy/dx = 0."""

    f, df = staticmethod(np.trunc), staticmethod(_zero)


class Sign(Pointwise):
    """y = -1, 0 or 1 by the sign of x;  dy/dx = 0."""

    f, df = staticmethod(np.sign), staticmethod(_zero)


# ------------------------------------------------------------------------------ two inputs
class _Modulo(Function):
    """y = a - round(a / b) b;  dy/da = 1, dy/db = -round(a / b), for the ``round`` of each."""

    f: staticmethod
    rounding: staticmethod

    @classmethod
    def forward(cls, ctx: Context, a: np.ndarray, b: np.ndarray) -> np.ndarray:  # type: ignore[override]
        ctx.save_for_backward(a, b)
        with ieee():  # a remainder by 0 is NaN, silently
            return cls.f(a, b)

    @classmethod
    def backward(cls, ctx: Context, g: np.ndarray) -> Grads:  # type: ignore[override]
        a, b = ctx.saved_tensors
        gb = -g * cls.rounding(a / b) if ctx.needs_input_grad[1] else None
        return g, gb

    @classmethod
    def backward_graph(cls, ctx: Context, g: Tensor, out: Tensor) -> TensorGrads:  # type: ignore[override]
        a, b = ctx.parents
        return g, -g * constant(cls.rounding(a.data / b.data))  # a step function: constant


class Fmod(_Modulo):
    """y = a - trunc(a / b) b (C's fmod: the sign of a);  dy/da = 1, dy/db = -trunc(a / b)."""

    f, rounding = staticmethod(np.fmod), staticmethod(np.trunc)


class Remainder(_Modulo):
    """y = a - floor(a / b) b (Python's %: the sign of b);  dy/da = 1, dy/db = -floor(a / b)."""

    f, rounding = staticmethod(np.remainder), staticmethod(np.floor)


class LogAddExp(Function):
    """y = ln(e^a + e^b), without overflow;  dy/da = e^(a - y), dy/db = e^(b - y)."""

    @staticmethod
    def forward(ctx: Context, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        y = np.logaddexp(a, b)
        ctx.save_for_backward(a, b, y)
        return y

    @staticmethod
    def backward(ctx: Context, g: np.ndarray) -> Grads:
        a, b, y = ctx.saved_tensors
        with ieee():  # inf - inf where both inputs are inf: NaN, as PyTorch
            ga = g * np.exp(a - y) if ctx.needs_input_grad[0] else None
            gb = g * np.exp(b - y) if ctx.needs_input_grad[1] else None
        return ga, gb

    @staticmethod
    def backward_graph(ctx: Context, g: Tensor, out: Tensor) -> TensorGrads:
        a, b = ctx.parents
        return g * (a - out).exp(), g * (b - out).exp()
