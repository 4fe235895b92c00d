"""Activation layers: ``ReLU``, ``GELU``, ``Tanh``, ``Sigmoid``, ``Softmax``, ``LogSoftmax`` and the
modern family (``SiLU``, ``Softplus``, ``ELU``, ``LeakyReLU``, ``Hardswish``, ``GLU``, ...).

Each is a parameter-free Module around one function of ``minillm.nn.functional``, so that it can sit
in a ``Sequential`` and show in a model's repr. The derivatives live in the primitives
(``minillm/ops/elementwise.py``, ``minillm/ops/reduce.py``).

Read next: ``dropout.py``.
"""

from __future__ import annotations

from typing import Any

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


class _Elementwise(Module):
    """A parameter-free layer around one function of ``F`` (given by name) and its options."""

    function: str = ""

    def __init__(self, **options: Any) -> None:
        super().__init__()
        self.options = options

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return getattr(F, self.function)(input, **self.options)

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v!r}" for k, v in self.options.items())


class SiLU(_Elementwise):
    """``x * sigmoid(x)`` (``F.silu``)."""

    function = "silu"

    def __init__(self) -> None:
        super().__init__()


class Mish(_Elementwise):
    """``x * tanh(softplus(x))`` (``F.mish``)."""

    function = "mish"

    def __init__(self) -> None:
        super().__init__()


class Softsign(_Elementwise):
    """``x / (1 + |x|)`` (``F.softsign``)."""

    function = "softsign"

    def __init__(self) -> None:
        super().__init__()


class LogSigmoid(_Elementwise):
    """``log(sigmoid(x))`` (``F.logsigmoid``)."""

    function = "logsigmoid"

    def __init__(self) -> None:
        super().__init__()


class SELU(_Elementwise):
    """``scale * elu(x, alpha)`` with the self-normalizing constants (``F.selu``)."""

    function = "selu"

    def __init__(self) -> None:
        super().__init__()


class ReLU6(_Elementwise):
    """``min(max(x, 0), 6)`` (``F.relu6``)."""

    function = "relu6"

    def __init__(self) -> None:
        super().__init__()


class Hardsigmoid(_Elementwise):
    """``clamp(x / 6 + 1/2, 0, 1)`` (``F.hardsigmoid``)."""

    function = "hardsigmoid"

    def __init__(self) -> None:
        super().__init__()


class Hardswish(_Elementwise):
    """``x * hardsigmoid(x)`` (``F.hardswish``)."""

    function = "hardswish"

    def __init__(self) -> None:
        super().__init__()


class Softplus(_Elementwise):
    """``log(1 + exp(beta x)) / beta`` (``F.softplus``).

    >>> Softplus(beta=2.0)
    Softplus(beta=2.0, threshold=20.0)
    """

    function = "softplus"

    def __init__(self, beta: float = 1.0, threshold: float = 20.0) -> None:
        super().__init__(beta=beta, threshold=threshold)


class LeakyReLU(_Elementwise):
    """``x`` for x > 0, else ``negative_slope * x`` (``F.leaky_relu``)."""

    function = "leaky_relu"

    def __init__(self, negative_slope: float = 0.01) -> None:
        super().__init__(negative_slope=negative_slope)


class ELU(_Elementwise):
    """``x`` for x > 0, else ``alpha (e^x - 1)`` (``F.elu``)."""

    function = "elu"

    def __init__(self, alpha: float = 1.0) -> None:
        super().__init__(alpha=alpha)


class CELU(_Elementwise):
    """``x`` for x > 0, else ``alpha (e^(x/alpha) - 1)`` (``F.celu``)."""

    function = "celu"

    def __init__(self, alpha: float = 1.0) -> None:
        super().__init__(alpha=alpha)


class Hardtanh(_Elementwise):
    """``x`` clamped to [min_val, max_val] (``F.hardtanh``)."""

    function = "hardtanh"

    def __init__(self, min_val: float = -1.0, max_val: float = 1.0) -> None:
        super().__init__(min_val=min_val, max_val=max_val)


class Softmin(_Elementwise):
    """``softmax(-x)`` along ``dim`` (``F.softmin``)."""

    function = "softmin"

    def __init__(self, dim: int = -1) -> None:
        super().__init__(dim=dim)


class GLU(_Elementwise):
    """``a * sigmoid(b)`` for the halves ``a, b`` of ``x`` along ``dim`` (``F.glu``)."""

    function = "glu"

    def __init__(self, dim: int = -1) -> None:
        super().__init__(dim=dim)
