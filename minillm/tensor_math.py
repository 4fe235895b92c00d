"""Tensor methods of the elementwise family: exp, log, activations, trigonometry, rounding, masks.

Each is a one-line call of a primitive in ``minillm/ops/elementwise.py`` or
``minillm/ops/pointwise.py``. An integer or bool tensor computes float-valued functions in
float32, as PyTorch does (``_floating``).

Read next: ``minillm/tensor_reduce.py``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from minillm.ops import elementwise as E
from minillm.ops import pointwise as P
from minillm.tensor import DEFAULT_FLOAT, _wrap

if TYPE_CHECKING:
    from minillm.tensor import Tensor


class MathMethods:
    """Mixed into ``Tensor``; see ``minillm/tensor.py``."""

    __slots__ = ()

    def _floating(self) -> Tensor:
        """Self, or for an integer or bool tensor a float32 copy: float-valued ops compute in
        float32 there (``tensor([2]).exp()`` is float32, as in PyTorch; NumPy would give float64).
        """
        return self if self.data.dtype.kind == "f" else self.astype(DEFAULT_FLOAT)

    def exp(self) -> Tensor:
        return E.Exp.apply(self._floating())

    def log(self) -> Tensor:
        return E.Log.apply(self._floating())

    def sqrt(self) -> Tensor:
        return E.Sqrt.apply(self._floating())

    def abs(self) -> Tensor:
        return E.Abs.apply(self)

    def clamp(self, min: float | None = None, max: float | None = None) -> Tensor:  # noqa: A002
        lo = min.item() if isinstance(min, np.generic) else min
        hi = max.item() if isinstance(max, np.generic) else max
        return E.Clamp.apply(self, min=lo, max=hi)

    def clamp_min(self, min: float) -> Tensor:  # noqa: A002
        return self.clamp(min=min)

    def clamp_max(self, max: float) -> Tensor:  # noqa: A002
        return self.clamp(max=max)

    def maximum(self, other: Any) -> Tensor:
        return E.Maximum.apply(*self._pair(other))

    def minimum(self, other: Any) -> Tensor:
        return E.Minimum.apply(*self._pair(other))

    def relu(self) -> Tensor:
        return E.ReLU.apply(self)

    def sigmoid(self) -> Tensor:
        return E.Sigmoid.apply(self._floating())

    def tanh(self) -> Tensor:
        return E.Tanh.apply(self._floating())

    def gelu(self, approximate: str = "none") -> Tensor:
        """GELU; ``approximate="tanh"`` for the GPT-2 form."""
        return E.GELU.apply(self._floating(), approximate=approximate)

    def where(self, condition: Any, other: Any) -> Tensor:
        """``self`` where ``condition`` holds, else ``other`` (PyTorch's ``x.where(cond, y)``)."""
        a, b = self._pair(other)
        return E.Where.apply(self._lift(condition), a, b)

    def masked_fill(self, mask: Any, value: float) -> Tensor:
        """``value`` where ``mask`` is True, else ``self`` (which keeps its dtype)."""
        fill = _wrap(np.array(value, dtype=self.data.dtype))
        return E.Where.apply(self._lift(mask), fill, self)

    # ---------------------------------------------------------------- products with fixed ranks
    # matmul with a rank check first, as torch's mm (2-D @ 2-D), bmm (3-D @ 3-D, equal batches),
    # mv (2-D @ 1-D), dot (1-D . 1-D) and outer (1-D x 1-D): no broadcasting hides a wrong shape.
    def _ranked(self, other: Any, name: str, ranks: tuple[int, int]) -> tuple[Tensor, Tensor]:
        b = self._lift(other)
        if (self.ndim, b.ndim) != ranks:
            raise ValueError(f"{name}: expects {ranks[0]}-D and {ranks[1]}-D tensors, got shapes "
                             f"{self.shape} and {b.shape}")  # fmt: skip
        return self, b

    def mm(self, other: Any) -> Tensor:
        a, b = self._ranked(other, "mm", (2, 2))
        return a @ b

    def bmm(self, other: Any) -> Tensor:
        a, b = self._ranked(other, "bmm", (3, 3))
        if a.shape[0] != b.shape[0]:
            raise ValueError(f"bmm: batch sizes differ: {a.shape} and {b.shape}")
        return a @ b

    def mv(self, other: Any) -> Tensor:
        a, b = self._ranked(other, "mv", (2, 1))
        return a @ b

    def dot(self, other: Any) -> Tensor:
        a, b = self._ranked(other, "dot", (1, 1))
        return a @ b

    def outer(self, other: Any) -> Tensor:
        """``out[i, j] = self[i] * other[j]``."""
        a, b = self._ranked(other, "outer", (1, 1))
        return a.reshape(-1, 1) * b.reshape(1, -1)

    # ---------------------------------------------------------------- the pointwise family
    def sin(self) -> Tensor:
        return P.Sin.apply(self._floating())

    def cos(self) -> Tensor:
        return P.Cos.apply(self._floating())

    def tan(self) -> Tensor:
        return P.Tan.apply(self._floating())

    def asin(self) -> Tensor:
        return P.Asin.apply(self._floating())

    def acos(self) -> Tensor:
        return P.Acos.apply(self._floating())

    def atan(self) -> Tensor:
        return P.Atan.apply(self._floating())

    def sinh(self) -> Tensor:
        return P.Sinh.apply(self._floating())

    def cosh(self) -> Tensor:
        return P.Cosh.apply(self._floating())

    def asinh(self) -> Tensor:
        return P.Asinh.apply(self._floating())

    def acosh(self) -> Tensor:
        return P.Acosh.apply(self._floating())

    def atanh(self) -> Tensor:
        return P.Atanh.apply(self._floating())

    arcsin, arccos, arctan = asin, acos, atan
    arcsinh, arccosh, arctanh = asinh, acosh, atanh

    def log1p(self) -> Tensor:
        return P.Log1p.apply(self._floating())

    def expm1(self) -> Tensor:
        return P.Expm1.apply(self._floating())

    def log2(self) -> Tensor:
        return P.Log2.apply(self._floating())

    def log10(self) -> Tensor:
        return P.Log10.apply(self._floating())

    def exp2(self) -> Tensor:
        return P.Exp2.apply(self._floating())

    def reciprocal(self) -> Tensor:
        return P.Reciprocal.apply(self._floating())

    def square(self) -> Tensor:
        return P.Square.apply(self)

    def rsqrt(self) -> Tensor:
        return P.Rsqrt.apply(self._floating())

    def erf(self) -> Tensor:
        return P.Erf.apply(self._floating())

    def clip(self, min: float | None = None, max: float | None = None) -> Tensor:  # noqa: A002
        """The same as ``clamp`` (NumPy's and PyTorch's other name)."""
        return self.clamp(min, max)

    # ---------------------------------------------------------------- rounding
    def floor(self) -> Tensor:
        return P.Floor.apply(self) if self.data.dtype.kind == "f" else self.clone()

    def ceil(self) -> Tensor:
        return P.Ceil.apply(self) if self.data.dtype.kind == "f" else self.clone()

    def trunc(self) -> Tensor:
        return P.Trunc.apply(self) if self.data.dtype.kind == "f" else self.clone()

    def round(self, decimals: int = 0) -> Tensor:
        """Round halves to even (as PyTorch and NumPy), to ``decimals`` places."""
        if self.data.dtype.kind != "f":
            return self.clone()
        if decimals == 0:
            return P.Round.apply(self)
        scale = 10.0**decimals
        return P.Round.apply(self * scale) / scale

    def sign(self) -> Tensor:
        return P.Sign.apply(self)

    def fmod(self, other: Any) -> Tensor:
        """The remainder with the sign of ``self`` (C's fmod)."""
        return P.Fmod.apply(*self._pair(other))

    def remainder(self, other: Any) -> Tensor:
        """The remainder with the sign of ``other`` (Python's ``%``)."""
        return P.Remainder.apply(*self._pair(other))

    def __mod__(self, other: Any) -> Tensor:
        return self.remainder(other)

    def __rmod__(self, other: Any) -> Tensor:
        a, b = self._pair(other)
        return P.Remainder.apply(b, a)

    def __floordiv__(self, other: Any) -> Tensor:
        a, b = self._pair(other)
        with E.ieee():  # x // 0 is inf or NaN, silently
            return _wrap(np.floor_divide(a.data, b.data))  # a step function: no gradient

    def __rfloordiv__(self, other: Any) -> Tensor:
        a, b = self._pair(other)
        with E.ieee():
            return _wrap(np.floor_divide(b.data, a.data))

    def div(self, other: Any, *, rounding_mode: str | None = None) -> Tensor:
        """``self / other``; ``rounding_mode`` "trunc" or "floor" rounds the quotient (PyTorch)."""
        if rounding_mode is None:
            return self / other
        if rounding_mode == "floor":
            return self // other
        if rounding_mode == "trunc":
            a, b = self._pair(other)
            return _wrap(np.trunc(a.data / b.data).astype(np.result_type(a.data, b.data)))
        raise ValueError(
            f"div: rounding_mode must be None, 'trunc' or 'floor', got {rounding_mode!r}"
        )

    def logaddexp(self, other: Any) -> Tensor:
        """``log(exp(self) + exp(other))`` without overflow."""
        a, b = self._pair(other)
        return P.LogAddExp.apply(a._floating(), b._floating())

    def lerp(self, end: Any, weight: Any) -> Tensor:
        """``self + weight * (end - self)``: the straight line from self (0) to end (1)."""
        return self + (self._lift(end) - self) * weight

    # ---------------------------------------------------------------- masks and guards
    def _logical(self, other: Any, ufunc: np.ufunc) -> Tensor:
        b = self._lift(other).data
        if self.data.dtype == bool and b.dtype == bool:
            return _wrap(ufunc(self.data, b))
        if self.data.dtype.kind in "iub" and b.dtype.kind in "iub":  # integers: bitwise
            return _wrap({np.logical_and: np.bitwise_and, np.logical_or: np.bitwise_or,
                          np.logical_xor: np.bitwise_xor}[ufunc](self.data, b))  # fmt: skip
        raise TypeError(f"{ufunc.__name__}: & | ^ need bool or integer tensors, got "
                        f"{self.dtype} and {b.dtype}")  # fmt: skip

    def __and__(self, other: Any) -> Tensor:
        return self._logical(other, np.logical_and)

    def __or__(self, other: Any) -> Tensor:
        return self._logical(other, np.logical_or)

    def __xor__(self, other: Any) -> Tensor:
        return self._logical(other, np.logical_xor)

    __rand__, __ror__, __rxor__ = __and__, __or__, __xor__

    def __invert__(self) -> Tensor:
        if self.data.dtype == bool:
            return _wrap(~self.data)
        if self.data.dtype.kind in "iu":
            return _wrap(np.invert(self.data))
        raise TypeError(f"~ needs a bool or integer tensor, got {self.dtype}")

    def logical_not(self) -> Tensor:
        return _wrap(np.logical_not(self.data))

    def logical_and(self, other: Any) -> Tensor:
        return _wrap(np.logical_and(self.data, self._lift(other).data))

    def logical_or(self, other: Any) -> Tensor:
        return _wrap(np.logical_or(self.data, self._lift(other).data))

    def logical_xor(self, other: Any) -> Tensor:
        return _wrap(np.logical_xor(self.data, self._lift(other).data))

    def isnan(self) -> Tensor:
        return _wrap(np.isnan(self.data))

    def isinf(self) -> Tensor:
        return _wrap(np.isinf(self.data))

    def isfinite(self) -> Tensor:
        return _wrap(np.isfinite(self.data))

    def nan_to_num(
        self, nan: float = 0.0, posinf: float | None = None, neginf: float | None = None
    ) -> Tensor:
        """NaN to ``nan``, +inf/-inf to ``posinf``/``neginf`` (default: the dtype's extremes);
        the gradient passes through the finite elements."""
        if self.data.dtype.kind != "f":
            return self.clone()
        info = np.finfo(self.data.dtype)
        hi = info.max if posinf is None else posinf
        lo = info.min if neginf is None else neginf
        x = self.data
        out = self.masked_fill(_wrap(np.isnan(x)), nan)
        out = out.masked_fill(_wrap(np.isposinf(x)), hi)
        return out.masked_fill(_wrap(np.isneginf(x)), lo)

    def isclose(
        self, other: Any, rtol: float = 1e-5, atol: float = 1e-8, equal_nan: bool = False
    ) -> Tensor:
        """|self - other| <= atol + rtol |other|, elementwise (PyTorch's defaults)."""
        return _wrap(np.isclose(self.data, self._lift(other).data, rtol, atol, equal_nan))

    def allclose(
        self, other: Any, rtol: float = 1e-5, atol: float = 1e-8, equal_nan: bool = False
    ) -> bool:
        return bool(self.isclose(other, rtol, atol, equal_nan).data.all())
