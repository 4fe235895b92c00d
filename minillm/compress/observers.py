"""Observers: watch tensors go by, then choose a scale and zero point (PyTorch's min-max rules).

An observer keeps the running minimum and maximum of what it saw (per tensor, or per channel along
``ch_axis``) and turns them into quantization parameters with PyTorch's formulas, widened first so
that the range holds 0 (zero must be exactly representable: padding and ReLU outputs are zeros):

    lo = min(min_seen, 0),  hi = max(max_seen, 0)
    affine:     scale = (hi - lo) / (qmax - qmin),   zero_point = qmin - round(lo / scale)
    symmetric:  scale = max(-lo, hi) / ((qmax - qmin) / 2),
                zero_point = 0 for qint8, 128 for quint8

with ``scale`` at least float32's machine epsilon and the zero point clamped to the range, all in
float32 arithmetic as PyTorch does it. ``reduce_range`` drops one bit (-64..63, 0..127), which
PyTorch uses for activations on x86 so that its u8 x s8 pairs never saturate a 16-bit sum.

Read next: ``dynamic.py``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from minillm.compress.qtensor import QDtype, as_qdtype
from minillm.tensor import Tensor

_EPS = np.float32(np.finfo(np.float32).eps)
QSCHEMES = ("per_tensor_affine", "per_tensor_symmetric", "per_channel_affine",
            "per_channel_symmetric")  # fmt: skip


def _range(dtype: QDtype, reduce_range: bool) -> tuple[int, int]:
    if not reduce_range:
        return dtype.qmin, dtype.qmax
    return (-64, 63) if dtype.qmin < 0 else (0, 127)


def calculate_qparams(
    min_val: np.ndarray,
    max_val: np.ndarray,
    dtype: Any = "quint8",
    symmetric: bool = False,
    reduce_range: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Scale (float32) and zero point (int64) from observed minima and maxima (same shapes).

    >>> s, z = calculate_qparams(np.array(-1.0), np.array(3.0), "quint8")
    >>> float(s), int(z)
    (0.01568627543747425, 64)
    """
    dt = as_qdtype(dtype)
    qmin, qmax = _range(dt, reduce_range)
    lo = np.minimum(np.asarray(min_val, np.float32), np.float32(0))
    hi = np.maximum(np.asarray(max_val, np.float32), np.float32(0))
    if symmetric:
        hi = np.maximum(-lo, hi)
        scale = np.maximum(hi / np.float32((qmax - qmin) / 2), _EPS).astype(np.float32)
        zp = np.full(scale.shape, 0 if dt.qmin < 0 else 128, np.int64)  # 128 even reduced, as torch
        return scale, zp
    scale = np.maximum((hi - lo) / np.float32(qmax - qmin), _EPS).astype(np.float32)
    zp = qmin - np.rint(lo / scale).astype(np.int64)
    return scale, np.clip(zp, qmin, qmax).astype(np.int64)


class MinMaxObserver:
    """Running min/max of every tensor passed to ``forward`` (the whole tensor).

    >>> obs = MinMaxObserver(dtype="qint8", qscheme="per_tensor_symmetric")
    >>> _ = obs(np.array([-0.5, 2.0]))
    >>> [round(float(v), 6) for v in obs.calculate_qparams()]
    [0.015686, 0.0]
    """

    per_channel = False

    def __init__(
        self, dtype: Any = "quint8", qscheme: str = "per_tensor_affine", reduce_range: bool = False
    ) -> None:
        if qscheme not in QSCHEMES or qscheme.startswith("per_channel") != self.per_channel:
            kinds = [q for q in QSCHEMES if q.startswith("per_channel") == self.per_channel]
            raise ValueError(
                f"{type(self).__name__}: qscheme must be one of {kinds}, got {qscheme!r}"
            )
        self.dtype, self.qscheme, self.reduce_range = as_qdtype(dtype), qscheme, reduce_range
        if qscheme == "per_tensor_symmetric" and reduce_range and self.dtype.qmin == 0:
            raise NotImplementedError("cannot reduce range for symmetric quantization for quint8 "
                                      "(as in PyTorch)")  # fmt: skip
        self.min_val: np.ndarray | None = None
        self.max_val: np.ndarray | None = None

    def _extremes(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return x.min(), x.max()

    def forward(self, x: Any) -> Any:
        """Record ``x``'s extremes and return ``x`` unchanged (so an observer can sit in a net)."""
        a = x.data if isinstance(x, Tensor) else np.asarray(x)
        if a.size == 0:
            return x
        lo, hi = self._extremes(a.astype(np.float32))
        if self.min_val is None:
            self.min_val, self.max_val = np.asarray(lo), np.asarray(hi)
        else:
            self.min_val = np.minimum(self.min_val, lo)
            self.max_val = np.maximum(self.max_val, hi)
        return x

    __call__ = forward

    def calculate_qparams(self) -> tuple[np.ndarray, np.ndarray]:
        """(scale, zero_point) for everything seen so far; scale 1, zero point 0 before that."""
        if self.min_val is None:
            return np.ones(1, np.float32), np.zeros(1, np.int64)
        return calculate_qparams(
            self.min_val, self.max_val, self.dtype, self.qscheme.endswith("symmetric"),
            self.reduce_range,
        )  # fmt: skip


class PerChannelMinMaxObserver(MinMaxObserver):
    """Running min/max of each slice along ``ch_axis`` (a weight's output rows: ``ch_axis=0``).

    >>> obs = PerChannelMinMaxObserver(dtype="qint8")
    >>> _ = obs(np.array([[1.0, -2.0], [0.5, 0.25]]))
    >>> [round(float(s), 6) for s in obs.calculate_qparams()[0]]
    [0.015686, 0.003922]
    """

    per_channel = True

    def __init__(
        self,
        ch_axis: int = 0,
        dtype: Any = "qint8",
        qscheme: str = "per_channel_symmetric",
        reduce_range: bool = False,
    ) -> None:
        super().__init__(dtype, qscheme, reduce_range)
        self.ch_axis = ch_axis

    def _extremes(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rows = np.moveaxis(x, self.ch_axis, 0).reshape(x.shape[self.ch_axis], -1)
        return rows.min(axis=1), rows.max(axis=1)
