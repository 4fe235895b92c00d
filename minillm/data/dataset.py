"""Datasets: indexable collections of examples, and ways to carve one into parts.

A dataset is anything with ``len(ds)`` and ``ds[i]`` for ``0 <= i < len(ds)`` (PyTorch's map-style
protocol); ``DataLoader`` turns one into batches.

- ``Dataset``: the abstract base; a subclass writes ``__getitem__`` and ``__len__``.
- ``TensorDataset(x, y)``: example ``i`` is ``(x[i], y[i])``, cut along the first dimension.
- ``Subset(ds, indices)``: the examples of ``ds`` at ``indices``, re-numbered from 0.
- ``random_split(ds, [0.8, 0.2], seed=0)``: disjoint random subsets that together cover ``ds``.

A batch fast path: a dataset may define ``_get_batch(indices)`` returning exactly what the default
collate would make of ``[ds[i] for i in indices]``. ``TensorDataset`` does, with one fancy-index per
tensor instead of a Python loop over examples; ``batch_getter`` finds it, also through ``Subset``s.
``DataLoader`` uses it only when no ``collate_fn`` is given.

Read next: ``minillm/data/dataloader.py``.
"""

from __future__ import annotations

import itertools
import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from minillm.random import generator
from minillm.tensor import Tensor


class Dataset(ABC):
    """The map-style dataset interface: ``len(ds)`` examples, ``ds[i]`` for each index.

    >>> class Squares(Dataset):
    ...     def __len__(self): return 4
    ...     def __getitem__(self, i): return i * i
    >>> [Squares()[i] for i in range(4)]
    [0, 1, 4, 9]
    """

    @abstractmethod
    def __getitem__(self, index: int) -> Any:
        """The example at ``index``."""

    @abstractmethod
    def __len__(self) -> int:
        """The number of examples."""


class TensorDataset(Dataset):
    """Examples are slices along the first dimension: ``ds[i] == (t[i] for t in tensors)``.

    Args:
        *tensors: Tensors or arrays, all with the same first dimension.

    Raises:
        ValueError: No tensors, a 0-d tensor, or first dimensions that differ.

    >>> import minillm
    >>> ds = TensorDataset(minillm.zeros(5, 3), minillm.arange(5))
    >>> len(ds), ds[2][0].shape, ds[2][1].item()
    (5, (3,), 2)
    """

    def __init__(self, *tensors: Any) -> None:
        if not tensors:
            raise ValueError("TensorDataset: needs at least one tensor")
        self.tensors = tuple(t if isinstance(t, Tensor) else Tensor(t) for t in tensors)
        shapes = [t.shape for t in self.tensors]
        if any(len(s) == 0 for s in shapes):
            raise ValueError(f"TensorDataset: every tensor needs a first dimension, got {shapes}")
        if any(s[0] != shapes[0][0] for s in shapes):
            raise ValueError(
                f"TensorDataset: all tensors must have the same first dimension (one per "
                f"example), got shapes {shapes}"
            )

    def __len__(self) -> int:
        return self.tensors[0].shape[0]

    def __getitem__(self, index: int) -> tuple[Tensor, ...]:
        return tuple(Tensor(t.data[index]) for t in self.tensors)

    def _get_batch(self, indices: np.ndarray) -> tuple[Tensor, ...]:
        return tuple(Tensor(t.data[indices]) for t in self.tensors)


class Subset(Dataset):
    """The examples of ``dataset`` at ``indices``: ``Subset(ds, idx)[i] == ds[idx[i]]``.

    >>> Subset([10, 20, 30, 40], [3, 0])[0]
    40
    """

    def __init__(self, dataset: Any, indices: Sequence[int] | np.ndarray) -> None:
        self.dataset = dataset
        self.indices = np.asarray(indices, dtype=np.int64).reshape(-1)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> Any:
        return self.dataset[int(self.indices[index])]


def batch_getter(dataset: Any) -> Callable[[np.ndarray], Any] | None:
    """The dataset's batch fast path (indices -> collated batch), or None if it has none.

    >>> import minillm
    >>> get = batch_getter(Subset(TensorDataset(minillm.arange(5) * 10), [4, 3, 2]))
    >>> get(np.array([0, 2]))[0].tolist()
    [40, 20]
    """
    if isinstance(dataset, Subset):
        inner = batch_getter(dataset.dataset)
        return None if inner is None else lambda indices: inner(dataset.indices[indices])
    return getattr(dataset, "_get_batch", None)


def _split_lengths(n: int, lengths: Sequence[float]) -> list[int]:
    """Turn ``lengths_or_fractions`` into counts summing to ``n``.

    Fractions (any float present) are floored, then the remainder goes one each to the first splits,
    round-robin, as PyTorch does.
    """
    values = list(lengths)
    if not values:
        raise ValueError("random_split: lengths must not be empty")
    if any(isinstance(v, bool) or not isinstance(v, (int, float, np.integer)) for v in values):
        raise TypeError(f"random_split: lengths must be ints or fractions, got {values}")
    if any(isinstance(v, float) for v in values):
        if any(not 0.0 <= v <= 1.0 for v in values) or not math.isclose(sum(values), 1.0):
            raise ValueError(
                f"random_split: fractions must lie in [0, 1] and sum to 1, got {values}"
            )
        counts = [math.floor(n * v) for v in values]
        for i in range(n - sum(counts)):
            counts[i % len(counts)] += 1
        return counts
    counts = [int(v) for v in values]
    if any(c < 0 for c in counts):
        raise ValueError(f"random_split: lengths must be non-negative, got {counts}")
    if sum(counts) != n:
        raise ValueError(
            f"random_split: lengths {counts} sum to {sum(counts)}, but the dataset has {n} examples"
        )
    return counts


def random_split(
    dataset: Any, lengths_or_fractions: Sequence[float], seed: int | None = None
) -> list[Subset]:
    """Split ``dataset`` into disjoint random ``Subset``s of the given sizes.

    Args:
        dataset: Anything with ``len`` and ``[]``.
        lengths_or_fractions: Ints summing to ``len(dataset)``, or floats summing to 1 (each split
            gets ``floor(fraction * n)``; the leftover examples go one each to the first splits).
        seed: Seeds a private generator; None draws from ``minillm.random.generator()``.

    Returns:
        One ``Subset`` per entry, in order.

    >>> train, val = random_split(list(range(10)), [0.75, 0.25], seed=0)
    >>> len(train), len(val), sorted([*train.indices, *val.indices]) == list(range(10))
    (8, 2, True)
    """
    n = len(dataset)
    counts = _split_lengths(n, lengths_or_fractions)
    rng = generator() if seed is None else np.random.default_rng(seed)
    order = rng.permutation(n)
    bounds = itertools.pairwise(np.cumsum([0, *counts]))
    return [Subset(dataset, order[lo:hi]) for lo, hi in bounds]


__all__ = ["Dataset", "Subset", "TensorDataset", "random_split"]
