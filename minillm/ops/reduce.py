"""Reductions and the normalizations built on them: sum, max/min, logsumexp, softmax, log-softmax.

``axis`` is None (all axes), an int, or a tuple of ints; negative axes count from the end. A
reduction's backward spreads the output gradient back over the reduced axes: by broadcasting for a
sum, onto the arg-max positions for a max, weighted by softmax for logsumexp.

Softmax and log-softmax subtract the row maximum first, so logits of +-1e4 neither overflow nor lose
the answer; a row that is entirely -inf gives NaN, as it does in PyTorch.

Read next: ``movement.py``.
"""

from __future__ import annotations

import numpy as np

from minillm.autograd import Context, Function

Axis = int | tuple[int, ...] | None
Grads = tuple[np.ndarray | None, ...]


def normalize_axis(axis: Axis, ndim: int) -> tuple[int, ...]:
    """Return ``axis`` as a sorted tuple of non-negative ints (all axes for None); reject bad ones.

    >>> normalize_axis(-1, 3)
    (2,)
    """
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    out = []
    for a in axes:
        if not -max(ndim, 1) <= a < max(ndim, 1):
            raise ValueError(f"axis {a} is out of range for a tensor with {ndim} dimensions")
        out.append(int(a) % max(ndim, 1))
    if len(set(out)) != len(out):
        raise ValueError(f"axis {axis} repeats an axis")
    return tuple(sorted(out))


def _expand(g: np.ndarray, axes: tuple[int, ...], keepdims: bool) -> np.ndarray:
    """Re-insert the reduced axes of ``g`` as size 1 so it broadcasts against the input."""
    return g if keepdims else np.expand_dims(g, axes)


class Sum(Function):
    """y = sum of x over ``axis``;  dy/dx = 1 for every summed element (backward broadcasts g)."""

    @staticmethod
    def forward(
        ctx: Context, x: np.ndarray, *, axis: Axis = None, keepdims: bool = False
    ) -> np.ndarray:
        ctx.shape = x.shape
        if axis is None:  # the common case (a loss), kept free of axis bookkeeping
            ctx.kept = (1,) * x.ndim
            return x.sum(keepdims=keepdims)
        axes = normalize_axis(axis, x.ndim)
        ctx.kept = tuple(1 if i in axes else n for i, n in enumerate(x.shape))
        return x.sum(axis=axes, keepdims=keepdims)

    @staticmethod
    def backward(ctx: Context, g: np.ndarray) -> Grads:
        dx = np.empty(ctx.shape, dtype=g.dtype)
        dx[...] = g.reshape(ctx.kept)  # a fresh array: faster than broadcast_to for small tensors
        return (dx,)


class Max(Function):
    """y = max (or min) of x over ``axis``.

    The gradient is shared evenly by the elements equal to y.
    """

    @staticmethod
    def forward(
        ctx: Context,
        x: np.ndarray,
        *,
        axis: Axis = None,
        keepdims: bool = False,
        largest: bool = True,
    ) -> np.ndarray:
        axes = normalize_axis(axis, x.ndim)
        if x.size == 0:
            raise ValueError(
                f"{'max' if largest else 'min'}: cannot reduce an empty tensor of shape {x.shape}"
            )
        reduce = np.max if largest else np.min
        y = reduce(x, axis=axes, keepdims=True)
        ctx.save_for_backward(x, y)
        ctx.axes, ctx.keepdims = axes, keepdims
        return y if keepdims else np.squeeze(y, axis=axes)

    @staticmethod
    def backward(ctx: Context, g: np.ndarray) -> Grads:
        x, y = ctx.saved_tensors
        hit = x == y
        count = hit.sum(axis=ctx.axes, keepdims=True)
        return (hit * (_expand(g, ctx.axes, ctx.keepdims) / count).astype(g.dtype),)


class LogSumExp(Function):
    """y = log sum exp x = m + log sum exp(x - m), m = max x;  dy/dx = softmax(x) = exp(x - y)."""

    @staticmethod
    def forward(
        ctx: Context, x: np.ndarray, *, axis: Axis = None, keepdims: bool = False
    ) -> np.ndarray:
        axes = normalize_axis(axis, x.ndim)
        m = np.max(x, axis=axes, keepdims=True)
        m = np.where(np.isfinite(m), m, 0).astype(
            x.dtype, copy=False
        )  # all -inf rows give -inf, not NaN
        y = np.log(np.sum(np.exp(x - m), axis=axes, keepdims=True)) + m
        ctx.save_for_backward(x, y)
        ctx.axes, ctx.keepdims = axes, keepdims
        return y if keepdims else np.squeeze(y, axis=axes)

    @staticmethod
    def backward(ctx: Context, g: np.ndarray) -> Grads:
        x, y = ctx.saved_tensors
        return (_expand(g, ctx.axes, ctx.keepdims) * np.exp(x - y),)


class Softmax(Function):
    """y_i = exp(x_i - m) / sum_j exp(x_j - m) along ``axis``;  dx = y * (g - sum(g * y))."""

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, *, axis: int = -1) -> np.ndarray:
        (ctx.axis,) = normalize_axis(axis, x.ndim)
        e = np.exp(x - np.max(x, axis=ctx.axis, keepdims=True))
        y = e / np.sum(e, axis=ctx.axis, keepdims=True)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx: Context, g: np.ndarray) -> Grads:
        (y,) = ctx.saved_tensors
        gy = g * y
        return (gy - y * np.sum(gy, axis=ctx.axis, keepdims=True),)


class LogSoftmax(Function):
    """y = x - logsumexp(x) along ``axis``;  dx = g - softmax(x) * sum(g)."""

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, *, axis: int = -1) -> np.ndarray:
        (ctx.axis,) = normalize_axis(axis, x.ndim)
        shifted = x - np.max(x, axis=ctx.axis, keepdims=True)
        y = shifted - np.log(np.sum(np.exp(shifted), axis=ctx.axis, keepdims=True))
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx: Context, g: np.ndarray) -> Grads:
        (y,) = ctx.saved_tensors
        return (g - np.exp(y) * np.sum(g, axis=ctx.axis, keepdims=True),)
