"""Tensor methods that move elements: reshape, permute, expand, squeeze, flatten, split, tril.

Reshape, permute, expand and indexing are primitives (``minillm/ops/movement.py``); the rest are
compositions of them.

Read next: ``minillm/ops/__init__.py``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from minillm.tensor import _axis

if TYPE_CHECKING:
    from minillm.tensor import Tensor

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
