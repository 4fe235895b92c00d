"""DataLoader: a dataset, cut into (shuffled) batches, one epoch per ``for`` loop, resumable.

Each ``iter(loader)`` is one epoch. The epoch's order is ``arange(n)``, or with ``shuffle=True`` a
permutation drawn from ``np.random.default_rng(epoch_seed)``, where

- a loader built with ``seed=s`` uses ``epoch_seed = [s, epoch]``: epoch ``e`` always sees the same
  order, whatever happened before, and every epoch a different one;
- a loader without a seed draws ``epoch_seed`` (one 63-bit integer) from
  ``minillm.random.generator()`` when the epoch's iterator is created, so ``manual_seed`` fixes it.

A ``sampler`` (an iterable of indices with a length, such as
``minillm.parallel.DistributedSampler``) replaces that order with its own.

Batch ``k`` is the examples at ``order[k * B : (k + 1) * B]``, collated: ``default_collate`` stacks
Tensors, arrays and numbers into one Tensor with a new leading batch axis, and recurses into tuples,
lists and dicts. ``len(loader)`` is ``ceil(n / B)``, or ``floor(n / B)`` with ``drop_last=True``.

Resuming mid-epoch: ``state_dict()`` records the epoch, how many of its batches have been handed
out, and its ``epoch_seed`` (plain ints and lists, so it fits in a checkpoint's JSON). After
``load_state_dict(sd)`` the next ``iter(loader)`` continues that epoch exactly where it stopped,
with the same order and without drawing a new seed, and later epochs follow as they would have.
The state follows the most recently created iterator.

Read next: ``minillm/io/checkpoint.py`` (saving this state with the model and optimizer).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from minillm.data.dataset import batch_getter
from minillm.random import generator
from minillm.tensor import Tensor, as_array

_STATE_KEYS = ("epoch", "position", "epoch_seed", "in_epoch", "batch_size", "num_examples")


def default_collate(batch: Sequence[Any]) -> Any:
    """Stack a list of examples into one batch, keeping their structure.

    Tensors, arrays and NumPy scalars are stacked along a new first axis (dtype kept); Python
    numbers become a 1-D Tensor (bool, int64, or float32 as for ``minillm.tensor``); strings stay a
    list; tuples, named tuples, lists and dicts are collated field by field. The results are new
    leaf Tensors with no autograd history.

    Raises:
        ValueError: Examples whose shapes, lengths or keys differ.
        TypeError: An example type it cannot batch (pass ``collate_fn=`` instead).

    >>> import minillm
    >>> batch = default_collate([(minillm.zeros(2), 1), (minillm.ones(2), 0)])
    >>> batch[0].shape, batch[1].tolist()
    ((2, 2), [1, 0])
    """
    if len(batch) == 0:
        raise ValueError("default_collate: cannot collate an empty batch")
    first = batch[0]
    if isinstance(first, (Tensor, np.ndarray, np.generic)):
        arrays = [as_array(x) for x in batch]
        for i, arr in enumerate(arrays):
            if arr.shape != arrays[0].shape:
                raise ValueError(
                    f"default_collate: example {i} has shape {arr.shape} but example 0 has "
                    f"{arrays[0].shape}; pad them to one shape or pass a collate_fn"
                )
        return Tensor(np.stack(arrays))
    if isinstance(first, (bool, int, float)):
        return Tensor(list(batch))
    if isinstance(first, str):
        return list(batch)
    if isinstance(first, Mapping):
        for i, example in enumerate(batch):
            if not isinstance(example, Mapping) or set(example) != set(first):
                raise ValueError(
                    f"default_collate: example {i} has keys {sorted(map(str, example))}, "
                    f"example 0 has {sorted(map(str, first))}"
                )
        return {key: default_collate([example[key] for example in batch]) for key in first}
    if isinstance(first, (tuple, list)):
        for i, example in enumerate(batch):
            if len(example) != len(first):
                raise ValueError(
                    f"default_collate: example {i} has {len(example)} fields, example 0 has "
                    f"{len(first)}"
                )
        fields = [default_collate(list(column)) for column in zip(*batch)]
        if hasattr(first, "_fields"):  # a named tuple
            return type(first)(*fields)
        return tuple(fields) if isinstance(first, tuple) else fields
    raise TypeError(
        f"default_collate: cannot batch examples of type {type(first).__name__}; "
        f"pass collate_fn= to DataLoader"
    )


class _EpochIterator:
    """One pass over the loader's batches, from ``position`` on, in a fixed order."""

    def __init__(self, loader: DataLoader, order: np.ndarray, position: int) -> None:
        self._loader = loader
        self._order = order
        self._position = position
        self._num_batches = len(loader)
        self._done = False

    def __iter__(self) -> _EpochIterator:
        return self

    def __next__(self) -> Any:
        if self._done or self._position >= self._num_batches:
            if not self._done:
                self._done = True
                self._loader._finish_epoch(self)
            raise StopIteration
        size = self._loader.batch_size
        indices = self._order[self._position * size : (self._position + 1) * size]
        batch = self._loader._fetch(indices)  # before counting it: a failed fetch is not consumed
        self._position += 1
        self._loader._record(self, self._position)
        return batch


class DataLoader:
    """Batches of a dataset, optionally shuffled each epoch, with a resumable position.

    Args:
        dataset: Anything with ``len`` and ``[]`` (a ``Dataset``, a list, ...).
        batch_size: Examples per batch (the last may be smaller unless ``drop_last``).
        shuffle: Draw a new order every epoch (see the module docstring for how).
        drop_last: Skip a final batch smaller than ``batch_size``.
        collate_fn: ``list of examples -> batch``; ``default_collate`` when None.
        seed: Seeds the shuffle order; None draws it from ``minillm.random.generator()``.
        sampler: The indices of each epoch, in order (with ``shuffle=False``); call its
            ``set_epoch(e)`` before each epoch when it shuffles (``DistributedSampler``).

    Raises:
        ValueError: ``batch_size`` is not a positive int, or ``seed`` a non-negative int.

    >>> import minillm
    >>> from minillm.data import TensorDataset
    >>> loader = DataLoader(TensorDataset(minillm.arange(5)), batch_size=2)
    >>> len(loader), [x.tolist() for (x,) in loader]
    (3, [[0, 1], [2, 3], [4]])
    """

    def __init__(
        self,
        dataset: Any,
        batch_size: int = 1,
        shuffle: bool = False,
        drop_last: bool = False,
        collate_fn: Callable[[list[Any]], Any] | None = None,
        seed: int | None = None,
        sampler: Any = None,
    ) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)):
            raise ValueError(f"DataLoader: batch_size must be an int, got {batch_size!r}")
        if batch_size < 1:
            raise ValueError(f"DataLoader: batch_size must be at least 1, got {batch_size}")
        if seed is not None and (
            isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0
        ):
            raise ValueError(f"DataLoader: seed must be None or a non-negative int, got {seed!r}")
        if sampler is not None and shuffle:
            raise ValueError("DataLoader: sampler and shuffle=True exclude each other (the sampler "
                             "decides the order; DistributedSampler shuffles itself)")  # fmt: skip
        self.dataset = dataset
        self.sampler = sampler
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.collate_fn = collate_fn
        self.seed = None if seed is None else int(seed)
        self._epoch = 0  # index of the epoch in progress, or of the next one
        self._position = 0  # batches of that epoch handed out so far
        self._epoch_seed: int | list[int] | None = None
        self._in_epoch = False  # an iterator has started epoch `_epoch` and not finished it
        self._resume = False  # the next iter() continues the loaded epoch instead of a new one
        self._iterator: _EpochIterator | None = None

    def __len__(self) -> int:
        n = len(self.dataset) if self.sampler is None else len(self.sampler)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    @property
    def epoch(self) -> int:
        """The index of the epoch in progress, or of the next one to start."""
        return self._epoch

    def __iter__(self) -> Iterator[Any]:
        if self._resume:
            self._resume = False
        else:
            if self._in_epoch:  # the previous epoch was abandoned part-way: it still counts
                self._epoch += 1
            self._position, self._in_epoch = 0, True
            self._epoch_seed = self._new_epoch_seed() if self.shuffle else None
        self._iterator = _EpochIterator(self, self._order(), self._position)
        return self._iterator

    def _new_epoch_seed(self) -> int | list[int]:
        if self.seed is not None:
            return [self.seed, self._epoch]
        return int(generator().integers(2**63))

    def _order(self) -> np.ndarray:
        if self.sampler is not None:  # its indices, as it orders them this epoch
            return np.fromiter(iter(self.sampler), dtype=np.int64)
        n = len(self.dataset)
        if self._epoch_seed is None:
            return np.arange(n)
        return np.random.default_rng(self._epoch_seed).permutation(n)

    def _fetch(self, indices: np.ndarray) -> Any:
        if self.collate_fn is None:
            fast = batch_getter(self.dataset)
            if fast is not None:
                return fast(indices)
        examples = [self.dataset[int(i)] for i in indices]
        return (self.collate_fn or default_collate)(examples)

    def _record(self, iterator: _EpochIterator, position: int) -> None:
        if iterator is self._iterator:  # an older, superseded iterator no longer moves the state
            self._position = position

    def _finish_epoch(self, iterator: _EpochIterator) -> None:
        if iterator is self._iterator:
            self._epoch, self._position, self._epoch_seed = self._epoch + 1, 0, None
            self._in_epoch, self._iterator = False, None

    def state_dict(self) -> dict[str, Any]:
        """Where the loader is: epoch, batches handed out in it, and its shuffle seed.

        >>> loader = DataLoader(list(range(6)), batch_size=2, shuffle=True, seed=0)
        >>> it = iter(loader); first = next(it)
        >>> resumed = DataLoader(list(range(6)), batch_size=2, shuffle=True, seed=0)
        >>> resumed.load_state_dict(loader.state_dict())
        >>> [b.tolist() for b in resumed] == [b.tolist() for b in it]
        True
        """
        seed = list(self._epoch_seed) if isinstance(self._epoch_seed, list) else self._epoch_seed
        return {
            "epoch": self._epoch,
            "position": self._position,
            "epoch_seed": seed,
            "in_epoch": self._in_epoch,
            "batch_size": self.batch_size,
            "num_examples": len(self.dataset),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore ``state_dict()``: the next ``iter(self)`` resumes that epoch where it stopped.

        Raises:
            ValueError: Missing keys, or a batch size or dataset length that differ from the
                saved ones (the saved position would then point at different examples).
        """
        missing = [key for key in _STATE_KEYS if key not in state]
        if missing:
            raise ValueError(f"DataLoader.load_state_dict: missing keys {missing}")
        for key, mine in (("batch_size", self.batch_size), ("num_examples", len(self.dataset))):
            if state[key] != mine:
                raise ValueError(
                    f"DataLoader.load_state_dict: the state was saved with {key}={state[key]}, "
                    f"but this loader has {key}={mine}"
                )
        seed = state["epoch_seed"]
        self._epoch, self._position = int(state["epoch"]), int(state["position"])
        self._epoch_seed = list(seed) if isinstance(seed, (list, tuple)) else seed
        self._in_epoch = bool(state["in_epoch"])
        self._resume, self._iterator = self._in_epoch, None

    def __repr__(self) -> str:
        return (
            f"DataLoader(batch_size={self.batch_size}, shuffle={self.shuffle}, "
            f"drop_last={self.drop_last}, seed={self.seed}, epoch={self._epoch}, "
            f"batches={len(self)})"
        )


__all__ = ["DataLoader", "default_collate"]
