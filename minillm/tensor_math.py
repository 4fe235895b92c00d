"""Tensor methods of the elementwise family: exp, log, activations, trigonometry, rounding, masks.

Each is a one-line call of a primitive in ``minillm/ops/elementwise.py`` or
``minillm/ops/pointwise.py``. An integer or bool tensor computes float-valued functions in
float32, as PyTorch does (``_floating``).

Read next: ``minillm/tensor_reduce.py``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from minillm.tensor import DEFAULT_FLOAT, _wrap

if TYPE_CHECKING:
    from minillm.tensor import Tensor

from minillm.ops import elementwise as E


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
