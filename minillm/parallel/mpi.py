"""The ``mpi`` backend: the same collectives through mpi4py, for processes on one or many machines.

    pip install -e ".[mpi]"                  # mpi4py and the mpich wheel, which brings mpiexec
    mpiexec -n 4 minillm train --backend mpi
    mpiexec -n 2 -hosts a,b python script.py # two machines

MPI already implements every collective (MPICH picks a ring, a tree or recursive halving by the
message size); this file only maps torch.distributed's names onto MPI's buffer calls, in place
(``MPI.IN_PLACE``), with NumPy arrays handed over without a copy. MPI has no timeouts: when a
process dies, ``mpiexec`` ends the others (MPICH's default), which is how nothing hangs here.

Read next: ``minillm/parallel/ddp.py``.
"""

from __future__ import annotations

import numpy as np

from minillm.parallel.group import DistributedError, ReduceOp

_IN_FLIGHT: list = []  # sends a closed group left unfinished, with their buffers, kept alive


def _mpi() -> object:
    try:
        from mpi4py import MPI
    except ImportError:
        raise ImportError(
            'the mpi backend needs mpi4py and an MPI library: pip install -e ".[mpi]"'
        ) from None
    return MPI


class MPIGroup:
    """``MPI.COMM_WORLD`` (or a sub-communicator of it) behind the process-group interface."""

    name = "mpi"

    def __init__(self, timeout: float, comm: object = None, members: tuple = ()) -> None:
        MPI = _mpi()
        self.MPI = MPI
        # a communicator of our own: no clash with user code
        self.comm = MPI.COMM_WORLD.Dup() if comm is None else comm
        self.rank, self.world_size = self.comm.Get_rank(), self.comm.Get_size()
        self.members = members or tuple(range(self.world_size))
        self.timeout = timeout
        self.pending: dict[int, tuple] = {}  # dst -> (the request of the send in flight, its copy)
        self.ops = {ReduceOp.SUM: MPI.SUM, ReduceOp.AVG: MPI.SUM, ReduceOp.MAX: MPI.MAX,
                    ReduceOp.MIN: MPI.MIN}  # fmt: skip

    def subgroup(self, members: tuple, gid: int) -> MPIGroup | None:
        """A communicator of ``members`` (every rank of this one calls it; None for outsiders)."""
        comm = self.comm.Create(self.comm.Get_group().Incl(list(members)))
        if comm == self.MPI.COMM_NULL:
            return None
        return MPIGroup(self.timeout, comm, tuple(members))

    def send(self, array: np.ndarray, dst: int) -> None:
        """A non-blocking send of a copy, so it returns at once as on shm (a blocking MPI_Send of
        a large message waits for the receiver, and two neighbours sending to each other would
        wait forever); the previous message to ``dst`` must have gone first."""
        if dst in self.pending:
            self.pending.pop(dst)[0].Wait()
        copy = array.copy()
        self.pending[dst] = (self.comm.Isend(copy, dest=dst), copy)  # dst: a global rank

    def recv(self, array: np.ndarray, src: int) -> None:
        status = self.MPI.Status()
        self.comm.Probe(source=src, status=status)
        if status.Get_count(self.MPI.BYTE) != array.nbytes:
            raise DistributedError(
                f"rank {self.rank}: recv from rank {src} expected {array.nbytes} bytes "
                f"({array.dtype} {array.shape}), but {status.Get_count(self.MPI.BYTE)} arrived"
            )
        self.comm.Recv(array, source=src)

    def all_reduce(self, array: np.ndarray, op: ReduceOp) -> None:
        self.comm.Allreduce(self.MPI.IN_PLACE, array, op=self.ops[op])
        if op is ReduceOp.AVG:
            np.divide(array, self.world_size, out=array, casting="unsafe")

    def broadcast(self, array: np.ndarray, src: int) -> None:
        self.comm.Bcast(array, root=src)

    def all_gather(self, outputs: list[np.ndarray], array: np.ndarray) -> None:
        gathered = np.empty((self.world_size, *array.shape), dtype=array.dtype)
        self.comm.Allgather(array, gathered)
        for out, part in zip(outputs, gathered):
            out[...] = part

    def reduce_scatter(self, output: np.ndarray, inputs: list[np.ndarray], op: ReduceOp) -> None:
        flat = np.ascontiguousarray(np.concatenate([np.ravel(x) for x in inputs]))
        self.comm.Reduce_scatter_block(flat, output.reshape(-1), op=self.ops[op])
        if op is ReduceOp.AVG:
            np.divide(output, self.world_size, out=output, casting="unsafe")

    def barrier(self) -> None:
        self.comm.Barrier()

    def abort(self) -> None:
        self.comm.Abort(1)

    def close(self) -> None:
        # no wait for sends still in flight: leaving on an error, their receiver may never come
        # (and MPI has no timeout); MPI frees the communicator once they are done
        for request, copy in self.pending.values():
            if not request.Test():
                _IN_FLIGHT.append((request, copy))  # MPI may still read the copy: keep it
        self.pending.clear()
        self.comm.Free()
