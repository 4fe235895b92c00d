"""Activation layers: ``ReLU``, ``GELU``, ``Tanh``, ``Sigmoid``, ``Softmax``, ``LogSoftmax``.

Each is a parameter-free Module around one function of ``minillm.nn.functional``, so that it can sit
in a ``Sequential`` and show in a model's repr. The derivatives live in the primitives
(``minillm/ops/elementwise.py``, ``minillm/ops/reduce.py``).

Read next: ``dropout.py``.
"""

from __future__ import annotations

from minillm.nn import functional as F
from minillm.nn.module import Module
from minillm.tensor import Tensor


class ReLU(Module):
    """``max(x, 0)`` elementwise.

    >>> import minillm
    >>> ReLU()(minillm.tensor([-2.0, 3.0])).tolist()
    [0.0, 3.0]
    """

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return F.relu(input)


class GELU(Module):
    """``x * Phi(x)``; ``approximate="tanh"`` selects GPT-2's tanh approximation.

    >>> import minillm
    >>> GELU(approximate="tanh")
    GELU(approximate='tanh')
    >>> round(GELU()(minillm.tensor([1.0])).item(), 4)
    0.8413
    """

    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU: approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return F.gelu(input, approximate=self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class Tanh(Module):
    """Hyperbolic tangent elementwise.

    >>> import minillm
    >>> Tanh()(minillm.zeros(1)).tolist()
    [0.0]
    """

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return F.tanh(input)


class Sigmoid(Module):
    """``1 / (1 + exp(-x))`` elementwise.

    >>> import minillm
    >>> Sigmoid()(minillm.zeros(1)).tolist()
    [0.5]
    """

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return F.sigmoid(input)


class Softmax(Module):
    """Softmax along ``dim`` (the last axis by default).

    >>> import minillm
    >>> Softmax(dim=1)(minillm.zeros(1, 4)).tolist()
    [[0.25, 0.25, 0.25, 0.25]]
    """

    def __init__(self, dim: int = -1) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return F.softmax(input, dim=self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class LogSoftmax(Module):
    """Log-softmax along ``dim`` (the last axis by default); pairs with ``NLLLoss``.

    >>> import minillm
    >>> round(LogSoftmax()(minillm.zeros(2)).tolist()[0], 4)
    -0.6931
    """

    def __init__(self, dim: int = -1) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return F.log_softmax(input, dim=self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"
