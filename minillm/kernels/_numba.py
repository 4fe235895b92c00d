"""The one place Numba is imported. Without Numba, ``njit`` leaves functions as plain Python.

The dispatcher then hands out the NumPy twins, so the uncompiled loops are never on a hot path; they
still import, which keeps every kernel module loadable (and testable) on a machine without Numba.

``float64_from_bits``/``float32_from_bits`` reinterpret an int's bits as a float (a C ``memcpy``,
an LLVM ``bitcast``): ``_math.py`` builds powers of two with them, by writing the exponent
field. ``overload_by_float`` gives a plain Python function a Numba implementation per float width.
``dot_u8s8_blocks`` is the one hand-written vector loop: an unsigned-by-signed int8 dot product
on AVX-512 VNNI's ``vpdpbusd`` (64 products an instruction), which LLVM does not produce from a
plain loop; ``HAS_VNNI`` says whether this CPU has it (``minillm/kernels/qlinear.py`` falls
back to a plain loop otherwise).
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

    HAS_VNNI = False

    def dot_u8s8_blocks(a: np.ndarray, b: np.ndarray, nblocks: int) -> int:
        """sum(a[i] * b[i]) over the first 64 * nblocks elements (uncompiled: NumPy)."""
        n = 64 * nblocks
        return int(a[:n].astype(np.int64) @ b[:n].astype(np.int64))

else:
    from llvmlite import binding as _llvm
    from numba.core import cgutils

    HAS_VNNI = {"avx512f", "avx512bw", "avx512vnni"} <= {
        name[1:] for name in _llvm.get_host_cpu_features().flatten().split(",") if name[0] == "+"
    }

    @intrinsic
    def dot_u8s8_blocks(typingctx: Any, a: Any, b: Any, nblocks: Any) -> Any:
        """``sum(a[i] * b[i])`` over the first ``64 * nblocks`` elements, as int32, for a uint8
        and an int8 C-contiguous 1-D array: 64 bytes at a time through ``vpdpbusd`` (each 32-bit
        lane adds four u8 x s8 products), four accumulators so the adds overlap. Only compile
        where ``HAS_VNNI``: the instruction does not exist elsewhere."""
        ok = (
            isinstance(a, types.Array) and a.dtype == types.uint8 and a.layout == "C"
            and isinstance(b, types.Array) and b.dtype == types.int8 and b.layout == "C"
        )  # fmt: skip
        if not ok:
            return None
        sig = types.int32(a, b, types.intp)

        def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
            vec = ir.VectorType(ir.IntType(32), 16)  # 64 bytes, one zmm register
            dpbusd = cgutils.get_or_insert_function(
                builder.module, ir.FunctionType(vec, [vec, vec, vec]),
                "llvm.x86.avx512.vpdpbusd.512",
            )  # fmt: skip
            reduce_add = cgutils.get_or_insert_function(
                builder.module, ir.FunctionType(ir.IntType(32), [vec]),
                "llvm.vector.reduce.add.v16i32",
            )  # fmt: skip
            pa = builder.bitcast(context.make_array(signature.args[0])(
                context, builder, args[0]).data, vec.as_pointer())  # fmt: skip
            pb = builder.bitcast(context.make_array(signature.args[1])(
                context, builder, args[1]).data, vec.as_pointer())  # fmt: skip
            acc = [cgutils.alloca_once_value(builder, ir.Constant(vec, None)) for _ in range(4)]
            n = args[2]
            four = ir.Constant(n.type, 4)

            def step(k: int, j: Any) -> None:
                va = builder.load(builder.gep(pa, [j]), align=1)
                vb = builder.load(builder.gep(pb, [j]), align=1)
                builder.store(builder.call(dpbusd, [builder.load(acc[k]), va, vb]), acc[k])

            n4 = builder.udiv(n, four)
            with cgutils.for_range(builder, n4) as loop:
                base = builder.mul(loop.index, four)
                for k in range(4):
                    step(k, builder.add(base, ir.Constant(n.type, k)))
            one = ir.Constant(n.type, 1)
            with cgutils.for_range_slice(builder, builder.mul(n4, four), n, one) as (j, _):
                step(0, j)
            total = builder.add(
                builder.add(builder.load(acc[0]), builder.load(acc[1])),
                builder.add(builder.load(acc[2]), builder.load(acc[3])),
            )
            return builder.call(reduce_add, [total])

        return sig, codegen

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
    "HAS_VNNI",
    "Entry",
    "dot_u8s8_blocks",
    "entry",
    "float32_from_bits",
    "float64_from_bits",
    "jit",
    "njit",
    "overload_by_float",
    "prange",
]
