"""``minillm.nn.functional`` (import it as ``F``): the stateless form of every layer and loss.

A layer such as ``Linear`` owns its weights and calls ``F.linear(x, self.weight, self.bias)``; here
is only the computation, with PyTorch's names and argument order (``dim=``, ``reduction=``, ...).

Most functions are short compositions of Tensor methods, so autograd differentiates them with no new
derivative code. Four hot spots go to hand-written fused ops in ``minillm/ops/fused.py`` instead:
``embedding``, ``layer_norm`` (its normalized dims flattened into one last axis),
``scaled_dot_product_attention`` / ``qkv_attention``, and ``cross_entropy`` with class-index
targets and no class ``weight`` (logits reshaped to ``(N, C)``). These functions are the one place
their inputs are checked; the fused op sees arrays. Each has a ``*_reference`` beside it: the same
math from primitives, which the tests hold the fused op equal to. The losses live in
``minillm/nn/losses.py``, attention in ``minillm/nn/attention_functions.py``, the activations
beyond ReLU/GELU (SiLU, softplus, ELU, ...) and RMSNorm in ``minillm/nn/activation_functions.py``;
all are re-exported here.

Read next: ``minillm/nn/losses.py``, then ``minillm/ops/fused.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

import minillm.functions as _functions
from minillm.nn.activation_functions import (
    celu,
    cosine_similarity,
    elu,
    glu,
    hardsigmoid,
    hardswish,
    hardtanh,
    leaky_relu,
    logsigmoid,
    mish,
    normalize,
    relu6,
    rms_norm,
    selu,
    silu,
    softmin,
    softplus,
    softsign,
)
from minillm.nn.attention_functions import (
    attention_reference,
    qkv_attention,
    qkv_attention_reference,
    scaled_dot_product_attention,
)
from minillm.nn.distillation import distillation_loss
from minillm.nn.losses import (
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    cross_entropy,
    cross_entropy_reference,
    huber_loss,
    kl_div,
    l1_loss,
    mse_loss,
    nll_loss,
    smooth_l1_loss,
)
from minillm.ops import fused
from minillm.ops import linalg as L
from minillm.random import generator
from minillm.tensor import Tensor, _wrap
from minillm.tensor import as_tensor as _t

__all__ = [
    "attention_reference",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "celu",
    "cosine_similarity",
    "cross_entropy",
    "cross_entropy_reference",
    "distillation_loss",
    "dropout",
    "elu",
    "embedding",
    "embedding_reference",
    "gelu",
    "glu",
    "hardsigmoid",
    "hardswish",
    "hardtanh",
    "huber_loss",
    "kl_div",
    "l1_loss",
    "layer_norm",
    "layer_norm_reference",
    "leaky_relu",
    "linear",
    "log_softmax",
    "logsigmoid",
    "mish",
    "mse_loss",
    "nll_loss",
    "normalize",
    "one_hot",
    "pad",
    "qkv_attention",
    "qkv_attention_reference",
    "relu",
    "relu6",
    "rms_norm",
    "scaled_dot_product_attention",
    "selu",
    "sigmoid",
    "silu",
    "smooth_l1_loss",
    "softmax",
    "softmin",
    "softplus",
    "softsign",
    "tanh",
]


# --------------------------------------------------------------------------------------------------
# Linear map and activations
# --------------------------------------------------------------------------------------------------
def linear(input: Any, weight: Tensor, bias: Tensor | None = None) -> Tensor:  # noqa: A002
    """``y = x W^T + b`` with ``W`` of shape ``(out_features, in_features)`` (PyTorch's layout).

    >>> import minillm
    >>> linear(minillm.ones(2, 3), minillm.ones(4, 3), minillm.zeros(4)).tolist()[0]
    [3.0, 3.0, 3.0, 3.0]
    """
    x = _t(input)
    if weight.ndim != 2 or x.ndim == 0 or x.shape[-1] != weight.shape[1]:
        raise ValueError(
            f"linear: input of shape {x.shape} needs last dimension {weight.shape[-1]} to match "
            f"weight of shape {weight.shape} (out_features, in_features)"
        )
    if bias is None:
        return L.Linear.apply(x, weight)
    return L.Linear.apply(x, weight, bias)


def relu(input: Any) -> Tensor:  # noqa: A002
    """``max(x, 0)``.

    >>> import minillm
    >>> relu(minillm.tensor([-1.0, 2.0])).tolist()
    [0.0, 2.0]
    """
    return _t(input).relu()


def gelu(input: Any, approximate: str = "none") -> Tensor:  # noqa: A002
    """``x * Phi(x)``, Phi the standard normal CDF.

    ``approximate="tanh"`` is GPT-2's ``0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))``.

    >>> import minillm
    >>> round(float(gelu(minillm.tensor([1.0]))), 4)
    0.8413
    """
    return _t(input).gelu(approximate)


def tanh(input: Any) -> Tensor:  # noqa: A002
    """Hyperbolic tangent.

    >>> import minillm
    >>> tanh(minillm.tensor([0.0])).tolist()
    [0.0]
    """
    return _t(input).tanh()


def sigmoid(input: Any) -> Tensor:  # noqa: A002
    """``1 / (1 + exp(-x))``.

    >>> import minillm
    >>> sigmoid(minillm.tensor([0.0])).tolist()
    [0.5]
    """
    return _t(input).sigmoid()


def softmax(input: Any, dim: int = -1, dtype: Any = None) -> Tensor:  # noqa: A002
    """``exp(x_i) / sum_j exp(x_j)`` along ``dim``.

    Unlike PyTorch, ``dim`` defaults to the last axis instead of a deprecated guess.

    >>> import minillm
    >>> softmax(minillm.tensor([[0.0, 0.0]]), dim=1).tolist()
    [[0.5, 0.5]]
    """
    return _t(input).softmax(dim, dtype=dtype)


def log_softmax(input: Any, dim: int = -1, dtype: Any = None) -> Tensor:  # noqa: A002
    """``x_i - log sum_j exp(x_j)`` along ``dim`` (stable; prefer it to ``softmax(x).log()``).

    >>> import minillm
    >>> round(float(log_softmax(minillm.tensor([0.0, 0.0]))[0]), 4)
    -0.6931
    """
    return _t(input).log_softmax(dim, dtype=dtype)


def dropout(input: Any, p: float = 0.5, training: bool = True) -> Tensor:  # noqa: A002
    """Zero each element with probability ``p`` and scale the survivors by ``1 / (1 - p)``.

    The scaling ("inverted dropout") keeps every element's expected value, so evaluation needs no
    correction: with ``training=False`` (or ``p=0``) the input is returned as it is. The mask comes
    from ``minillm.random.generator()``, so ``manual_seed`` reproduces it.

    >>> import minillm
    >>> y = dropout(minillm.ones(10000), p=0.25)
    >>> sorted(set(round(v, 4) for v in y.tolist()))
    [0.0, 1.3333]
    >>> dropout(minillm.ones(3), p=0.25, training=False).tolist()
    [1.0, 1.0, 1.0]
    """
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout: probability p must be in [0, 1], got {p}")
    x = _t(input)
    if not training or p == 0.0:
        return x
    if p == 1.0:
        return x * 0.0
    keep = generator().random(x.shape) >= p  # P(keep) = 1 - p
    scale = np.where(keep, 1.0 / (1.0 - p), 0.0).astype(x.dtype)
    return x * _wrap(scale)


# --------------------------------------------------------------------------------------------------
# Lookup, normalization, attention: the fused ops
# --------------------------------------------------------------------------------------------------
def embedding(input: Any, weight: Tensor, padding_idx: int | None = None) -> Tensor:  # noqa: A002
    """Rows of ``weight`` picked by integer indices: ``out[..., :] = weight[input[...], :]``.

    The row ``padding_idx`` (if given; negative counts from the end) never receives a gradient,
    so it stays as initialized. The fused op is ``ops.fused.Embedding``; ``embedding_reference``
    is the same lookup as plain indexing.

    >>> import minillm
    >>> embedding(minillm.tensor([[2, 0]]), minillm.arange(6.0).reshape(3, 2)).tolist()
    [[[4.0, 5.0], [0.0, 1.0]]]
    """
    weight, indices = _t(weight), _t(input)
    if weight.ndim != 2:
        raise ValueError(f"embedding: weight must be (V, C), got shape {weight.shape}")
    if indices.dtype.kind not in "iu":
        raise TypeError(f"embedding: indices must be integers, got dtype {indices.dtype}")
    V = weight.shape[0]
    idx = indices.data
    if idx.size and (idx.min() < 0 or idx.max() >= V):
        bad = int(idx.min()) if idx.min() < 0 else int(idx.max())
        raise IndexError(f"embedding: index {bad} is out of range for a table of V={V} rows")
    pad = -1
    if padding_idx is not None:
        if not -V <= padding_idx < V:
            raise ValueError(f"embedding: padding_idx {padding_idx} is out of range for V={V}")
        pad = int(padding_idx) % V
    return fused.Embedding.apply(weight, indices, padding_idx=pad)


def embedding_reference(input: Any, weight: Tensor, padding_idx: int | None = None) -> Tensor:  # noqa: A002
    """``embedding`` as indexing (whose backward adds repeated rows), the padding row's
    gradient cut by a mask."""
    weight, idx = _t(weight), _t(input).data
    rows = weight[idx]
    if padding_idx is None:
        return rows
    keep = (idx != padding_idx % weight.shape[0]).astype(weight.dtype)[..., None]
    return rows * _wrap(keep) + (rows * _wrap(1.0 - keep)).detach()


def layer_norm(
    input: Any,  # noqa: A002
    normalized_shape: int | Sequence[int],
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    eps: float = 1e-5,
) -> Tensor:
    """Normalize over the trailing ``normalized_shape`` dims, then scale and shift.

    ``y = (x - mean) / sqrt(var + eps) * weight + bias``, with the biased variance. The trailing
    dims are flattened into one axis for the fused op (``ops.fused.LayerNorm``, which works on the
    last axis); ``layer_norm_reference`` is the same formula from primitives.

    >>> import minillm
    >>> y = layer_norm(minillm.tensor([[1.0, 2.0, 3.0]]), 3)
    >>> [round(v, 3) for v in y.tolist()[0]]
    [-1.225, 0.0, 1.225]
    """
    x = _t(input)
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    k = len(shape)
    if x.dtype.kind != "f":
        raise TypeError(f"layer_norm: input must be floating point, got dtype {x.dtype}")
    if k == 0 or x.ndim < k or x.shape[x.ndim - k :] != shape:
        raise ValueError(
            f"layer_norm: input of shape {x.shape} must end with normalized_shape {shape}"
        )
    for name, p in (("weight", weight), ("bias", bias)):
        if p is not None and p.shape != shape:
            raise ValueError(f"layer_norm: {name} has shape {p.shape}, expected {shape}")
    d = int(np.prod(shape))
    w = _wrap(np.ones(d, dtype=x.dtype)) if weight is None else _t(weight).reshape(d)
    b = _wrap(np.zeros(d, dtype=x.dtype)) if bias is None else _t(bias).reshape(d)
    flat = x if k == 1 else x.reshape(x.shape[: x.ndim - k] + (d,))
    return fused.LayerNorm.apply(flat, w, b, eps=float(eps)).reshape(x.shape)


def layer_norm_reference(
    input: Any,  # noqa: A002
    normalized_shape: int | Sequence[int],
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    eps: float = 1e-5,
) -> Tensor:
    """``layer_norm`` from primitives: mean, biased variance, rsqrt, scale, shift."""
    x = _t(input)
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    axes = tuple(range(x.ndim - len(shape), x.ndim))
    centered = x - x.mean(axes, keepdims=True)
    y = centered * ((centered * centered).mean(axes, keepdims=True) + eps).rsqrt()
    y = y if weight is None else y * weight
    return y if bias is None else y + bias


# --------------------------------------------------------------------------------------------------
# Shapes and encodings
# --------------------------------------------------------------------------------------------------
def one_hot(tensor: Any, num_classes: int = -1) -> Tensor:
    """int64 one-hot rows for class indices (``num_classes=-1``: the largest index + 1).

    >>> import minillm
    >>> one_hot(minillm.tensor([1, 0]), 2).tolist()
    [[0, 1], [1, 0]]
    """
    return _functions.one_hot(tensor, num_classes)


def pad(
    input: Any,  # noqa: A002
    pad: Sequence[int],
    mode: str = "constant",
    value: float | None = None,
) -> Tensor:
    """Pad with (before, after) pairs starting from the last axis (PyTorch's order).

    ``mode``: "constant" (``value``, default 0), "reflect" (mirror, the edge not repeated),
    "replicate" (repeat the edge) or "circular" (wrap around). The last three are indexing with
    a padded range of positions (``np.pad`` of ``arange``), so their gradient adds up every copy.

    >>> import minillm
    >>> pad(minillm.ones(1, 2), (1, 1), value=0.0).tolist()
    [[0.0, 1.0, 1.0, 0.0]]
    >>> pad(minillm.tensor([[1.0, 2.0, 3.0]]), (2, 1), mode="reflect").tolist()
    [[3.0, 2.0, 1.0, 2.0, 3.0, 2.0]]
    """
    if mode == "constant":
        return _functions.pad(input, pad, 0.0 if value is None else value)
    numpy_mode = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}.get(mode)
    if numpy_mode is None:
        raise ValueError(
            f"pad: mode must be 'constant', 'reflect', 'replicate' or 'circular', got {mode!r}"
        )
    x = _t(input)
    if len(pad) % 2 or len(pad) // 2 > x.ndim:
        raise ValueError(f"pad: {tuple(pad)} must hold (before, after) pairs for at most "
                         f"{x.ndim} axes")  # fmt: skip
    for i in range(len(pad) // 2):
        axis, (lo, hi) = x.ndim - 1 - i, (int(pad[2 * i]), int(pad[2 * i + 1]))
        n = x.shape[axis]
        if lo < 0 or hi < 0 or (mode == "reflect" and max(lo, hi) >= n) or \
                (mode == "circular" and max(lo, hi) > n) or n == 0:  # fmt: skip
            raise ValueError(
                f"pad: ({lo}, {hi}) is too much {mode} padding for an axis of size {n}"
            )
        positions = np.pad(np.arange(n), (lo, hi), mode=numpy_mode)
        x = x.index_select(axis, positions)
    return x
