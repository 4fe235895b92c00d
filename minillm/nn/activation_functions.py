"""The activation functions beyond ReLU and GELU, and the normalizations that fit in one line.

Every one is a short composition of Tensor methods, so autograd differentiates it with no new
derivative code: SiLU is ``x * sigmoid(x)``, softplus is ``logaddexp(0, x)`` (it never overflows,
and its gradient is exactly sigmoid(x), at 0 too), ELU is ``x`` or ``alpha (e^x - 1)``, and so on.
``minillm.nn.functional`` re-exports them with PyTorch's names and defaults; the layers in
``activation.py`` wrap them as Modules.

One pitfall shows in ELU and its kin: ``where(x > 0, x, expm1(x))`` would compute ``expm1`` of a
large positive x too, overflow to inf, and its gradient ``0 * inf`` would be NaN. Clamping the
argument first (``expm1(min(x, 0))``) keeps the unused branch finite.

Read next: ``minillm/nn/activation.py``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from minillm.ops.elementwise import ieee
from minillm.tensor import Tensor, _wrap
from minillm.tensor import as_tensor as _t

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def silu(input: Any) -> Tensor:  # noqa: A002
    """``x * sigmoid(x)`` (also called swish), the activation of LLaMA-style MLPs.

    >>> import minillm
    >>> round(silu(minillm.tensor([1.0])).item(), 4)
    0.7311
    """
    x = _t(input)
    return x * x.sigmoid()


def softplus(input: Any, beta: float = 1.0, threshold: float = 20.0) -> Tensor:  # noqa: A002
    """``log(1 + exp(beta x)) / beta``, a smooth ReLU; ``x`` itself where ``beta x > threshold``.

    >>> import minillm
    >>> [round(v, 4) for v in softplus(minillm.tensor([-30.0, 0.0, 30.0])).tolist()]
    [0.0, 0.6931, 30.0]
    """
    x = _t(input)
    z = x * beta
    smooth = _wrap(np.zeros((), dtype=z.dtype)).logaddexp(z) * (1.0 / beta)
    return x.where(z > threshold, smooth)


def logsigmoid(input: Any) -> Tensor:  # noqa: A002
    """``log(sigmoid(x)) = -softplus(-x)``, finite for any x.

    >>> import minillm
    >>> round(logsigmoid(minillm.tensor([-100.0])).item(), 1)
    -100.0
    """
    return -softplus(-_t(input), threshold=math.inf)


def mish(input: Any) -> Tensor:  # noqa: A002
    """``x * tanh(softplus(x))`` (Misra, 2019)."""
    x = _t(input)
    return x * softplus(x).tanh()


def softsign(input: Any) -> Tensor:  # noqa: A002
    """``x / (1 + |x|)``."""
    x = _t(input)
    return x / (x.abs() + 1.0)


def leaky_relu(input: Any, negative_slope: float = 0.01) -> Tensor:  # noqa: A002
    """``x`` for x > 0, else ``negative_slope * x``.

    >>> import minillm
    >>> leaky_relu(minillm.tensor([-2.0, 3.0]), 0.5).tolist()
    [-1.0, 3.0]
    """
    x = _t(input)
    return x.where(x > 0, x * negative_slope)


def elu(input: Any, alpha: float = 1.0) -> Tensor:  # noqa: A002
    """``x`` for x > 0, else ``alpha (e^x - 1)`` (Clevert et al., 2015)."""
    x = _t(input)
    return x.where(x > 0, x.clamp(max=0.0).expm1() * alpha)


def celu(input: Any, alpha: float = 1.0) -> Tensor:  # noqa: A002
    """``x`` for x > 0, else ``alpha (e^(x / alpha) - 1)``."""
    x = _t(input)
    return x.where(x > 0, (x.clamp(max=0.0) * (1.0 / alpha)).expm1() * alpha)


def selu(input: Any) -> Tensor:  # noqa: A002
    """``scale * elu(x, alpha)`` with the self-normalizing constants of Klambauer et al., 2017."""
    return elu(input, SELU_ALPHA) * SELU_SCALE


def _piecewise(
    x: Tensor, lo: float, hi: float, inside: Tensor, below: float, above: float
) -> Tensor:
    """``inside`` where lo < x < hi, the constant ``below`` / ``above`` outside. The gradient is
    ``inside``'s strictly between the bounds and 0 at them, as PyTorch's hard activations."""
    low = _wrap(np.array(below, dtype=x.dtype))
    high = _wrap(np.array(above, dtype=x.dtype))
    return low.where(x <= lo, high.where(x >= hi, inside))


def hardtanh(input: Any, min_val: float = -1.0, max_val: float = 1.0) -> Tensor:  # noqa: A002
    """``x`` clamped to [min_val, max_val].

    >>> import minillm
    >>> hardtanh(minillm.tensor([-3.0, 0.5, 2.0])).tolist()
    [-1.0, 0.5, 1.0]
    """
    if min_val > max_val:
        raise ValueError(f"hardtanh: min_val {min_val} must not exceed max_val {max_val}")
    x = _t(input)
    return _piecewise(x, min_val, max_val, x, min_val, max_val)


def relu6(input: Any) -> Tensor:  # noqa: A002
    """``min(max(x, 0), 6)``."""
    return hardtanh(input, 0.0, 6.0)


def hardsigmoid(input: Any) -> Tensor:  # noqa: A002
    """``clamp(x / 6 + 1/2, 0, 1)``, a piecewise-linear sigmoid."""
    x = _t(input)
    return _piecewise(x, -3.0, 3.0, x * (1.0 / 6.0) + 0.5, 0.0, 1.0)


def hardswish(input: Any) -> Tensor:  # noqa: A002
    """``x * hardsigmoid(x)`` (MobileNetV3)."""
    x = _t(input)
    return x * hardsigmoid(x)


def softmin(input: Any, dim: int = -1) -> Tensor:  # noqa: A002
    """``softmax(-x)`` along ``dim``: most weight on the smallest value."""
    return (-_t(input)).softmax(dim)


def glu(input: Any, dim: int = -1) -> Tensor:  # noqa: A002
    """Gated linear unit: split ``x`` in halves ``a, b`` along ``dim``; ``a * sigmoid(b)``.

    >>> import minillm
    >>> glu(minillm.tensor([[2.0, 0.0]])).tolist()
    [[1.0]]
    """
    x = _t(input)
    if x.ndim == 0 or x.shape[dim] % 2:
        raise ValueError(f"glu: dimension {dim} of shape {x.shape} must have an even size")
    a, b = x.chunk(2, dim)
    return a * b.sigmoid()


def normalize(input: Any, p: float = 2.0, dim: int = 1, eps: float = 1e-12) -> Tensor:  # noqa: A002
    """``x / max(||x||_p, eps)`` along ``dim``: unit vectors (cosine similarity's first step).

    >>> import minillm
    >>> [round(v, 4) for v in normalize(minillm.tensor([[3.0, 4.0]]))[0].tolist()]
    [0.6, 0.8]
    """
    x = _t(input)
    with ieee():  # a huge x overflows the squares to inf, and x / inf = 0 (as PyTorch, silently)
        if p == 2:
            norm = (x * x).sum(dim, keepdims=True).sqrt()
        else:
            norm = (x.abs() ** p).sum(dim, keepdims=True) ** (1.0 / p)
        return x / norm.clamp(min=eps)


def cosine_similarity(x1: Any, x2: Any, dim: int = 1, eps: float = 1e-8) -> Tensor:
    """``<x1, x2> / (max(||x1||, eps) max(||x2||, eps))`` along ``dim`` (inputs broadcast).

    >>> import minillm
    >>> a, b = minillm.tensor([[1.0, 0.0]]), minillm.tensor([[1.0, 1.0]])
    >>> round(cosine_similarity(a, b).item(), 4)
    0.7071
    """
    a, b = _t(x1), _t(x2)
    shape = np.broadcast_shapes(a.shape, b.shape)  # broadcast first: the norms are of the pairs
    a, b = a.expand(shape), b.expand(shape)
    na = a.norm(dim=dim, keepdim=True).clamp(min=eps)
    nb = b.norm(dim=dim, keepdim=True).clamp(min=eps)
    return ((a / na) * (b / nb)).sum(dim)


def rms_norm(
    input: Any,  # noqa: A002
    normalized_shape: int | Sequence[int],
    weight: Tensor | None = None,
    eps: float | None = None,
) -> Tensor:
    """RMSNorm (Zhang and Sennrich, 2019): ``x / sqrt(mean(x^2) + eps) * weight`` over the
    trailing ``normalized_shape`` dims; no centring, no bias (LLaMA's normalization).

    ``eps`` defaults to the dtype's machine epsilon, as in PyTorch.

    >>> import minillm
    >>> [round(v, 4) for v in rms_norm(minillm.tensor([3.0, 4.0]), 2).tolist()]
    [0.8485, 1.1314]
    """
    x = _t(input)
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    if x.shape[x.ndim - len(shape) :] != shape:
        raise ValueError(
            f"rms_norm: input of shape {x.shape} does not end in normalized_shape {shape}"
        )
    if weight is not None and weight.shape != shape:
        raise ValueError(f"rms_norm: weight of shape {weight.shape} must be {shape}")
    eps = float(np.finfo(x.dtype).eps) if eps is None else eps
    axes = tuple(range(x.ndim - len(shape), x.ndim))
    with ieee():  # as normalize: squares past the range are inf, and the scale then 0
        y = x * ((x * x).mean(axes, keepdims=True) + eps).rsqrt()
    return y if weight is None else y * weight


__all__ = [
    "celu",
    "elu",
    "glu",
    "hardsigmoid",
    "hardswish",
    "hardtanh",
    "leaky_relu",
    "logsigmoid",
    "mish",
    "normalize",
    "relu6",
    "rms_norm",
    "selu",
    "silu",
    "softmin",
    "softplus",
    "softsign",
]
