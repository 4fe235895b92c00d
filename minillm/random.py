"""The one random generator behind every random draw in minillm, and ``manual_seed`` to fix it.

Factories (``randn``, ``rand``, ``randint``), initializers, dropout and data shuffling all draw from
``generator()``, a NumPy ``Generator`` (PCG64). ``manual_seed(n)`` reseeds it in place, so code that
holds the generator sees the new stream too; ``get_rng_state``/``set_rng_state`` save and restore it
exactly (checkpoints use them to resume bit for bit). The state is a plain dict of ints, safe to
store as JSON. ``fork_rng(seed)`` draws a block from a stream of its own and leaves the outer one
untouched (each data-parallel rank draws its dropout masks this way).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

_generator = np.random.Generator(np.random.PCG64())


def generator() -> np.random.Generator:
    """The process-wide generator every random draw in minillm uses."""
    return _generator


def manual_seed(seed: int) -> np.random.Generator:
    """Reseed the generator so every later random draw is reproducible; returns it.

    >>> import minillm
    >>> _ = minillm.manual_seed(0); a = minillm.randn(3)
    >>> _ = minillm.manual_seed(0); b = minillm.randn(3)
    >>> bool((a == b).data.all())
    True
    """
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"manual_seed: seed must be a non-negative integer, got {seed!r}")
    _generator.bit_generator.state = np.random.PCG64(int(seed)).state
    return _generator


def get_rng_state() -> dict[str, Any]:
    """The generator's full state (a dict of ints and strings)."""
    return _generator.bit_generator.state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore a state returned by ``get_rng_state``."""
    _generator.bit_generator.state = state


@contextlib.contextmanager
def fork_rng(seed: int | Sequence[int]) -> Iterator[np.random.Generator]:
    """Inside the block every draw comes from a stream seeded with ``seed`` (an int or a sequence
    of ints, such as ``(seed, step, rank)``); afterwards the outer stream goes on exactly as if the
    block had drawn nothing.

    >>> import minillm
    >>> _ = manual_seed(0); a = minillm.randn(2)
    >>> _ = manual_seed(0)
    >>> with fork_rng((7, 1)):
    ...     _ = minillm.randn(5)
    >>> b = minillm.randn(2)
    >>> bool((a == b).data.all())
    True
    """
    outer = _generator.bit_generator.state
    _generator.bit_generator.state = np.random.PCG64(seed).state
    try:
        yield _generator
    finally:
        _generator.bit_generator.state = outer
