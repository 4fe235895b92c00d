"""Model parallelism on one laptop: a GPT split by heads across two processes, then cut into two
pipeline stages, each checked against the same GPT in one process.

The script prints, in order:

1. tensor parallel: each of the two processes holds half of every block (half the heads of
   attention, half the MLP's hidden units) and the largest difference between their logits and
   gradients and the one-process model's (float64: ~1e-15), with the parameters each holds;
2. pipeline parallel: the same GPT cut into two stages of two blocks, fed eight micro-batches
   on the GPipe schedule, then on 1F1B: each stage's timeline as a text Gantt chart (``F3`` is
   micro-batch 3's forward, ``.`` idle), the measured bubble beside (p-1)/(m+p-1), and the most
   micro-batches whose activations a stage held at once (GPipe: all 8; 1F1B: at most p - s).

A model this small computes a micro-batch in well under a millisecond, so the time a message
takes to arrive is not small beside it and the measured bubble sits above the formula; with
real work per stage the two meet (``benchmarks/bench_model_parallel.py``, ``docs/parallelism.md``).

Run:  python examples/15_model_parallel.py     (a few seconds)
"""

from __future__ import annotations

import numpy as np

import minillm
from minillm import parallel as dist
from minillm.models.gpt import GPT, GPTConfig

CONFIG = GPTConfig(vocab_size=32, block_size=16, n_layer=4, n_head=4, n_embd=32)


def one_process_reference(x: minillm.Tensor) -> tuple[np.ndarray, dict[str, np.ndarray], GPT]:
    """The unsplit model's logits and gradients (the same seed every process uses)."""
    minillm.manual_seed(0)
    model = GPT(CONFIG).double()
    logits, loss = model(x, x)
    loss.backward()
    return logits.numpy(), {n: p.grad.numpy() for n, p in model.named_parameters()}, model


def tensor_parallel(rank: int) -> str:
    dist.init_process_group("shm")
    x = minillm.from_numpy(np.random.default_rng(1).integers(0, 32, (4, 16)))
    logits_1, grads_1, _ = one_process_reference(x)
    minillm.manual_seed(0)
    model = dist.parallelize_gpt(GPT(CONFIG).double())  # this rank keeps half of each block
    logits, loss = model(x, x)
    loss.backward()
    worst = max(
        np.abs(dist.unshard_array(model, n, p.grad.numpy()) - grads_1[n]).max()
        for n, p in model.named_parameters()
    )
    held = sum(p.numel() for p in model.parameters())
    return (f"rank {rank}: holds {held:,} of {sum(g.size for g in grads_1.values()):,} "
            f"parameters; logits differ by {np.abs(logits.numpy() - logits_1).max():.1e}, "
            f"gradients by {worst:.1e}")  # fmt: skip


def pipeline(rank: int, schedule: str) -> str:
    dist.init_process_group("shm")
    x = minillm.from_numpy(np.random.default_rng(1).integers(0, 32, (8, 16)))
    _, grads_1, _ = one_process_reference(x)
    minillm.manual_seed(0)
    pipe = dist.Pipe(GPT(CONFIG).double(), micro_batches=8, schedule=schedule)
    pipe.train_step(x, x)  # a first step compiles the kernels, so the second is timed fairly
    pipe.zero_grad()
    pipe.train_step(x, x)
    worst = max(np.abs(p.grad.numpy() - grads_1[n]).max() for n, p in pipe.named_parameters())
    events = dist.gather_timeline(pipe)
    peaks = [np.zeros(1) for _ in range(2)]
    dist.all_gather(peaks, np.array([float(pipe.peak_in_flight)]))
    if rank != 0:
        return ""
    return (f"{schedule}: gradients differ from one process's by {worst:.1e}\n"
            f"{dist.format_timeline(events, max_width=90)}\n"
            f"most micro-batches in flight per stage: {[int(p[0]) for p in peaks]}")  # fmt: skip


if __name__ == "__main__":
    print("== 1. tensor parallel over 2 processes ==")
    for line in dist.spawn(tensor_parallel, nprocs=2):
        print(line)
    for schedule in ("gpipe", "1f1b"):
        print(f"\n== 2. pipeline parallel: 2 stages, 8 micro-batches, {schedule} ==")
        print(dist.spawn(pipeline, nprocs=2, args=(schedule,))[0])
