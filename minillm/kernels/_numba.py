"""The one place Numba is imported. Without Numba, ``njit`` leaves functions as plain Python.

The dispatcher then hands out the NumPy twins, so the uncompiled loops are never on a hot path; they
still import, which keeps every kernel module loadable (and testable) on a machine without Numba.

``float64_from_bits``/``float32_from_bits`` reinterpret an int's bits as a float (a C ``memcpy``,
an LLVM ``bitcast``): ``_math.py`` builds powers of two with them, by writing the exponent
field. ``overload_by_float`` gives a plain Python function a Numba implementation per float width.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import numpy as np

from minillm.kernels import numba_enabled  # the package itself imports no Numba: no cycle

try:
    from llvmlite import ir
    from numba import njit, prange, types
    from numba.extending import intrinsic, overload
except ImportError:  # pragma: no cover - exercised only where Numba is absent

    def njit(*args: Any, **kwargs: Any) -> Any:
        if len(args) == 1 and callable(args[0]) and not kwargs:
            return args[0]
        return lambda fn: fn

    prange = range

    def float64_from_bits(bits: int) -> float:
        """The float64 whose bit pattern is the int64 ``bits``."""
        return float(np.int64(bits).view(np.float64))

    def float32_from_bits(bits: int) -> float:
        """The float32 whose bit pattern is the int32 ``bits``."""
        return float(np.int32(bits).view(np.float32))

    def overload_by_float(
        python_fn: Callable, for32: Callable, for64: Callable, inline_ir: bool = False
    ) -> None:
        """Without Numba there is nothing to compile: ``python_fn`` is used as it is."""

else:

    @intrinsic
    def float64_from_bits(typingctx: Any, bits: Any) -> Any:
        """The float64 whose bit pattern is the int64 ``bits`` (compiles to one LLVM bitcast)."""
        sig = types.float64(types.int64)

        def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
            return builder.bitcast(args[0], ir.DoubleType())

        return sig, codegen

    @intrinsic
    def float32_from_bits(typingctx: Any, bits: Any) -> Any:
        """The float32 whose bit pattern is the int32 ``bits`` (one LLVM bitcast)."""
        sig = types.float32(types.int32)

        def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
            return builder.bitcast(args[0], ir.FloatType())

        return sig, codegen

    def overload_by_float(
        python_fn: Callable, for32: Callable, for64: Callable, inline_ir: bool = False
    ) -> None:
        """Inside compiled code, calls of ``python_fn(x)`` (or ``python_fn(x, flag)``) run
        ``for32`` on a float32 ``x``, else ``for64``: one name in the kernels, each dtype its own
        arithmetic.

        A small body (exp) LLVM inlines by itself. ``inline_ir=True`` inlines a larger one (erfc)
        in Numba's IR instead: left as a call, LLVM would not inline it, and a call in a loop
        stops its SIMD."""
        inline = "always" if inline_ir else "never"

        # No annotations on ``_typed``: Numba requires its signature to match the returned impl's.
        if len(inspect.signature(python_fn).parameters) == 1:

            @overload(python_fn, inline=inline)
            def _typed(x):
                impl = for32 if x == types.float32 else for64
                return lambda x: impl(x)

        else:

            @overload(python_fn, inline=inline)
            def _typed2(x, flag):
                impl = for32 if x == types.float32 else for64
                return lambda x, flag: impl(x, flag)


class Entry:
    """A kernel as the ops call it: the Numba loop ``fast`` and its NumPy twin ``ref`` under one
    name. Calling it runs ``fast``, or ``ref`` when ``MINILLM_NUMBA=0`` or Numba is absent."""

    def __init__(self, fast: Callable[..., Any], ref: Callable[..., Any]) -> None:
        self.fast, self.ref = fast, ref
        self.__name__ = getattr(fast, "__name__", ref.__name__.removesuffix("_ref"))
        self.__doc__ = ref.__doc__

    def __call__(self, *args: Any) -> Any:
        return (self.fast if numba_enabled() else self.ref)(*args)

    def __repr__(self) -> str:
        return f"<kernel {self.__name__} (twin {self.ref.__name__})>"


def entry(ref: Callable[..., Any], **options: Any) -> Callable[[Callable[..., Any]], Entry]:
    """``@entry(name_ref)`` over a kernel's loop: compile it with ``jit`` and pair it with its
    twin. For the functions the ops call; helpers called from compiled code stay plain ``@jit``."""
    return lambda fn: Entry(jit(fn, **options), ref)


def jit(fn: Callable | None = None, **options: Any) -> Any:
    """``njit`` with the kernels' defaults: ``cache=True`` (compiled code reused across runs),
    ``nogil=True``, and ``error_model="numpy"``: a float division by zero gives inf/nan as in
    NumPy, instead of Python's check-and-raise, whose branch stops LLVM from vectorizing any loop
    that divides. Use as ``@jit`` or ``@jit(fastmath=...)``.
    """
    options = {"cache": True, "nogil": True, "error_model": "numpy", **options}
    return njit(**options) if fn is None else njit(**options)(fn)


__all__ = [
    "Entry",
    "entry",
    "float32_from_bits",
    "float64_from_bits",
    "jit",
    "njit",
    "overload_by_float",
    "prange",
]
