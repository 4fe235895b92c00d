"""Pipeline parallelism (``minillm.parallel.pipeline``) and its timeline (``timeline.py``).

The property: a GPT cut into p stages, fed m micro-batches on either schedule, returns the
unsplit model's full-batch loss and leaves on every stage the unsplit model's gradients of that
stage's parameters (float64, 1e-12), the tied wte included. Workers are module-level functions
and each run spawns at most 4 tiny processes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import minillm
from minillm import parallel as dist
from minillm.models.gpt import GPT, GPTConfig
from minillm.parallel.pipeline import Pipe, _balance, schedule_order
from minillm.parallel.timeline import (
    Event,
    bubble_fraction,
    chrome_trace,
    events_from_array,
    events_to_array,
    format_timeline,
    gather_timeline,
    plot_timeline,
    simulate,
    theoretical_bubble,
)

CFG = GPTConfig(vocab_size=16, block_size=8, n_layer=4, n_head=2, n_embd=8)
TOL = 1e-12


pytestmark = pytest.mark.usefixtures("no_leaked_segments")  # (tests/conftest.py)


def _gpt64(seed: int = 5) -> GPT:
    minillm.manual_seed(seed)
    return GPT(CFG).double()


def _batch(n: int = 4, seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.integers(0, CFG.vocab_size, size=(n, CFG.block_size))
    y = np.roll(x, -1, axis=1)
    y[0, :5] = -1  # ignored targets, unevenly spread: each micro-batch's weight is not 1/m
    return x, y


def _reference(x: np.ndarray, y: np.ndarray) -> tuple[float, dict[str, np.ndarray]]:
    model = _gpt64()
    _, loss = model(minillm.tensor(x), minillm.tensor(y))
    loss.backward()
    grads = {n: p.grad.numpy() for n, p in model.named_parameters(remove_duplicate=False)}
    return loss.item(), grads


# ------------------------------------------------------------------------------ workers
def _property_worker(rank: int, world: int, backend: str = "shm") -> list:
    """For both schedules and m in {1, 2, 4}: loss, gradients, names; the gathered timeline."""
    if backend == "shm":
        dist.init_process_group("shm")
    x, y = _batch()
    ref_loss, ref_grads = _reference(x, y)
    results = []
    for schedule in ("gpipe", "1f1b"):
        for m in (1, 2, 4):
            pipe = Pipe(_gpt64(), micro_batches=m, schedule=schedule)
            loss = pipe.train_step(x, y)
            problems = []
            if abs(loss - ref_loss) > TOL:
                problems.append(f"loss {loss} != {ref_loss}")
            names = dict(pipe.named_parameters(remove_duplicate=False))
            for name, p in names.items():
                err = np.abs(p.grad.numpy() - ref_grads[name]).max()
                if err > TOL:
                    problems.append(f"{name}: {err:.2e}")
            blocks = {int(n.split(".")[2]) for n in names if n.startswith("transformer.h.")}
            if blocks != set(pipe.layers) or len(names) >= len(ref_grads):
                problems.append(f"stage {rank} holds blocks {sorted(blocks)}")
            if ("transformer.wte.weight" in names) != (pipe.is_first or pipe.is_last):
                problems.append("wte placement")
            events = events_to_array(gather_timeline(pipe))
            results.append((schedule, m, problems, pipe.peak_in_flight, events))
    return results


def _training_worker(rank: int, world: int, steps: int, balance: list | None,
                     backend: str = "shm") -> dict:  # fmt: skip
    """A few AdamW steps (with clipping) through the Pipe: the unsplit weights afterwards."""
    if backend == "shm":
        dist.init_process_group("shm")
    pipe = Pipe(_gpt64(), micro_batches=2, schedule="1f1b", balance=balance)
    opt = minillm.optim.AdamW(pipe.parameters(), lr=1e-2)
    for step in range(steps):
        x, y = _batch(4, seed=step)
        pipe.train_step(x, y)
        pipe.clip_grad_norm_(0.5)
        opt.step()
        opt.zero_grad()
    full = pipe.full_state_dict()
    # the unsplit checkpoint loads back into a fresh Pipe; an array gathers by name
    other = Pipe(_gpt64(seed=9), micro_batches=2, balance=balance)
    other.load_full_state_dict(full)
    x, y = _batch(4, seed=11)
    same = other.evaluate(x, y) == pipe.evaluate(x, y)
    name = f"transformer.h.{CFG.n_layer - 1}.mlp.c_fc.weight"
    local = dict(pipe.named_parameters()).get(name)
    gathered = pipe.unshard_array(name, None if local is None else local.numpy())
    state = np.arange(6, dtype=np.float32).reshape(2, 3) + rank  # an optimizer state, say
    odd = [
        pipe.unshard_array("lm_head.weight", state if pipe.is_last else None),
        pipe.unshard_array("transformer.wpe.weight", np.int64(7) if pipe.is_first else None),
    ]
    logits = pipe.forward_logits(x)
    return {"full": full, "same": same, "gathered": gathered, "odd": odd,
            "logits": None if logits is None else logits.numpy()}  # fmt: skip


def _reference_training(steps: int) -> tuple[dict[str, np.ndarray], GPT]:
    model = _gpt64()
    opt = minillm.optim.AdamW(model.parameters(), lr=1e-2)
    for step in range(steps):
        x, y = _batch(4, seed=step)
        _, loss = model(minillm.tensor(x), minillm.tensor(y))
        loss.backward()
        minillm.nn.utils.clip_grad_norm_(model.parameters(), 0.5)
        opt.step()
        opt.zero_grad()
    return {k: v.numpy() for k, v in model.state_dict().items()}, model


# ------------------------------------------------------------------------------ the property
def _check_property(results: list, world: int) -> None:
    for per_rank in zip(*results):  # one (schedule, m) at a time, every rank's view
        schedule, m = per_rank[0][:2]
        for rank, (_, _, problems, peak, _) in enumerate(per_rank):
            assert problems == [], (schedule, m, rank, problems)
            assert peak == (min(world - rank, m) if schedule == "1f1b" else m), (m, rank, peak)
        events = events_from_array(per_rank[0][4])
        assert all(np.array_equal(r[4], per_rank[0][4]) for r in per_rank)
        _check_timeline(events, world, m, schedule)


def _check_timeline(events: list[Event], p: int, m: int, schedule: str) -> None:
    at = {(e.stage, e.kind, e.micro_batch): e for e in events}
    assert len(at) == len(events) == 2 * m * p
    for s in range(p):
        mine = sorted((e for e in events if e.stage == s), key=lambda e: e.start)
        assert [(e.kind, e.micro_batch) for e in mine] == schedule_order(schedule, p, s, m)
        for i in range(m):
            assert at[s, "F", i].end <= at[s, "B", i].start
            if s > 0:  # causality: the activation had to arrive
                assert at[s, "F", i].start >= at[s - 1, "F", i].end
            if s < p - 1:
                assert at[s, "B", i].start >= at[s + 1, "B", i].end
    assert 0.0 <= bubble_fraction(events) < 1.0


@pytest.mark.parametrize("world", [2, 3, 4])
def test_pipe_equals_the_unsplit_model(world):
    _check_property(dist.spawn(_property_worker, world, args=(world,)), world)


def _tied_in_pieces(rank: int) -> float:
    """The tied gradient exchange in many small pieces (a 64-byte piece, a 64-byte mailbox)."""
    dist.init_process_group("shm")
    from minillm.parallel import pipeline

    pipeline.TIED_PIECE_BYTES = 64
    pipe = Pipe(_gpt64(), micro_batches=1)
    x, y = _batch(1)
    pipe.train_step(x, y)
    _, ref_grads = _reference(x, y)
    return float(
        np.abs(pipe.transformer.wte.weight.grad.numpy() - ref_grads["lm_head.weight"]).max()
    )


def test_the_tied_gradient_goes_in_pieces_that_fit_the_mailbox():
    # activations of one sequence: 8 x 8 float64 = 512 bytes, the mailbox; wte's 16 x 8 are not
    assert max(dist.spawn(_tied_in_pieces, 2, box_bytes=512)) < TOL


@pytest.mark.parametrize("world,balance", [(2, None), (3, [1, 2, 1])])
def test_training_through_the_pipe_equals_the_unsplit_model(world, balance):
    steps = 3
    reference, model = _reference_training(steps)
    x, _ = _batch(4, seed=11)
    ref_logits, _ = model(minillm.tensor(x))
    results = dist.spawn(_training_worker, world, args=(world, steps, balance))
    for rank, got in enumerate(results):
        assert list(got["full"]) == list(reference)
        for name, value in reference.items():
            np.testing.assert_allclose(got["full"][name], value, rtol=0, atol=1e-10, err_msg=name)
        assert got["same"]
        name = f"transformer.h.{CFG.n_layer - 1}.mlp.c_fc.weight"
        np.testing.assert_array_equal(got["gathered"], got["full"][name])
        last, first = got["odd"]
        assert last.dtype == np.float32 and last.tolist() == (np.arange(6.0).reshape(2, 3) +
                                                              world - 1).tolist()  # fmt: skip
        assert first.dtype == np.int64 and first.shape == () and first == 7
        if rank == world - 1:
            np.testing.assert_allclose(got["logits"], ref_logits.numpy(), rtol=0, atol=1e-10)
        else:
            assert got["logits"] is None


def _data_times_pipeline(rank: int) -> tuple:
    """4 ranks = 2 data-parallel replicas x 2 stages: pipelines {0, 2} and {1, 3} (stage =
    rank // 2), data groups {0, 1} and {2, 3} (one per stage). Every rank makes every group."""
    dist.init_process_group("shm")
    pipes = [dist.group.new_group([0, 2]), dist.group.new_group([1, 3])]
    datas = [dist.group.new_group([0, 1]), dist.group.new_group([2, 3])]
    replica, stage = rank % 2, rank // 2
    pipe = Pipe(_gpt64(), group=pipes[replica], micro_batches=2)
    assert pipe.stage == stage and pipe.ranks == [replica, replica + 2]
    x, y = _batch(8)
    y = np.roll(x, -1, axis=1)  # no ignored targets: the mean of the halves' means is the mean
    loss = pipe.train_step(x[4 * replica : 4 * replica + 4], y[4 * replica : 4 * replica + 4])
    dist.all_reduce_gradients(pipe.parameters(), group=datas[stage])
    loss_of_both = np.array([loss])
    dist.all_reduce(loss_of_both, dist.ReduceOp.AVG)
    ref_loss, ref_grads = _reference(x, y)
    errors = [np.abs(p.grad.numpy() - ref_grads[n]).max() for n, p in pipe.named_parameters()]
    return abs(float(loss_of_both[0]) - ref_loss), max(errors)


def test_pipelines_inside_data_parallel_groups():
    for loss_error, grad_error in dist.spawn(_data_times_pipeline, 4):
        assert loss_error < TOL and grad_error < TOL


def test_one_stage_is_the_model():
    x, y = _batch()
    ref_loss, ref_grads = _reference(x, y)
    pipe = Pipe(_gpt64(), micro_batches=2)
    assert [n for n, _ in pipe.named_parameters()] == [n for n, _ in _gpt64().named_parameters()]
    assert pipe.train_step(x, y) == pytest.approx(ref_loss, abs=TOL)
    for name, p in pipe.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), ref_grads[name], rtol=0, atol=TOL)
    logits, loss = pipe(minillm.tensor(x), minillm.tensor(y))
    assert loss.item() == pytest.approx(ref_loss, abs=TOL) and logits.shape == (4, 8, 16)
    assert pipe.owner("transformer.h.3.attn.c_attn.weight") == 0
    full = pipe.full_state_dict()
    assert list(full) == list(_gpt64().state_dict())


def test_errors_are_clear():
    with pytest.raises(ValueError, match="fewer than the 4 stages"):
        _balance(2, 4, None)
    with pytest.raises(ValueError, match="balance must list 2 block counts"):
        _balance(4, 2, [3, 2])
    with pytest.raises(ValueError, match="balance must list 2 block counts"):
        _balance(4, 2, [4, 0])
    assert _balance(5, 2, None) == [3, 2] and _balance(4, 2, [1, 3]) == [1, 3]
    with pytest.raises(ValueError, match="balance must list 1 block counts"):
        Pipe(_gpt64(), balance=[2])
    with pytest.raises(ValueError, match="schedule must be one of"):
        Pipe(_gpt64(), schedule="zigzag")
    with pytest.raises(ValueError, match="micro_batches must be an integer"):
        Pipe(_gpt64(), micro_batches=0)
    with pytest.raises(TypeError, match="expected a minillm GPT"):
        Pipe(minillm.nn.Linear(2, 2))
    x, y = _batch(6)
    with pytest.raises(ValueError, match="batch size 6 is not divisible by micro_batches=4"):
        Pipe(_gpt64(), micro_batches=4).train_step(x, y)
    with pytest.raises(KeyError, match="not a parameter name"):
        Pipe(_gpt64()).owner("transformer.h.9.attn.c_attn.weight")


def _too_few_layers(rank: int) -> None:
    dist.init_process_group("shm")
    minillm.manual_seed(0)
    Pipe(GPT(GPTConfig(vocab_size=16, block_size=8, n_layer=1, n_head=2, n_embd=8)))


def test_a_gpt_with_fewer_blocks_than_stages_is_refused():
    with pytest.raises(dist.ProcessRaisedException, match="n_layer=1 blocks, fewer than the 2"):
        dist.spawn(_too_few_layers, 2)


# ------------------------------------------------------------------------------ the timeline
@pytest.mark.parametrize("schedule", ["gpipe", "1f1b"])
@pytest.mark.parametrize("p,m", [(1, 3), (2, 1), (2, 4), (4, 4), (4, 8), (3, 2)])
def test_ideal_stages_have_the_theoretical_bubble(schedule, p, m):
    events = simulate([schedule_order(schedule, p, s, m) for s in range(p)], 1.0, 2.0)
    _check_timeline(events, p, m, schedule)
    assert bubble_fraction(events) == pytest.approx(theoretical_bubble(p, m), abs=1e-12)
    text = format_timeline(events)
    assert all(f"stage {s} |" in text and f"stage {s}:" in text for s in range(p))


def test_gantt_line_and_table():
    events = simulate([schedule_order("1f1b", 2, s, 2) for s in range(2)])
    lines = format_timeline(events).splitlines()
    assert "stage 0 |F0 F1 ...B0 ...B1 |" in lines and "stage 1 |...F0 B0 F1 B1 ...|" in lines
    assert any("theoretical (p-1)/(m+p-1) = 0.333" in line for line in lines)
    assert theoretical_bubble(4, 4) == pytest.approx(3 / 7)
    with pytest.raises(ValueError, match="deadlock"):
        simulate([[("B", 0), ("F", 0)], [("F", 0), ("B", 0)]])


def test_chrome_trace_and_png(tmp_path):
    events = simulate([schedule_order("gpipe", 2, s, 2) for s in range(2)])
    path = chrome_trace(events, tmp_path / "trace.json")
    trace = json.loads(path.read_text())["traceEvents"]
    boxes = [e for e in trace if e["ph"] == "X"]
    assert len(boxes) == 8 and {e["tid"] for e in boxes} == {0, 1}
    assert {e["name"] for e in boxes} == {"F0", "F1", "B0", "B1"}
    first = min(boxes, key=lambda e: e["ts"])
    assert first["ts"] == 0 and first["dur"] == 1e6 and first["pid"] == 0
    pytest.importorskip("matplotlib")
    png = plot_timeline(events, tmp_path / "timeline.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(os.listdir(tmp_path)) == ["timeline.png", "trace.json"]  # no temporary left


# ------------------------------------------------------------------------------ under mpiexec
def _mpi_main() -> None:
    """``mpiexec -n 2 python tests/test_parallel_pipeline.py``: the property on MPI."""
    dist.init_process_group("mpi")
    rank, world = dist.get_rank(), dist.get_world_size()
    problems = []
    for schedule, m, probs, _, _ in _property_worker(rank, world, backend="mpi"):
        problems += [f"{schedule} m={m}: {p}" for p in probs]
    if problems:
        print(f"rank {rank}: {problems}", file=sys.stderr, flush=True)
    counts = [np.zeros(1) for _ in range(world)]
    dist.all_gather(counts, np.array([float(len(problems))]))
    if rank == 0:
        print(f"{world} ranks, problems: {[int(c[0]) for c in counts]}", flush=True)


def test_the_pipe_under_mpiexec(mpiexec):
    done = subprocess.run([mpiexec, "-n", "2", sys.executable, __file__], capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "2 ranks, problems: [0, 0]", done.stderr


def test_one_process_pipe_clips_as_the_model_does():
    """With no process group the Pipe is the whole model, and clips as nn.utils does."""
    minillm.manual_seed(3)
    model = GPT(CFG).double()
    x = minillm.from_numpy(np.random.default_rng(0).integers(0, 16, (4, 8)))
    model(x, x)[1].backward()
    expected = float(minillm.nn.utils.clip_grad_norm_(model.parameters(), 0.01))
    minillm.manual_seed(3)
    pipe = Pipe(GPT(CFG).double(), micro_batches=2)
    pipe.train_step(x, x)
    assert abs(pipe.clip_grad_norm_(0.01) - expected) < 1e-12
    grads = dict(model.named_parameters())
    for name, p in pipe.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), grads[name].grad.numpy(), atol=1e-12)


if __name__ == "__main__":
    _mpi_main()
