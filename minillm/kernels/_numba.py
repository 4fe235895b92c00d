"""The one place Numba is imported. Without Numba, ``njit`` leaves functions as plain Python.

The dispatcher then hands out the NumPy twins, so the uncompiled loops are never on a hot path; they
still import, which keeps every kernel module loadable (and testable) on a machine without Numba.
"""

from __future__ import annotations

from typing import Any

try:
    from numba import njit, prange
except ImportError:  # pragma: no cover - exercised only where Numba is absent

    def njit(*args: Any, **kwargs: Any) -> Any:
        if len(args) == 1 and callable(args[0]) and not kwargs:
            return args[0]
        return lambda fn: fn

    prange = range

__all__ = ["njit", "prange"]
