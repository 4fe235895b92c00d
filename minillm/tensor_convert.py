"""Tensor methods that convert: to NumPy and Python numbers, between dtypes (``astype``, ``to``,
``float``, ...), fresh tensors of the same dtype (``new_zeros``, ...), and copies.

Only ``astype`` between floating dtypes and ``clone`` are recorded (as ``ops.elementwise.Cast``);
the rest hand data out or make new leaves.

Read next: ``minillm/tensor_math.py``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from minillm.ops import elementwise as E
from minillm.tensor import _wrap

if TYPE_CHECKING:
    from minillm.tensor import Tensor


class ConvertMethods:
    """Mixed into ``Tensor``; see ``minillm/tensor.py``."""

    __slots__ = ()

    def numpy(self) -> np.ndarray:
        """The underlying array (shared, not copied)."""
        # asarray: a 0-d op result may be held as a NumPy scalar, and callers expect an ndarray
        return np.asarray(self.data)

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        data = np.asarray(self.data)  # NumPy requires __array__ to return an ndarray
        if dtype is not None and dtype != data.dtype:
            return data.astype(dtype)
        return data.copy() if copy else data

    def item(self) -> bool | int | float:
        """The single element as a Python number."""
        if self.data.size != 1:
            raise ValueError(
                f"item(): only a one-element tensor converts to a Python number; this one has "
                f"shape {self.shape} ({self.data.size} elements)"
            )
        return self.data.item()

    def tolist(self) -> Any:
        return self.data.tolist()

    def astype(self, dtype: Any) -> Tensor:
        """A copy converted to ``dtype``; differentiable between floating dtypes."""
        dtype = np.dtype(dtype)
        if dtype.kind != "f" and self._requires_grad:
            return _wrap(self.data.astype(dtype))
        return E.Cast.apply(self, dtype=dtype)

    def float(self) -> Tensor:
        return self.astype(np.float32)

    def double(self) -> Tensor:
        return self.astype(np.float64)

    def long(self) -> Tensor:
        return self.astype(np.int64)

    def half(self) -> Tensor:
        return self.astype(np.float16)

    def int(self) -> Tensor:
        return self.astype(np.int32)

    def bool(self) -> Tensor:
        return self.astype(np.bool_)

    def to(self, dtype: Any = None, *args: Any, **kwargs: Any) -> Tensor:
        """``to(dtype)``, as PyTorch; a device ("cpu") is accepted and changes nothing."""
        dtype = kwargs.pop("dtype", dtype)
        if dtype is None or (isinstance(dtype, str) and dtype == "cpu"):
            return self
        return self if np.dtype(dtype) == self.data.dtype else self.astype(dtype)

    def type(self, dtype: Any = None) -> Any:
        """The dtype's name with no argument; else ``to(dtype)``."""
        return str(self.data.dtype) if dtype is None else self.to(dtype)

    def type_as(self, other: Tensor) -> Tensor:
        return self.to(other.dtype)

    def dim(self) -> int:
        """The number of axes (``ndim``), as PyTorch's method."""
        return self.data.ndim

    # new_*: a fresh tensor with this tensor's dtype unless told otherwise (PyTorch's factories)
    def new_tensor(self, data: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
        array = np.array(getattr(data, "data", data), dtype=dtype or self.dtype)
        return type(self)(array, requires_grad=requires_grad)

    def new_full(self, size: Any, fill_value: Any, dtype: Any = None,
                 requires_grad: bool = False) -> Tensor:  # fmt: skip
        shape = (size,) if isinstance(size, int) else tuple(size)
        return type(self)(np.full(shape, fill_value, dtype=dtype or self.dtype),
                          requires_grad=requires_grad)  # fmt: skip

    def new_zeros(self, *size: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
        size = size[0] if len(size) == 1 and not isinstance(size[0], int) else size
        return self.new_full(size, 0, dtype, requires_grad)

    def new_ones(self, *size: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
        size = size[0] if len(size) == 1 and not isinstance(size[0], int) else size
        return self.new_full(size, 1, dtype, requires_grad)

    new_empty = new_zeros  # zeros, as minillm.empty: runs never differ by chance

    def contiguous(self) -> Tensor:
        """Self if its array is C-contiguous, else a differentiable C-ordered copy."""
        if self.data.flags.c_contiguous:
            return self
        return self.reshape(-1).reshape(self.shape)  # flattening a strided array copies it

    def clone(self) -> Tensor:
        """A differentiable copy."""
        return E.Cast.apply(self, dtype=self.data.dtype)
