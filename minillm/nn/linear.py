"""Linear and the shape-only layers: ``Linear``, ``Identity``, ``Flatten``.

``Linear`` computes ``y = x W^T + b`` with ``W`` of shape ``(out_features, in_features)``, and
initializes as PyTorch does: ``W ~ U(-1/sqrt(in), 1/sqrt(in))`` (which is what
``kaiming_uniform_(a=sqrt(5))`` works out to) and ``b ~ U(-1/sqrt(in), 1/sqrt(in))``. Keeping both
the layout and the scheme means checkpoints and training curves carry over from PyTorch.

Read next: ``activation.py``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from minillm.nn import functional as F
from minillm.nn import init
from minillm.nn.module import Module
from minillm.nn.parameter import Parameter
from minillm.tensor import DEFAULT_FLOAT, Tensor


class Linear(Module):
    """An affine map ``y = x W^T + b`` over the last axis of ``x``.

    Args:
        in_features: size of each input's last axis.
        out_features: size of each output's last axis.
        bias: whether to learn an additive bias (``self.bias`` is None otherwise).
        dtype: parameter dtype (float32 by default).

    >>> import minillm
    >>> layer = Linear(3, 2)
    >>> layer.weight.shape, layer.bias.shape
    ((2, 3), (2,))
    >>> layer(minillm.randn(5, 7, 3)).shape
    (5, 7, 2)
    """

    def __init__(
        self, in_features: int, out_features: int, bias: bool = True, dtype: Any = None
    ) -> None:
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        dtype = DEFAULT_FLOAT if dtype is None else np.dtype(dtype)
        self.weight = Parameter(np.empty((out_features, in_features), dtype=dtype))
        if bias:
            self.bias = Parameter(np.empty(out_features, dtype=dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Draw fresh weights with PyTorch's default scheme (see the module docstring)."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1.0 / math.sqrt(self.in_features) if self.in_features > 0 else 0.0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return F.linear(input, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"bias={self.bias is not None}"
        )


class Identity(Module):
    """Return the input unchanged (a placeholder, e.g. where a layer is switched off).

    >>> import minillm
    >>> Identity()(minillm.ones(2)).tolist()
    [1.0, 1.0]
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()  # accepts and ignores arguments, so it can stand in for any layer

    def forward(self, input: Any) -> Any:  # noqa: A002
        return input


class Flatten(Module):
    """Merge axes ``start_dim..end_dim`` into one (by default all but the batch axis).

    >>> import minillm
    >>> Flatten()(minillm.zeros(2, 3, 4)).shape
    (2, 12)
    """

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        self.start_dim = start_dim
        self.end_dim = end_dim

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return input.flatten(self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"
