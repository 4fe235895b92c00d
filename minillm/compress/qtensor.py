"""Quantized tensors with PyTorch's semantics: ``quantize_per_tensor``, ``quantize_per_channel``.

An affine quantizer maps a float x to an integer q of a narrow type and back:

    q = clamp(round(x / scale) + zero_point, qmin, qmax),      x ~ (q - zero_point) * scale

with ``qint8`` (int8, -128..127) or ``quint8`` (uint8, 0..255). Inside the range the round trip
is off by at most ``scale / 2``. ``QTensor`` holds the integers with their parameters and answers
PyTorch's questions: ``int_repr()`` (the integers as an ndarray), ``q_scale()``,
``q_zero_point()``, ``q_per_channel_scales()`` ... and ``dequantize()``.

Rounding is PyTorch's (its CPU kernels, read in ATen and fbgemm), so ``int_repr`` equals
``torch.quantize_per_tensor(...).int_repr()`` bit for bit, halfway cases included:

* per tensor: ``round_half_even(fma(x, 1/scale, zero_point))`` in float32, where ``1/scale`` is
  itself rounded to float32 and the multiply-add rounds once (fbgemm's vector loop is one FMA);
* per channel: ``round_half_even(float32(x * inv_scale) + zero_point)``, two roundings (ATen's
  scalar loop).

NumPy has no FMA, so ``_fma32`` computes it exactly: the float32 product is exact in float64
(24 + 24 bits of significand), the float64 sum is made *round-to-odd* (TwoSum finds whether it
was inexact, and an inexact result takes the odd neighbour), and rounding a round-to-odd float64
to float32 is correctly rounded (53 >= 24 + 2 bits), which is what the FMA gives.

Read next: ``observers.py`` (choosing scale and zero point), then ``dynamic.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from minillm.tensor import Tensor


@dataclass(frozen=True)
class QDtype:
    """A quantized dtype: its name, the integer storage type and its range."""

    name: str
    storage: type
    qmin: int
    qmax: int

    def __repr__(self) -> str:
        return f"minillm.compress.{self.name}"


qint8 = QDtype("qint8", np.int8, -128, 127)
quint8 = QDtype("quint8", np.uint8, 0, 255)
_DTYPES = {"qint8": qint8, "quint8": quint8, "int8": qint8, "uint8": quint8}


def as_qdtype(dtype: Any) -> QDtype:
    """``qint8``/``quint8`` or their names ("qint8", "quint8"; "int8", "uint8" as aliases)."""
    if isinstance(dtype, QDtype):
        return dtype
    if isinstance(dtype, str) and dtype in _DTYPES:
        return _DTYPES[dtype]
    raise ValueError(f"quantized dtype must be qint8 or quint8 (or their names), got {dtype!r}")


def _float32(x: Any, name: str) -> np.ndarray:
    a = x.data if isinstance(x, Tensor) else np.asarray(x)
    if a.dtype.kind != "f":
        raise TypeError(f"{name}: expected a float tensor, got {a.dtype}")
    return a.astype(np.float32)


def _fma32(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """float32 ``a * b + c`` rounded once, exactly as a hardware FMA (see the module docstring)."""
    p = a.astype(np.float64) * b.astype(np.float64)  # exact
    c = np.asarray(c, dtype=np.float64)
    s = p + c
    bb = s - p
    err = (p - (s - bb)) + (c - bb)  # TwoSum: s + err == p + c exactly
    odd = (s.view(np.int64) & 1).astype(bool)
    toward = np.where(err > 0, np.inf, -np.inf)
    s = np.where((err != 0) & ~odd, np.nextafter(s, toward), s)  # round to odd
    return s.astype(np.float32)


def _check_zero_points(zp: np.ndarray, dtype: QDtype, where: str) -> None:
    if zp.size and (zp.min() < dtype.qmin or zp.max() > dtype.qmax):
        raise ValueError(
            f"{where}: zero_point must be in [{dtype.qmin}, {dtype.qmax}] for {dtype.name}, "
            f"got {zp.min()}..{zp.max()}"
        )


def _check_scales(scale: np.ndarray, where: str) -> None:
    if not (np.isfinite(scale).all() and (scale > 0).all()):
        raise ValueError(f"{where}: scale must be positive and finite, got {scale}")


class QTensor:
    """Integers with a scale and zero point (one pair, or one per slice along ``axis``).

    >>> q = quantize_per_tensor(np.array([-1.0, 0.0, 0.25, 1.0]), 0.5, 0, "qint8")
    >>> q.int_repr().tolist(), q.q_scale(), q.q_zero_point()
    ([-2, 0, 0, 2], 0.5, 0)
    >>> q.dequantize().tolist()
    [-1.0, 0.0, 0.0, 1.0]
    """

    def __init__(
        self, ints: np.ndarray, scale: Any, zero_point: Any, dtype: QDtype, axis: int | None
    ) -> None:
        self._ints, self.dtype, self.axis = ints, dtype, axis
        self._scale, self._zero_point = scale, zero_point

    @property
    def shape(self) -> tuple[int, ...]:
        return self._ints.shape

    def int_repr(self) -> np.ndarray:
        """The stored integers (int8 for qint8, uint8 for quint8), a copy."""
        return self._ints.copy()

    def qscheme(self) -> str:
        return "per_tensor_affine" if self.axis is None else "per_channel_affine"

    def _per_tensor(self, what: str) -> None:
        if self.axis is not None:
            raise RuntimeError(f"{what}() is for per-tensor quantization; use q_per_channel_*")

    def _per_channel(self, what: str) -> None:
        if self.axis is None:
            raise RuntimeError(f"{what}() is for per-channel quantization; use q_scale()")

    def q_scale(self) -> float:
        self._per_tensor("q_scale")
        return float(self._scale)

    def q_zero_point(self) -> int:
        self._per_tensor("q_zero_point")
        return int(self._zero_point)

    def q_per_channel_scales(self) -> np.ndarray:
        self._per_channel("q_per_channel_scales")
        return self._scale.astype(np.float64)

    def q_per_channel_zero_points(self) -> np.ndarray:
        self._per_channel("q_per_channel_zero_points")
        return self._zero_point.astype(np.int64)

    def q_per_channel_axis(self) -> int:
        self._per_channel("q_per_channel_axis")
        return int(self.axis)  # type: ignore[arg-type]

    def dequantize(self) -> np.ndarray:
        """``(q - zero_point) * scale`` as float32 (PyTorch's order of operations)."""
        q = self._ints.astype(np.float32)
        if self.axis is None:
            return (q - np.float32(self._zero_point)) * np.float32(self._scale)
        shape = [1] * q.ndim
        shape[self.axis] = -1
        zp = self._zero_point.astype(np.float32).reshape(shape)
        return (q - zp) * self._scale.astype(np.float32).reshape(shape)

    def __repr__(self) -> str:
        params = (
            f"scale={self._scale}, zero_point={self._zero_point}"
            if self.axis is None
            else f"axis={self.axis}"
        )
        return f"QTensor({self.dtype.name}, shape={self.shape}, {params})"


def quantize_per_tensor(x: Any, scale: float, zero_point: int, dtype: Any) -> QTensor:
    """Quantize ``x`` with one scale and zero point (PyTorch's rounding: one float32 FMA).

    >>> quantize_per_tensor([0.5, 1.5, 2.5], 1.0, 0, "quint8").int_repr().tolist()  # ties: even
    [0, 2, 2]
    """
    dt = as_qdtype(dtype)
    a = _float32(x, "quantize_per_tensor")
    s = np.float32(scale)
    _check_scales(np.array([s]), "quantize_per_tensor")
    _check_zero_points(np.array([zero_point]), dt, "quantize_per_tensor")
    inv = np.float32(1.0) / s
    v = np.rint(_fma32(a, np.float32(inv), np.float64(zero_point)))
    ints = np.clip(v, dt.qmin, dt.qmax).astype(dt.storage)
    return QTensor(ints, float(s), int(zero_point), dt, None)


def quantize_per_channel(x: Any, scales: Any, zero_points: Any, axis: int, dtype: Any) -> QTensor:
    """Quantize each slice ``x[..., c, ...]`` along ``axis`` with its own scale and zero point.

    >>> q = quantize_per_channel([[1.0, -1.0], [1.0, 3.0]], [0.5, 1.0], [0, 1], 0, "qint8")
    >>> q.int_repr().tolist()
    [[2, -2], [2, 4]]
    """
    dt = as_qdtype(dtype)
    a = _float32(x, "quantize_per_channel")
    if not -a.ndim <= axis < a.ndim:
        raise ValueError(f"quantize_per_channel: axis {axis} is out of range for shape {a.shape}")
    axis = axis % a.ndim
    s = np.asarray(scales.data if isinstance(scales, Tensor) else scales, np.float32).reshape(-1)
    zp = np.asarray(zero_points.data if isinstance(zero_points, Tensor) else zero_points)
    zp = zp.reshape(-1).astype(np.int64)
    if s.shape != (a.shape[axis],) or zp.shape != s.shape:
        raise ValueError(
            f"quantize_per_channel: {a.shape[axis]} channels along axis {axis} of {a.shape}, "
            f"but {s.size} scales and {zp.size} zero points"
        )
    _check_scales(s, "quantize_per_channel")
    _check_zero_points(zp, dt, "quantize_per_channel")
    shape = [1] * a.ndim
    shape[axis] = -1
    inv = (np.float32(1.0) / s).reshape(shape)
    v = np.rint(a * inv + zp.astype(np.float32).reshape(shape))  # two float32 roundings
    ints = np.clip(v, dt.qmin, dt.qmax).astype(dt.storage)
    return QTensor(ints, s, zp, dt, axis)


def dequantize(q: QTensor) -> np.ndarray:
    """``q.dequantize()``: the floats the integers stand for."""
    if not isinstance(q, QTensor):
        raise TypeError(f"dequantize expects a QTensor, got {type(q).__name__}")
    return q.dequantize()
