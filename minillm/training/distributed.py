"""``minillm train --nproc N`` and ``mpiexec -n N minillm train --backend mpi``: one run, N ranks.

Each process (rank) builds the same Trainer (same seed, so the same model, tokenizer and
checkpoint), wraps the model in ``DistributedDataParallel`` and trains on its share of every
batch. What makes N processes with ``--batch-size B`` equal one process with ``--batch-size N·B``:

* **the batches.** Every rank draws the starts of all N·B windows from the same seeded stream and
  keeps rows ``rank·B .. rank·B + B`` (``Ranks.windows``): disjoint, and together the one-process
  batch. The stream stays the same on every rank, so the checkpoint's RNG state fits any N.
* **the step.** DDP averages the gradients, so every rank clips the same norm and takes the same
  AdamW step; the logged loss is the ranks' mean (one all-reduce, which also carries a stop
  request: Ctrl-C or SIGTERM seen by any rank stops all of them after the same step).
* **dropout** (when on) draws each rank's masks from a stream of its own, seeded by (seed, step,
  micro-batch, rank): different masks for different rows, as one process would draw, and no state
  to save. (The masks are not one process's masks, so with dropout the runs agree in
  distribution, not bit for bit.)
* **evaluation** splits each validation batch the same way and averages.

Only rank 0 locks the folder and writes the config, tokenizer, checkpoint, metrics and plot, and
only it prints. A checkpoint is the single-process format: resume on any N, or on one process.

The launcher (``launch``) runs the ranks with ``minillm.parallel.spawn`` and, with
``--max-restarts K``, starts them all again from the last checkpoint when one dies (torchrun's
rule), up to K times.

Read next: ``minillm/parallel/ddp.py`` and ``minillm/training/trainer.py``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import time
from typing import Any

import numpy as np

from minillm import random
from minillm.data.windows import random_windows
from minillm.parallel import group as dist
from minillm.tensor import Tensor
from minillm.training.model_parallel import Layout, make_groups


class Ranks:
    """This process's place in the run: ``rank`` of ``world_size`` (0 of 1 without a group), and
    with model parallelism (``layout``), its model group and data group
    (``minillm/training/model_parallel.py``)."""

    def __init__(self, rank: int = 0, world_size: int = 1, layout: Layout | None = None) -> None:
        self.rank, self.world_size = rank, world_size
        self.main = rank == 0
        self.layout = Layout() if layout is None else layout
        K = self.layout.model_parallel
        self.model_rank, self.data_rank, self.data_size = rank % K, rank // K, world_size // K
        self.model_group = self.data_group = None
        if K > 1:
            self.model_group, self.data_group = make_groups(rank, world_size, K)

    def windows(
        self, ids: np.ndarray, batch_size: int, block_size: int, rng: Any = None
    ) -> tuple[Tensor, Tensor]:
        """This rank's ``batch_size`` rows of one draw of ``data_size * batch_size`` windows (the
        ranks of one model group read the same rows)."""
        if self.data_size == 1:
            return random_windows(ids, batch_size, block_size, rng)
        x, y = random_windows(ids, batch_size * self.data_size, block_size, rng)
        rows = slice(self.data_rank * batch_size, (self.data_rank + 1) * batch_size)
        return Tensor(x.data[rows]), Tensor(y.data[rows])

    def dropout_stream(self, seed: int, step: int, micro: int) -> Any:
        """Draws for this rank's forward: a stream per data rank with several, else the run's
        (the parts of one model draw alike, as one process would)."""
        pipeline = self.layout.kind == "pipeline"
        if self.data_size == 1 and not pipeline:
            return contextlib.nullcontext()
        # A pipeline's stages draw for different layers: from the run's stream, they would leave
        # it in different places on different ranks, and the next batch would differ. The
        # tensor-parallel parts of one copy must draw alike (their activations are shared).
        key = (seed, step, micro, self.data_rank) + ((self.model_rank,) if pipeline else ())
        return random.fork_rng(key)

    def agree(self, loss: float, stop: int | None) -> tuple[float, int | None]:
        """The mean loss over the ranks, and a stop signal if any rank has seen one (one
        all_gather: every rank gets every (loss, signal) pair and reduces them alike)."""
        if self.world_size == 1:
            return loss, stop
        pairs = [np.zeros(2) for _ in range(self.world_size)]
        dist.all_gather(pairs, np.array([loss, float(stop or 0)]))
        mean = float(np.mean([p[0] for p in pairs]))
        return mean, (int(max(p[1] for p in pairs)) or None)

    def mean(self, values: list[float]) -> list[float]:
        """Each value averaged over the ranks (each rank's losses on its rows of one batch)."""
        if self.world_size == 1:
            return values
        array = np.array(values, dtype=np.float64)
        dist.all_reduce(array, dist.ReduceOp.AVG)
        return array.tolist()

    def check_same(self, what: str, value: Any) -> None:
        """Raise unless every rank holds the same ``value`` (a JSON-able description)."""
        if self.world_size == 1:
            return
        digest = hashlib.sha256(json.dumps(value, sort_keys=True).encode()).digest()
        mine = np.frombuffer(digest[:8], dtype=np.int64).astype(np.float64)
        low, high = mine.copy(), mine.copy()
        dist.all_reduce(low, dist.ReduceOp.MIN)
        dist.all_reduce(high, dist.ReduceOp.MAX)
        if low[0] != high[0]:
            raise RuntimeError(f"the ranks built different {what}s")


def _worker(rank: int, cfg: Any, resume: bool, overwrite: bool, no_progress: bool,
            backend: str, layout: Layout) -> int:  # fmt: skip
    """One rank of ``minillm train``: build the Trainer, agree that every rank could, train."""
    from minillm import cli, machine
    from minillm.training import Trainer, TrainingError

    if backend == "shm":
        dist.init_process_group("shm")
    world = dist.get_world_size()
    if layout.model_parallel == 0:  # (under mpiexec: the whole world, now that it is known)
        layout = dataclasses.replace(layout, model_parallel=world)
    try:
        layout.check(world, cfg)
    except ValueError as e:  # every rank finds it; one says it
        return cli._fail("train", e) if rank == 0 else cli.EXIT_USAGE
    if cfg.threads == 0:  # share the cores instead of every rank starting a pool on all of them
        machine.set_threads(max(1, machine.available_cores() // world))
    say = cli.say if rank == 0 else (lambda *parts: None)
    note = layout.note(cfg)
    if note:
        say(note)
    trainer, error = None, None
    try:
        trainer = Trainer(cfg, resume=resume, overwrite=overwrite, log=say,
                          ranks=Ranks(rank, world, layout))  # fmt: skip
    except (OSError, ValueError, TrainingError) as e:
        error = e
    except KeyboardInterrupt as e:  # Ctrl-C or SIGTERM while setting up: nothing to save
        dist.abort_peers()
        status = cli._signal_status(e)
        if rank == 0:
            name = "SIGTERM" if status == 128 + 15 else "Ctrl-C"
            cli._fail("train", f"stopped by {name} while setting up; nothing was trained", status)
        return status
    first = np.array([float(world if error is None else rank)])  # the lowest rank that failed
    dist.all_reduce(first, dist.ReduceOp.MIN)
    if first[0] < world:  # no rank trains; the first to fail says why, in one line
        if trainer is not None:
            trainer.close()
        if rank == int(first[0]):
            return cli._fail("train", error if rank == 0 else f"rank {rank}: {error}")
        return cli.EXIT_USAGE
    assert trainer is not None
    with trainer:
        try:
            status = cli.train_with(trainer, cfg, no_progress, say)
        except dist.DistributedError as e:  # a peer failed (it says why) or timed out
            if not isinstance(e, dist.PeerFailedError):
                cli._fail("train", e, 1)
            dist.abort_peers()
            return 1
        except KeyboardInterrupt as e:  # a signal outside the loop (the sample, say)
            dist.abort_peers()
            status = cli._signal_status(e)
            if rank == 0:
                cli._fail("train", f"stopped by a signal at step {trainer.step}. "
                          f"{trainer.kept()}", status)  # fmt: skip
            return status
    stopped_together = status > 128 and trainer.saved_step == trainer.step
    if status not in (0, cli.EXIT_DIVERGED) and not stopped_together:  # (divergence is agreed)
        dist.abort_peers()  # they may be waiting for this rank in a collective
    return status


def launch(cfg: Any, resume: bool, overwrite: bool, no_progress: bool, nproc: int,
           max_restarts: int, layout: Layout | None = None) -> int:  # fmt: skip
    """Run ``nproc`` ranks of the training on this machine; restart them from the last checkpoint
    when one dies, up to ``max_restarts`` times. Returns the exit status."""
    from minillm import cli
    from minillm.parallel import ProcessExitedException, ProcessRaisedException, shm, spawn
    from minillm.training.config import CHECKPOINT

    layout = Layout() if layout is None else layout
    layout.check(nproc, cfg)
    box = shm.BOX_BYTES  # a pipeline's message: one micro-batch's activations (B, T, C), float32
    if layout.kind == "pipeline":
        box = max(box, cfg.batch_size * cfg.block_size * cfg.n_embd * 4)
    restarts = 0
    started = time.time()  # a checkpoint older than this is not this run's (--overwrite)
    while True:
        try:
            statuses = spawn(
                _worker,
                nproc,
                box_bytes=box,
                args=(cfg, resume, overwrite, no_progress, "shm", layout),
            )
        except (ProcessRaisedException, ProcessExitedException) as e:
            first = str(e).splitlines()[0]
            if restarts >= max_restarts:
                note = f" (after {restarts} restarts)" if restarts else ""
                return cli._fail("train", f"{first}{note}; {_kept(cfg, CHECKPOINT)}", 1)
            restarts += 1
            checkpoint = _out(cfg) / CHECKPOINT
            ours = checkpoint.exists() and (resume or checkpoint.stat().st_mtime >= started)
            resume, overwrite = ours, not ours
            cli.say(f"{first}; restarting all {nproc} processes from "
                    f"{'the last checkpoint' if resume else 'the start'} "
                    f"(restart {restarts} of {max_restarts})")  # fmt: skip
            continue
        interrupted = [s for s in statuses if s > 128]
        if interrupted:
            return interrupted[0]
        return statuses[0] or max(statuses)


def _out(cfg: Any) -> Any:
    from pathlib import Path

    return Path(cfg.out_dir)


def _kept(cfg: Any, checkpoint: str) -> str:
    path = _out(cfg) / checkpoint
    return f"the last checkpoint is kept in {path}" if path.exists() else "no checkpoint was saved"


def run_mpi(cfg: Any, resume: bool, overwrite: bool, no_progress: bool,
            layout: Layout | None = None) -> int:  # fmt: skip
    """This process's rank of a run started by ``mpiexec`` (a ``layout`` whose
    ``model_parallel`` is 0 spans the whole world)."""
    dist.init_process_group("mpi")
    try:
        status = _worker(dist.get_rank(), cfg, resume, overwrite, no_progress, "mpi",
                         Layout() if layout is None else layout)  # fmt: skip
    finally:
        dist.destroy_process_group()
    return status
