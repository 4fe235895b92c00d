"""The ``shm`` backend: processes on one machine exchanging bytes through one shared-memory segment.

The segment (created by ``spawn`` before the workers start, unlinked by it on every exit path), for
W ranks:

    header   int64 words: [0] abort flag   [1] the rank that failed + 1   [2..4] W, the slot's
             and the mailbox's bytes (so every rank reads the same layout)
             then MAX_GROUPS x W barrier counters (group g, rank r: g's barriers rank r passed)
             then W x W mailbox words (from s to d: [sent, taken, bytes of the last message])
    slot r   SLOT_BYTES bytes per rank (default 8 MiB): the one buffer rank r writes for the
             collectives; every rank may read every slot
    box s,d  BOX_BYTES bytes per ordered pair (default 32 MiB): a message from s to d

(Shared memory is allocated when first touched, so boxes no pair uses cost nothing.)

**The barrier** needs no lock: rank r only ever writes its own counter. To pass barrier number g,
a rank sets its counter to g and waits until every member's counter is >= g (counters only grow,
so a fast rank already at g + 1 still lets a slow one through). A subgroup (``new_group``) has a
row of counters of its own, so its members can meet while the other ranks do something else. The
wait spins a few times, then yields the core (a peer may be waiting for it), then, after 10 ms,
sleeps in steps of up to 1 ms. It gives up with DistributedError when the abort flag is set (a
peer failed: its ``spawn`` wrapper or the parent sets it), when the launching process is gone, or
after the timeout: a dead peer never leaves the others hanging.

**The ring all-reduce.** Cut the buffer into N chunks. Each rank copies its buffer into its slot,
then, for N - 1 steps, adds its left neighbour's copy of one chunk into its own (reduce-scatter;
rank r reads chunk (r - s - 2) mod N at step s, which the neighbour finished at step s - 1); after
that rank r holds the full sum of chunk r. For N - 1 more steps each rank copies from its left
neighbour the chunk that neighbour completed last (all-gather), and every slot holds the whole
result. A barrier separates the steps. Each rank reads 2 (N - 1) / N of the buffer's bytes from
another rank, the least any all-reduce can move, however large N is; a naive "read every other
slot" reads (N - 1) times the buffer. Buffers larger than a slot go through in slot-sized pieces.
Every collective ends with a barrier after its last read of another rank's slot, so the next
collective, in any group, may overwrite the slots.

**Send and receive** use a mailbox per ordered pair, one message deep: the sender waits until
its previous message was taken (``taken == sent``), writes the bytes and their count, then bumps
``sent``; the receiver waits until ``sent > taken``, checks the count against its buffer, copies
out and bumps ``taken``. One writer per word again, so no lock. (x86 keeps stores in program order,
so the receiver never sees the new count before the bytes.) A message must fit its box: sent in
pieces, it would make ``send`` wait for the receiver, and two neighbours sending to each other
(a pipeline's activations one way, gradients the other) would wait for each other forever.

Read next: ``minillm/parallel/spawn.py`` (who creates the segment, and what happens when a worker
dies).
"""

from __future__ import annotations

import copy
import os
import secrets
import time
from collections.abc import Callable, Sequence
from multiprocessing import shared_memory

import numpy as np

from minillm.parallel.group import DistributedError, PeerFailedError, ReduceOp

SLOT_BYTES = 8 << 20
BOX_BYTES = 32 << 20  # the largest message send() takes; only the pages used are allocated
SEGMENT_PREFIX = "minillm_"  # /dev/shm/minillm_<pid of the launcher>_<random>
MAX_WORLD = 64
MAX_GROUPS = 2 * MAX_WORLD + 1  # the world's group and those new_group makes (a 2-D layout: W)
SPINS = 50  # looks at the counters before yielding the core
YIELD_SECONDS = 0.01  # then yields for up to this long, then sleeps (up to 1 ms at a time)
_TOP = 8  # header words before the barrier counters: [0] abort, [1] failed rank + 1, [2..4] sizes


def _header_words(world_size: int) -> int:
    words = _TOP + MAX_GROUPS * world_size + 3 * world_size * world_size
    return -(-words // 8) * 8  # whole 64-byte lines, so the slots start aligned


def segment_size(world_size: int, slot_bytes: int = SLOT_BYTES, box_bytes: int = BOX_BYTES) -> int:
    return _header_words(world_size) * 8 + world_size * slot_bytes + world_size**2 * box_bytes


def create_segment(
    world_size: int, slot_bytes: int = SLOT_BYTES, box_bytes: int = BOX_BYTES
) -> shared_memory.SharedMemory:
    """A zeroed segment for ``world_size`` ranks (the caller unlinks it)."""
    if not 1 <= world_size <= MAX_WORLD:
        raise ValueError(f"the shm backend takes 1..{MAX_WORLD} processes, got {world_size}")
    # named after the creating process, so a leftover segment says whose it was
    name = f"{SEGMENT_PREFIX}{os.getpid()}_{secrets.token_hex(4)}"
    size = segment_size(world_size, slot_bytes, box_bytes)
    seg = shared_memory.SharedMemory(name, create=True, size=size)
    header = np.frombuffer(seg.buf, np.int64, _header_words(world_size))
    header[:] = 0
    header[2:5] = world_size, slot_bytes, box_bytes  # so every rank reads the same layout
    return seg


def mark_failed(seg: shared_memory.SharedMemory, rank: int | None) -> None:
    """Tell every rank waiting in a barrier to give up (``rank``: the one that failed)."""
    header = np.frombuffer(seg.buf, np.int64, _TOP)
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
    """One rank's view of the segment for one group of ranks (``members``, by global rank): its
    slot, its neighbours' slots, the group's barrier, and the mailboxes."""

    name = "shm"

    def __init__(self, segment: str, rank: int, world_size: int, timeout: float) -> None:
        self.seg = shared_memory.SharedMemory(name=segment)
        self.owns_segment = True  # (a subgroup shares this mapping and leaves it to the world)
        self.timeout = timeout
        self.global_rank, self.global_size = rank, world_size
        self.header = np.frombuffer(self.seg.buf, np.int64, _header_words(world_size))
        if int(self.header[2]) != world_size:
            raise DistributedError(f"shared-memory segment {segment} was made for "
                                   f"{int(self.header[2])} ranks, not {world_size}")  # fmt: skip
        self.slot_bytes, self.box_bytes = int(self.header[3]), int(self.header[4])
        self._join(tuple(range(world_size)), 0)
        self.parent = os.getppid()

    def _join(self, members: tuple[int, ...], gid: int) -> None:
        """Be the group ``members`` (global ranks) with barrier row ``gid``."""
        self.members, self.gid = members, gid
        self.rank, self.world_size = members.index(self.global_rank), len(members)
        base = _TOP + gid * self.global_size
        self._counters = base + np.array(members)  # this group's row, at its members
        self._mine = base + self.global_rank  # the one word of it this rank writes
        self.count = int(self.header[self._mine])  # a restarted group continues the count

    def subgroup(self, members: Sequence[int], gid: int) -> ShmGroup | None:
        """The segment as the group ``members`` (global ranks) sees it, with barrier row ``gid``;
        None for a rank outside the group. Every rank of this (world) group calls it.

        The row may have served another group before (a process group destroyed and made
        again in the same workers), whose members passed different numbers of barriers: the
        members start from the largest count among them, between two world barriers, so that
        no member's old count lets it through a barrier the others have not reached."""
        if not 0 < gid < MAX_GROUPS:
            raise DistributedError(f"new_group: the shm backend holds at most {MAX_GROUPS - 1} "
                                   "groups besides the world")  # fmt: skip
        self.barrier()  # every rank is done with the row's previous group
        group = None
        if self.global_rank in members:
            group = copy.copy(self)  # the same mapping, another group
            group.owns_segment = False
            group._join(tuple(members), gid)
            group.count = int(self.header[group._counters].max())
            self.header[group._mine] = group.count
        self.barrier()  # every member has its count before any uses the group
        return group

    def slot(self, rank: int, dtype: np.dtype, count: int) -> np.ndarray:
        """``count`` items of ``dtype`` at the start of group rank ``rank``'s slot."""
        offset = _header_words(self.global_size) * 8 + self.members[rank] * self.slot_bytes
        return np.frombuffer(self.seg.buf, dtype, count, offset)

    def abort(self) -> None:
        mark_failed(self.seg, self.global_rank)

    def close(self) -> None:
        self.header = None  # drop the views first, or close() finds the buffer still exported
        if self.owns_segment:
            self.seg.close()

    # ------------------------------------------------------------------ waiting
    def _wait(self, done: Callable[[], bool], late: Callable[[], str]) -> None:
        """Return once ``done()``; raise when a peer failed, the launcher is gone, or after the
        timeout (``late()`` says for what)."""
        start, tries, header = 0.0, 0, self.header
        while not done():
            tries += 1
            if tries < SPINS:  # a peer a few microseconds behind: just look again
                continue
            if tries == SPINS:
                start = time.monotonic()
            if header[0]:
                failed = int(header[1]) - 1
                who = f"rank {failed}" if failed >= 0 else "a peer"
                raise PeerFailedError(f"rank {self.global_rank}: {who} failed; giving up")
            waited = time.monotonic() - start
            if waited < YIELD_SECONDS:  # give the core to a peer that may share it
                os.sched_yield()
                continue
            time.sleep(min(1e-3, waited / 100))  # a long wait (a slow step): sleep, not spin
            if waited > self.timeout:
                raise DistributedError(f"rank {self.global_rank}: {late()} within "
                                       f"{self.timeout:g} s (dead or stuck?)")  # fmt: skip
            if os.getppid() != self.parent:
                raise DistributedError(f"rank {self.global_rank}: the launching process is gone")

    def barrier(self) -> None:
        self.count += 1
        header, count, where = self.header, self.count, self._counters
        header[self._mine] = count

        def late() -> str:
            behind = [m for m, c in zip(self.members, header[where]) if c < count]
            return f"rank(s) {behind} did not reach barrier {count}"

        self._wait(lambda: header[where].min() >= count, late)

    # ------------------------------------------------------------------ point to point
    def _box(self, src: int, dst: int) -> tuple[int, int]:
        """(the first of the pair's three header words, the byte offset of its box)."""
        W = self.global_size
        word = _TOP + MAX_GROUPS * W + 3 * (src * W + dst)
        offset = _header_words(W) * 8 + W * self.slot_bytes + (src * W + dst) * self.box_bytes
        return word, offset

    def send(self, array: np.ndarray, dst: int) -> None:
        if array.nbytes > self.box_bytes:  # in pieces, two ranks sending to each other would wait
            raise DistributedError(  # for each other's first piece forever
                f"send: {array.nbytes} bytes ({array.dtype} {array.shape}) do not fit the "
                f"{self.box_bytes}-byte mailbox; start the processes with spawn(..., "
                f"box_bytes={array.nbytes})"
            )
        word, offset = self._box(self.global_rank, dst)
        header = self.header
        self._wait(lambda: header[word + 1] == header[word],
                   lambda: f"rank {dst} did not receive the previous message")  # fmt: skip
        box = np.frombuffer(self.seg.buf, np.uint8, array.nbytes, offset)
        box[:] = array.reshape(-1).view(np.uint8)
        header[word + 2] = array.nbytes
        header[word] += 1  # last: the receiver may look now

    def recv(self, array: np.ndarray, src: int) -> None:
        word, offset = self._box(src, self.global_rank)
        header = self.header
        self._wait(lambda: header[word] > header[word + 1],
                   lambda: f"nothing arrived from rank {src}")  # fmt: skip
        if int(header[word + 2]) != array.nbytes:
            raise DistributedError(
                f"rank {self.global_rank}: recv from rank {src} expected {array.nbytes} bytes "
                f"({array.dtype} {array.shape}), but {int(header[word + 2])} arrived"
            )
        box = np.frombuffer(self.seg.buf, np.uint8, array.nbytes, offset)
        array.reshape(-1).view(np.uint8)[:] = box
        header[word + 1] += 1  # the sender may write the next one

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
