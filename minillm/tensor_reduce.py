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

from minillm.ops import elementwise as E
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
        dtype: Any = None,
    ) -> Tensor:
        x = self if dtype is None else self.astype(dtype)
        return R.Sum.apply(x, axis=_axis(axis, dim), keepdims=keepdim or keepdims)

    def mean(
        self,
        axis: Any = None,
        keepdims: bool = False,
        *,
        dim: Any = None,
        keepdim: bool | None = None,
        dtype: Any = None,
    ) -> Tensor:
        axes = R.normalize_axis(_axis(axis, dim), self.ndim)
        count = int(np.prod([self.shape[a] for a in axes]))
        x = self.astype(dtype) if dtype is not None else self
        x = x if x.data.dtype.kind == "f" else x.astype(DEFAULT_FLOAT)
        return x.sum(axes, keepdim or keepdims) * (1.0 / count if count else float("nan"))

    def var(
        self,
        axis: Any = None,
        keepdims: bool = False,
        correction: int = 1,
        *,
        dim: Any = None,
        keepdim: bool | None = None,
        unbiased: bool | None = None,
    ) -> Tensor:
        """Variance over ``axis``, dividing by N - ``correction`` (default 1, as PyTorch;
        NumPy's ddof). ``unbiased=False`` is PyTorch's older spelling of ``correction=0``."""
        if unbiased is not None:
            correction = int(unbiased)
        axes = R.normalize_axis(_axis(axis, dim), self.ndim)
        count = int(np.prod([self.shape[a] for a in axes]))
        with E.ieee():  # squares may overflow to inf, and N - correction = 0 divides by 0
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
        unbiased: bool | None = None,
    ) -> Tensor:
        """Standard deviation: the square root of ``var`` (same arguments)."""
        return self.var(axis, keepdims, correction, dim=dim, keepdim=keepdim,
                        unbiased=unbiased).sqrt()  # fmt: skip

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

    def amax(self, dim: Any = None, keepdim: bool = False) -> Tensor:
        """Largest value over ``dim`` (all axes if None); ties share the gradient evenly."""
        return self.max(dim, keepdim)

    def amin(self, dim: Any = None, keepdim: bool = False) -> Tensor:
        return self.min(dim, keepdim)

    def norm(self, p: Any = "fro", dim: Any = None, keepdim: bool = False) -> Tensor:
        """The vector p-norm over ``dim`` (all elements if None): p = 2 or "fro" (the default),
        1, inf, -inf, 0 (the count of non-zeros) or any other number, ``(sum |x|^p)^(1/p)``.

        The 2-norm of an all-zero vector has gradient 0, as in PyTorch (not 0/0)."""
        keep = keepdim
        if p in ("fro", 2, 2.0):
            sq = (self * self).sum(dim, keep)
            positive = sq.data > 0
            safe = E.Where.apply(_wrap(positive), sq, _wrap(np.ones((), sq.dtype)))
            return E.Where.apply(_wrap(positive), safe.sqrt(), _wrap(np.zeros((), sq.dtype)))
        if isinstance(p, str):
            raise ValueError(f"norm: p must be a number or 'fro', got {p!r}")
        a = self.abs()
        if p == np.inf:
            return a.max(dim, keep)
        if p == -np.inf:
            return a.min(dim, keep)
        if p == 0:
            return (a > 0).astype(self.dtype).sum(dim, keep)
        if p == 1:
            return a.sum(dim, keep)
        return (a ** float(p)).sum(dim, keep) ** (1.0 / float(p))

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

    def softmax(self, axis: int = -1, *, dim: int | None = None, dtype: Any = None) -> Tensor:
        """``dtype`` casts the input first (PyTorch's way to softmax float32 logits in float64)."""
        x = self if dtype is None else self.astype(dtype)
        return R.Softmax.apply(x._floating(), axis=_axis(axis, dim))

    def log_softmax(self, axis: int = -1, *, dim: int | None = None, dtype: Any = None) -> Tensor:
        x = self if dtype is None else self.astype(dtype)
        return R.LogSoftmax.apply(x._floating(), axis=_axis(axis, dim))

    def argmax(self, axis: int | None = None, keepdims: bool = False, *, dim: int | None = None,
               keepdim: bool | None = None) -> Tensor:  # fmt: skip
        """Index of the largest value (in the flattened tensor if axis is None); no gradient."""
        keep = bool(keepdim or keepdims)
        return _wrap(np.asarray(np.argmax(self.data, axis=_axis(axis, dim), keepdims=keep)))

    def argmin(self, axis: int | None = None, keepdims: bool = False, *, dim: int | None = None,
               keepdim: bool | None = None) -> Tensor:  # fmt: skip
        keep = bool(keepdim or keepdims)
        return _wrap(np.asarray(np.argmin(self.data, axis=_axis(axis, dim), keepdims=keep)))

    def trace(self) -> Tensor:
        """The sum of a matrix's diagonal."""
        if self.ndim != 2:
            raise ValueError(f"trace: expects a matrix, got shape {self.shape}")
        return self.diagonal().sum()

    # ---------------------------------------------------------------- more reductions
    def prod(
        self, axis: Any = None, keepdims: bool = False, *, dim: Any = None, keepdim: bool = False
    ) -> Tensor:
        """The product over ``axis``; its gradient is exact with zeros in the input."""
        return R.Prod.apply(self, axis=_axis(axis, dim), keepdims=keepdim or keepdims)

    def cumsum(self, axis: int | None = None, *, dim: int | None = None) -> Tensor:
        """Running sums along ``axis`` (``dim``); the output keeps the shape."""
        return R.Cumsum.apply(self, axis=_required_axis("cumsum", axis, dim))

    def cumprod(self, axis: int | None = None, *, dim: int | None = None) -> Tensor:
        """Running products along ``axis`` (``dim``); the gradient divides by nothing."""
        return R.Cumprod.apply(self, axis=_required_axis("cumprod", axis, dim))

    def any(self, axis: Any = None, keepdims: bool = False, *, dim: Any = None,
            keepdim: bool = False) -> Tensor:  # fmt: skip
        axes = R.normalize_axis(_axis(axis, dim), self.ndim)
        return _wrap(np.asarray(np.any(self.data, axis=axes, keepdims=keepdim or keepdims)))

    def all(self, axis: Any = None, keepdims: bool = False, *, dim: Any = None,
            keepdim: bool = False) -> Tensor:  # fmt: skip
        axes = R.normalize_axis(_axis(axis, dim), self.ndim)
        return _wrap(np.asarray(np.all(self.data, axis=axes, keepdims=keepdim or keepdims)))

    def var_mean(self, axis: Any = None, keepdims: bool = False, correction: int = 1, *,
                 dim: Any = None, keepdim: bool = False,
                 unbiased: bool | None = None) -> tuple[Tensor, Tensor]:  # fmt: skip
        """``(var, mean)`` over ``axis``, as ``torch.var_mean``."""
        axis, keep = _axis(axis, dim), keepdim or keepdims
        return self.var(axis, keep, correction, unbiased=unbiased), self.mean(axis, keep)

    def std_mean(self, axis: Any = None, keepdims: bool = False, correction: int = 1, *,
                 dim: Any = None, keepdim: bool = False,
                 unbiased: bool | None = None) -> tuple[Tensor, Tensor]:  # fmt: skip
        """``(std, mean)`` over ``axis``, as ``torch.std_mean``."""
        axis, keep = _axis(axis, dim), keepdim or keepdims
        return self.std(axis, keep, correction, unbiased=unbiased), self.mean(axis, keep)

    # ---------------------------------------------------------------- order
    def argsort(self, axis: int = -1, descending: bool = False, *, dim: int | None = None,
                stable: bool = False) -> Tensor:  # fmt: skip
        """Indices that sort along ``axis`` (ties keep their order: the sort is stable)."""
        (axis,) = R.normalize_axis(_axis(axis, dim), max(self.ndim, 1))
        if self.ndim == 0:
            return _wrap(np.zeros((), dtype=np.int64))
        key = -self.data if descending and self.data.dtype.kind != "b" else self.data
        order = np.argsort(key, axis=axis, kind="stable")
        if descending and self.data.dtype.kind == "b":
            order = np.flip(np.argsort(self.data, axis=axis, kind="stable"), axis)
        return _wrap(order.astype(np.int64))

    def sort(self, axis: int = -1, descending: bool = False, *, dim: int | None = None,
             stable: bool = False) -> tuple[Tensor, Tensor]:  # fmt: skip
        """``(values, indices)`` sorted along ``axis``; values carry the gradient back to
        where each came from (a gather)."""
        order = self.argsort(axis, descending, dim=dim)
        if self.ndim == 0:
            return self.clone(), order
        return self.gather(_axis(axis, dim), order), order

    def topk(self, k: int, dim: int = -1, largest: bool = True, sorted: bool = True) -> tuple[  # noqa: A002
        Tensor, Tensor
    ]:  # fmt: skip
        """The ``k`` largest (or smallest) values along ``dim`` and their indices."""
        (axis,) = R.normalize_axis(dim, max(self.ndim, 1))
        n = self.shape[axis] if self.ndim else 1
        if not 0 <= k <= n:
            raise ValueError(f"topk: k={k} is out of range for a dimension of size {n}")
        order = self.argsort(axis, descending=largest)
        idx = _wrap(np.take(order.data, np.arange(k), axis=axis))
        return self.gather(axis, idx), idx


def _required_axis(name: str, axis: Any, dim: Any) -> int:
    axis = _axis(axis, dim)
    if axis is None:
        raise TypeError(f"{name}: give the axis to run along (dim=)")
    return axis
