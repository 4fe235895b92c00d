"""Hot loops on plain ndarrays, each with a NumPy twin, and the dispatcher that picks between them.

Every kernel file holds a header comment (what it computes, the shapes, who calls it), the NumPy
reference ``<name>_ref`` and the Numba version ``<name>`` with the same signature: outputs first,
then inputs, then sizes; gradients are prefixed ``d``. Ops never call a kernel module directly: they
ask ``kernel(name)``.

The Numba version is chosen unless ``MINILLM_NUMBA=0`` is set or Numba is not installed. Nothing is
imported or compiled at ``import minillm``: a kernel's module (and Numba itself) loads on the first
request, and Numba compiles on the first call, caching the machine code on disk (``cache=True``).

This package is the only one that imports Numba, and it never imports Tensor.

The files, each one hot loop (read ``softmax.py`` first, then ``_math.py`` for why the loops look
the way they do):

* ``softmax.py`` — softmax and log-softmax over the last axis, forward and backward;
* ``cross_entropy.py`` — fused log-softmax + cross-entropy with ignore_index and label smoothing;
* ``layernorm.py`` — layer norm forward (saving mean, 1/std) and backward;
* ``gelu.py`` — GELU, exact and tanh forms;
* ``embedding.py`` — the scatter-add of embedding backward;
* ``attention.py`` — tiled online-softmax attention forward and backward, and the masked softmax
  used when the attention weights are wanted;
* ``adam.py`` — the fused Adam/AdamW step over flat buffers;
* ``_math.py`` — a vectorizable exp and row reductions shared by the above; ``_numba.py`` — the
  Numba import, the ``jit`` defaults (``cache=True``, ``error_model="numpy"``) and bit casts.

``prange``/``parallel=True`` is not used: on the 2-core machine the benchmarks ran on, a parallel
attention forward was no faster, and the ops already run one thread per process.

Dimension glossary used in kernel headers: B batch, T time (sequence), C channels, V vocabulary,
H heads, D head size, N rows of a flattened (N, C) view.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from collections.abc import Callable
from typing import Any

# kernel name -> module under minillm.kernels that defines it (and its ``_ref`` twin)
_MODULE_OF = {
    "adam_step": "adam",
    "attention_backward": "attention",
    "attention_forward": "attention",
    "cross_entropy_backward": "cross_entropy",
    "cross_entropy_forward": "cross_entropy",
    "embedding_backward": "embedding",
    "gelu_backward": "gelu",
    "gelu_forward": "gelu",
    "layernorm_backward": "layernorm",
    "layernorm_forward": "layernorm",
    "log_softmax_backward": "softmax",
    "log_softmax_forward": "softmax",
    "masked_softmax_forward": "attention",
    "packed_attention_backward": "attention",
    "packed_attention_forward": "attention",
    "softmax_backward": "softmax",
    "softmax_forward": "softmax",
}

_chosen: dict[str, Callable[..., Any]] = {}


def numba_enabled() -> bool:
    """True when kernels run compiled: Numba is importable and ``MINILLM_NUMBA`` is not ``0``."""
    if os.environ.get("MINILLM_NUMBA", "1").strip() == "0":
        return False
    return importlib.util.find_spec("numba") is not None


def kernel(name: str) -> Callable[..., Any]:
    """Return the kernel called ``name``: the Numba version, or its NumPy twin when Numba is off.

    >>> from minillm.kernels import kernel
    >>> kernel("gelu_forward").__name__ in ("gelu_forward", "gelu_forward_ref")
    True
    """
    fn = _chosen.get(name)
    if fn is None:
        if name not in _MODULE_OF:
            raise KeyError(f"unknown kernel {name!r}; known kernels: {sorted(_MODULE_OF)}")
        module = importlib.import_module(f"minillm.kernels.{_MODULE_OF[name]}")
        fn = getattr(module, name if numba_enabled() else f"{name}_ref")
        _chosen[name] = fn
    return fn


def twins(name: str) -> tuple[Callable[..., Any], Callable[..., Any]]:
    """Return ``(reference, numba_version)`` for ``name``: what the parity tests compare."""
    module = importlib.import_module(f"minillm.kernels.{_MODULE_OF[name]}")
    return getattr(module, f"{name}_ref"), getattr(module, name)


def set_num_threads(threads: int) -> None:
    """Let Numba's parallel kernels use at most ``threads`` threads (no-op without Numba)."""
    if importlib.util.find_spec("numba") is None:
        return
    import numba

    numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))
