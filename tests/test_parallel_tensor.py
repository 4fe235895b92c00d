"""Tensor parallelism: the split layers and the split GPT equal their unsplit selves, in float64.

Workers are module-level functions run by ``dist.spawn`` (shm backend); the same GPT check runs
under ``mpiexec -n 2 python tests/test_parallel_tensor.py`` (``_mpi_main``). Each worker returns
what it computed (or a list of problems); the comparison with one process happens here.
"""

from __future__ import annotations

import copy
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minillm
from minillm import nn
from minillm import parallel as dist
from minillm.models.gpt import GPT, GPTConfig
from minillm.parallel import tensor as tp
from minillm.parallel import tensor_gpt as tg

ATOL = 1e-12


pytestmark = pytest.mark.usefixtures("no_leaked_segments")  # (tests/conftest.py)


# ------------------------------------------------------------------------------ the layers
def _close(name: str, got: np.ndarray, want: np.ndarray, problems: list[str]) -> None:
    if got.shape != want.shape or not np.allclose(got, want, rtol=0, atol=ATOL):
        problems.append(f"{name}: {got.shape} vs {want.shape}")


def _layers(rank: int, world: int, seed: int, init: bool = True) -> list[str]:
    """ColumnParallelLinear (gather or not) and RowParallelLinear (parallel input or not) against
    nn.Linear on the same x and upstream gradient: outputs, dx, and every weight's gradient."""
    if init:
        dist.init_process_group("shm")
    rng = np.random.default_rng(seed)
    problems: list[str] = []
    for case in range(6):
        fan_in, fan_out = (int(n) * world for n in rng.integers(1, 4, size=2))
        lead = tuple(int(n) for n in rng.integers(1, 4, size=int(rng.integers(1, 3))))
        bias, flag = bool(case % 3), bool(case % 2)
        x_full = rng.normal(size=(*lead, fan_in))
        minillm.manual_seed(seed + case)
        full = nn.Linear(fan_in, fan_out, bias=bias).double()
        x = minillm.tensor(x_full, requires_grad=True)
        y = full(x)
        gy = rng.normal(size=y.shape)
        (y * minillm.tensor(gy)).sum().backward()
        k = fan_out // world  # the column layer's rows, the row layer's columns (its input)
        mine_out = slice(rank * k, (rank + 1) * k)
        tag = f"case {case}"

        col = tp.ColumnParallelLinear.from_linear(full, gather_output=flag)
        xc = minillm.tensor(x_full, requires_grad=True)
        yc = col(xc)
        want_y = y.numpy() if flag else y.numpy()[..., mine_out]
        _close(f"{tag} column y", yc.numpy(), want_y, problems)
        (yc * minillm.tensor(gy if flag else gy[..., mine_out])).sum().backward()
        _close(f"{tag} column dx", xc.grad.numpy(), x.grad.numpy(), problems)
        _close(
            f"{tag} column dW",
            col.weight.grad.numpy(),
            full.weight.grad.numpy()[mine_out],
            problems,
        )
        if bias:
            _close(
                f"{tag} column db",
                col.bias.grad.numpy(),
                full.bias.grad.numpy()[mine_out],
                problems,
            )

        full_t = _transposed(full)
        row = tp.RowParallelLinear.from_linear(full_t, input_is_parallel=flag)
        y_t = full_t(minillm.tensor(y.numpy()))  # the row layer maps fan_out -> fan_in
        gy_t = rng.normal(size=y_t.shape)
        xr_full = minillm.tensor(y.numpy(), requires_grad=True)
        (full_t(xr_full) * minillm.tensor(gy_t)).sum().backward()
        xr = minillm.tensor(y.numpy()[..., mine_out] if flag else y.numpy(), requires_grad=True)
        yr = row(xr)
        _close(f"{tag} row y", yr.numpy(), y_t.numpy(), problems)
        (yr * minillm.tensor(gy_t)).sum().backward()
        want_dx = xr_full.grad.numpy()[..., mine_out] if flag else xr_full.grad.numpy()
        _close(f"{tag} row dx", xr.grad.numpy(), want_dx, problems)
        _close(
            f"{tag} row dW",
            row.weight.grad.numpy(),
            full_t.weight.grad.numpy()[:, mine_out],
            problems,
        )
        if bias:
            _close(f"{tag} row db", row.bias.grad.numpy(), full_t.bias.grad.numpy(), problems)
        if row.weight.tensor_parallel_dim != 1 or col.weight.tensor_parallel_dim != 0:
            problems.append(f"{tag} tensor_parallel_dim")
        if bias and (hasattr(row.bias, "tensor_parallel_dim") or col.bias.tensor_parallel_dim != 0):
            problems.append(f"{tag} bias marks")
    # built from scratch with one seed on every rank, the shards are the layer one process draws
    minillm.manual_seed(seed)
    whole = nn.Linear(2 * world, 4 * world)
    minillm.manual_seed(seed)
    part = tp.ColumnParallelLinear(2 * world, 4 * world)
    _close(
        "constructor", part.weight.numpy(), whole.weight.numpy()[rank * 4 : rank * 4 + 4], problems
    )
    return problems


def _transposed(linear: nn.Linear) -> nn.Linear:
    """A fresh float64 Linear (out -> in) with its own weights: the row layer's full twin."""
    out = nn.Linear(linear.out_features, linear.in_features, bias=linear.bias is not None)
    return out.double()


@pytest.mark.parametrize("world", [2, 4])
def test_split_layers_equal_nn_linear_forward_and_backward(world):
    assert dist.spawn(_layers, world, args=(world, 11)) == [[]] * world


@settings(max_examples=5)
@given(seed=st.integers(0, 2**31 - 1))
def test_split_layers_in_a_group_of_one_are_nn_linear(seed):
    assert _layers(0, 1, seed, init=False) == []


def test_collectives_with_no_process_group_are_identities():
    x = minillm.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    ys = [f(x) for f in (tp.copy_to_parallel, tp.reduce_from_parallel, tp.gather_from_parallel,
                         tp.scatter_to_parallel)]  # fmt: skip
    sum(y.sum() for y in ys).backward()
    assert all(np.array_equal(y.numpy(), x.numpy()) for y in ys)
    assert np.array_equal(x.grad.numpy(), np.full((2, 3), 4.0))


# ------------------------------------------------------------------------------ the GPT
def _config(case: dict) -> GPTConfig:
    return GPTConfig(vocab_size=16, block_size=8, n_layer=case["n_layer"], n_head=case["n_head"],
                     n_embd=case["n_embd"], dropout=case["dropout"], bias=case["bias"])  # fmt: skip


def _batch(case: dict) -> tuple[minillm.Tensor, minillm.Tensor]:
    rng = np.random.default_rng(case["seed"])
    idx = rng.integers(0, 16, size=(case["B"], case["T"]))
    ignored = rng.random(idx.shape) < 0.2
    ignored[:, 0] = False  # (a batch of only ignored targets has no mean loss)
    targets = np.where(ignored, -1, np.roll(idx, -1, axis=1))
    return minillm.tensor(idx), minillm.tensor(targets)


def _gpt(case: dict) -> GPT:
    minillm.manual_seed(case["seed"])
    return GPT(_config(case)).double()


def _run(model: GPT, case: dict) -> tuple[np.ndarray, float]:
    idx, targets = _batch(case)
    minillm.manual_seed(case["seed"] + 1)  # the dropout masks: the same draws on every rank
    logits, loss = model(idx, targets)
    loss.backward()
    return logits.numpy(), loss.item()


def _single(case: dict) -> tuple[np.ndarray, float, dict[str, np.ndarray]]:
    model = _gpt(case)
    logits, loss = _run(model, case)
    return logits, loss, {n: p.grad.numpy() for n, p in model.named_parameters()}


def _tensor_parallel(rank: int, case: dict, backend: str | None = "shm", groups: int = 1) -> tuple:
    """The split model's logits, loss and unsplit gradients (every rank gathers them), and the
    problems found in its checkpoint round trip. ``groups`` > 1: the world holds that many
    tensor-parallel groups side by side (data parallel across them), each on its own batch.
    ``backend`` None: no process group at all (a group of one)."""
    if backend == "shm":
        dist.init_process_group("shm")
    group, size = None, dist.get_world_size() if dist.is_initialized() else 1
    if groups > 1:
        size //= groups
        handles = [dist.new_group(list(range(g * size, (g + 1) * size))) for g in range(groups)]
        group = handles[rank // size]
    case = dict(case, seed=case["seed"] + rank // size)  # each group its own model and batch
    model = tg.parallelize_gpt(_gpt(case), group=group)
    logits, loss = _run(model, case)
    grads = {n: tg.unshard_array(model, n, p.grad.numpy(), group=group)
             for n, p in model.named_parameters()}  # fmt: skip
    problems = []
    full = tg.full_state_dict(model, group=group)
    reference = _gpt(case).state_dict()
    if list(full) != list(reference) or any(not np.array_equal(full[k], v.numpy())
                                            for k, v in reference.items()):  # fmt: skip
        problems.append("full_state_dict is not the unsplit state dict")
    other = tg.parallelize_gpt(_gpt(dict(case, seed=case["seed"] + 99)), group=group)
    tg.load_full_state_dict(other, full, group=group)
    again = tg.full_state_dict(other, group=group)
    if any(not np.array_equal(again[k], v) for k, v in full.items()):
        problems.append("load_full_state_dict then full_state_dict changed a value")
    for name, p in model.named_parameters():
        local = tg.shard_array(model, name, full[name], group=group)
        if not np.array_equal(local, p.numpy()):
            problems.append(f"shard_array({name}) is not the shard")
        if not np.array_equal(tg.unshard_array(model, name, local, group=group), full[name]):
            problems.append(f"unshard_array(shard_array({name}))")
    return logits, loss, grads, problems


def _compare(results: list, reference_of) -> None:
    for rank, (logits, loss, grads, problems) in enumerate(results):
        want_logits, want_loss, want_grads = reference_of(rank)
        assert problems == [], f"rank {rank}: {problems}"
        np.testing.assert_allclose(logits, want_logits, rtol=0, atol=ATOL)
        assert abs(loss - want_loss) < ATOL
        assert list(grads) == list(want_grads)
        for name, g in want_grads.items():
            np.testing.assert_allclose(grads[name], g, rtol=0, atol=ATOL, err_msg=name)


def _cases(world: int):
    return st.fixed_dictionaries({
        "n_layer": st.integers(1, 2),
        "n_head": st.sampled_from([world, 2 * world]),
        "n_embd": st.just(16),
        "dropout": st.sampled_from([0.0, 0.0, 0.25]),
        "bias": st.booleans(),
        "B": st.integers(1, 2),
        "T": st.integers(1, 8),
        "seed": st.integers(0, 2**20),
    })  # fmt: skip


@settings(max_examples=4)
@given(data=st.data())
@pytest.mark.parametrize("world", [2, 4])
def test_split_gpt_equals_one_process_logits_loss_and_every_gradient(world, data):
    case = data.draw(_cases(world))
    reference = _single(case)
    _compare(dist.spawn(_tensor_parallel, world, args=(case,)), lambda rank: reference)


def test_two_tensor_parallel_pairs_side_by_side_use_their_own_groups():
    case = {"n_layer": 1, "n_head": 2, "n_embd": 16, "dropout": 0.25, "bias": True, "B": 2,
            "T": 5, "seed": 3}  # fmt: skip
    references = [_single(dict(case, seed=3 + g)) for g in range(2)]
    _compare(dist.spawn(_tensor_parallel, 4, args=(case, "shm", 2)),
             lambda rank: references[rank // 2])  # fmt: skip


def test_a_group_of_one_is_the_model_itself():
    case = {"n_layer": 2, "n_head": 4, "n_embd": 16, "dropout": 0.1, "bias": True, "B": 2,
            "T": 8, "seed": 5}  # fmt: skip
    _compare([_tensor_parallel(0, case, backend=None)], lambda rank: _single(case))


def test_the_full_checkpoint_loads_into_a_plain_gpt(tmp_path):
    case = {"n_layer": 1, "n_head": 2, "n_embd": 8, "dropout": 0.0, "bias": False, "B": 1,
            "T": 3, "seed": 1}  # fmt: skip
    model = tg.parallelize_gpt(_gpt(case))
    plain = GPT(_config(case)).double()
    plain.load_state_dict(tg.full_state_dict(model))
    assert all(np.array_equal(a.numpy(), b.numpy()) for a, b in
               zip(plain.parameters(), _gpt(case).parameters()))  # fmt: skip
    clone = copy.deepcopy(model)  # the marks survive a copy
    assert clone.transformer.h[0].attn.c_attn.weight.tensor_parallel_dim == 0
    assert not hasattr(clone.transformer.wte.weight, "tensor_parallel_dim")


# ------------------------------------------------------------------------------ errors
def _refusals(rank: int) -> list[str]:
    dist.init_process_group("shm")
    seen = []
    for build in (
        lambda: tg.parallelize_gpt(GPT(GPTConfig(vocab_size=8, block_size=4, n_layer=1, n_head=3,
                                                 n_embd=12))),
        lambda: tp.ColumnParallelLinear(4, 3),
        lambda: tp.RowParallelLinear(3, 4),
        lambda: tp.scatter_to_parallel(minillm.ones(2, 3)),
    ):  # fmt: skip
        try:
            build()
        except ValueError as e:
            seen.append(str(e))
    return seen


def test_sizes_that_do_not_divide_are_refused_by_name():
    """(n_embd % n_head == 0, so 4*n_embd divides whenever n_head does: the MLP's own check in
    parallelize_gpt cannot fire for a valid GPTConfig; the layers' checks stand for it.)"""
    seen = dist.spawn(_refusals, 2)[0]
    assert len(seen) == 4
    assert "n_head=3 is not divisible by the tensor-parallel group size 2" in seen[0]
    assert "ColumnParallelLinear: out_features=3 is not divisible by the tensor-parallel group " \
        "size 2" in seen[1]  # fmt: skip
    assert "RowParallelLinear: in_features=3 is not divisible" in seen[2]
    assert "last dimension (3) is not divisible by the group size (2)" in seen[3]


def test_parallelize_twice_and_other_misuse_are_refused():
    model = tg.parallelize_gpt(GPT(GPTConfig(vocab_size=8, block_size=4, n_layer=1, n_head=2,
                                             n_embd=8)))  # fmt: skip
    with pytest.raises(ValueError, match="already tensor-parallel"):
        tg.parallelize_gpt(model)
    with pytest.raises(TypeError, match="expected a minillm GPT"):
        tg.parallelize_gpt(nn.Linear(2, 2))
    with pytest.raises(TypeError, match=r"expected an nn\.Linear"):
        tp.ColumnParallelLinear.from_linear(nn.LayerNorm(2))
    with pytest.raises(ValueError, match=r"is \(24, 8\) in the unsplit model, but the array"):
        tg.shard_array(model, "transformer.h.0.attn.c_attn.weight", np.zeros((8, 8)))
    with pytest.raises(ValueError, match="gather_output needs rows dealt out in order"):
        tp.ColumnParallelLinear.from_linear(nn.Linear(2, 2), gather_output=True, order=[1, 0])
    with pytest.raises(ValueError, match="permutation of range"):
        tp.ColumnParallelLinear.from_linear(nn.Linear(2, 2), order=[0, 0])


# ------------------------------------------------------------------------------ the mpi backend
MPI_CASE = {"n_layer": 2, "n_head": 4, "n_embd": 16, "dropout": 0.25, "bias": True, "B": 2,
            "T": 8, "seed": 7}  # fmt: skip


def _mpi_main() -> None:
    """Run under ``mpiexec -n N python tests/test_parallel_tensor.py``: the GPT check on MPI."""
    dist.init_process_group("mpi")
    rank, world = dist.get_rank(), dist.get_world_size()
    try:
        _compare([_tensor_parallel(rank, MPI_CASE, backend="mpi")], lambda r: _single(MPI_CASE))
        problems = 0
    except AssertionError as e:
        print(f"rank {rank}: {e}", file=sys.stderr, flush=True)
        problems = 1
    counts = [np.zeros(1) for _ in range(world)]
    dist.all_gather(counts, np.array([float(problems)]))
    if rank == 0:
        print(f"{world} ranks, problems: {[int(c[0]) for c in counts]}", flush=True)


def test_the_split_gpt_under_mpiexec(mpiexec):
    done = subprocess.run([mpiexec, "-n", "2", sys.executable, __file__], capture_output=True,
                          text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "2 ranks, problems: [0, 0]", done.stderr


def test_the_in_place_reduce_makes_a_saver_of_its_input_raise():
    """RowParallelLinear sums its partial product in place; had an op saved that array, its
    backward must refuse (the version moved), not use the changed values."""
    layer = tp.RowParallelLinear(4, 3).double()
    x = minillm.randn(2, 4, dtype=np.float64, requires_grad=True)
    out = layer(x)
    out.sum().backward()  # the layer alone: nothing saved the partial product, so this works
    a = minillm.randn(2, 3, dtype=np.float64, requires_grad=True)
    b = a * 1.0
    c = b * b  # saves b
    tp.ReduceFromParallel.apply(b, in_place=True)
    b._bump_version()  # as RowParallelLinear does after the call
    with pytest.raises(RuntimeError, match="saved for backward, was changed in place"):
        c.sum().backward()


if __name__ == "__main__":
    _mpi_main()
