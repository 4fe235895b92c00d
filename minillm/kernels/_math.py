"""exp() and erfc() as plain arithmetic, so that the loops calling them vectorize.

Numba compiles ``math.exp`` to a call into the C library, one element at a time: LLVM can vectorize
such a call only with Intel's SVML, which is usually absent. A loop whose body is nothing but
multiplies, adds and integer ops, though, becomes SIMD code (8 float64 or 16 float32 lanes with
AVX-512). ``exp`` below is that body, the method of Cody & Waite used by most libm and SIMD exps:

    exp(x) = 2^n * exp(r),   n = round(x / ln 2),   r = x - n ln 2  in [-ln2/2, ln2/2]

``ln 2`` is split into a high part with trailing zero bits and a tiny low part, so ``n * LN2_HI`` is
exact and r keeps full precision. exp(r) is its Taylor series, to r^12 in float64 (remainder below
2e-16 on that interval) and to r^7 in float32 (below 6e-9), by Horner's rule; 2^n is written
straight into a float's exponent bits, as two halves so that overflow to inf comes out right.
Results below the smallest normal float (x < -708.3 in float64, x < -87.3 in float32) are returned
as exactly 0, as a CPU in flush-to-zero mode would: computing them would create subnormal numbers,
which x86 handles in slow microcode (100+ cycles each). Masked attention scores (-inf) hit that
case constantly. Measured against ``np.exp`` on normal results: float64 within 5e-16 relative,
float32 within 2e-7 (1-2 ulp). exp(-inf) = 0 and exp(nan) = nan.

A kernel calls ``exp(x)``; Numba compiles the float32 or the float64 arithmetic by the type of x.
Keep the loop that calls it free of running sums (a float sum must stay in order and blocks SIMD):
store the exps, then sum in a second loop.

``erfc_pos(a)`` (a >= 0; GELU's exact form needs it) is built on that exp, in two pieces that a
loop computes side by side and then selects from (a branch per element would stop SIMD):

    a < 1:   erfc(a) = 1 - a P(a^2)            P ~ erf(a)/a
    a >= 1:  erfc(a) = e^(-a^2) Q(1/a) / a      Q ~ a e^(a^2) erfc(a), which tends to 1/sqrt(pi)

P and Q are Chebyshev interpolants, fitted when this module loads to ``scipy.special.erf`` and
``erfcx`` (no magic numbers: ``_fit_erfc``), then written as ordinary polynomials for Horner's
rule in the mapped variable. Degrees 10 and 24 in float64 (within 6e-15 of SciPy, and 5e-14
relative in the far tail, where erfc is tiny), 6 and 10 in float32 (about 1e-7), so a float32
input runs float32 arithmetic, twice the lanes.

Pitfall: Numba's on-disk cache keys a kernel on its own file only, so kernels that inline these
helpers keep their old machine code after an edit here. Delete ``minillm/kernels/__pycache__/*.nb*``
after changing this file.
"""

from __future__ import annotations

import math

import numpy as np

from minillm.kernels._numba import float32_from_bits, float64_from_bits, jit, overload_by_float

_LOG2E = 1.4426950408889634
_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10
_LOWEST = -708.3  # exp(-708.3) = 2.5e-308, just above the smallest normal float64 (2.2e-308)

_F = np.float32  # float32 constants keep float32 arithmetic from widening to float64
_LOG2E_32 = _F(1.4426950408889634)
_LN2_HI_32 = _F(0.693359375)
_LN2_LO_32 = _F(-2.12194440e-4)
_HALF_32, _ONE_32, _LIMIT_32 = _F(0.5), _F(1.0), _F(150.0)
_LOWEST_32 = _F(-87.3)  # exp(-87.3) = 1.23e-38, just above the smallest normal float32 (1.18e-38)
_ZERO_32 = _F(0.0)
_C2, _C3, _C4, _C5, _C6, _C7 = (_F(1.0 / math.factorial(i)) for i in range(2, 8))


def exp(x: float) -> float:
    """e^x. In Python this is ``math.exp``; compiled kernels get the vectorizable arithmetic.

    >>> exp(0.0)
    1.0
    """
    return math.exp(x)


@jit(inline="always")
def _exp64(x: float) -> float:
    xc = min(max(x, _LOWEST), 1100.0)  # clamped: no step below ever makes a subnormal
    n = np.floor(xc * _LOG2E + 0.5)
    r = (xc - n * _LN2_HI) - n * _LN2_LO
    p = 1.0 / 479001600.0  # 1/12!
    p = p * r + 1.0 / 39916800.0
    p = p * r + 1.0 / 3628800.0
    p = p * r + 1.0 / 362880.0
    p = p * r + 1.0 / 40320.0
    p = p * r + 1.0 / 5040.0
    p = p * r + 1.0 / 720.0
    p = p * r + 1.0 / 120.0
    p = p * r + 1.0 / 24.0
    p = p * r + 1.0 / 6.0
    p = p * r + 0.5
    p = p * r + 1.0
    p = p * r + 1.0
    ni = np.int64(n)
    half = ni >> 1  # 2^n = 2^half * 2^(n - half): each factor stays a normal float
    y = p * float64_from_bits((half + 1023) << 52) * float64_from_bits((ni - half + 1023) << 52)
    y = 0.0 if x < _LOWEST else y  # flush to zero (see the module docstring)
    return y if x == x else x  # NaN in, NaN out (the clamp above would have hidden it)


@jit(inline="always")
def _exp32(x: np.float32) -> np.float32:
    xc = min(max(x, _LOWEST_32), _LIMIT_32)
    n = np.floor(xc * _LOG2E_32 + _HALF_32)
    r = (xc - n * _LN2_HI_32) - n * _LN2_LO_32
    p = _C7
    p = p * r + _C6
    p = p * r + _C5
    p = p * r + _C4
    p = p * r + _C3
    p = p * r + _C2
    p = p * r + _ONE_32
    p = p * r + _ONE_32
    ni = np.int32(n)
    half = ni >> np.int32(1)
    bias = np.int32(127)
    y = p * float32_from_bits((half + bias) << 23) * float32_from_bits((ni - half + bias) << 23)
    y = _ZERO_32 if x < _LOWEST_32 else y
    return y if x == x else x


overload_by_float(exp, _exp32, _exp64)


def _fit_erfc(deg_small: int, deg_large: int, dtype: type) -> tuple[np.ndarray, np.ndarray]:
    """Horner coefficients (highest power first) of P(2 a^2 - 1) on a in [0, 1] and of
    Q(2 / a - 1) on a in [1, inf], as Chebyshev interpolants of SciPy's erf and erfcx."""
    from numpy.polynomial import chebyshev
    from scipy import special

    def small(t: np.ndarray) -> np.ndarray:  # erf(a)/a at a = sqrt((t + 1) / 2)
        a = np.sqrt((t + 1.0) / 2.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(a == 0, 2.0 / math.sqrt(math.pi), special.erf(a) / a)

    def large(s: np.ndarray) -> np.ndarray:  # a erfcx(a) at 1/a = (s + 1) / 2
        u = (s + 1.0) / 2.0
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(u == 0, 1.0 / math.sqrt(math.pi), special.erfcx(1.0 / u) / u)

    def horner(f: object, degree: int) -> np.ndarray:
        cheb = chebyshev.chebinterpolate(f, degree)
        return np.ascontiguousarray(chebyshev.cheb2poly(cheb)[::-1], dtype=dtype)

    return horner(small, deg_small), horner(large, deg_large)


_P64, _Q64 = _fit_erfc(10, 24, np.float64)
_P32, _Q32 = _fit_erfc(6, 10, np.float32)
_TWO_32 = _F(2.0)


def erfc_pos(a: float) -> float:
    """erfc(a) for a >= 0. In Python this is ``math.erfc``; compiled kernels get the arithmetic.

    >>> round(erfc_pos(1.0), 9)
    0.157299207
    """
    return math.erfc(a)


@jit(inline="always")
def _erfc64(a: float) -> float:
    w = min(a, 1.0)
    t = 2.0 * w * w - 1.0
    p = _P64[0]
    for k in range(1, _P64.size):
        p = p * t + _P64[k]
    inv = 1.0 / max(a, 1.0)
    s = 2.0 * inv - 1.0
    q = _Q64[0]
    for k in range(1, _Q64.size):
        q = q * s + _Q64[k]
    return 1.0 - a * p if a < 1.0 else exp(-a * a) * q * inv


@jit(inline="always")
def _erfc32(a: np.float32) -> np.float32:
    w = min(a, _ONE_32)
    t = _TWO_32 * w * w - _ONE_32
    p = _P32[0]
    for k in range(1, _P32.size):
        p = p * t + _P32[k]
    inv = _ONE_32 / max(a, _ONE_32)
    s = _TWO_32 * inv - _ONE_32
    q = _Q32[0]
    for k in range(1, _Q32.size):
        q = q * s + _Q32[k]
    return _ONE_32 - a * p if a < _ONE_32 else exp(-a * a) * q * inv


overload_by_float(erfc_pos, _erfc32, _erfc64, inline_ir=True)


# Row reductions. Summed strictly left to right, a float sum is one long chain of dependent adds
# (one add per 4 cycles); letting LLVM reassociate it ("reassoc") splits it into SIMD lanes. That
# changes only rounding (a few ulp over a row), well inside the twins' tolerances.
@jit(fastmath={"reassoc", "nsz"})
def row_sum(x: np.ndarray) -> float:
    """sum_c x_c, accumulated in float64 (SIMD partial sums).

    >>> row_sum(np.array([1.0, 2.0, 3.5]))
    6.5
    """
    total = 0.0
    for c in range(x.size):
        total += x[c]
    return total


@jit(fastmath={"reassoc", "nsz"})
def row_dot(a: np.ndarray, b: np.ndarray) -> float:
    """sum_c a_c b_c, accumulated in float64 (SIMD partial sums)."""
    total = 0.0
    for c in range(a.size):
        total += np.float64(a[c]) * b[c]
    return total


@jit
def row_max(x: np.ndarray) -> float:
    """max_c x_c of a non-empty row, with eight running maxima.

    LLVM does not vectorize a max reduction here (Numba's max keeps NaN checks), and one running
    maximum is a chain of dependent compares; eight independent ones run side by side (about 4x
    faster). The order of comparisons never changes a maximum. A NaN in the row may be skipped
    here; the exps of the row carry it anyway.

    >>> float(row_max(np.array([1.0, 5.0, -2.0] * 5)))
    5.0
    """
    n = x.size
    m0 = m1 = m2 = m3 = m4 = m5 = m6 = m7 = x[0]
    c = 0
    while c + 8 <= n:
        m0 = x[c] if x[c] > m0 else m0
        m1 = x[c + 1] if x[c + 1] > m1 else m1
        m2 = x[c + 2] if x[c + 2] > m2 else m2
        m3 = x[c + 3] if x[c + 3] > m3 else m3
        m4 = x[c + 4] if x[c + 4] > m4 else m4
        m5 = x[c + 5] if x[c + 5] > m5 else m5
        m6 = x[c + 6] if x[c + 6] > m6 else m6
        m7 = x[c + 7] if x[c + 7] > m7 else m7
        c += 8
    m = max(max(max(m0, m1), max(m2, m3)), max(max(m4, m5), max(m6, m7)))
    for j in range(c, n):
        m = x[j] if x[j] > m else m
    return m


@jit(fastmath={"reassoc", "nsz"})
def row_sq_dev(x: np.ndarray, mu: float) -> float:
    """sum_c (x_c - mu)^2 in float64 (SIMD partial sums): n times a row's biased variance."""
    total = 0.0
    for c in range(x.size):
        d = x[c] - mu
        total += d * d
    return total


@jit(inline="always")
def softmax_prefix(row: np.ndarray, n: int, m: float) -> None:
    """row[:n] = softmax(row[:n]) given its maximum ``m``, and row[n:] = 0: one attention row of
    which the first n keys may be seen. All zeros when m is -inf, a query that may see no key
    (the convention of every attention kernel here)."""
    if m == -np.inf:
        row[:] = 0.0
        return
    for j in range(n):
        row[j] = exp(row[j] - m)
    inv = 1.0 / row_sum(row[:n])
    for j in range(n):
        row[j] *= inv
    row[n:] = 0.0
