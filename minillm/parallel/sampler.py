"""``DistributedSampler``: each rank's share of a dataset's indices, disjoint, equal in length.

Every rank builds the same permutation (seeded with ``seed + epoch``, so ``set_epoch`` changes it
each epoch and all ranks agree without talking), pads it by repeating its first indices until its
length divides by the number of ranks (PyTorch's rule: every rank must take the same number of
steps, or the collectives of the last one wait forever), and takes every ``num_replicas``-th index
from position ``rank``. ``drop_last=True`` drops the tail instead of padding.

Read next: ``minillm/data/dataloader.py`` (``DataLoader(dataset, sampler=...)``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from minillm.parallel import group as dist


class DistributedSampler:
    """Indices ``rank, rank + N, rank + 2N, ...`` of a shuffled (or not) and padded index list.

    Args:
        dataset: anything with ``len``.
        num_replicas, rank: the group's, when None (after ``init_process_group``).
        shuffle: a new permutation every epoch (call ``set_epoch`` before each).
        seed: the same on every rank.
        drop_last: drop the indices that do not divide evenly, instead of repeating some.

    >>> s = DistributedSampler(range(5), num_replicas=2, rank=1, shuffle=False)
    >>> list(s), len(s)
    ([1, 3, 0], 3)
    """

    def __init__(
        self,
        dataset: Any,
        num_replicas: int | None = None,
        rank: int | None = None,
        shuffle: bool = True,
        seed: int = 0,
        drop_last: bool = False,
    ) -> None:
        self.num_replicas = dist.get_world_size() if num_replicas is None else int(num_replicas)
        self.rank = dist.get_rank() if rank is None else int(rank)
        if self.num_replicas < 1 or not 0 <= self.rank < self.num_replicas:
            raise ValueError(f"DistributedSampler: rank {self.rank} is not in "
                             f"0..{self.num_replicas - 1}")  # fmt: skip
        self.dataset, self.shuffle, self.seed, self.drop_last = dataset, shuffle, seed, drop_last
        self.epoch = 0
        n = len(dataset)
        if drop_last:
            self.num_samples = n // self.num_replicas
        else:
            self.num_samples = -(-n // self.num_replicas)
        self.total_size = self.num_samples * self.num_replicas

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch whose permutation ``__iter__`` gives (the same on every rank)."""
        self.epoch = int(epoch)

    def __iter__(self) -> Iterator[int]:
        n = len(self.dataset)
        if self.shuffle:
            order = np.random.default_rng(self.seed + self.epoch).permutation(n)
        else:
            order = np.arange(n)
        if self.total_size > n:  # pad by repeating from the start (as often as needed)
            order = np.resize(order, self.total_size)
        order = order[: self.total_size]
        return iter(order[self.rank : self.total_size : self.num_replicas].tolist())

    def __len__(self) -> int:
        return self.num_samples
