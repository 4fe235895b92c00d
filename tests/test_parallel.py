"""The process group, the shm ring, spawn's failure handling, DDP and the sampler.

Workers are module-level functions (spawn forks, so they could be anything, but these read best).
Each test spawns a few short-lived processes; the slower end-to-end runs of ``minillm train
--nproc`` are in ``test_parallel_train.py``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import minillm
from minillm import parallel as dist
from minillm.models.gpt import GPT, GPTConfig
from minillm.parallel import shm

pytestmark = pytest.mark.usefixtures("no_leaked_segments")  # (tests/conftest.py)


def test_segments_are_named_after_the_launcher_and_unlinked():
    def look(rank: int) -> None:
        dist.init_process_group("shm")
        return os.environ["MINILLM_SHM_NAME"]

    seen = dist.spawn(look, 2)
    assert seen[0] == seen[1] and seen[0].startswith(f"{shm.SEGMENT_PREFIX}{os.getpid()}_")
    assert not os.path.exists(f"/dev/shm/{seen[0]}")


# ------------------------------------------------------------------------------ collectives
def _collectives(rank: int, world: int, seed: int, backend: str = "shm") -> list[str]:
    """Random shapes and dtypes (the same on every rank), rank-dependent values; each result
    checked against NumPy on the values every rank can recompute."""
    if backend == "shm":
        dist.init_process_group("shm")
    rng = np.random.default_rng(seed)
    problems = []
    for case in range(12):
        dtype = [np.float16, np.float32, np.float64, np.int64][case % 4]
        shape = tuple(int(n) for n in rng.integers(1, 7, size=int(rng.integers(0, 4))))
        values = [np.random.default_rng([seed, case, r]).normal(size=shape) * 10 for r in
                  range(world)]  # fmt: skip
        values = [np.asarray(v).astype(dtype) for v in values]
        ops = [dist.ReduceOp.SUM, dist.ReduceOp.MAX, dist.ReduceOp.MIN]
        if dtype != np.int64:
            ops.append(dist.ReduceOp.AVG)
        for op in ops:
            mine = values[rank].copy()
            dist.all_reduce(mine, op)
            stacked = np.stack(values).astype(np.float64)
            expect = {dist.ReduceOp.SUM: stacked.sum(0), dist.ReduceOp.MAX: stacked.max(0),
                      dist.ReduceOp.MIN: stacked.min(0),
                      dist.ReduceOp.AVG: stacked.mean(0)}[op]  # fmt: skip
            tol = 0.05 if dtype == np.float16 else 1e-5
            if mine.dtype != dtype or mine.shape != shape or not np.allclose(mine, expect, rtol=tol,
                                                                            atol=tol):  # fmt: skip
                problems.append(f"all_reduce {op} {dtype} {shape}")
        src = case % world
        mine = values[rank].copy()
        dist.broadcast(mine, src)
        if not np.array_equal(mine, values[src]):
            problems.append(f"broadcast {dtype} {shape}")
        out = [np.zeros(shape, dtype) for _ in range(world)]
        dist.all_gather(out, values[rank])
        if not all(np.array_equal(o, v) for o, v in zip(out, values)):
            problems.append(f"all_gather {dtype} {shape}")
    # reduce_scatter: rank r gets the sum over ranks of their inputs[r]
    inputs = [np.full(3, 10.0 * rank + i) for i in range(world)]
    out = np.zeros(3)
    dist.reduce_scatter(out, inputs)
    if not np.allclose(out, sum(10.0 * r + rank for r in range(world))):
        problems.append("reduce_scatter")
    # in place on a minillm Tensor, non-contiguous too; a buffer larger than the slot
    t = minillm.tensor(np.arange(12.0).reshape(3, 4) * (rank + 1))
    version = t._version
    dist.all_reduce(t)
    if not np.allclose(t.numpy(), np.arange(12.0).reshape(3, 4) * sum(range(1, world + 1))):
        problems.append("tensor all_reduce")
    if t._version == version:
        problems.append("tensor version not bumped")
    view = np.ones((4, 6))[:, ::2]
    dist.all_reduce(view)
    if not np.allclose(view, world):
        problems.append("non-contiguous")
    big = np.full(300_001, float(rank + 1), dtype=np.float32)  # > the 64 KiB slot of this test
    dist.all_reduce(big)
    if not np.allclose(big, sum(range(1, world + 1))):
        problems.append("pieces")
    dist.barrier()
    return problems


@pytest.mark.parametrize("world", [1, 2, 3])
def test_collectives_match_numpy(world):
    results = dist.spawn(_collectives, world, args=(world, 7), slot_bytes=1 << 16)
    assert results == [[]] * world


def _point_to_point_and_groups(rank: int, world: int, seed: int, backend: str = "shm") -> list:
    """send/recv around the ring (shapes and dtypes drawn alike on every rank, some larger than a
    mailbox), a wrong-sized recv, and collectives inside the groups of a 2-D layout."""
    if backend == "shm":
        dist.init_process_group("shm")
    rng = np.random.default_rng(seed)
    problems = []
    right, left = (rank + 1) % world, (rank - 1) % world
    for k in range(6):
        shape = tuple(int(n) for n in rng.integers(1, 40, size=int(rng.integers(1, 4))))
        dtype = rng.choice([np.float64, np.float32, np.int32])
        if k == 5:
            shape = (8000,)  # (fits the 64 KiB mailbox of this test, just)
        if world > 1:
            # (a second send before the recv would wait for the neighbour, which waits too: one
            # message per pair is in flight)
            got, again = np.zeros(shape, dtype=dtype), minillm.zeros(shape, dtype=dtype)
            dist.send(np.full(shape, rank + k, dtype=dtype), right)
            dist.recv(got, left)
            dist.send(minillm.full(shape, rank - k, dtype=dtype), right)
            dist.recv(again, left)
            if not (got == left + k).all() or not (again.numpy() == left - k).all():
                problems.append(f"p2p {shape} {dtype}")
    if world > 1 and backend == "shm":
        try:
            dist.send(np.zeros(8193), right)
            problems.append("a message larger than the mailbox passed")
        except dist.DistributedError as e:
            if "box_bytes=65544" not in str(e):
                problems.append(f"too large: {e}")
    if world > 1:
        dist.send(np.zeros(3), right)
        try:
            dist.recv(np.zeros(4), left)
            problems.append("a wrong-sized recv passed")
        except dist.DistributedError as e:
            if "expected 32 bytes" not in str(e):
                problems.append(f"wrong-size message: {e}")
        for bad in (rank, world):
            try:
                dist.send(np.zeros(1), bad)
                problems.append(f"send to {bad} passed")
            except ValueError:
                pass
    # a layout of pairs: groups of consecutive ranks, and groups of ranks with the same place
    half = max(1, world // 2)
    rows = [dist.new_group(list(range(i, min(i + half, world)))) for i in range(0, world, half)]
    cols = [dist.new_group(list(range(j, world, half))) for j in range(half)]
    row, col = rows[rank // half], cols[rank % half]
    for group in (row, col):
        members = dist.get_process_group_ranks(group)
        value = np.array([float(rank + 1)])
        dist.all_reduce(value, group=group)
        if value[0] != sum(m + 1 for m in members) or dist.get_rank(group) != members.index(rank):
            problems.append(f"group {members}: {value[0]}")
        b = np.array([float(rank)])
        dist.broadcast(b, src=members[-1], group=group)
        if b[0] != members[-1]:
            problems.append(f"broadcast in {members}")
        dist.barrier(group)
    outsider = next((g for g in rows if rank not in dist.get_process_group_ranks(g)), None)
    if outsider is not None:
        if dist.get_rank(outsider) != -1:
            problems.append("an outsider has a rank")
        try:
            dist.all_reduce(np.zeros(1), group=outsider)
            problems.append("an outsider's all_reduce passed")
        except RuntimeError:
            pass
    dist.barrier()
    return problems


@pytest.mark.parametrize("world", [1, 2, 4])
def test_send_recv_and_groups(world):
    results = dist.spawn(_point_to_point_and_groups, world, args=(world, 3), slot_bytes=1 << 16,
                         box_bytes=1 << 16)  # fmt: skip
    assert results == [[]] * world


def test_ring_moves_2_n_minus_1_over_n_of_the_buffer():
    """The ring's reads from other slots, counted: 2 (N - 1) / N of the buffer per rank."""
    for world in (2, 3, 4):
        n = 1200
        chunks = shm._chunks(n, world)
        # reduce-scatter and all-gather each read one chunk per step for N - 1 steps
        read = sum(chunks[(0 - s - 2) % world].stop - chunks[(0 - s - 2) % world].start
                   for s in range(world - 1))  # fmt: skip
        read += sum(chunks[(0 - s - 1) % world].stop - chunks[(0 - s - 1) % world].start
                    for s in range(world - 1))  # fmt: skip
        assert read == 2 * (world - 1) * n // world


def test_single_process_group_and_errors():
    dist.init_process_group("shm", rank=0, world_size=1)
    try:
        a = np.arange(3.0)
        dist.all_reduce(a)
        assert a.tolist() == [0.0, 1.0, 2.0]
        with pytest.raises(TypeError, match="AVG needs a floating dtype"):
            dist.all_reduce(np.arange(3), dist.ReduceOp.AVG)
        with pytest.raises(TypeError, match="Tensor or a NumPy array"):
            dist.all_reduce([1.0, 2.0])
        with pytest.raises(ValueError, match="world_size = 1 buffers, got 2"):
            dist.all_gather([np.zeros(2), np.zeros(2)], np.zeros(2))
        with pytest.raises(ValueError, match="src 3 is not a rank"):
            dist.broadcast(a, 3)
        with pytest.raises(RuntimeError, match="already in a group"):
            dist.init_process_group("shm")
    finally:
        dist.destroy_process_group()
    assert not dist.is_initialized()
    with pytest.raises(RuntimeError, match="not initialized"):
        dist.get_rank()
    with pytest.raises(ValueError, match="backend must be 'shm' or 'mpi'"):
        dist.init_process_group("nccl")
    with pytest.raises(RuntimeError, match="MINILLM_SHM_NAME"):
        dist.init_process_group("shm", rank=0, world_size=2)


# ------------------------------------------------------------------------------ faults
def _raise_on_rank_1(rank: int) -> None:
    dist.init_process_group("shm")
    if rank == 1:
        raise ValueError("rank one is unhappy")
    dist.barrier()  # rank 0 waits here for a peer that never comes


def _kill_rank_1(rank: int) -> None:
    dist.init_process_group("shm")
    if rank == 1:
        os.kill(os.getpid(), signal.SIGKILL)
    dist.barrier()


def _late_rank_1(rank: int) -> None:
    dist.init_process_group("shm", timeout=0.5)
    if rank == 1:
        time.sleep(3)
        return
    dist.barrier()


def test_a_raising_worker_stops_all_and_names_its_rank():
    start = time.monotonic()
    with pytest.raises(dist.ProcessRaisedException) as info:
        dist.spawn(_raise_on_rank_1, 2)
    assert time.monotonic() - start < 15  # rank 0 left its barrier at once, no timeout
    assert info.value.rank == 1
    message = str(info.value)
    assert message.startswith("rank 1 raised ValueError: rank one is unhappy")
    assert "Traceback" in message and "_raise_on_rank_1" in message


def test_a_killed_worker_is_reported_by_its_signal():
    with pytest.raises(dist.ProcessExitedException, match="rank 1 was killed by SIGKILL") as info:
        dist.spawn(_kill_rank_1, 3)
    assert info.value.signal_name == "SIGKILL"


def test_a_barrier_times_out_instead_of_hanging():
    with pytest.raises(dist.ProcessRaisedException, match=r"rank\(s\) \[1\] did not reach"):
        dist.spawn(_late_rank_1, 2)


def test_spawn_checks_nprocs_and_returns_results():
    assert dist.spawn(pow, 3, args=(2,)) == [0, 1, 4]
    with pytest.raises(ValueError, match="nprocs must be a positive integer"):
        dist.spawn(pow, 0)


# ------------------------------------------------------------------------------ DDP
CFG = GPTConfig(vocab_size=11, block_size=8, n_layer=2, n_head=2, n_embd=16)


def _batch(n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    x = rng.integers(0, CFG.vocab_size, size=(n, CFG.block_size))
    return x, np.roll(x, -1, axis=1)


def _gpt64() -> GPT:
    minillm.manual_seed(5)
    return GPT(CFG).double()


def _single_process_steps(total_batch: int, steps: int, accum: int = 1) -> dict[str, np.ndarray]:
    """One process, the whole batch (in ``accum`` micro-batches): the reference weights."""
    model = _gpt64()
    opt = minillm.optim.AdamW(model.parameters(), lr=1e-2)
    x, y = _batch(total_batch)
    for _ in range(steps):
        for part in np.array_split(np.arange(total_batch), accum):
            _, loss = model(minillm.tensor(x[part]), minillm.tensor(y[part]))
            (loss / accum).backward()
        opt.step()
        opt.zero_grad()
    return {k: v.numpy() for k, v in model.state_dict().items()}


def _ddp_steps(rank: int, world: int, total_batch: int, steps: int, accum: int,
               backend: str = "shm") -> dict:  # fmt: skip
    if backend == "shm":
        dist.init_process_group("shm")
    model = _gpt64()
    if rank > 0:  # different starting weights: DDP's broadcast must make them rank 0's
        for p in model.parameters():
            p.data += 1.0
    ddp = dist.DistributedDataParallel(model, bucket_cap_mb=0.01)  # several buckets
    opt = minillm.optim.AdamW(model.parameters(), lr=1e-2)
    x, y = _batch(total_batch)
    mine = np.array_split(np.arange(total_batch), world)[rank]
    for _ in range(steps):
        parts = np.array_split(mine, accum)
        for i, part in enumerate(parts):
            sync = ddp.no_sync() if i < accum - 1 else contextlib.nullcontext()
            with sync:
                _, loss = ddp(minillm.tensor(x[part]), minillm.tensor(y[part]))
                (loss / accum).backward()
        opt.step()
        opt.zero_grad()
    return {k: v.numpy() for k, v in model.state_dict().items()}


@pytest.mark.parametrize("world", [1, 2, 3])
def test_ddp_equals_one_process_on_the_whole_batch_float64(world):
    total, steps = 6, 3
    reference = _single_process_steps(total, steps)
    for got in dist.spawn(_ddp_steps, world, args=(world, total, steps, 1)):
        for name, value in reference.items():
            np.testing.assert_allclose(got[name], value, rtol=0, atol=1e-10, err_msg=name)


def test_ddp_no_sync_accumulates_then_averages_once():
    total, steps = 8, 2
    reference = _single_process_steps(total, steps, accum=1)
    for got in dist.spawn(_ddp_steps, 2, args=(2, total, steps, 2)):
        for name, value in reference.items():
            np.testing.assert_allclose(got[name], value, rtol=0, atol=1e-10, err_msg=name)


def _unused_parameter(rank: int) -> tuple:
    dist.init_process_group("shm")
    minillm.manual_seed(0)
    used, unused = minillm.nn.Linear(3, 1), minillm.nn.Linear(3, 1)
    model = minillm.nn.ModuleList([used, unused])

    class Net(minillm.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.layers = model

        def forward(self, x):  # only rank 1 reaches the second layer
            out = self.layers[0](x).sum()
            return out + self.layers[1](x).sum() if rank == 1 else out

    ddp = dist.DistributedDataParallel(Net())
    ddp(minillm.ones(2, 3)).backward()
    return used.weight.grad.tolist(), None if unused.weight.grad is None else \
        unused.weight.grad.tolist()  # fmt: skip


def test_ddp_gradient_missing_on_one_rank_counts_as_zero():
    (u0, n0), (u1, n1) = dist.spawn(_unused_parameter, 2)
    assert u0 == u1 == [[2.0, 2.0, 2.0]]
    assert n0 == n1 == [[1.0, 1.0, 1.0]]  # (2 + 0) / 2


# ------------------------------------------------------------------------------ sampler
@pytest.mark.parametrize("n,world,drop_last", [(10, 3, False), (10, 3, True), (4, 4, False),
                                               (3, 4, False)])  # fmt: skip
def test_distributed_sampler_shares_out_the_dataset(n, world, drop_last):
    parts = [list(dist.DistributedSampler(range(n), world, r, seed=1, drop_last=drop_last))
             for r in range(world)]  # fmt: skip
    assert len({len(p) for p in parts}) == 1
    flat = [i for p in parts for i in p]
    if drop_last:
        assert len(set(flat)) == len(flat) == n // world * world
    else:
        assert set(flat) == set(range(n)) and len(flat) == -(-n // world) * world
    sampler = dist.DistributedSampler(range(n), world, 0, seed=1)
    first = list(sampler)
    sampler.set_epoch(1)
    assert list(sampler) != first or n // world <= 1


def test_distributed_sampler_equals_torch_without_shuffle():
    torch = pytest.importorskip("torch")
    from torch.utils.data import DistributedSampler as TorchSampler

    for n, world in [(10, 3), (7, 2), (3, 4)]:
        for rank in range(world):
            for drop_last in (False, True):
                ours = dist.DistributedSampler(range(n), world, rank, shuffle=False,
                                               drop_last=drop_last)  # fmt: skip
                theirs = TorchSampler(range(n), world, rank, shuffle=False, drop_last=drop_last)
                assert list(ours) == list(theirs) and len(ours) == len(theirs)
    assert torch is not None


def test_dataloader_takes_a_sampler():
    from minillm.data import DataLoader

    sampler = dist.DistributedSampler(list(range(10)), 2, 1, shuffle=False)
    loader = DataLoader(list(range(10)), batch_size=2, sampler=sampler)
    assert [b.tolist() for b in loader] == [[1, 3], [5, 7], [9]]
    with pytest.raises(ValueError, match="exclude each other"):
        DataLoader(list(range(10)), shuffle=True, sampler=sampler)


# ------------------------------------------------------------------------------ the mpi backend
def _mpi_main() -> None:
    """Run under ``mpiexec -n N python tests/test_parallel.py``: the same checks on MPI."""
    dist.init_process_group("mpi")
    rank, world = dist.get_rank(), dist.get_world_size()
    problems = _collectives(rank, world, 7, backend="mpi")
    problems += _point_to_point_and_groups(rank, world, 3, backend="mpi")
    got = _ddp_steps(rank, world, 6, 3, 1, backend="mpi")
    reference = _single_process_steps(6, 3)
    for name, value in reference.items():
        if np.abs(got[name] - value).max() > 1e-10:
            problems.append(f"ddp {name}")
    if problems:
        print(f"rank {rank}: {problems}", file=sys.stderr, flush=True)
    counts = [np.zeros(1) for _ in range(world)]
    dist.all_gather(counts, np.array([float(len(problems))]))
    if rank == 0:  # one line, from one process (ranks' lines could interleave)
        print(f"{world} ranks, problems: {[int(c[0]) for c in counts]}", flush=True)


@pytest.mark.parametrize("world", [1, 2, 3])
def test_the_mpi_backend_passes_the_same_checks(world, mpiexec):
    done = subprocess.run([mpiexec, "-n", str(world), sys.executable, __file__],
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"{world} ranks, problems: {[0] * world}", done.stderr


def _regroup(rank: int) -> list[str]:
    """A group made again in the same workers, over other members, whose barrier row carries
    the old group's counts: its first collective must still wait for every member."""
    problems = []
    dist.init_process_group("shm")
    old = dist.new_group([0, 1])
    for _ in range(20 if rank in (0, 1) else 0):
        dist.barrier(old)
    dist.destroy_process_group()
    dist.init_process_group("shm")
    new = dist.new_group([0, 2])
    if rank in (0, 2):
        if rank == 0:
            time.sleep(0.3)  # rank 2 must not get through without rank 0's value
        value = np.array([float(rank + 1)])
        dist.all_reduce(value, group=new)
        if value[0] != 4.0:
            problems.append(f"rank {rank}: {value[0]}")
    dist.barrier()
    return problems


def test_a_group_made_again_waits_for_all_its_members():
    assert dist.spawn(_regroup, 3) == [[]] * 3


def _grid_groups(rank: int, world: int) -> int:
    from minillm.training.model_parallel import make_groups

    dist.init_process_group("shm")
    model, data = make_groups(rank, world, 2)  # world / 2 pairs and 2 columns
    value = np.ones(1)
    dist.all_reduce(value, group=model)
    dist.all_reduce(value, group=data)
    return int(value[0])


def test_a_wide_grid_has_a_barrier_row_for_every_group():
    world = 32  # 16 model groups + 2 data groups: more groups than ranks
    assert dist.spawn(_grid_groups, world, args=(world,), slot_bytes=1 << 12,
                      box_bytes=1 << 12) == [2 * 16] * world  # fmt: skip


if __name__ == "__main__":
    _mpi_main()
