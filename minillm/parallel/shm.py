"""The ``shm`` backend: processes on one machine exchanging bytes through one shared-memory segment.

The segment (created by ``spawn`` before the workers start, unlinked by it on every exit path):

    header   int64 words: [0] abort flag   [1] the rank that failed + 1   [8 + r] rank r's barrier
             count
    slot r   SLOT_BYTES bytes per rank (default 8 MiB): the one buffer rank r writes; every rank
             may read every slot

The barrier needs no lock: rank r only ever writes its own counter. To pass barrier number g, a
rank sets its counter to g and waits until every counter is >= g (counters only grow, so a fast
rank already at g + 1 still lets a slow one through). The wait spins a few times, then yields
the core (a peer may be waiting for it), then, after 10 ms, sleeps in steps of up to 1 ms. It
gives up with DistributedError when the abort flag is set (a peer failed: its ``spawn`` wrapper
or the parent sets it), when the launching process is gone, or after the timeout: a dead peer
never leaves the others hanging.

**The ring all-reduce.** Cut the buffer into N chunks. Each rank copies its buffer into its slot,
then, for N - 1 steps, adds its left neighbour's copy of one chunk into its own (reduce-scatter;
rank r reads chunk (r - s - 2) mod N at step s, which the neighbour finished at step s - 1); after
that rank r holds the full sum of chunk r. For N - 1 more steps each rank copies from its left
neighbour the chunk that neighbour completed last (all-gather), and every slot holds the whole
result. A barrier separates the steps. Each rank reads 2 (N - 1) / N of the buffer's bytes from
another rank, the least any all-reduce can move, however large N is; a naive "read every other
slot" reads (N - 1) times the buffer. Buffers larger than a slot go through in slot-sized pieces.

Read next: ``minillm/parallel/spawn.py`` (who creates the segment, and what happens when a worker
dies).
"""

from __future__ import annotations

import os
import secrets
import time
from multiprocessing import shared_memory

import numpy as np

from minillm.parallel.group import DistributedError, PeerFailedError, ReduceOp

SLOT_BYTES = 8 << 20
SEGMENT_PREFIX = "minillm_"  # /dev/shm/minillm_<pid of the launcher>_<random>
HEADER_WORDS = 64  # [0] abort, [1] failed rank + 1, [8 + r] rank r's barrier count (r < 56)
MAX_WORLD = HEADER_WORDS - 8
SPINS = 50  # looks at the counters before yielding the core
YIELD_SECONDS = 0.01  # then yields for up to this long, then sleeps (up to 1 ms at a time)


def segment_size(world_size: int, slot_bytes: int = SLOT_BYTES) -> int:
    return HEADER_WORDS * 8 + world_size * slot_bytes


def create_segment(world_size: int, slot_bytes: int = SLOT_BYTES) -> shared_memory.SharedMemory:
    """A zeroed segment for ``world_size`` ranks (the caller unlinks it)."""
    if not 1 <= world_size <= MAX_WORLD:
        raise ValueError(f"the shm backend takes 1..{MAX_WORLD} processes, got {world_size}")
    # named after the creating process, so a leftover segment says whose it was
    name = f"{SEGMENT_PREFIX}{os.getpid()}_{secrets.token_hex(4)}"
    seg = shared_memory.SharedMemory(name, create=True, size=segment_size(world_size, slot_bytes))
    np.frombuffer(seg.buf, np.int64, HEADER_WORDS)[:] = 0
    return seg


def mark_failed(seg: shared_memory.SharedMemory, rank: int | None) -> None:
    """Tell every rank waiting in a barrier to give up (``rank``: the one that failed)."""
    header = np.frombuffer(seg.buf, np.int64, HEADER_WORDS)
    if header[1] == 0 and rank is not None:
        header[1] = rank + 1
    header[0] = 1


def _chunks(n: int, world: int) -> list[slice]:
    """N nearly equal contiguous chunks of n elements (the first ones one longer)."""
    bounds = [i * n // world for i in range(world + 1)]
    return [slice(bounds[i], bounds[i + 1]) for i in range(world)]


_REDUCE = {
    ReduceOp.SUM: np.add,
    ReduceOp.AVG: np.add,  # summed, divided by N at the end
    ReduceOp.MAX: np.maximum,
    ReduceOp.MIN: np.minimum,
}


class ShmGroup:
    """One rank's view of the segment: its slot, its neighbours' slots, and the barrier."""

    name = "shm"

    def __init__(self, segment: str, rank: int, world_size: int, timeout: float) -> None:
        self.rank, self.world_size, self.timeout = rank, world_size, timeout
        self.seg = shared_memory.SharedMemory(name=segment)
        self.slot_bytes = (self.seg.size - HEADER_WORDS * 8) // world_size
        if self.slot_bytes < 64:
            raise DistributedError(f"shared-memory segment {segment} is too small for "
                                   f"{world_size} ranks")  # fmt: skip
        self.header = np.frombuffer(self.seg.buf, np.int64, HEADER_WORDS)
        self.count = int(self.header[8 + rank])  # a restarted group continues the count
        self.parent = os.getppid()

    def slot(self, rank: int, dtype: np.dtype, count: int) -> np.ndarray:
        """``count`` items of ``dtype`` at the start of ``rank``'s slot."""
        offset = HEADER_WORDS * 8 + rank * self.slot_bytes
        return np.frombuffer(self.seg.buf, dtype, count, offset)

    def abort(self) -> None:
        mark_failed(self.seg, self.rank)

    def close(self) -> None:
        self.header = None  # drop the views first, or close() finds the buffer still exported
        self.seg.close()

    # ------------------------------------------------------------------ the barrier
    def barrier(self) -> None:
        self.count += 1
        header, count, world = self.header, self.count, self.world_size
        header[8 + self.rank] = count
        counters = header[8 : 8 + world]
        start, tries = 0.0, 0
        while counters.min() < count:
            tries += 1
            if tries < SPINS:  # a peer a few microseconds behind: just look again
                continue
            if tries == SPINS:
                start = time.monotonic()
            if header[0]:
                failed = int(header[1]) - 1
                who = f"rank {failed}" if failed >= 0 else "a peer"
                raise PeerFailedError(f"rank {self.rank}: {who} failed; giving up")
            waited = time.monotonic() - start
            if waited < YIELD_SECONDS:  # give the core to a peer that may share it
                os.sched_yield()
                continue
            time.sleep(min(1e-3, waited / 100))  # a long wait (a slow step): sleep, not spin
            if waited > self.timeout:
                late = [r for r in range(world) if counters[r] < count]
                raise DistributedError(
                    f"rank {self.rank}: rank(s) {late} did not reach barrier {count} within "
                    f"{self.timeout:g} s (dead or stuck?)"
                )
            if os.getppid() != self.parent:
                raise DistributedError(f"rank {self.rank}: the launching process is gone")

    # ------------------------------------------------------------------ collectives
    def _pieces(self, array: np.ndarray) -> list[np.ndarray]:
        """The flat array cut into pieces that fit a slot."""
        flat = array.reshape(-1)
        per = max(1, self.slot_bytes // array.dtype.itemsize)
        return [flat[i : i + per] for i in range(0, flat.size, per)] or [flat]

    def all_reduce(self, array: np.ndarray, op: ReduceOp) -> None:
        for piece in self._pieces(array):
            self._ring_reduce_scatter(piece, op)
            self._ring_all_gather(piece)
        if op is ReduceOp.AVG:
            np.divide(array, self.world_size, out=array, casting="unsafe")

    def _ring_reduce_scatter(self, piece: np.ndarray, op: ReduceOp) -> None:
        """Load ``piece`` into this rank's slot and reduce; afterwards chunk r of slot r holds the
        reduction of chunk r over every rank."""
        N, r, n = self.world_size, self.rank, piece.size
        mine = self.slot(r, piece.dtype, n)
        left = self.slot((r - 1) % N, piece.dtype, n)
        chunks = _chunks(n, N)
        combine = _REDUCE[op]
        mine[:] = piece
        self.barrier()
        for step in range(N - 1):
            c = chunks[(r - step - 2) % N]
            combine(mine[c], left[c], out=mine[c])
            self.barrier()

    def _ring_all_gather(self, piece: np.ndarray) -> None:
        """After the reduce-scatter: pass the finished chunks around the ring, then copy out."""
        N, r, n = self.world_size, self.rank, piece.size
        mine = self.slot(r, piece.dtype, n)
        left = self.slot((r - 1) % N, piece.dtype, n)
        chunks = _chunks(n, N)
        for step in range(N - 1):
            c = chunks[(r - step - 1) % N]
            mine[c] = left[c]
            self.barrier()
        piece[:] = mine

    def reduce_scatter(self, output: np.ndarray, inputs: list[np.ndarray], op: ReduceOp) -> None:
        """The ring's first half on the concatenated inputs: rank r keeps chunk r."""
        flat = np.concatenate([np.ravel(x) for x in inputs])
        per = output.size
        if flat.size * flat.dtype.itemsize > self.slot_bytes:
            raise DistributedError(f"reduce_scatter: {flat.nbytes} bytes exceed the slot of "
                                   f"{self.slot_bytes}")  # fmt: skip
        # chunk boundaries must fall between the inputs: every input has ``per`` elements
        self._ring_reduce_scatter(flat, op)
        mine = self.slot(self.rank, flat.dtype, flat.size)
        output.reshape(-1)[:] = mine[self.rank * per : (self.rank + 1) * per]
        self.barrier()  # no rank reuses its slot before every rank has copied out
        if op is ReduceOp.AVG:
            np.divide(output, self.world_size, out=output, casting="unsafe")

    def broadcast(self, array: np.ndarray, src: int) -> None:
        for piece in self._pieces(array):
            if self.rank == src:
                self.slot(src, piece.dtype, piece.size)[:] = piece
            self.barrier()
            if self.rank != src:
                piece[:] = self.slot(src, piece.dtype, piece.size)
            self.barrier()

    def all_gather(self, outputs: list[np.ndarray], array: np.ndarray) -> None:
        pieces = self._pieces(array)
        views = [self._pieces(o) for o in outputs]
        for k, piece in enumerate(pieces):
            self.slot(self.rank, piece.dtype, piece.size)[:] = piece
            self.barrier()
            for rank in range(self.world_size):
                views[rank][k][:] = self.slot(rank, piece.dtype, piece.size)
            self.barrier()
