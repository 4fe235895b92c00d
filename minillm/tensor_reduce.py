"""Tensor methods that reduce: sum, mean, var, std, max/min, logsumexp, softmax, argmax.

Sum, max and logsumexp are primitives (``minillm/ops/reduce.py``); mean, var and std are
compositions of them with no derivative code of their own. ``axis=`` and PyTorch's ``dim=`` are
both accepted.

Read next: ``minillm/tensor_shape.py``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from minillm.tensor import DEFAULT_FLOAT, _axis, _wrap

if TYPE_CHECKING:
    from minillm.tensor import Tensor

from minillm.ops import reduce as R


class ReduceMethods:
    """Mixed into ``Tensor``; see ``minillm/tensor.py``."""

    __slots__ = ()

    def sum(
        self,
        axis: Any = None,
        keepdims: bool = False,
        *,
        dim: Any = None,
        keepdim: bool | None = None,
    ) -> Tensor:
        return R.Sum.apply(self, axis=_axis(axis, dim), keepdims=keepdim or keepdims)

    def mean(
        self,
        axis: Any = None,
        keepdims: bool = False,
        *,
        dim: Any = None,
        keepdim: bool | None = None,
    ) -> Tensor:
        axes = R.normalize_axis(_axis(axis, dim), self.ndim)
        count = int(np.prod([self.shape[a] for a in axes]))
        x = self if self.data.dtype.kind == "f" else self.astype(DEFAULT_FLOAT)
        return x.sum(axes, keepdim or keepdims) * (1.0 / count if count else float("nan"))

    def var(
        self,
        axis: Any = None,
        keepdims: bool = False,
        correction: int = 1,
        *,
        dim: Any = None,
        keepdim: bool | None = None,
    ) -> Tensor:
        """Variance over ``axis``, dividing by N - ``correction``.

        Default 1 as PyTorch; NumPy's ddof.
        """
        axes = R.normalize_axis(_axis(axis, dim), self.ndim)
        count = int(np.prod([self.shape[a] for a in axes]))
        centered = self - self.mean(axes, keepdims=True)
        return (centered * centered).sum(axes, keepdim or keepdims) / float(
            max(count - correction, 0)
        )

    def std(
        self,
        axis: Any = None,
        keepdims: bool = False,
        correction: int = 1,
        *,
        dim: Any = None,
        keepdim: bool | None = None,
    ) -> Tensor:
        return self.var(axis, keepdims, correction, dim=dim, keepdim=keepdim).sqrt()

    def max(
        self,
        axis: Any = None,
        keepdims: bool = False,
        *,
        dim: Any = None,
        keepdim: bool | None = None,
    ) -> Tensor:
        """Largest value over ``axis`` (values only, as ``torch.amax``; see ``argmax``)."""
        return R.Max.apply(self, axis=_axis(axis, dim), keepdims=keepdim or keepdims, largest=True)

    def min(
        self,
        axis: Any = None,
        keepdims: bool = False,
        *,
        dim: Any = None,
        keepdim: bool | None = None,
    ) -> Tensor:
        return R.Max.apply(self, axis=_axis(axis, dim), keepdims=keepdim or keepdims, largest=False)

    def logsumexp(
        self,
        axis: Any = None,
        keepdims: bool = False,
        *,
        dim: Any = None,
        keepdim: bool | None = None,
    ) -> Tensor:
        return R.LogSumExp.apply(
            self._floating(), axis=_axis(axis, dim), keepdims=keepdim or keepdims
        )

    def softmax(self, axis: int = -1, *, dim: int | None = None) -> Tensor:
        return R.Softmax.apply(self._floating(), axis=_axis(axis, dim))

    def log_softmax(self, axis: int = -1, *, dim: int | None = None) -> Tensor:
        return R.LogSoftmax.apply(self._floating(), axis=_axis(axis, dim))

    def argmax(
        self, axis: int | None = None, keepdims: bool = False, *, dim: int | None = None
    ) -> Tensor:
        """Index of the largest value (in the flattened tensor if axis is None); no gradient."""
        return _wrap(np.asarray(np.argmax(self.data, axis=_axis(axis, dim), keepdims=keepdims)))

    def argmin(
        self, axis: int | None = None, keepdims: bool = False, *, dim: int | None = None
    ) -> Tensor:
        return _wrap(np.asarray(np.argmin(self.data, axis=_axis(axis, dim), keepdims=keepdims)))
