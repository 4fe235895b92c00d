"""Factories: the ways to make a Tensor from data, a constant, a range or a random draw.

Shapes are given as ``zeros(2, 3)`` or ``zeros((2, 3))``. Floating results are float32 unless
``dtype`` says otherwise; random draws come from ``minillm.random.generator()``, so ``manual_seed``
fixes them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from minillm.random import generator
from minillm.tensor import DEFAULT_FLOAT, Tensor, as_array


def _shape(args: tuple[Any, ...]) -> tuple[int, ...]:
    shape = args[0] if len(args) == 1 and isinstance(args[0], (tuple, list)) else args
    shape = tuple(int(n) for n in shape)
    if any(n < 0 for n in shape):
        raise ValueError(f"shape {shape} has a negative dimension")
    return shape


def _float(dtype: Any) -> np.dtype:
    return DEFAULT_FLOAT if dtype is None else np.dtype(dtype)


def tensor(data: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """A new leaf tensor holding a copy of ``data`` (a number, nested lists, an array or a Tensor).

    >>> tensor([[1, 2], [3, 4]]).dtype
    dtype('int64')
    >>> tensor([0.5]).dtype
    dtype('float32')
    """
    return Tensor(np.array(as_array(data, dtype), copy=True), requires_grad=requires_grad)


def from_numpy(array: np.ndarray) -> Tensor:
    """A leaf tensor sharing memory with ``array`` (its dtype is kept)."""
    return Tensor(np.asarray(array))


def zeros(*shape: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    return Tensor(np.zeros(_shape(shape), dtype=_float(dtype)), requires_grad=requires_grad)


def ones(*shape: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    return Tensor(np.ones(_shape(shape), dtype=_float(dtype)), requires_grad=requires_grad)


def full(shape: Any, fill_value: float, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """A tensor of ``shape`` filled with ``fill_value`` (float32, or int64 for an int fill)."""
    if dtype is None and isinstance(fill_value, (bool, int)):
        dtype = np.bool_ if isinstance(fill_value, bool) else np.int64
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    return Tensor(
        np.full(_shape(shape), fill_value, dtype=_float(dtype)), requires_grad=requires_grad
    )


def zeros_like(t: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    return Tensor(
        np.zeros(np.shape(t), dtype=dtype or as_array(t).dtype), requires_grad=requires_grad
    )


def ones_like(t: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    return Tensor(
        np.ones(np.shape(t), dtype=dtype or as_array(t).dtype), requires_grad=requires_grad
    )


def arange(start: float, end: float | None = None, step: float = 1, dtype: Any = None) -> Tensor:
    """Values from ``start`` up to (not including) ``end``: int64 for int arguments, else float32.

    >>> arange(3).tolist()
    [0, 1, 2]
    """
    if end is None:
        start, end = 0, start
    if dtype is None:
        ints = all(isinstance(v, (int, np.integer)) for v in (start, end, step))
        dtype = np.int64 if ints else DEFAULT_FLOAT
    return Tensor(np.arange(start, end, step, dtype=dtype))


def eye(n: int, m: int | None = None, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    return Tensor(np.eye(n, m, dtype=_float(dtype)), requires_grad=requires_grad)


def randn(*shape: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Standard normal draws."""
    data = generator().standard_normal(_shape(shape)).astype(_float(dtype))
    return Tensor(data, requires_grad=requires_grad)


def rand(*shape: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Uniform draws from [0, 1)."""
    data = generator().random(_shape(shape)).astype(_float(dtype))
    return Tensor(data, requires_grad=requires_grad)


def rand_like(t: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    return rand(*np.shape(t), dtype=dtype or _like_float(t), requires_grad=requires_grad)


def randn_like(t: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    return randn(*np.shape(t), dtype=dtype or _like_float(t), requires_grad=requires_grad)


def _like_float(t: Any) -> Any:
    dtype = as_array(t).dtype
    if dtype.kind != "f":
        raise TypeError(f"rand_like/randn_like: draws are floating point; {dtype} is not")
    return dtype


def multinomial(input: Any, num_samples: int, replacement: bool = False) -> Tensor:  # noqa: A002
    """Draw ``num_samples`` category indices per row of ``input`` (1-D or 2-D non-negative
    weights, normalized per row), as ``torch.multinomial``; without ``replacement`` each index at
    most once per row, so a row needs that many non-zero weights.

    >>> import minillm
    >>> _ = minillm.manual_seed(0)
    >>> multinomial(minillm.tensor([0.0, 1.0, 0.0]), 2, replacement=True).tolist()
    [1, 1]
    """
    w = np.asarray(as_array(input), dtype=np.float64)
    if w.ndim not in (1, 2):
        raise ValueError(f"multinomial: expects 1-D or 2-D weights, got shape {w.shape}")
    if not np.isfinite(w).all() or (w < 0).any():
        raise ValueError("multinomial: weights must be finite and non-negative")
    rows = w.reshape(-1, w.shape[-1])
    totals = rows.sum(axis=1)
    if (totals <= 0).any():
        raise ValueError("multinomial: a row of weights sums to 0")
    if not replacement and num_samples > int((rows > 0).sum(axis=1).min()):
        raise ValueError(f"multinomial: cannot draw {num_samples} distinct categories without "
                         f"replacement from a row with fewer non-zero weights")  # fmt: skip
    rng = generator()
    picks = [rng.choice(rows.shape[1], size=num_samples, replace=replacement, p=r / r.sum())
             for r in rows]  # fmt: skip
    out = np.array(picks, dtype=np.int64).reshape(*w.shape[:-1], num_samples)
    return Tensor(out)


def randint(low: int, high: int | None = None, size: Any = (), dtype: Any = np.int64) -> Tensor:
    """Integers drawn uniformly from [low, high) (from [0, low) when ``high`` is omitted)."""
    if high is None:
        low, high = 0, low
    if high <= low:
        raise ValueError(f"randint: empty range [{low}, {high})")
    size = (size,) if isinstance(size, int) else tuple(size)
    return Tensor(generator().integers(low, high, size=size, dtype=dtype))


def empty(*shape: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """An uninitialized tensor in PyTorch; here zeros (NumPy's garbage would make runs differ)."""
    return zeros(*shape, dtype=dtype, requires_grad=requires_grad)


def empty_like(t: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    return zeros_like(t, dtype=dtype, requires_grad=requires_grad)


def full_like(t: Any, fill_value: float, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """A tensor of ``t``'s shape and dtype (unless ``dtype``) filled with ``fill_value``."""
    like = t.data if isinstance(t, Tensor) else np.asarray(t)
    dtype = like.dtype if dtype is None else dtype
    return Tensor(np.full(like.shape, fill_value, dtype=dtype), requires_grad=requires_grad)


def linspace(start: float, end: float, steps: int, dtype: Any = None) -> Tensor:
    """``steps`` evenly spaced values from ``start`` to ``end``, both included (float32).

    >>> linspace(0, 1, 5).tolist()
    [0.0, 0.25, 0.5, 0.75, 1.0]
    """
    if steps < 0:
        raise ValueError(f"linspace: steps must be >= 0, got {steps}")
    return Tensor(np.linspace(start, end, steps, dtype=_float(dtype)))


def meshgrid(*tensors: Any, indexing: str = "ij") -> tuple[Tensor, ...]:
    """Coordinate grids from 1-D tensors; ``indexing="ij"`` (matrix, PyTorch's default) or
    ``"xy"``. Each grid is an expand of its input, so gradients flow back to it."""
    if indexing not in ("ij", "xy"):
        raise ValueError(f"meshgrid: indexing must be 'ij' or 'xy', got {indexing!r}")
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    ts = [t if isinstance(t, Tensor) else Tensor(t) for t in tensors]
    if any(t.ndim != 1 for t in ts):
        raise ValueError(f"meshgrid: inputs must be 1-D, got shapes {[t.shape for t in ts]}")
    sizes = [t.shape[0] for t in ts]
    if indexing == "xy" and len(ts) >= 2:
        sizes[0], sizes[1] = sizes[1], sizes[0]
    grids = []
    for i, t in enumerate(ts):
        axis = (1 - i if i < 2 else i) if indexing == "xy" and len(ts) >= 2 else i
        shape = [1] * len(ts)
        shape[axis] = t.shape[0]
        grids.append(t.reshape(shape).expand(tuple(sizes)))
    return tuple(grids)
