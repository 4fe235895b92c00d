"""Reductions and the normalizations built on them: sum, max/min, logsumexp, softmax, log-softmax.

``axis`` is None (all axes), an int, or a tuple of ints; negative axes count from the end. A
reduction's backward spreads the output gradient back over the reduced axes: by broadcasting for a
sum, onto the arg-max positions for a max, weighted by softmax for logsumexp.

Softmax and log-softmax subtract the row maximum first, so logits of +-1e4 neither overflow nor lose
the answer; a row that is entirely -inf gives NaN, as it does in PyTorch.

Read next: ``movement.py``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from minillm import kernels
from minillm.autograd import Context, Function, constant
from minillm.ops.elementwise import ieee

Axis = int | tuple[int, ...] | None
if TYPE_CHECKING:
    from minillm.tensor import Tensor

Grads = tuple[np.ndarray | None, ...]
TensorGrads = tuple["Tensor | None", ...]


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
            raise IndexError(
                f"axis {a} is out of range for a tensor with {ndim} dimensions "
                f"(expected {-max(ndim, 1)} to {max(ndim, 1) - 1})"
            )
        if ndim == 0:  # a 0-d tensor accepts axis 0 or -1, as PyTorch, and reduces nothing
            continue
        out.append(int(a) % ndim)
    if len(set(out)) != len(out):
        raise ValueError(f"axis {axis} repeats an axis")
    return tuple(sorted(out))


def _expand(g: np.ndarray, axes: tuple[int, ...], keepdims: bool) -> np.ndarray:
    """Re-insert the reduced axes of ``g`` as size 1 so it broadcasts against the input."""
    return g if keepdims else np.expand_dims(g, axes)


def _expand_graph(g: Tensor, axes: tuple[int, ...], keepdims: bool) -> Tensor:
    """``_expand`` for a Tensor (recorded): the same size-1 axes, put back by a reshape."""
    if keepdims:
        return g
    shape = list(g.shape)
    for a in axes:  # sorted, so each insertion lands where the axis was
        shape.insert(a, 1)
    return g.reshape(tuple(shape))


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

    @staticmethod
    def backward_graph(ctx: Context, g: Tensor, out: Tensor) -> TensorGrads:
        return (g.reshape(ctx.kept).expand(ctx.shape),)


class Max(Function):
    """y = max (or min) of x over ``axis``;  the gradient is split evenly among ties."""

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

    @staticmethod
    def backward_graph(ctx: Context, g: Tensor, out: Tensor) -> TensorGrads:
        x, y = ctx.saved_tensors
        hit = x == y  # where the maxima are: locally constant
        share = (hit / hit.sum(axis=ctx.axes, keepdims=True)).astype(g.dtype)
        return (_expand_graph(g, ctx.axes, ctx.keepdims) * constant(share),)


class LogSumExp(Function):
    """y = log sum exp x = m + log sum exp(x - m), m = max x;  dy/dx = softmax(x) = exp(x - y)."""

    @staticmethod
    def forward(
        ctx: Context, x: np.ndarray, *, axis: Axis = None, keepdims: bool = False
    ) -> np.ndarray:
        axes = normalize_axis(axis, x.ndim)
        m = np.max(x, axis=axes, keepdims=True)
        m = np.where(np.isfinite(m), m, 0).astype(x.dtype, copy=False)  # -inf rows: -inf, not NaN
        with ieee():  # x - m may overflow to -inf (its exp is then 0, as it should be)
            y = np.log(np.sum(np.exp(x - m), axis=axes, keepdims=True)) + m
        ctx.save_for_backward(x, y)
        ctx.axes, ctx.keepdims = axes, keepdims
        return y if keepdims else np.squeeze(y, axis=axes)

    @staticmethod
    def backward(ctx: Context, g: np.ndarray) -> Grads:
        x, y = ctx.saved_tensors
        with ieee():
            return (_expand(g, ctx.axes, ctx.keepdims) * np.exp(x - y),)

    @staticmethod
    def backward_graph(ctx: Context, g: Tensor, out: Tensor) -> TensorGrads:
        (x,) = ctx.parents
        y = _expand_graph(out, ctx.axes, ctx.keepdims)
        return (_expand_graph(g, ctx.axes, ctx.keepdims) * (x - y).exp(),)


def _rows(x: np.ndarray, axis: int) -> np.ndarray:
    """``x`` with ``axis`` moved last, as a C-contiguous (N, C) array for the row kernels."""
    if x.dtype.kind != "f":
        x = x.astype(np.float32)  # integer logits: compute in the default float dtype
    moved = np.moveaxis(x, axis, -1) if x.ndim else x.reshape(1)
    return np.ascontiguousarray(moved).reshape(-1, moved.shape[-1])


def _unrows(y: np.ndarray, shape: tuple[int, ...], axis: int) -> np.ndarray:
    """Undo ``_rows``: restore the moved shape, then put the last axis back at ``axis``."""
    if not shape:
        return y.reshape(())
    moved = shape[:axis] + shape[axis + 1 :] + (shape[axis],)
    return np.moveaxis(y.reshape(moved), -1, axis)


def _row_kernel(name: str, out_rows: np.ndarray, *rows: np.ndarray) -> None:
    """Run the row kernel ``kernels.softmax.<name>`` over (N, C) arrays; empty arrays have nothing
    to compute."""
    if out_rows.size:
        getattr(kernels.softmax, name)(out_rows, *rows)


class _RowSoftmax(Function):
    """Softmax and log-softmax share their road: ``axis`` moved last so the row kernels of
    ``kernels/softmax.py`` see (N, C) rows, the kernel named by the subclass, the axis put back."""

    forward_kernel: str
    backward_kernel: str

    @classmethod
    def forward(cls, ctx: Context, x: np.ndarray, *, axis: int = -1) -> np.ndarray:  # type: ignore[override]
        (ctx.axis,) = normalize_axis(axis, max(x.ndim, 1))  # a 0-d tensor is one row
        rows = _rows(x, ctx.axis)
        y = np.empty_like(rows)
        _row_kernel(cls.forward_kernel, y, rows)
        ctx.save_for_backward(y)
        ctx.shape = x.shape
        return _unrows(y, x.shape, ctx.axis)

    @classmethod
    def backward(cls, ctx: Context, g: np.ndarray) -> Grads:  # type: ignore[override]
        (y,) = ctx.saved_tensors
        dx = np.empty_like(y)
        _row_kernel(cls.backward_kernel, dx, _rows(g.astype(y.dtype, copy=False), ctx.axis), y)
        return (_unrows(dx, ctx.shape, ctx.axis),)


class Softmax(_RowSoftmax):
    """y_i = exp(x_i - m) / sum_j exp(x_j - m) along ``axis``;  dx = y * (g - sum(g * y))."""

    forward_kernel, backward_kernel = "softmax_forward", "softmax_backward"

    @staticmethod
    def backward_graph(ctx: Context, g: Tensor, out: Tensor) -> TensorGrads:
        return (out * (g - (g * out).sum(axis=ctx.axis, keepdims=True)),)


class LogSoftmax(_RowSoftmax):
    """y = x - logsumexp(x) along ``axis``;  dx = g - softmax(x) * sum(g)."""

    forward_kernel, backward_kernel = "log_softmax_forward", "log_softmax_backward"

    @staticmethod
    def backward_graph(ctx: Context, g: Tensor, out: Tensor) -> TensorGrads:
        return (g - out.exp() * g.sum(axis=ctx.axis, keepdims=True),)


def _leave_one_out(x: Tensor) -> Tensor:
    """(..., n) -> (..., n, n): row i is x with x_i replaced by 1 (recorded)."""
    eye = np.eye(x.shape[-1], dtype=x.dtype)
    return x.unsqueeze(-2) * constant(1.0 - eye) + constant(eye)


def _last(x: np.ndarray, axis: int) -> np.ndarray:
    return np.moveaxis(x, axis, -1)


class Prod(Function):
    """y = product of x over ``axis``;  dy/dx_i = product of the other elements (zero-safe: from
    exclusive cumulative products from the left and from the right, no division by x)."""

    @staticmethod
    def forward(
        ctx: Context, x: np.ndarray, *, axis: Axis = None, keepdims: bool = False
    ) -> np.ndarray:
        axes = normalize_axis(axis, x.ndim)
        ctx.save_for_backward(x)
        ctx.axes, ctx.keepdims = axes, keepdims
        with ieee():  # a product past the dtype's range is inf, silently
            return np.prod(x, axis=axes, keepdims=keepdims)

    @staticmethod
    def backward(ctx: Context, g: np.ndarray) -> Grads:
        (x,) = ctx.saved_tensors
        axes = ctx.axes
        rest = [i for i in range(x.ndim) if i not in axes]
        moved = np.transpose(x, rest + list(axes))  # reduced axes last, flattened into one
        flat = moved.reshape(*moved.shape[: len(rest)], -1)
        ones = np.ones_like(flat[..., :1])
        with ieee():
            left = np.cumprod(np.concatenate([ones, flat[..., :-1]], axis=-1), axis=-1)
            right = np.cumprod(np.concatenate([ones, flat[..., :0:-1]], axis=-1), -1)[..., ::-1]
            others = (left * right).reshape(moved.shape)
        others = np.transpose(others, np.argsort(rest + list(axes)))
        return (_expand(g, axes, ctx.keepdims) * others,)

    @staticmethod
    def backward_graph(ctx: Context, g: Tensor, out: Tensor) -> TensorGrads:
        # others_i = prod_(k != i) x_k, zero-safe and recorded: row i of an (n, n) matrix holds x
        # with x_i replaced by 1, and its product is others_i (O(n^2), fine for a second derivative)
        (x,) = ctx.parents
        axes = ctx.axes
        rest = [i for i in range(x.ndim) if i not in axes]
        moved = x.permute(*rest, *axes)
        flat = moved.reshape(*moved.shape[: len(rest)], -1)
        others = _leave_one_out(flat).prod(axis=-1).reshape(moved.shape)
        others = others.permute(*np.argsort(rest + list(axes)).tolist())
        return (_expand_graph(g, axes, ctx.keepdims) * others,)


class Cumsum(Function):
    """y_i = x_0 + ... + x_i along ``axis``;  dx_i = g_i + ... + g_last (a reversed cumsum)."""

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, *, axis: int) -> np.ndarray:
        (ctx.axis,) = normalize_axis(axis, max(x.ndim, 1))
        return np.cumsum(x, axis=ctx.axis) if x.ndim else x.copy()

    @staticmethod
    def backward(ctx: Context, g: np.ndarray) -> Grads:
        if g.ndim == 0:
            return (g,)
        flipped = np.flip(g, ctx.axis)
        return (np.flip(np.cumsum(flipped, axis=ctx.axis), ctx.axis),)

    @staticmethod
    def backward_graph(ctx: Context, g: Tensor, out: Tensor) -> TensorGrads:
        return (g if g.ndim == 0 else g.flip(ctx.axis).cumsum(ctx.axis).flip(ctx.axis),)


class Cumprod(Function):
    """y_i = x_0 ... x_i along ``axis``;  dx_i = L_i R_i with L_i = x_0 ... x_(i-1) and
    R_i = g_i + x_(i+1) R_(i+1): no division, so zeros are fine."""

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, *, axis: int) -> np.ndarray:
        (ctx.axis,) = normalize_axis(axis, max(x.ndim, 1))
        ctx.save_for_backward(x)
        with ieee():
            return np.cumprod(x, axis=ctx.axis) if x.ndim else x.copy()

    @staticmethod
    def backward(ctx: Context, g: np.ndarray) -> Grads:
        (x,) = ctx.saved_tensors
        if x.ndim == 0:
            return (g,)
        xs, gs = _last(x, ctx.axis), _last(g, ctx.axis)
        n = xs.shape[-1]
        with ieee():
            left = np.cumprod(np.concatenate([np.ones_like(xs[..., :1]), xs[..., :-1]], -1), -1)
            r = np.empty_like(gs)
            r[..., n - 1] = gs[..., n - 1]
            for i in range(n - 2, -1, -1):
                r[..., i] = gs[..., i] + xs[..., i + 1] * r[..., i + 1]
            return (np.moveaxis(left * r, -1, ctx.axis),)

    @staticmethod
    def backward_graph(ctx: Context, g: Tensor, out: Tensor) -> TensorGrads:
        # dx_i = sum_(j >= i) g_j prod_(k <= j, k != i) x_k: the cumulative product of row i of the
        # leave-one-out matrix, masked to j >= i (O(n^2), fine for a second derivative)
        (x,) = ctx.parents
        if x.ndim == 0:
            return (g,)
        xs, gs = x.transpose(ctx.axis, -1), g.transpose(ctx.axis, -1)
        n = xs.shape[-1]
        partial = _leave_one_out(xs).cumprod(-1) * constant(np.triu(np.ones((n, n), dtype=g.dtype)))
        return ((partial * gs.unsqueeze(-2)).sum(axis=-1).transpose(ctx.axis, -1),)
