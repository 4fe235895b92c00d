"""Hot loops on plain ndarrays, each with a NumPy twin, and the dispatcher that picks between them.

Every kernel file holds a header comment (what it computes, the shapes, who calls it), the NumPy
reference ``<name>_ref`` and the Numba version ``<name>`` with the same signature: outputs first,
then inputs; gradients are prefixed ``d``. An op calls a kernel by its module and name,
``kernels.softmax.softmax_forward(y, x)``: the name is an ``Entry`` (``_numba.py``) holding both
versions, which runs the Numba one unless ``MINILLM_NUMBA=0`` is set or Numba is not installed,
and whose ``.ref`` is the twin ("go to definition" lands on the loop, the twin just above it).

Nothing is imported or compiled at ``import minillm``: ``kernels.softmax`` imports its module (and
Numba) on first use, and Numba compiles on the first call, caching the machine code on disk
(``cache=True``).

This package is the only one that imports Numba, and it never imports Tensor.

The files, each one hot loop (read ``softmax.py`` first, then ``_math.py`` for why the loops look
the way they do):

* ``softmax.py`` — softmax and log-softmax over the last axis, forward and backward;
* ``cross_entropy.py`` — fused log-softmax + cross-entropy with ignore_index and label smoothing;
* ``layernorm.py`` — layer norm forward (saving mean, 1/std) and backward, and the residual add
  fused with the next norm;
* ``gelu.py`` — GELU, exact and tanh forms, and the bias add fused with it;
* ``embedding.py`` — the scatter-add of embedding backward;
* ``attention.py`` — tiled online-softmax attention forward and backward, and the masked softmax
  used when the attention weights are wanted;
* ``kv_attention.py`` — generation's attention of new positions over the KV cache, with the
  cache write;
* ``adam.py`` — the fused Adam/AdamW step over flat buffers;
* ``qlinear.py`` — int8 Linear layers: per-row activation quantization and the int8 product
  accumulated in int32 (AVX-512 VNNI where the CPU has it);
* ``_math.py`` — a vectorizable exp, row reductions and one attention row's softmax, shared by
  the above; ``_numba.py`` — the Numba import, the ``jit`` defaults (``cache=True``,
  ``error_model="numpy"``), bit casts and the VNNI dot product.

``prange``/``parallel=True`` is not used: on the 2-core machine the benchmarks ran on, a parallel
attention forward was no faster, and the ops already run one thread per process.

Dimension glossary used in kernel headers: B batch, T time (sequence), C channels, V vocabulary,
H heads, D head size, N rows of a flattened (N, C) view.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import os
from collections.abc import Callable
from typing import Any

# the kernel modules, imported on first use as attributes of this package (``kernels.softmax``)
MODULES = (
    "adam",
    "attention",
    "cross_entropy",
    "embedding",
    "gelu",
    "kv_attention",
    "layernorm",
    "qlinear",
    "softmax",
)


def __getattr__(name: str) -> Any:
    if name in MODULES:
        return importlib.import_module(f"minillm.kernels.{name}")
    raise AttributeError(f"module 'minillm.kernels' has no attribute {name!r}")


@functools.cache
def _numba_installed() -> bool:
    return importlib.util.find_spec("numba") is not None


def numba_enabled() -> bool:
    """True when kernels run compiled: Numba is importable and ``MINILLM_NUMBA`` is not ``0``
    (read on every call, so a test can switch it)."""
    return os.environ.get("MINILLM_NUMBA", "1").strip() != "0" and _numba_installed()


def entries() -> dict[str, Any]:
    """Every kernel entry point by name (importing every kernel module): what the parity tests and
    the benchmark walk."""
    from minillm.kernels._numba import Entry

    found = {}
    for module_name in MODULES:
        module = importlib.import_module(f"minillm.kernels.{module_name}")
        found.update({k: v for k, v in vars(module).items() if isinstance(v, Entry)})
    return found


def twins(name: str) -> tuple[Callable[..., Any], Callable[..., Any]]:
    """Return ``(reference, numba_version)`` for the entry ``name``: what the parity tests compare.

    >>> ref, fast = twins("gelu_forward")
    >>> ref.__name__
    'gelu_forward_ref'
    """
    found = entries()
    if name not in found:
        raise KeyError(f"unknown kernel {name!r}; known kernels: {sorted(found)}")
    return found[name].ref, found[name].fast


def set_num_threads(threads: int) -> None:
    """Let Numba's parallel kernels use at most ``threads`` threads (no-op without Numba)."""
    if importlib.util.find_spec("numba") is None:
        return
    import numba

    numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))
