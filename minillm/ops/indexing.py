"""Gather and scatter: reading and writing along one axis at positions an index tensor gives.

    gather:      y[i][j][k] = x[i][index[i][j][k]][k]          (axis 1)
    scatter:     y = x;  y[i][index[i][j][k]][k] = src[i][j][k]
    scatter_add: y = x;  y[i][index[i][j][k]][k] += src[i][j][k]

``index`` has the input's number of axes and may be smaller than it along the other axes (PyTorch's
rule). Each op builds one full NumPy index: ``index`` itself on ``axis``, and an ``arange`` on
every other axis, broadcast together. Backward follows from linearity: gather's gradient is
scatter_add of g; scatter_add's is g to x and g gathered to src; scatter's is g with the written
positions zeroed to x (those values were overwritten) and g gathered to src. Sorting and top-k
are gathers with the indices ``argsort`` chose.

Read next: ``minillm/ops/linalg.py``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from minillm.autograd import Context, Function, constant
from minillm.ops.movement import GetItem, IndexAdd, SetItem

if TYPE_CHECKING:
    from minillm.tensor import Tensor

Grads = tuple[np.ndarray | None, ...]
TensorGrads = tuple["Tensor | None", ...]


def full_index(index: np.ndarray, axis: int, ndim: int) -> tuple[np.ndarray, ...]:
    """The NumPy index that reads ``x[..., index[...], ...]`` at ``axis``, element by element."""
    if index.ndim != ndim:
        raise ValueError(f"gather/scatter: index has {index.ndim} axes, the input has {ndim}")
    if index.dtype.kind not in "iu":
        raise TypeError(f"gather/scatter: index must hold integers, not {index.dtype}")
    grids = np.ogrid[tuple(slice(n) for n in index.shape)]
    return tuple(index if d == axis else grids[d] for d in range(ndim))


def _check(x: np.ndarray, index: np.ndarray, axis: int) -> tuple[np.ndarray, ...]:
    for d, (n_i, n_x) in enumerate(zip(index.shape, x.shape)):
        if d != axis and n_i > n_x:
            raise ValueError(
                f"gather/scatter: index of shape {index.shape} is larger than the input "
                f"{x.shape} along axis {d}"
            )
    if index.size and not (-x.shape[axis] <= index.min() and index.max() < x.shape[axis]):
        raise IndexError(
            f"gather/scatter: index values must lie in [{-x.shape[axis]}, {x.shape[axis]}) "
            f"along axis {axis}; found {index.min()}..{index.max()}"
        )
    return full_index(index, axis, x.ndim)


class Gather(Function):
    """y = x gathered at ``index`` along ``axis``;  dx = g added back at those positions."""

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, *, index: np.ndarray, axis: int) -> np.ndarray:
        ctx.where, ctx.shape = _check(x, index, axis), x.shape
        return x[ctx.where]

    @staticmethod
    def backward(ctx: Context, g: np.ndarray) -> Grads:
        dx = np.zeros(ctx.shape, dtype=g.dtype)
        np.add.at(dx, ctx.where, g)  # a position gathered twice gets both gradients
        return (dx,)

    @staticmethod
    def backward_graph(ctx: Context, g: Tensor, out: Tensor) -> TensorGrads:
        return (IndexAdd.apply(g, index=ctx.where, shape=ctx.shape),)


class Scatter(Function):
    """y = x with src written at ``index`` along ``axis`` (``add=True``: added there);
    dx = g (zeroed where written, unless added), dsrc = g gathered at ``index``."""

    @staticmethod
    def forward(
        ctx: Context, x: np.ndarray, src: np.ndarray, *, index: np.ndarray, axis: int, add: bool
    ) -> np.ndarray:
        where = _check(x, index, axis)
        values = np.broadcast_to(src, index.shape) if src.ndim == 0 else src[
            tuple(slice(n) for n in index.shape)]  # fmt: skip
        ctx.where, ctx.add, ctx.src_shape = where, add, src.shape
        y = x.copy()
        if add:
            np.add.at(y, where, values)
        else:
            y[where] = values
        return y

    @staticmethod
    def backward(ctx: Context, g: np.ndarray) -> Grads:
        gx = None
        if ctx.needs_input_grad[0]:
            gx = g if ctx.add else g.copy()
            if not ctx.add:
                gx[ctx.where] = 0
        gsrc = None
        if ctx.needs_input_grad[1]:
            gsrc = g[ctx.where]  # index-shaped; a scalar src sums it, a larger src pads it
            if len(ctx.src_shape) and gsrc.shape != ctx.src_shape:
                full = np.zeros(ctx.src_shape, dtype=g.dtype)
                full[tuple(slice(n) for n in gsrc.shape)] = gsrc
                gsrc = full
        return gx, gsrc

    @staticmethod
    def backward_graph(ctx: Context, g: Tensor, out: Tensor) -> TensorGrads:
        gx = g if ctx.add else SetItem.apply(g, constant(np.zeros((), g.dtype)), index=ctx.where)
        gsrc = GetItem.apply(g, index=ctx.where)
        if len(ctx.src_shape) and gsrc.shape != ctx.src_shape:
            corner = tuple(slice(n) for n in gsrc.shape)
            gsrc = IndexAdd.apply(gsrc, index=corner, shape=ctx.src_shape)
        return gx, gsrc
