"""Data parallelism: every rank holds the whole model and trains on its own slice of each batch.

The equivalence this rests on: with a loss that is a mean over examples, the gradient of the mean
over N·B examples is the mean of N gradients, each over B of them. So N ranks that start from the
same weights, each compute the gradient of their B examples, and then *average the gradients*
take exactly the step one process would take on the whole N·B batch, and stay identical.

``DistributedDataParallel(model)``:

* at construction, broadcasts rank 0's parameters and buffers, so every rank starts the same;
* its forward is the model's; a forward with grad enabled queues a callback
  (``minillm.autograd.queue_callback``) that runs when the next ``backward()`` has accumulated
  every ``.grad``: the gradients are copied into flat buckets (``bucket_cap_mb`` each, in reverse
  parameter order: the order backward produces them), each bucket is averaged with one
  all-reduce, and the results are copied back. By the time ``loss.backward()`` returns, every
  rank holds the same averaged gradients;
* ``no_sync()`` around forward and backward skips that, so gradients of several micro-batches
  add up locally; the first synced backward after it averages the sum (gradient accumulation
  costs one all-reduce per optimizer step, not per micro-batch).

A parameter no rank computed a gradient for keeps ``.grad`` None (the last bucket carries a "who
has one" flag per parameter); one that some ranks did not reach counts as zero there. PyTorch
overlaps each bucket's all-reduce with the rest of backward on a communication thread; here the
collectives are synchronous, so they run after it.

Read next: ``minillm/parallel/sampler.py`` (each rank's share of a dataset) and
``minillm/training/distributed.py`` (``minillm train --nproc``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import numpy as np

from minillm import nn
from minillm.autograd import is_grad_enabled, queue_callback
from minillm.parallel import group as dist


class DistributedDataParallel(nn.Module):
    """Wrap ``module`` so its gradients are averaged across the ranks of the process group.

    Args:
        module: the model, identical in structure on every rank (``.module`` afterwards).
        bucket_cap_mb: the size of one all-reduce, in MiB (PyTorch's default: 25).
        broadcast_buffers: also copy rank 0's buffers at construction.
    """

    def __init__(
        self,
        module: nn.Module,
        bucket_cap_mb: float = 25.0,
        broadcast_buffers: bool = True,
        process_group: Any = None,
    ) -> None:
        super().__init__()
        if not bucket_cap_mb > 0:
            raise ValueError(f"bucket_cap_mb must be > 0, got {bucket_cap_mb}")
        self.module = module
        self.group = process_group  # None: the whole world
        self.world_size = dist.get_world_size(process_group)
        self.require_sync = True
        self._queued = False
        params = [p for p in module.parameters() if p.requires_grad]
        first = dist.get_process_group_ranks(process_group)[0]
        for p in module.parameters():
            dist.broadcast(p, src=first, group=process_group)
        if broadcast_buffers:
            for _, b in module.named_buffers():
                dist.broadcast(b, src=first, group=process_group)
        self.buckets = _buckets(params[::-1], int(bucket_cap_mb * (1 << 20)))

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        if self.require_sync and self.world_size > 1 and is_grad_enabled() and not self._queued:
            self._queued = True
            queue_callback(self._average_gradients)
        return self.module(*args, **kwargs)

    @contextlib.contextmanager
    def no_sync(self) -> Iterator[None]:
        """Forward and backward inside keep their gradients on this rank (accumulation)."""
        before, self.require_sync = self.require_sync, False
        try:
            yield
        finally:
            self.require_sync = before

    def _average_gradients(self) -> None:
        self._queued = False
        _average(self.buckets, self.group)


def all_reduce_gradients(params: Any, group: Any = None, bucket_cap_mb: float = 25.0) -> None:
    """Average the ``.grad`` of ``params`` over ``group``'s ranks, as DDP does after backward: for
    code that runs its own backward passes (a pipeline stage, a tensor-parallel model trained
    data parallel too).

    >>> from minillm.parallel import init_process_group, destroy_process_group
    >>> init_process_group("shm", rank=0, world_size=1)
    >>> w = nn.Parameter(np.ones(3)); w.grad = w.detach() * 2
    >>> all_reduce_gradients([w]); w.grad  # one rank: the average is its own
    tensor([2., 2., 2.], dtype=float64)
    >>> destroy_process_group()
    """
    params = [p for p in params if p.requires_grad]
    if params and dist.get_world_size(group) > 1:
        _average(_buckets(params[::-1], int(bucket_cap_mb * (1 << 20))), group)


def clip_grad_norm_(counted: Any, others: Any, max_norm: float, group: Any = None) -> float:
    """``nn.utils.clip_grad_norm_`` for a model whose parts live on the ranks of ``group``:
    the norm of the whole gradient is the root of the sum, over the ranks, of the squares of the
    gradients each ``counted`` (its own part, and a replicated parameter on one rank only); then
    ``counted`` and ``others`` (the replicated copies not counted here) are scaled alike.
    Returns the norm before clipping, the same on every rank."""
    counted = [p for p in counted if p.grad is not None]
    square = np.array([sum(float(np.sum(p.grad.data.astype(np.float64) ** 2)) for p in counted)])
    if dist.rank_and_size(group)[1] > 1:
        dist.all_reduce(square, group=group)
    norm = float(np.sqrt(square[0]))
    nn.utils.clip_grads_with_norm_([*counted, *others], max_norm, norm)
    return norm


def _average(buckets: list[list], group: Any) -> None:
    """One all-reduce per bucket. The last bucket also carries a 0/1 flag per parameter,
    "this rank has a gradient": averaged, a flag above 0 means some rank had one."""
    params = [p for bucket in buckets for p in bucket]
    flats = []
    for i, bucket in enumerate(buckets):
        flags = len(params) if i == len(buckets) - 1 else 0
        flat = np.zeros(sum(p.data.size for p in bucket) + flags, dtype=bucket[0].data.dtype)
        offset = 0
        for p in bucket:  # (a missing gradient counts as zero on this rank)
            n = p.data.size
            if p.grad is not None:
                flat[offset : offset + n] = p.grad.data.reshape(-1)
            offset += n
        if flags:
            flat[offset:] = [p.grad is not None for p in params]
        dist.all_reduce(flat, dist.ReduceOp.AVG, group=group)
        flats.append(flat)
    someone_has = flats[-1][-len(params) :] > 0
    k = 0
    for bucket, flat in zip(buckets, flats):
        offset = 0
        for p in bucket:
            n = p.data.size
            if someone_has[k]:
                _set_grad(p, flat[offset : offset + n].reshape(p.data.shape))
            offset += n
            k += 1


def _set_grad(p: Any, value: np.ndarray) -> None:
    if p.grad is None:
        from minillm.tensor import Tensor

        p.grad = Tensor(value.copy())
    else:
        p.grad.data[...] = value


def _buckets(params: list, cap_bytes: int) -> list[list]:
    """Consecutive parameters grouped until a group's bytes reach ``cap_bytes``; one dtype each."""
    buckets: list[list] = []
    size = 0
    for p in params:
        fits = buckets and size < cap_bytes and buckets[-1][0].data.dtype == p.data.dtype
        if not fits:
            buckets.append([])
            size = 0
        buckets[-1].append(p)
        size += p.data.nbytes
    return buckets
