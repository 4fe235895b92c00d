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

from minillm.parallel.group import ReduceOp


def _mpi() -> object:
    try:
        from mpi4py import MPI
    except ImportError:
        raise ImportError(
            'the mpi backend needs mpi4py and an MPI library: pip install -e ".[mpi]"'
        ) from None
    return MPI


class MPIGroup:
    """``MPI.COMM_WORLD`` behind the process-group interface."""

    name = "mpi"

    def __init__(self, timeout: float) -> None:
        MPI = _mpi()
        self.MPI = MPI
        self.comm = MPI.COMM_WORLD.Dup()  # a communicator of our own: no clash with user code
        self.rank, self.world_size = self.comm.Get_rank(), self.comm.Get_size()
        self.timeout = timeout
        self.ops = {ReduceOp.SUM: MPI.SUM, ReduceOp.AVG: MPI.SUM, ReduceOp.MAX: MPI.MAX,
                    ReduceOp.MIN: MPI.MIN}  # fmt: skip

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
        self.comm.Free()
