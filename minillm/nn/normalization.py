"""LayerNorm (Ba, Kiros and Hinton, 2016) and RMSNorm (Zhang and Sennrich, 2019): normalize each
sample over its trailing dimensions.

    y = (x - mean) / sqrt(var + eps) * weight + bias

with the mean and the biased variance taken over the last ``len(normalized_shape)`` axes of each
sample, and ``weight`` (ones) and ``bias`` (zeros) of ``normalized_shape`` learned. Unlike batch
norm it uses no batch statistics, so training and evaluation compute the same thing. The forward
and backward are one fused op (``minillm/ops/fused.py``).

Read next: ``minillm/nn/functional.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from minillm.nn import functional as F
from minillm.nn import init
from minillm.nn.module import Module
from minillm.nn.parameter import Parameter
from minillm.tensor import DEFAULT_FLOAT, Tensor


class LayerNorm(Module):
    """Layer normalization over the trailing ``normalized_shape`` dims.

    Args:
        normalized_shape: the trailing shape to normalize over (an int for the last axis).
        eps: added to the variance before the square root.
        elementwise_affine: learn ``weight`` (and ``bias``); otherwise both are None.
        bias: learn ``bias`` as well (GPT-2 does; some later models do not).
        dtype: parameter dtype (float32 by default).

    >>> import minillm
    >>> ln = LayerNorm(4)
    >>> y = ln(minillm.randn(2, 3, 4))
    >>> bool(abs(y.mean(dim=-1)).max() < 1e-5)
    True
    >>> ln
    LayerNorm((4,), eps=1e-05, elementwise_affine=True)
    """

    def __init__(
        self,
        normalized_shape: int | Sequence[int],
        eps: float = 1e-5,
        elementwise_affine: bool = True,
        bias: bool = True,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        if isinstance(normalized_shape, int):
            normalized_shape = (normalized_shape,)
        self.normalized_shape = tuple(int(n) for n in normalized_shape)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        dtype = DEFAULT_FLOAT if dtype is None else np.dtype(dtype)
        if elementwise_affine:
            self.weight = Parameter(np.empty(self.normalized_shape, dtype=dtype))
            if bias:
                self.bias = Parameter(np.empty(self.normalized_shape, dtype=dtype))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Weight ones, bias zeros: the layer starts as a pure normalization."""
        if self.weight is not None:
            init.ones_(self.weight)
        if self.bias is not None:
            init.zeros_(self.bias)

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return F.layer_norm(input, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (
            f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"
        )


class RMSNorm(Module):
    """RMS normalization over the trailing ``normalized_shape`` dims (``F.rms_norm``), as in
    LLaMA: ``x / sqrt(mean(x^2) + eps) * weight``; no mean subtraction, no bias.

    >>> import minillm
    >>> norm = RMSNorm(4)
    >>> y = norm(minillm.randn(2, 4))
    >>> bool(abs((y * y).mean(dim=-1) - 1).max() < 1e-4)
    True
    >>> norm
    RMSNorm((4,), eps=None, elementwise_affine=True)
    """

    def __init__(
        self,
        normalized_shape: int | Sequence[int],
        eps: float | None = None,
        elementwise_affine: bool = True,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        if isinstance(normalized_shape, int):
            normalized_shape = (normalized_shape,)
        self.normalized_shape = tuple(int(n) for n in normalized_shape)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        dtype = DEFAULT_FLOAT if dtype is None else np.dtype(dtype)
        if elementwise_affine:
            self.weight = Parameter(np.ones(self.normalized_shape, dtype=dtype))
        else:
            self.register_parameter("weight", None)

    def reset_parameters(self) -> None:
        if self.weight is not None:
            init.ones_(self.weight)

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return F.rms_norm(input, self.normalized_shape, self.weight, self.eps)

    def extra_repr(self) -> str:
        return (
            f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"
        )
