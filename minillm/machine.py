"""What this machine can do: how many cores a run may use, and how fast it multiplies matrices.

Two things a training run asks of the machine:

* **Threads.** BLAS (OpenBLAS, MKL), OpenMP and Numba each keep a pool of worker threads. More
  threads than cores is never faster: the pools' threads spin while they wait for each other and
  for the cores. ``set_threads`` clamps the request to the cores this process may run on and
  limits every pool at once.
* **Memory reuse.** A training step allocates and frees the same few megabyte-sized arrays every
  step. glibc's malloc serves blocks above its mmap threshold (dynamic, from 128 KiB) with fresh
  ``mmap`` pages and unmaps them on free, so the next step touches new pages again: tens of
  thousands of page faults per step. ``keep_freed_memory`` raises the threshold to 32 MiB (glibc's
  maximum) and stops trimming the heap, so freed blocks are reused. It is process-wide, so the
  library never calls it on import: ``minillm train``, which owns its process, does.
* **Peak float32 throughput**, for MFU (model FLOPs utilization = the FLOPs the model needs per
  second of training, divided by what the machine can do). There is no datasheet number for a
  shared CPU, so the peak is *measured*: the best rate over several matrix products at the model's
  own shapes, repeated, cached per machine and thread count, so every run of the same setting
  compares against the same figure. A training step also runs non-GEMM work, so its MFU stays
  below 100%; if a step ever beats the recorded peak, the peak was measured on a busy machine and
  this run raises it to the rate just seen (``PeakFlops.observe``), so MFU never exceeds 100%.

Read next: ``minillm/training/trainer.py`` (the loop that reports MFU).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import platform
import time
from collections.abc import Iterable
from pathlib import Path

import numpy as np


def available_cores() -> int:
    """The number of CPU cores this process may run on (its affinity mask, not the whole box)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def set_threads(threads: int) -> str | None:
    """Limit BLAS, OpenMP and Numba to ``threads`` threads; 0 leaves the libraries' defaults.

    A request above ``available_cores()`` is clamped to it. Returns a one-line warning when it was
    clamped (the caller decides where to print it), else None.

    >>> set_threads(0) is None
    True
    """
    if threads <= 0:
        return None
    from threadpoolctl import threadpool_limits

    from minillm import kernels

    cores = available_cores()
    warning = None
    if threads > cores:
        warning = (
            f"--threads {threads} is more than the {cores} cores this process may use; "
            f"using {cores} (more threads than cores only makes the thread pools wait)"
        )
        threads = cores
    threadpool_limits(threads)  # every BLAS and OpenMP pool loaded in this process
    kernels.set_num_threads(threads)
    return warning


_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameter numbers (malloc.h)


def keep_freed_memory(mmap_threshold: int = 32 << 20, trim_threshold: int = 256 << 20) -> bool:
    """Ask glibc's malloc to keep freed blocks below ``mmap_threshold`` bytes in the heap for
    reuse, and to return the heap's free top to the OS only past ``trim_threshold`` bytes.

    A process-wide setting (the memory stays with the process after a free), so call it only in a
    process you own. Returns False, changing nothing, where the C library is not glibc.

    >>> isinstance(keep_freed_memory(), bool)
    True
    """
    import ctypes
    import ctypes.util

    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, mmap_threshold) and
                mallopt(_M_TRIM_THRESHOLD, trim_threshold))  # fmt: skip


def blas_threads() -> int:
    """The threads the BLAS pool really uses (set_threads, OPENBLAS_NUM_THREADS, ... included)."""
    from threadpoolctl import threadpool_info

    counts = [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]
    return max(counts) if counts else 1


def _cpu_name() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def _cache_file() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "minillm" / "peak-flops.json"


def measure_gemm_flops(shapes: Iterable[tuple[int, int, int]], repeats: int = 5) -> float:
    """The best float32 rate, FLOP/s, of ``(M, K) @ (K, N)`` products over ``shapes``.

    Each shape is warmed up once, then timed ``repeats`` times; the fastest run of any shape wins
    (the slower runs measure the machine's other tenants, not its arithmetic).

    >>> measure_gemm_flops([(64, 64, 64)], repeats=2) > 0
    True
    """
    rng = np.random.default_rng(0)
    best = 0.0
    for M, K, N in shapes:
        a = rng.standard_normal((M, K), dtype=np.float32)
        b = rng.standard_normal((K, N), dtype=np.float32)
        out = np.empty((M, N), dtype=np.float32)
        np.matmul(a, b, out=out)  # warm up: page in the operands, start the BLAS threads
        for _ in range(repeats):
            t0 = time.perf_counter()
            np.matmul(a, b, out=out)
            seconds = time.perf_counter() - t0
            if seconds > 0:
                best = max(best, 2.0 * M * K * N / seconds)
    return best


class PeakFlops:
    """The machine's measured float32 GEMM peak for one thread setting, cached across runs.

    The cache (``~/.cache/minillm/peak-flops.json``, or under ``$XDG_CACHE_HOME``) is keyed by CPU
    model, the BLAS pool's thread count and NumPy version; ``shapes`` are measured only when no
    figure is cached for that key. A cache that cannot be read or written is ignored: the
    peak is then measured afresh each run.
    """

    def __init__(self, shapes: Iterable[tuple[int, int, int]]) -> None:
        self.key = f"{_cpu_name()} | BLAS threads {blas_threads()} | numpy {np.__version__}"
        self.path = _cache_file()
        cached = self._read().get(self.key)
        if isinstance(cached, (int, float)) and math.isfinite(cached) and cached > 0:
            self.flops = float(cached)
        else:
            self.flops = measure_gemm_flops([*shapes, (1024, 1024, 1024)])
            self._write()

    def observe(self, flops_per_second: float) -> None:
        """Raise this run's peak to a rate the machine was just seen to reach (the measurement was
        low). Kept in memory only: a model-FLOP estimate is not a measurement worth caching."""
        self.flops = max(self.flops, flops_per_second)

    def _read(self) -> dict[str, float]:
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def _write(self) -> None:
        from minillm.io import write_json

        data = self._read()
        data[self.key] = self.flops
        with contextlib.suppress(OSError):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            write_json(self.path, data)
