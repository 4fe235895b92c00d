"""The process group: which process this is, how many there are, and the collectives between them.

The API is ``torch.distributed``'s. After ``init_process_group(backend)`` every process knows its
``rank`` (0 .. world_size - 1) and the ``world_size``; a collective is called by every rank with
buffers of the same shape and dtype, and when it returns, each rank's buffer holds the result:

    all_reduce(t, op)        every rank: op(t_0, t_1, ..., t_{N-1})           (SUM, AVG, MAX, MIN)
    broadcast(t, src)        every rank: t_src
    all_gather(list, t)      every rank: list[i] = t_i
    reduce_scatter(out, ins) rank r: out = op(ins_r on rank 0, ..., ins_r on rank N-1)
    barrier()                returns once every rank has called it
    send(t, dst) / recv(t, src)   point to point: one rank's t lands in another's

They work in place on minillm Tensors and NumPy arrays of any dtype (AVG needs floats), keeping the
dtype. ``new_group(ranks)`` makes a group of some of the ranks (every rank calls it, in the same
order, as in torch); a collective given ``group=`` runs among its members only, so the ranks of a
2 x 2 layout can all-reduce along one axis while the others do so along the other (tensor
parallel inside a pair, data parallel across pairs). Ranks are always global ranks (``src``,
``dst``), as in torch.

Two backends move the bytes: ``shm`` (``shm.py``: processes on one machine, started by ``spawn``,
over shared memory, with a readable ring all-reduce) and ``mpi`` (``mpi.py``: mpi4py,
for processes on many machines started by ``mpiexec``). With no backend running, a group of one
(world_size 1) makes every collective a no-op, so single-process code needs no special case.

Read next: ``minillm/parallel/shm.py`` (the ring), then ``minillm/parallel/ddp.py``.
"""

from __future__ import annotations

import datetime
import enum
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

DEFAULT_TIMEOUT = 300.0  # seconds a collective waits for a peer before saying it is gone


class ReduceOp(enum.Enum):
    """How ``all_reduce`` and ``reduce_scatter`` combine the ranks' values."""

    SUM = "sum"
    AVG = "avg"
    MAX = "max"
    MIN = "min"


class DistributedError(RuntimeError):
    """A collective could not complete: a peer died, timed out, or called with another shape."""


class PeerFailedError(DistributedError):
    """A collective gave up because another rank failed (that rank reports why)."""


class _Single:
    """The group of one process: every collective leaves its buffer as it is."""

    name = "single"
    rank, world_size, members = 0, 1, (0,)

    def subgroup(self, members: Sequence[int], gid: int) -> _Single:
        return self

    def all_reduce(self, array: np.ndarray, op: ReduceOp) -> None:
        return None

    def broadcast(self, array: np.ndarray, src: int) -> None:
        return None

    def all_gather(self, outputs: list[np.ndarray], array: np.ndarray) -> None:
        outputs[0][...] = array

    def reduce_scatter(self, output: np.ndarray, inputs: list[np.ndarray], op: ReduceOp) -> None:
        output[...] = inputs[0]

    def barrier(self) -> None:
        return None

    def abort(self) -> None:
        return None

    def close(self) -> None:
        return None


class _NotAMember:
    """What ``new_group`` returns to a rank outside the group: a handle it may not use."""

    def __init__(self, members: tuple[int, ...]) -> None:
        self.members, self.rank, self.world_size = members, -1, len(members)

    def close(self) -> None:
        return None


_group: Any = None  # the backend object of this process, once init_process_group ran
_subgroups: list[Any] = []  # the groups new_group made, closed with the world


def _seconds(timeout: Any) -> float:
    if timeout is None:
        return float(os.environ.get("MINILLM_PARALLEL_TIMEOUT", DEFAULT_TIMEOUT))
    if isinstance(timeout, datetime.timedelta):
        return timeout.total_seconds()
    return float(timeout)


def init_process_group(
    backend: str = "shm",
    rank: int | None = None,
    world_size: int | None = None,
    timeout: float | datetime.timedelta | None = None,
) -> None:
    """Join this process to the group. ``rank``/``world_size`` None: read from the environment
    that ``spawn`` (``RANK``, ``WORLD_SIZE``) or ``mpiexec`` sets; given, they must agree with it.

    ``timeout``: how long a collective waits for a peer (seconds or a timedelta; default 300 s,
    or ``MINILLM_PARALLEL_TIMEOUT``), after which it raises DistributedError instead of hanging.

    >>> init_process_group("shm", rank=0, world_size=1)
    >>> get_rank(), get_world_size()
    (0, 1)
    >>> destroy_process_group()
    """
    global _group
    if _group is not None:
        raise RuntimeError("init_process_group: this process is already in a group; call "
                           "destroy_process_group() first")  # fmt: skip
    seconds = _seconds(timeout)
    if not seconds > 0:
        raise ValueError(f"init_process_group: timeout must be > 0 seconds, got {timeout!r}")
    if backend == "mpi":
        from minillm.parallel.mpi import MPIGroup

        group = MPIGroup(seconds)
    elif backend == "shm":
        env_rank, env_world = os.environ.get("RANK"), os.environ.get("WORLD_SIZE")
        rank = int(env_rank) if rank is None and env_rank is not None else rank
        world_size = int(env_world) if world_size is None and env_world is not None else world_size
        rank, world_size = (0 if rank is None else rank), (1 if world_size is None else world_size)
        if not 0 <= rank < world_size:
            raise ValueError(f"init_process_group: rank {rank} is not in 0..{world_size - 1}")
        if world_size == 1:
            group = _Single()
        else:
            from minillm.parallel.shm import ShmGroup

            name = os.environ.get("MINILLM_SHM_NAME")
            if name is None:
                raise RuntimeError(
                    "init_process_group('shm'): no shared-memory segment to join (MINILLM_SHM_NAME "
                    "is not set); start the processes with minillm.parallel.spawn"
                )
            group = ShmGroup(name, rank, world_size, seconds)
    else:
        raise ValueError(f"init_process_group: backend must be 'shm' or 'mpi', got {backend!r}")
    if (rank is not None and rank != group.rank) or (
        world_size is not None and world_size != group.world_size
    ):
        group.close()
        raise ValueError(f"init_process_group: rank {rank} of {world_size} was asked for, but "
                         f"{backend} says rank {group.rank} of {group.world_size}")  # fmt: skip
    _group = group


def is_initialized() -> bool:
    return _group is not None


def _current() -> Any:
    if _group is None:
        raise RuntimeError("the default process group is not initialized; call "
                           "minillm.parallel.init_process_group first")  # fmt: skip
    return _group


def get_rank(group: Any = None) -> int:
    """This process's rank in ``group`` (the world if None); -1 if it is not a member."""
    return (_current() if group is None else group).rank


def get_world_size(group: Any = None) -> int:
    """How many ranks ``group`` has (the world if None)."""
    return (_current() if group is None else group).world_size


def rank_and_size(group: Any = None) -> tuple[int, int]:
    """(``get_rank(group)``, ``get_world_size(group)``), or (0, 1) for ``group`` None when no
    process group runs: code written for several processes runs unchanged in one.

    >>> rank_and_size()
    (0, 1)
    """
    if group is None and _group is None:
        return 0, 1
    return get_rank(group), get_world_size(group)


def get_process_group_ranks(group: Any = None) -> list[int]:
    """The global ranks of ``group``'s members, in group-rank order."""
    return list((_current() if group is None else group).members)


def get_global_rank(group: Any, group_rank: int) -> int:
    """The global rank of ``group``'s member number ``group_rank``."""
    return group.members[group_rank]


def _backend(group: Any, what: str) -> Any:
    """The backend object that runs a collective among ``group``'s members."""
    world = _current()
    if group is None:
        return world
    if isinstance(group, _NotAMember):
        raise RuntimeError(f"{what}: rank {get_rank()} is not a member of the group of ranks "
                           f"{list(group.members)}")  # fmt: skip
    return group


def get_backend() -> str:
    return _current().name


def destroy_process_group() -> None:
    """Leave the group (detach from its shared memory, or finalize nothing: MPI lives on)."""
    global _group
    for sub in _subgroups:
        sub.close()
    _subgroups.clear()
    if _group is not None:
        _group.close()
    _group = None


def new_group(ranks: Sequence[int] | None = None) -> Any:
    """A group of some of the ranks (sorted; None: all). Every rank must call it, members or
    not, in the same order, so that all agree which group is which. A rank outside the group gets
    a handle it cannot use in a collective.

    >>> init_process_group("shm", rank=0, world_size=1)
    >>> get_world_size(new_group([0]))
    1
    >>> destroy_process_group()
    """
    world = _current()
    members = tuple(range(world.world_size)) if ranks is None else tuple(sorted(ranks))
    if len(set(members)) != len(members) or not members:
        raise ValueError(f"new_group: ranks must be distinct and not empty, got {ranks!r}")
    for r in members:
        if isinstance(r, bool) or not isinstance(r, int) or not 0 <= r < world.world_size:
            raise ValueError(f"new_group: rank {r!r} is not in 0..{world.world_size - 1}")
    handle = world.subgroup(members, len(_subgroups) + 1)  # (a collective call under MPI)
    handle = _NotAMember(members) if handle is None else handle
    _subgroups.append(handle)
    return handle


# ------------------------------------------------------------------------------ buffers
def _array_of(buffer: Any, what: str) -> np.ndarray:
    """The ndarray behind a Tensor or an array."""
    data = buffer if isinstance(buffer, np.ndarray) else getattr(buffer, "data", None)
    if not isinstance(data, np.ndarray):
        raise TypeError(f"{what}: expected a minillm Tensor or a NumPy array, got "
                        f"{type(buffer).__name__}")  # fmt: skip
    return data


def _array(buffer: Any, what: str) -> np.ndarray:
    """The ndarray behind a Tensor or an array, which a collective changes in place."""
    data = _array_of(buffer, what)
    if not data.flags.writeable:
        raise ValueError(f"{what}: the array is read-only")
    return data


def _changed(buffer: Any) -> None:
    """A Tensor changed in place bumps its version, so autograd notices a stale saved value."""
    bump = getattr(buffer, "_bump_version", None)
    if bump is not None:
        bump()


def _in_place(buffer: Any, what: str, fn: Any) -> None:
    """Run ``fn`` on a C-contiguous view of the buffer (or a copy, written back afterwards)."""
    data = _array(buffer, what)
    work = data if data.flags.c_contiguous else data.copy(order="C")
    fn(work)
    if work is not data:
        data[...] = work
    _changed(buffer)


def _op(op: Any, data: np.ndarray, what: str) -> ReduceOp:
    if not isinstance(op, ReduceOp):
        raise TypeError(f"{what}: op must be a ReduceOp, got {op!r}")
    if op is ReduceOp.AVG and not np.issubdtype(data.dtype, np.floating):
        raise TypeError(f"{what}: ReduceOp.AVG needs a floating dtype, got {data.dtype}")
    return op


def all_reduce(tensor: Any, op: ReduceOp = ReduceOp.SUM, group: Any = None) -> None:
    """Combine ``tensor`` across ranks with ``op``; every rank's tensor gets the result."""
    group = _backend(group, "all_reduce")
    _op(op, _array(tensor, "all_reduce"), "all_reduce")
    _in_place(tensor, "all_reduce", lambda a: group.all_reduce(a, op))


def broadcast(tensor: Any, src: int = 0, group: Any = None) -> None:
    """Copy rank ``src``'s tensor (a global rank) into every rank's of the group."""
    group = _backend(group, "broadcast")
    if src not in group.members:
        raise ValueError(f"broadcast: src {src} is not a rank of the group {list(group.members)}")
    _in_place(tensor, "broadcast", lambda a: group.broadcast(a, group.members.index(src)))


def _same_layout(items: Sequence[Any], like: np.ndarray, what: str, world: int) -> list[np.ndarray]:
    arrays = [_array(t, what) for t in items]
    if len(arrays) != world:
        raise ValueError(f"{what}: needs a list of world_size = {world} buffers, got {len(arrays)}")
    for i, a in enumerate(arrays):
        if a.shape != like.shape or a.dtype != like.dtype:
            raise ValueError(f"{what}: buffer {i} is {a.dtype} {a.shape}, but the tensor is "
                             f"{like.dtype} {like.shape}")  # fmt: skip
    return arrays


def all_gather(tensor_list: list[Any], tensor: Any, group: Any = None) -> None:
    """``tensor_list[i]`` on every rank becomes group rank i's ``tensor``."""
    group = _backend(group, "all_gather")
    data = _array(tensor, "all_gather").copy(order="C")
    outs = _same_layout(tensor_list, data, "all_gather", group.world_size)
    work = [o if o.flags.c_contiguous else np.empty_like(o) for o in outs]
    group.all_gather(work, data)
    for t, o, w in zip(tensor_list, outs, work):
        if w is not o:
            o[...] = w
        _changed(t)


def reduce_scatter(
    output: Any, input_list: list[Any], op: ReduceOp = ReduceOp.SUM, group: Any = None
) -> None:
    """Group rank r's ``output`` becomes ``op`` over the ranks of their ``input_list[r]``."""
    group = _backend(group, "reduce_scatter")
    out = _array(output, "reduce_scatter")
    _op(op, out, "reduce_scatter")
    ins = _same_layout(input_list, out, "reduce_scatter", group.world_size)
    _in_place(output, "reduce_scatter", lambda a: group.reduce_scatter(a, ins, op))


def barrier(group: Any = None) -> None:
    """Wait until every rank of the group has reached this call."""
    _backend(group, "barrier").barrier()


def _peer(peer: int, what: str, group: Any) -> Any:
    world = _current()
    members = world.members if group is None else _backend(group, what).members
    if isinstance(peer, bool) or not isinstance(peer, int) or peer not in members:
        raise ValueError(f"{what}: rank {peer!r} is not a rank of {list(members)}")
    if peer == world.rank:
        raise ValueError(f"{what}: rank {peer} is this process; a rank cannot message itself")
    return world


def send(tensor: Any, dst: int, group: Any = None) -> None:
    """Send ``tensor`` to rank ``dst``, which receives it with ``recv(buffer, src=this rank)``.

    Returns once the message is on its way (the backend holds it): one message per ordered pair
    can be in flight, so a second ``send`` to the same rank waits for the first to be received.
    """
    world = _peer(dst, "send", group)
    world.send(np.ascontiguousarray(_array_of(tensor, "send")), dst)


def recv(tensor: Any, src: int, group: Any = None) -> None:
    """Receive into ``tensor`` what rank ``src`` sends: the same number of bytes (its shape and
    dtype, normally), or DistributedError."""
    world = _peer(src, "recv", group)
    _in_place(tensor, "recv", lambda a: world.recv(a, src))


def abort_peers() -> None:
    """Make the other ranks' next collective fail at once (DistributedError) instead of waiting
    for this rank, which is leaving (not torch.distributed's: its peers would wait for the
    timeout). Under MPI this ends the whole job, as ``MPI_Abort`` does."""
    if _group is not None:
        _group.abort()
