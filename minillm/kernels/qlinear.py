"""Int8 linear layers: per-row activation quantization, and int8 products accumulated in int32.

A dynamically quantized Linear (``minillm/compress/dynamic.py``) holds its weight as int8 with one
scale per output row, ``W ~ s_w[o] * Wq[o, :]``, and the row sums ``w_sum[o] = sum_i Wq[o, i]``.
At run time each input row is quantized symmetrically with its own scale (``quantize_rows``) and
stored unsigned, offset by 128 (a zero point of 128, as in PyTorch's quint8):

    s_x[n] = max_i |x[n, i]| / 127  (1 for an all-zero row),   xu = rint(x / s_x) + 128  in [1, 255]

The product is an integer dot product, the offset taken back out, rescaled once per output
element (``int8_linear``):

    acc[n, o] = sum_i xu[n, i] Wq[o, i] - 128 w_sum[o]          (= sum_i xq[n, i] Wq[o, i], exact)
    out[n, o] = float(acc[n, o]) * (s_x[n] * s_w[o]) + bias[o]

int32 holds every partial sum while 255 * 127 * I < 2^31 (I < 66,000 inputs). Shapes: x (N, I),
Wq (O, I) (the Linear's own (out, in) layout), s_x (N,), s_w and w_sum (O,), out (N, O). Called by
``minillm.compress.dynamic.linear_int8`` for small batches, decode (N = 1) above all.

Why unsigned times signed: that is what AVX-512 VNNI's ``vpdpbusd`` multiplies, 64 pairs an
instruction, four products summed into each 32-bit lane (``dot_u8s8_blocks`` in ``_numba.py``; the
same trick as fbgemm's). On a CPU without VNNI the dot product is a plain loop, written with every
step cast to int32 (Numba widens ``int8 * int8`` to int64, and 64-bit lanes halve the SIMD work),
which LLVM vectorizes with packed multiply-adds. Either way the integers are exact and the float
rescale runs in the twin's order, so the Numba kernel and its twin agree bit for bit.

Read next: ``minillm/compress/dynamic.py``.
"""

from __future__ import annotations

import numpy as np

from minillm.kernels._numba import HAS_VNNI, dot_u8s8_blocks, entry, jit

QMAX = 127  # symmetric: -127..127, so a row and its negation quantize alike
OFFSET = 128  # the unsigned activations' zero point


def quantize_rows_ref(xu: np.ndarray, scales: np.ndarray, x: np.ndarray) -> None:
    ft = x.dtype.type
    amax = np.abs(x).max(axis=1) if x.shape[1] else np.zeros(x.shape[0], x.dtype)  # (N,)
    s = np.where(amax > 0, amax / ft(QMAX), ft(1)).astype(x.dtype)
    scales[:] = s
    q = np.clip(np.rint(x * (ft(1) / s)[:, None]), -QMAX, QMAX)
    xu[:] = (q + OFFSET).astype(np.uint8)


def int8_linear_ref(
    out: np.ndarray,
    xu: np.ndarray,
    x_scale: np.ndarray,
    wq: np.ndarray,
    w_sum: np.ndarray,
    w_scale: np.ndarray,
    bias: np.ndarray,
) -> None:
    acc = xu.astype(np.int32) @ wq.astype(np.int32).T - np.int32(OFFSET) * w_sum  # (N, O), exact
    out[:] = acc.astype(out.dtype) * (x_scale[:, None] * w_scale[None, :]) + bias


@entry(quantize_rows_ref)
def quantize_rows(xu: np.ndarray, scales: np.ndarray, x: np.ndarray) -> None:
    N, I = x.shape
    one, qmax, zero = x.dtype.type(1), x.dtype.type(QMAX), x.dtype.type(0)
    for n in range(N):
        xn = x[n]
        amax = zero
        for i in range(I):
            amax = max(amax, abs(xn[i]))
        s = amax / qmax if amax > 0 else one
        scales[n] = s
        inv = one / s
        for i in range(I):
            q = min(max(np.rint(xn[i] * inv), -qmax), qmax)
            xu[n, i] = np.uint8(np.int32(q) + OFFSET)


if HAS_VNNI:

    @jit(inline="always")
    def _dot(a: np.ndarray, b: np.ndarray) -> np.int32:
        nblocks = b.size // 64
        acc = dot_u8s8_blocks(a, b, nblocks)
        for i in range(64 * nblocks, b.size):  # the last I % 64 inputs
            acc = np.int32(acc + np.int32(a[i]) * np.int32(b[i]))
        return acc

else:

    @jit(inline="always")
    def _dot(a: np.ndarray, b: np.ndarray) -> np.int32:
        acc = np.int32(0)
        for i in range(b.size):
            acc = np.int32(acc + np.int32(a[i]) * np.int32(b[i]))
        return acc


@entry(int8_linear_ref)
def int8_linear(
    out: np.ndarray,
    xu: np.ndarray,
    x_scale: np.ndarray,
    wq: np.ndarray,
    w_sum: np.ndarray,
    w_scale: np.ndarray,
    bias: np.ndarray,
) -> None:
    N, O = out.shape
    ft = out.dtype.type
    for o in range(O):  # one weight row, read once from memory, against every input row
        w, ws, b, offset = wq[o], w_scale[o], bias[o], np.int32(OFFSET) * w_sum[o]
        for n in range(N):
            acc = np.int32(_dot(xu[n], w) - offset)
            out[n, o] = ft(acc) * (x_scale[n] * ws) + b
