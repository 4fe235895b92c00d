"""Training across processes: a torch.distributed-shaped process group; data, tensor and pipeline
parallelism.

Read in this order:

- ``group.py``: ``init_process_group``, ``get_rank``/``get_world_size``, the collectives
  (``all_reduce``, ``broadcast``, ``all_gather``, ``reduce_scatter``, ``barrier``), ``ReduceOp``,
  point to point (``send``, ``recv``) and groups of some of the ranks (``new_group``).
- ``shm.py``: the ``shm`` backend, processes of one machine over shared memory: a lock-free
  barrier with timeouts, the ring all-reduce and one mailbox per pair of ranks.
- ``spawn.py``: ``spawn(fn, nprocs)``, starting and watching the workers (a failure in one stops
  all, reported with its rank and traceback; the shared memory is always unlinked).
- ``mpi.py``: the ``mpi`` backend (mpi4py), for ``mpiexec`` across machines.
- ``ddp.py``: ``DistributedDataParallel``, gradients averaged in buckets when backward ends.
- ``sampler.py``: ``DistributedSampler``, each rank's share of a dataset.
- ``tensor.py``: tensor parallelism (Megatron-LM): ``ColumnParallelLinear``,
  ``RowParallelLinear`` and the collectives as autograd Functions; ``tensor_gpt.py``:
  ``parallelize_gpt``, a GPT's heads and MLP split across ranks, and its unsplit checkpoint.
- ``pipeline.py``: pipeline parallelism: ``Pipe``, a GPT's blocks cut into stages that pass
  micro-batches with ``send``/``recv``, on the GPipe or 1F1B schedule; ``timeline.py``: what each
  stage did when, the bubble, and pictures of it.

``minillm/training/distributed.py`` and ``minillm/training/model_parallel.py`` put them to work in
``minillm train --nproc N [--parallel tensor|pipeline]``.

>>> spawn(pow, nprocs=2, args=(2,))
[0, 1]
"""

from __future__ import annotations

from minillm.parallel.ddp import DistributedDataParallel, all_reduce_gradients
from minillm.parallel.group import (
    DistributedError,
    PeerFailedError,
    ReduceOp,
    all_gather,
    all_reduce,
    barrier,
    broadcast,
    destroy_process_group,
    get_backend,
    get_global_rank,
    get_process_group_ranks,
    get_rank,
    get_world_size,
    init_process_group,
    is_initialized,
    new_group,
    recv,
    reduce_scatter,
    send,
)
from minillm.parallel.pipeline import Pipe, schedule_order
from minillm.parallel.sampler import DistributedSampler
from minillm.parallel.spawn import ProcessExitedException, ProcessRaisedException, spawn
from minillm.parallel.tensor import (
    ColumnParallelLinear,
    RowParallelLinear,
    copy_to_parallel,
    gather_from_parallel,
    reduce_from_parallel,
    scatter_to_parallel,
)
from minillm.parallel.tensor_gpt import (
    full_state_dict,
    load_full_state_dict,
    parallelize_gpt,
    shard_array,
    unshard_array,
)
from minillm.parallel.timeline import (
    Event,
    bubble_fraction,
    chrome_trace,
    format_timeline,
    gather_timeline,
    plot_timeline,
    simulate,
    theoretical_bubble,
)

__all__ = [
    "ColumnParallelLinear",
    "DistributedDataParallel",
    "DistributedError",
    "DistributedSampler",
    "Event",
    "PeerFailedError",
    "Pipe",
    "ProcessExitedException",
    "ProcessRaisedException",
    "ReduceOp",
    "RowParallelLinear",
    "all_gather",
    "all_reduce",
    "all_reduce_gradients",
    "barrier",
    "broadcast",
    "bubble_fraction",
    "chrome_trace",
    "copy_to_parallel",
    "destroy_process_group",
    "format_timeline",
    "full_state_dict",
    "gather_from_parallel",
    "gather_timeline",
    "get_backend",
    "get_global_rank",
    "get_process_group_ranks",
    "get_rank",
    "get_world_size",
    "init_process_group",
    "is_initialized",
    "load_full_state_dict",
    "new_group",
    "parallelize_gpt",
    "plot_timeline",
    "recv",
    "reduce_from_parallel",
    "reduce_scatter",
    "scatter_to_parallel",
    "schedule_order",
    "send",
    "shard_array",
    "simulate",
    "spawn",
    "theoretical_bubble",
    "unshard_array",
]
