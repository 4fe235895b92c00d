"""Movement primitives: ops that rearrange, select or copy elements without arithmetic on them.

Each backward routes the gradient back to where the element came from: reshape un-reshapes, permute
applies the inverse permutation, indexing scatters (adding, so an index that appears twice receives
both gradients), cat splits, pad crops. ``Expand``'s backward is the identity: the engine's
``unbroadcast`` sums the copies back, exactly as for a broadcasting add.

Read next: ``linalg.py``.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Any

import numpy as np

from minillm.autograd import Context, Function, constant

if TYPE_CHECKING:
    from minillm.tensor import Tensor

Grads = tuple[np.ndarray | None, ...]
TensorGrads = tuple["Tensor | None", ...]
Shape = tuple[int, ...]


class Reshape(Function):
    """y = x viewed with a new shape (one dimension may be -1);  dx = g reshaped back."""

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, *, shape: Shape) -> np.ndarray:
        ctx.shape = x.shape
        try:
            return x.reshape(shape)
        except ValueError:
            raise ValueError(
                f"reshape: cannot view a tensor of shape {x.shape} ({x.size} elements) as shape "
                f"{tuple(shape)}"
            ) from None

    @staticmethod
    def backward(ctx: Context, g: np.ndarray) -> Grads:
        return (g.reshape(ctx.shape),)

    @staticmethod
    def backward_graph(ctx: Context, g: Tensor, out: Tensor) -> TensorGrads:
        return (g.reshape(ctx.shape),)


class Permute(Function):
    """y = x with axes reordered: y.shape[i] = x.shape[axes[i]];  dx = g in the inverse order."""

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, *, axes: Shape) -> np.ndarray:
        in_range = all(-x.ndim <= a < x.ndim for a in axes)
        if not in_range or sorted(a % max(x.ndim, 1) for a in axes) != list(range(x.ndim)):
            raise ValueError(
                f"permute: {tuple(axes)} is not a permutation of the {x.ndim} axes of {x.shape}"
            )
        ctx.axes = axes
        return np.transpose(x, axes)

    @staticmethod
    def backward(ctx: Context, g: np.ndarray) -> Grads:
        return (np.transpose(g, np.argsort([a % g.ndim for a in ctx.axes])),)

    @staticmethod
    def backward_graph(ctx: Context, g: Tensor, out: Tensor) -> TensorGrads:
        return (g.permute(*np.argsort([a % g.ndim for a in ctx.axes]).tolist()),)


class Expand(Function):
    """y = x broadcast to ``shape`` (-1 keeps a size);  dx = g summed over the copies (engine)."""

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, *, shape: Shape) -> np.ndarray:
        lead = len(shape) - x.ndim
        target = tuple(
            x.shape[i - lead] if n == -1 and i >= lead else n for i, n in enumerate(shape)
        )
        try:
            return np.broadcast_to(x, target)
        except ValueError:
            raise ValueError(
                f"expand: cannot broadcast shape {x.shape} to {tuple(shape)}"
            ) from None

    @staticmethod
    def backward(ctx: Context, g: np.ndarray) -> Grads:
        return (g,)

    @staticmethod
    def backward_graph(ctx: Context, g: Tensor, out: Tensor) -> TensorGrads:
        return (g,)


def _is_basic(index: Any) -> bool:
    """True when ``index`` has only ints, slices, None and Ellipsis: no element is taken twice."""
    parts = index if isinstance(index, tuple) else (index,)
    return all(isinstance(p, (int, np.integer, slice)) or p is None or p is Ellipsis for p in parts)


def _index_add(g: np.ndarray, index: Any, shape: Shape) -> np.ndarray:
    """Zeros of ``shape`` with ``g`` added at ``index``: indexing's backward."""
    dx = np.zeros(shape, dtype=g.dtype)
    if _is_basic(index):
        dx[index] = g
    else:
        np.add.at(dx, index, g)  # unbuffered: a repeated index accumulates every gradient
    return dx


class GetItem(Function):
    """y = x[index] (slices, ints, int arrays, boolean masks);  dx = g scattered back, added."""

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, *, index: Any) -> np.ndarray:
        ctx.index, ctx.shape = index, x.shape
        try:
            return x[index]
        except IndexError as e:
            raise IndexError(f"indexing a tensor of shape {x.shape}: {e}") from None

    @staticmethod
    def backward(ctx: Context, g: np.ndarray) -> Grads:
        return (_index_add(g, ctx.index, ctx.shape),)

    @staticmethod
    def backward_graph(ctx: Context, g: Tensor, out: Tensor) -> TensorGrads:
        return (IndexAdd.apply(g, index=ctx.index, shape=ctx.shape),)


class IndexAdd(Function):
    """y = zeros(shape) with g added at ``index`` (indexing's backward, as an op of its own so
    ``create_graph`` can record it);  dg = gy[index]."""

    @staticmethod
    def forward(ctx: Context, g: np.ndarray, *, index: Any, shape: Shape) -> np.ndarray:
        ctx.index = index
        return _index_add(g, index, shape)

    @staticmethod
    def backward(ctx: Context, gy: np.ndarray) -> Grads:
        return (gy[ctx.index],)

    @staticmethod
    def backward_graph(ctx: Context, gy: Tensor, out: Tensor) -> TensorGrads:
        return (GetItem.apply(gy, index=ctx.index),)


class SetItem(Function):
    """y = x with y[index] = v (what ``x[index] = v`` records);  dx = g with g[index] zeroed,
    dv = g[index] (summed to v's shape by the engine)."""

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, v: np.ndarray, *, index: Any) -> np.ndarray:
        ctx.index = index
        y = x.copy()
        try:
            y[index] = v
        except (IndexError, ValueError) as e:
            raise type(e)(f"assigning into a tensor of shape {x.shape}: {e}") from None
        return y

    @staticmethod
    def backward(ctx: Context, g: np.ndarray) -> Grads:
        gx = None
        if ctx.needs_input_grad[0]:
            gx = g.copy()
            gx[ctx.index] = 0
        gv = g[ctx.index] if ctx.needs_input_grad[1] else None
        return gx, gv

    @staticmethod
    def backward_graph(ctx: Context, g: Tensor, out: Tensor) -> TensorGrads:
        zero = constant(np.zeros((), dtype=g.dtype))
        return SetItem.apply(g, zero, index=ctx.index), GetItem.apply(g, index=ctx.index)


class Cat(Function):
    """y = the inputs joined along ``axis``;  each input's gradient is its slice of g."""

    @staticmethod
    def forward(ctx: Context, *xs: np.ndarray, axis: int = 0) -> np.ndarray:
        if not xs:
            raise ValueError("cat: expected at least one tensor")
        ndim = xs[0].ndim
        if ndim == 0:
            raise ValueError("cat: zero-dimensional tensors cannot be concatenated; use stack")
        if not -ndim <= axis < ndim:
            raise ValueError(f"cat: axis {axis} is out of range for {ndim}-dimensional tensors")
        axis = axis % ndim
        for x in xs:
            if (
                x.ndim != ndim
                or x.shape[:axis] + x.shape[axis + 1 :]
                != xs[0].shape[:axis] + xs[0].shape[axis + 1 :]
            ):
                shapes = ", ".join(str(x.shape) for x in xs)
                raise ValueError(f"cat along axis {axis}: shapes {shapes} differ outside that axis")
        ctx.axis = axis
        ctx.bounds = np.cumsum([x.shape[axis] for x in xs])[:-1]
        return np.concatenate(xs, axis=axis)

    @staticmethod
    def backward(ctx: Context, g: np.ndarray) -> Grads:
        return tuple(np.split(g, ctx.bounds, axis=ctx.axis))

    @staticmethod
    def backward_graph(ctx: Context, g: Tensor, out: Tensor) -> TensorGrads:
        edges = [0, *ctx.bounds.tolist(), g.shape[ctx.axis]]
        lead = (slice(None),) * ctx.axis
        pieces = itertools.pairwise(edges)
        return tuple(GetItem.apply(g, index=(*lead, slice(lo, hi))) for lo, hi in pieces)


class Pad(Function):
    """y = x with constant borders;  dx = the interior of g.

    ``pad`` follows PyTorch: (left, right) of the last axis, then of the axis before it, ...
    """

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, *, pad: Shape, value: float = 0.0) -> np.ndarray:
        if len(pad) % 2 or len(pad) // 2 > x.ndim:
            raise ValueError(
                f"pad: {tuple(pad)} must hold (before, after) pairs for at most {x.ndim} axes"
            )
        if any(p < 0 for p in pad):
            raise ValueError(f"pad: negative padding {tuple(pad)} is not supported; slice instead")
        widths = [(0, 0)] * x.ndim
        for i in range(len(pad) // 2):
            widths[x.ndim - 1 - i] = (pad[2 * i], pad[2 * i + 1])
        ctx.crop = tuple(slice(lo, lo + n) for (lo, _), n in zip(widths, x.shape))
        return np.pad(x, widths, mode="constant", constant_values=value)

    @staticmethod
    def backward(ctx: Context, g: np.ndarray) -> Grads:
        return (g[ctx.crop],)

    @staticmethod
    def backward_graph(ctx: Context, g: Tensor, out: Tensor) -> TensorGrads:
        return (GetItem.apply(g, index=ctx.crop),)


class Tri(Function):
    """y = the lower (or ``upper``) triangle of the last two axes from diagonal k;  dx likewise."""

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, *, k: int = 0, upper: bool = False) -> np.ndarray:
        if x.ndim < 2:
            raise ValueError(
                f"{'triu' if upper else 'tril'}: needs at least 2 dimensions, got shape {x.shape}"
            )
        ctx.k, ctx.upper = k, upper
        return np.triu(x, k) if upper else np.tril(x, k)

    @staticmethod
    def backward(ctx: Context, g: np.ndarray) -> Grads:
        return (np.triu(g, ctx.k) if ctx.upper else np.tril(g, ctx.k),)

    @staticmethod
    def backward_graph(ctx: Context, g: Tensor, out: Tensor) -> TensorGrads:
        return (Tri.apply(g, k=ctx.k, upper=ctx.upper),)
