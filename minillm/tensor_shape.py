"""Tensor methods that move elements: reshape, permute, expand, squeeze, flatten, split, tril.

Reshape, permute, expand and indexing are primitives (``minillm/ops/movement.py``); the rest are
compositions of them.

Read next: ``minillm/ops/__init__.py``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from minillm.tensor import _axis, _wrap

if TYPE_CHECKING:
    from minillm.tensor import Tensor

from minillm.ops import indexing as I
from minillm.ops import movement as M
from minillm.ops import reduce as R


class ShapeMethods:
    """Mixed into ``Tensor``; see ``minillm/tensor.py``."""

    __slots__ = ()

    def reshape(self, *shape: Any) -> Tensor:
        """Same elements, new shape: ``reshape(2, 3)`` or ``reshape((2, 3))``; -1 is inferred."""
        shape = shape[0] if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
        return M.Reshape.apply(self, shape=tuple(shape))

    view = reshape

    def permute(self, *axes: Any) -> Tensor:
        axes = axes[0] if len(axes) == 1 and isinstance(axes[0], (tuple, list)) else axes
        return M.Permute.apply(self, axes=tuple(axes))

    def transpose(self, dim0: int = -2, dim1: int = -1) -> Tensor:
        """Swap two axes (the last two by default)."""
        axes = list(range(self.ndim))
        axes[dim0], axes[dim1] = axes[dim1], axes[dim0]
        return self.permute(*axes)

    swapaxes = swapdims = transpose

    def t(self) -> Tensor:
        """The transpose of a matrix (a 0-d or 1-D tensor is returned as it is), as ``Tensor.t``."""
        if self.ndim > 2:
            raise ValueError(f"t(): expects at most 2 dimensions, got shape {self.shape}; use "
                             "transpose(dim0, dim1)")  # fmt: skip
        return self if self.ndim < 2 else self.transpose(0, 1)

    def movedim(self, source: Any, destination: Any) -> Tensor:
        """Move the axes ``source`` to the positions ``destination``, the others keeping their
        order (``torch.movedim``, NumPy's ``moveaxis``)."""
        src = (source,) if isinstance(source, int) else tuple(source)
        dst = (destination,) if isinstance(destination, int) else tuple(destination)
        if len(src) != len(dst):
            raise ValueError(f"movedim: {len(src)} source axes but {len(dst)} destinations")
        src_n = [R.normalize_axis(a, self.ndim)[0] for a in src]
        dst_n = [R.normalize_axis(a, self.ndim)[0] for a in dst]
        if len(set(src_n)) != len(src_n) or len(set(dst_n)) != len(dst_n):
            raise ValueError(f"movedim: repeated axis in {src} -> {dst}")
        order = [a for a in range(self.ndim) if a not in src_n]
        for d, a in sorted(zip(dst_n, src_n)):  # each moved axis into its place, left to right
            order.insert(d, a)
        return self.permute(*order)

    moveaxis = movedim

    def narrow(self, dim: int, start: int, length: int) -> Tensor:
        """``length`` entries from ``start`` along ``dim`` (a view, as ``torch.narrow``)."""
        (axis,) = R.normalize_axis(dim, self.ndim)
        n = self.shape[axis]
        start = start + n if start < 0 else start
        if not (0 <= start <= n and 0 <= length <= n - start):
            raise IndexError(f"narrow: start {start} and length {length} do not fit axis {axis} "
                             f"of size {n}")  # fmt: skip
        return self[(slice(None),) * axis + (slice(start, start + length),)]

    def select(self, dim: int, index: int) -> Tensor:
        """The slice at ``index`` along ``dim``, without that axis (``x[:, 0]`` for dim 1)."""
        (axis,) = R.normalize_axis(dim, self.ndim)
        n = self.shape[axis]
        if not -n <= index < n:
            raise IndexError(f"select: index {index} is out of range for axis {axis} of size {n}")
        return self[(slice(None),) * axis + (int(index),)]

    def view_as(self, other: Any) -> Tensor:
        """Reshaped to ``other``'s shape."""
        return self.reshape(other.shape)

    reshape_as = view_as

    def expand(self, *shape: Any) -> Tensor:
        """Broadcast to ``shape`` without copying; -1 keeps a dimension's size."""
        shape = shape[0] if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
        return M.Expand.apply(self, shape=tuple(shape))

    def broadcast_to(self, shape: Any) -> Tensor:
        return self.expand(shape)

    def squeeze(self, axis: Any = None, *, dim: Any = None) -> Tensor:
        """Drop size-1 axes (all, or those in ``axis``; a named axis of another size is kept)."""
        axes = R.normalize_axis(_axis(axis, dim), self.ndim)
        return self.reshape(
            tuple(n for i, n in enumerate(self.shape) if not (i in axes and n == 1))
        )

    def unsqueeze(self, axis: int | None = None, *, dim: int | None = None) -> Tensor:
        """Insert a size-1 axis at ``axis`` (negative counts from the end of the result)."""
        axis = _axis(axis, dim)
        if axis is None:  # optional only so that PyTorch's unsqueeze(dim=1) spelling works
            raise TypeError("unsqueeze: give the position of the new axis (axis= or dim=)")
        (axis,) = R.normalize_axis(axis, self.ndim + 1)
        return self.reshape(self.shape[:axis] + (1,) + self.shape[axis:])

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> Tensor:
        """Merge axes ``start_dim..end_dim`` (inclusive) into one."""
        if self.ndim == 0:
            return self.reshape(1)
        start, end = start_dim % self.ndim, end_dim % self.ndim
        return self.reshape(self.shape[:start] + (-1,) + self.shape[end + 1 :])

    def split(
        self, split_size_or_sections: int | list[int], axis: int = 0, *, dim: int | None = None
    ) -> tuple[Tensor, ...]:
        """Pieces of ``split_size`` along ``axis`` (the last may be smaller), or of listed sizes."""
        if self.ndim == 0:
            raise ValueError("split: a 0-d tensor has no axis to split")
        (axis,) = R.normalize_axis(_axis(axis, dim), self.ndim)
        n = self.shape[axis]
        if isinstance(split_size_or_sections, int):
            if split_size_or_sections <= 0:
                raise ValueError(
                    f"split: split_size must be positive, got {split_size_or_sections}"
                )
            sizes = [
                min(split_size_or_sections, n - s) for s in range(0, n, split_size_or_sections)
            ]
        else:
            sizes = list(split_size_or_sections)
            if sum(sizes) != n:
                raise ValueError(
                    f"split: sizes {sizes} sum to {sum(sizes)}, but axis {axis} has {n}"
                )
        pieces, start = [], 0
        for size in sizes:
            index = (slice(None),) * axis + (slice(start, start + size),)
            pieces.append(self[index])
            start += size
        return tuple(pieces)

    def chunk(self, chunks: int, axis: int = 0, *, dim: int | None = None) -> tuple[Tensor, ...]:
        """Split into pieces of ceil(n / chunks) along ``axis`` (the last may be smaller)."""
        if not isinstance(chunks, (int, np.integer)) or chunks < 1:
            raise ValueError(f"chunk: chunks must be a positive integer, got {chunks!r}")
        if self.ndim == 0:
            raise ValueError("chunk: a 0-d tensor has no axis to split")
        (axis,) = R.normalize_axis(_axis(axis, dim), self.ndim)
        return self.split(max(-(-self.shape[axis] // chunks), 1), axis)

    def tril(self, diagonal: int = 0) -> Tensor:
        return M.Tri.apply(self, k=diagonal, upper=False)

    def triu(self, diagonal: int = 0) -> Tensor:
        return M.Tri.apply(self, k=diagonal, upper=True)

    # ---------------------------------------------------------------- more movement
    def expand_as(self, other: Tensor) -> Tensor:
        return self.expand(other.shape)

    def unflatten(self, dim: int, sizes: Any) -> Tensor:
        """Split axis ``dim`` into ``sizes`` (one of them may be -1)."""
        (axis,) = R.normalize_axis(dim, self.ndim)
        return self.reshape(self.shape[:axis] + tuple(sizes) + self.shape[axis + 1 :])

    def flip(self, *dims: Any) -> Tensor:
        """Reverse the order along ``dims``: ``flip(0)`` or ``flip((0, 1))``."""
        dims = dims[0] if len(dims) == 1 and isinstance(dims[0], (tuple, list)) else dims
        axes = R.normalize_axis(tuple(dims), self.ndim)
        return self[tuple(slice(None, None, -1) if d in axes else slice(None)
                          for d in range(self.ndim))]  # fmt: skip

    def roll(self, shifts: Any, dims: Any = None) -> Tensor:
        """Shift elements along ``dims`` by ``shifts``, wrapping around (flattened if no dims)."""
        if dims is None:
            return self.reshape(-1).roll(shifts, 0).reshape(self.shape)
        shifts = (shifts,) if isinstance(shifts, int) else tuple(shifts)
        dims = (dims,) if isinstance(dims, int) else tuple(dims)
        if len(shifts) != len(dims):
            raise ValueError(f"roll: {len(shifts)} shifts for {len(dims)} dims")
        out = self
        for shift, d in zip(shifts, dims):
            (axis,) = R.normalize_axis(d, self.ndim)
            n = self.shape[axis]
            out = out.index_select(axis, _wrap((np.arange(n) - shift) % max(n, 1)))
        return out

    def index_select(self, dim: int, index: Any) -> Tensor:
        """The entries at ``index`` (1-D integers) along ``dim``; a repeated index repeats."""
        idx = self._lift(index).data
        if idx.ndim != 1 or idx.dtype.kind not in "iu":
            raise ValueError(
                f"index_select: index must be 1-D integers, got {idx.dtype} {idx.shape}"
            )
        (axis,) = R.normalize_axis(dim, self.ndim)
        return self[(slice(None),) * axis + (idx,)]

    def masked_select(self, mask: Any) -> Tensor:
        """The elements where ``mask`` (broadcast against self) is True, as a 1-D tensor."""
        m = self._lift(mask).data.astype(bool)
        shape = np.broadcast_shapes(self.shape, m.shape)
        return self.expand(shape)[np.broadcast_to(m, shape)]

    def nonzero(self, *, as_tuple: bool = False) -> Any:
        """Indices of the non-zero elements: (N, ndim) int64, or one 1-D tensor per axis."""
        where = np.nonzero(np.atleast_1d(self.data))
        if as_tuple:
            return tuple(_wrap(w.astype(np.int64)) for w in where)
        return _wrap(np.stack(where, axis=1).astype(np.int64))

    def repeat(self, *sizes: Any) -> Tensor:
        """Tile: repeat the whole tensor ``sizes[i]`` times along axis i (``np.tile``)."""
        sizes = sizes[0] if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)) else sizes
        sizes = tuple(int(n) for n in sizes)
        if len(sizes) < self.ndim:
            raise ValueError(f"repeat: {len(sizes)} sizes for a tensor with {self.ndim} axes")
        shape = (1,) * (len(sizes) - self.ndim) + self.shape
        spread = self.reshape(tuple(v for n in shape for v in (1, n)))  # (1, n0, 1, n1, ...)
        tiled = spread.expand(tuple(v for r, n in zip(sizes, shape) for v in (r, n)))
        return tiled.reshape(tuple(r * n for r, n in zip(sizes, shape)))

    def repeat_interleave(self, repeats: Any, dim: int | None = None) -> Tensor:
        """Repeat each element ``repeats`` times (an int, or one count per element) along
        ``dim`` (the flattened tensor if None)."""
        if dim is None:
            return self.reshape(-1).repeat_interleave(repeats, 0)
        (axis,) = R.normalize_axis(dim, self.ndim)
        counts = self._lift(repeats).data if not isinstance(repeats, int) else repeats
        index = np.repeat(np.arange(self.shape[axis]), counts)
        return self.index_select(axis, _wrap(index))

    def gather(self, dim: int, index: Any) -> Tensor:
        """``out[i][j] = self[i][index[i][j]]`` along ``dim`` (``torch.gather``)."""
        (axis,) = R.normalize_axis(dim, max(self.ndim, 1))
        return I.Gather.apply(self, index=self._lift(index).data, axis=axis)

    def scatter(self, dim: int, index: Any, src: Any) -> Tensor:
        """A copy with ``src`` written at ``index`` along ``dim`` (``src`` may be a number)."""
        (axis,) = R.normalize_axis(dim, max(self.ndim, 1))
        value = self._lift(src).astype(self.dtype)
        return I.Scatter.apply(self, value, index=self._lift(index).data, axis=axis, add=False)

    def scatter_add(self, dim: int, index: Any, src: Any) -> Tensor:
        """A copy with ``src`` added at ``index`` along ``dim``; repeated indices add up."""
        (axis,) = R.normalize_axis(dim, max(self.ndim, 1))
        value = self._lift(src).astype(self.dtype)
        return I.Scatter.apply(self, value, index=self._lift(index).data, axis=axis, add=True)

    def diagonal(self, offset: int = 0, dim1: int = 0, dim2: int = 1) -> Tensor:
        """The diagonal of the (dim1, dim2) planes as a new last axis (``torch.diagonal``)."""
        a, b = R.normalize_axis(dim1, self.ndim)[0], R.normalize_axis(dim2, self.ndim)[0]
        if a == b:
            raise ValueError(f"diagonal: dim1 and dim2 are both axis {a}")
        rest = [d for d in range(self.ndim) if d not in (a, b)]
        planes = self.permute(*rest, a, b)
        rows, cols = planes.shape[-2:]
        start_r, start_c = max(-offset, 0), max(offset, 0)
        length = max(min(rows - start_r, cols - start_c), 0)
        i = np.arange(length)
        return planes[(Ellipsis, i + start_r, i + start_c)]
