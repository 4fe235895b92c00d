"""Data parallelism on one machine: minillm.parallel's all-reduce and training, beside MPI, torch.

Two processes, one thread each (threadpoolctl ``threadpool_limits(1)`` plus
``minillm.machine.set_threads(1)`` or ``torch.set_num_threads(1)``), on a machine that should
give this process two cores (``os.sched_getaffinity``; a warning is printed otherwise).

1. **All-reduce bandwidth**, float32 SUM over 2 ranks, buffers of 4 KB .. 64 MB, each backend in
   fresh processes: minillm's ``shm`` ring (``minillm.parallel.spawn`` + ``init_process_group``
   ("shm") + ``all_reduce``), mpi4py ``Allreduce`` under ``mpiexec -n 2`` (MPICH), and
   ``torch.distributed`` with gloo. After a warmup, each repeat starts at a barrier and times a
   run of back-to-back all-reduces; the median over repeats is the time per all-reduce.
   algbw = bytes / time, busbw = algbw * 2(N-1)/N (NCCL's convention: the ring's traffic per
   rank), "sent" = 2(N-1)/N * bytes, what each rank must move at the least.
2. **Training tokens/s** (global: every rank's tokens per second) at configs (b) and (a) of
   ``bench_gpt.py`` with the per-rank batch given there, on 1 and 2 processes. minillm is the real
   thing: ``python -m minillm train [--nproc 2] --threads 1`` on a corpus of 256 distinct
   characters (so the vocabulary is the config's 256), the median of ``tokens_per_s`` from its
   metrics.jsonl, skipping the first steps and the last (which evaluates). PyTorch is
   ``reference_gpt.TorchGPT`` in the same shape, AdamW, gradient clipping at 1.0, the same steps
   and per-rank batch, under ``DistributedDataParallel`` (gloo) with 2 processes and plain with 1.

Goals (the data-parallel issue): shm all-reduce >= 0.8x gloo's bandwidth at 16 MB; 2-process
minillm >= 1.0x its own 1-process tokens/s and >= PyTorch DDP's 2-process tokens/s (the reference
measured PyTorch DDP at 1.14x one process on config (b)).

Run:  python benchmarks/bench_parallel.py [--quick]   (rewrites "Data parallel (bench_parallel.py)"
in RESULTS.md; --quick: the two smallest buffers, config (b), a few steps, under a minute)
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _common import machine, markdown_table, update_results

ROOT = Path(__file__).resolve().parent.parent
SECTION = "Data parallel (bench_parallel.py)"
SIZES = [4 << 10, 64 << 10, 1 << 20, 16 << 20, 64 << 20]
WORLD = 2


# ------------------------------------------------------------------------------ one thread
def one_thread(torch_too: bool = False) -> None:
    """This process (and its BLAS, its kernels, and torch if asked) on one thread."""
    from threadpoolctl import threadpool_limits

    from minillm.machine import set_threads

    threadpool_limits(1)
    set_threads(1)
    if torch_too:
        import torch

        torch.set_num_threads(1)


def _schedule(nbytes: int, quick: bool) -> tuple[int, int, int]:
    """(warmup calls, calls per repeat, repeats) for a buffer: ~16 MB of traffic per repeat."""
    number = max(1, min(200, (16 << 20) // nbytes))
    repeats = 3 if quick else (5 if nbytes >= 16 << 20 else 9)
    return max(2, number // 4), number, repeats


def time_all_reduce(all_reduce, barrier, zeros, sizes: list[int], quick: bool) -> list[float]:
    """Median seconds per all-reduce of each size (every rank calls this; rank 0's clock)."""
    medians = []
    for nbytes in sizes:
        buf = zeros(nbytes // 4)  # zeros: a SUM of them stays finite however often it runs
        warmup, number, repeats = _schedule(nbytes, quick)
        for _ in range(warmup):
            all_reduce(buf)
        samples = []
        for _ in range(repeats):
            barrier()
            t0 = time.perf_counter()
            for _ in range(number):
                all_reduce(buf)
            samples.append((time.perf_counter() - t0) / number)
        barrier()
        medians.append(float(np.median(samples)))
    return medians


def _shm_worker(rank: int, sizes: list[int], quick: bool) -> list[float]:
    from minillm import parallel

    one_thread()
    parallel.init_process_group("shm")
    try:
        return time_all_reduce(
            parallel.all_reduce,
            parallel.barrier,
            lambda n: np.zeros(n, np.float32),
            sizes,
            quick,
        )
    finally:
        parallel.destroy_process_group()


def _gloo_worker(rank: int, sizes: list[int], quick: bool, init: str) -> list[float]:
    import torch
    import torch.distributed as tdist

    one_thread(torch_too=True)
    tdist.init_process_group("gloo", init_method=init, rank=rank, world_size=WORLD)
    try:
        return time_all_reduce(
            tdist.all_reduce, tdist.barrier, lambda n: torch.zeros(n), sizes, quick
        )
    finally:
        tdist.destroy_process_group()


def mpi_worker(sizes: list[int], quick: bool) -> None:
    """One rank under ``mpiexec -n 2``; rank 0 prints the medians as JSON."""
    from mpi4py import MPI

    one_thread()
    comm = MPI.COMM_WORLD

    def all_reduce(buf: np.ndarray) -> None:
        comm.Allreduce(MPI.IN_PLACE, buf, op=MPI.SUM)

    out = time_all_reduce(all_reduce, comm.Barrier, lambda n: np.zeros(n, np.float32), sizes, quick)
    if comm.Get_rank() == 0:
        print(json.dumps(out))


def probe_all_reduce(backend: str, sizes: list[int], quick: bool) -> list[float]:
    """(In a fresh process.) The medians of one backend, from rank 0."""
    from minillm.parallel import spawn

    if backend == "shm":
        return spawn(_shm_worker, WORLD, args=(sizes, quick))[0]
    with tempfile.TemporaryDirectory() as tmp:
        init = f"file://{tmp}/rendezvous"
        return spawn(_gloo_worker, WORLD, args=(sizes, quick, init))[0]


def run_probe(args: list[str], timeout: float = 600) -> object:
    out = subprocess.run(
        args, capture_output=True, text=True, timeout=timeout, cwd=ROOT, check=False
    )
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({out.returncode}):\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def all_reduce_table(sizes: list[int], quick: bool) -> tuple[str, dict[str, list[float]]]:
    me, spec = [sys.executable, __file__], json.dumps(sizes)
    flags = ["--quick"] if quick else []
    times: dict[str, list[float]] = {}
    times["minillm shm"] = run_probe(me + ["--probe-all-reduce", "shm", spec] + flags)
    mpiexec = shutil.which("mpiexec") or str(Path(sys.executable).with_name("mpiexec"))
    try:
        import mpi4py  # noqa: F401

        times["mpi4py (MPICH)"] = run_probe(
            [mpiexec, "-n", str(WORLD)] + me + ["--mpi-worker", spec] + flags
        )
    except (ImportError, RuntimeError, FileNotFoundError) as e:
        print(f"warning: mpi4py all-reduce skipped: {str(e).splitlines()[0]}")
    try:
        import torch  # noqa: F401

        times["torch gloo"] = run_probe(me + ["--probe-all-reduce", "gloo", spec] + flags)
    except ImportError:
        print("warning: torch not installed, gloo skipped")
    factor = 2 * (WORLD - 1) / WORLD
    rows = []
    for i, nbytes in enumerate(sizes):
        for name, ts in times.items():
            t = ts[i]
            algbw = nbytes / t
            ratio = ""
            if name == "minillm shm" and "torch gloo" in times:
                ratio = f"{times['torch gloo'][i] / t:.2f}"  # busbw ratio = inverse time ratio
            rows.append([_size(nbytes), name, f"{_size(factor * nbytes)}", f"{t * 1e6:,.1f}",
                         f"{algbw / 1e9:.2f}", f"{algbw * factor / 1e9:.2f}", ratio])  # fmt: skip
    header = ["buffer", "backend", "sent/rank", "µs/all-reduce", "algbw GB/s", "busbw GB/s",
              "shm/gloo busbw"]  # fmt: skip
    return markdown_table(header, rows), times


def _size(nbytes: float) -> str:
    for unit, scale in (("MB", 1 << 20), ("KB", 1 << 10)):
        if nbytes >= scale:
            value = nbytes / scale
            return f"{value:.0f} {unit}" if value == int(value) else f"{value:.1f} {unit}"
    return f"{nbytes:.0f} B"


# ------------------------------------------------------------------------------ training
def configs() -> dict:
    from bench_gpt import CONFIGS

    return CONFIGS


def write_corpus(path: Path, chars: int = 400_000) -> None:
    """Random text over exactly 256 distinct characters: a char vocabulary of 256."""
    alphabet = np.array([chr(0x100 + i) for i in range(256)])
    rng = np.random.default_rng(0)
    text = "".join(alphabet[rng.integers(0, 256, chars)])
    text = "".join(alphabet) + text  # every character is there
    path.write_text(text, encoding="utf-8")


def minillm_train(name: str, nproc: int, steps: int, skip: int, workdir: Path) -> float:
    """Median global tokens/s of ``minillm train`` at a config, from its metrics.jsonl."""
    cfg, B = configs()[name]
    out = workdir / f"run-{nproc}"
    cmd = [sys.executable, "-m", "minillm", "train", "--data", str(workdir / "corpus.txt"),
           "--out-dir", str(out), "--overwrite", "--tokenizer", "char",
           "--n-layer", str(cfg.n_layer), "--n-head", str(cfg.n_head),
           "--n-embd", str(cfg.n_embd), "--block-size", str(cfg.block_size),
           "--batch-size", str(B), "--max-steps", str(steps), "--warmup", "5",
           "--eval-interval", str(steps), "--eval-iters", "1", "--sample-tokens", "0",
           "--threads", "1", "--no-progress", "--nproc", str(nproc)]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env, check=False)
    if res.returncode != 0:
        raise RuntimeError(f"minillm train failed:\n{res.stdout[-2000:]}\n{res.stderr[-3000:]}")
    if f"vocabulary {cfg.vocab_size};" not in res.stdout:
        print(f"warning: the vocabulary is not {cfg.vocab_size}: {res.stdout[:300]}")
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    rates = [r["tokens_per_s"] for r in records[skip:-1]]  # the last step also evaluates
    return float(np.median(rates))


def _torch_worker(rank: int, world: int, name: str, steps: int, skip: int, init: str) -> float:
    import torch
    import torch.distributed as tdist
    from reference_gpt import TorchGPT

    one_thread(torch_too=True)
    cfg, B = configs()[name]
    torch.manual_seed(0)
    model = TorchGPT(**cfg.to_dict())
    net = model
    if world > 1:
        tdist.init_process_group("gloo", init_method=init, rank=rank, world_size=world)
        net = torch.nn.parallel.DistributedDataParallel(model)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, betas=(0.9, 0.99), weight_decay=0.1)
    rng = np.random.default_rng(rank)
    T = cfg.block_size
    times = []
    try:
        for _ in range(steps):
            x = torch.from_numpy(rng.integers(0, cfg.vocab_size, (B, T)))
            y = torch.from_numpy(rng.integers(0, cfg.vocab_size, (B, T)))
            t0 = time.perf_counter()
            _, loss = net(x, y)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            opt.zero_grad(set_to_none=True)
            loss.item()
            times.append(time.perf_counter() - t0)
    finally:
        if world > 1:
            tdist.destroy_process_group()
    return world * B * T / float(np.median(times[skip:]))


def probe_torch_train(name: str, world: int, steps: int, skip: int) -> float:
    """(In a fresh process.) PyTorch's global tokens/s at a config on ``world`` processes."""
    from minillm.parallel import spawn

    with tempfile.TemporaryDirectory() as tmp:
        init = f"file://{tmp}/rendezvous"
        return spawn(_torch_worker, world, args=(world, name, steps, skip, init))[0]


def training_table(names: list[str], steps: int, skip: int) -> tuple[str, dict]:
    rates: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        write_corpus(workdir / "corpus.txt")
        for name in names:
            for nproc in (1, WORLD):
                rates[name, "minillm", nproc] = minillm_train(name, nproc, steps, skip, workdir)
                probe = [sys.executable, __file__, "--probe-torch-train", name, str(nproc),
                         str(steps), str(skip)]  # fmt: skip
                try:
                    rates[name, "PyTorch", nproc] = run_probe(probe)
                except RuntimeError as e:
                    print(f"warning: PyTorch {name} x{nproc} failed: {str(e)[:500]}")
                print(name, nproc, {k[1]: f"{v:,.0f}" for k, v in rates.items()
                                    if k[0] == name and k[2] == nproc})  # fmt: skip
    rows = []
    for name in names:
        for fw in ("minillm", "PyTorch"):
            one, two = rates.get((name, fw, 1)), rates.get((name, fw, WORLD))
            if one is None or two is None:
                continue
            vs = ""
            if fw == "minillm" and (name, "PyTorch", WORLD) in rates:
                vs = f"{two / rates[name, 'PyTorch', WORLD]:.2f}"
            rows.append([name, fw, f"{one:,.0f}", f"{two:,.0f}", f"{two / one:.2f}", vs])
    header = ["config (per-rank B)", "framework", "tokens/s, 1 proc", "tokens/s, 2 procs",
              "2 procs / 1", "minillm / PyTorch, 2 procs"]  # fmt: skip
    return markdown_table(header, rows), rates


# ------------------------------------------------------------------------------ main
def cpu_seconds() -> tuple[float, float]:
    """(CPU seconds every process of the machine has used, those this process and its children
    have), since boot: their difference over the run is the other tenants' load."""
    import resource

    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    busy = sum(fields[:8]) - fields[3] - fields[4]  # all but idle and iowait
    ours = sum(
        r.ru_utime + r.ru_stime
        for r in map(resource.getrusage, (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    )
    return busy / os.sysconf("SC_CLK_TCK"), ours


def other_load(start: float, before: tuple[float, float], busy_note: str) -> str:
    """The sentence on the other tenants' load since ``start`` (``cpu_seconds()`` then), with
    ``busy_note`` added when they used more than a fifth of a core."""
    elapsed = time.perf_counter() - start
    (busy0, ours0), (busy1, ours1) = before, cpu_seconds()
    others = max(0.0, (busy1 - busy0) - (ours1 - ours0)) / elapsed
    load = (f"Other processes used {others:.2f} cores on average during the run (from "
            "/proc/stat less this run's own CPU time)")  # fmt: skip
    return load + (f": the machine was not idle, {busy_note}" if others > 0.2 else "")


def reading(times: dict, rates: dict, sizes: list[int], names: list[str]) -> str:
    parts = []
    if "torch gloo" in times and 16 << 20 in sizes:
        i = sizes.index(16 << 20)
        r = times["torch gloo"][i] / times["minillm shm"][i]
        verdict = "meets" if r >= 0.8 else "misses"
        parts.append(f"At 16 MB the shm ring reaches {r:.2f}x gloo's bus bandwidth ({verdict} "
                     "the 0.8x goal).")  # fmt: skip
    for name in names:
        one, two = rates.get((name, "minillm", 1)), rates.get((name, "minillm", WORLD))
        theirs = rates.get((name, "PyTorch", WORLD))
        if one is None or two is None:
            continue
        text = (
            f"{name.split()[0]}: minillm on 2 processes runs {two / one:.2f}x its 1-process speed"
        )
        text += " (goal >= 1.0: " + ("met" if two >= one else "missed") + ")"
        if theirs is not None:
            text += (f" and {two / theirs:.2f}x PyTorch DDP's 2-process speed (goal >= 1.0: "
                     + ("met" if two >= theirs else "missed") + ")")  # fmt: skip
        parts.append(text + ".")
    return " ".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="a smoke run of under a minute")
    parser.add_argument("--mpi-worker", metavar="SIZES", help=argparse.SUPPRESS)
    parser.add_argument("--probe-all-reduce", nargs=2, metavar=("BACKEND", "SIZES"),
                        help=argparse.SUPPRESS)  # fmt: skip
    parser.add_argument("--probe-torch-train", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.mpi_worker:
        mpi_worker(json.loads(args.mpi_worker), args.quick)
        return
    if args.probe_all_reduce:
        backend, spec = args.probe_all_reduce
        print(json.dumps(probe_all_reduce(backend, json.loads(spec), args.quick)))
        return
    if args.probe_torch_train:
        name, world, steps, skip = args.probe_torch_train
        print(json.dumps(probe_torch_train(name, int(world), int(steps), int(skip))))
        return

    start, before = time.perf_counter(), cpu_seconds()
    cores = len(os.sched_getaffinity(0))
    warning = ""
    if cores != WORLD:
        warning = (f"warning: this process may use {cores} cores, not {WORLD}: the 2-process "
                   "figures do not mean what they say")  # fmt: skip
        print(warning)
    sizes = SIZES[:2] if args.quick else SIZES
    names = list(configs())
    names = [n for n in names if n.startswith("(b)")] if args.quick else names[::-1]  # (b), (a)
    steps, skip = (10, 3) if args.quick else (40, 5)

    ar_table, times = all_reduce_table(sizes, args.quick)
    print(ar_table)
    train_table, rates = training_table(names, steps, skip)
    print(train_table)
    elapsed = time.perf_counter() - start
    load = other_load(start, before, "and the 2-process figures suffer most (two processes on "
                      "two cores wait for each other at every collective, and a third process "
                      "takes the core one of them needs)")  # fmt: skip
    print(load)
    command = "python benchmarks/bench_parallel.py" + (" --quick" if args.quick else "")
    text = reading(times, rates, sizes, names)
    print(text)
    print(f"run time: {elapsed:.0f} s")
    body = (
        f"Command: `{command}` — {datetime.date.today().isoformat()} — machine: {machine()}; "
        f"{cores} cores in this process's affinity; 2 processes, one thread each. "
        f"Run time {elapsed:.0f} s. {load}.\n\n"
        + (f"{warning}\n\n" if warning else "")
        + "All-reduce, float32 SUM over 2 processes (median time per call over repeats started "
        "at a barrier; busbw = algbw x 2(N-1)/N; sent/rank = 2(N-1)/N x buffer):\n\n"
        f"{ar_table}\n\n"
        f"Training, global tokens/s (all ranks' tokens / step time; median over steps "
        f"{skip}..{steps - 2} of {steps}). minillm: `python -m minillm train [--nproc 2] "
        "--threads 1` (the real step: DDP, AdamW, clip 1.0, the mean-loss all-reduce); "
        "PyTorch: TorchGPT, AdamW, clip 1.0, DDP (gloo) on 2 processes:\n\n"
        f"{train_table}\n\n"
        "Goals: shm >= 0.8x gloo's bandwidth at 16 MB; minillm on 2 processes >= 1.0x its "
        "1-process tokens/s and >= PyTorch DDP's 2-process tokens/s. "
        f"{text}"
    )
    update_results(SECTION, body)


if __name__ == "__main__":
    main()
