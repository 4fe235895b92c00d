"""Training across processes: a torch.distributed-shaped process group and data parallelism.

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

``minillm/training/distributed.py`` puts them to work in ``minillm train --nproc N``.

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
from minillm.parallel.sampler import DistributedSampler
from minillm.parallel.spawn import ProcessExitedException, ProcessRaisedException, spawn

__all__ = [
    "DistributedDataParallel",
    "DistributedError",
    "DistributedSampler",
    "PeerFailedError",
    "ProcessExitedException",
    "ProcessRaisedException",
    "ReduceOp",
    "all_gather",
    "all_reduce",
    "all_reduce_gradients",
    "barrier",
    "broadcast",
    "destroy_process_group",
    "get_backend",
    "get_global_rank",
    "get_process_group_ranks",
    "get_rank",
    "get_world_size",
    "init_process_group",
    "is_initialized",
    "new_group",
    "recv",
    "reduce_scatter",
    "send",
    "spawn",
]
