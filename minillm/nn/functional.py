"""``minillm.nn.functional`` (import it as ``F``): the stateless form of every layer and loss.

A layer such as ``Linear`` owns its weights and calls ``F.linear(x, self.weight, self.bias)``; here
is only the computation, with PyTorch's names and argument order (``dim=``, ``reduction=``, ...).

Most functions are short compositions of Tensor methods, so autograd differentiates them with no new
derivative code. Four hot spots go to hand-written fused ops in ``minillm/ops/fused.py`` instead:
``embedding``, ``layer_norm`` (its normalized dims flattened into one last axis),
``scaled_dot_product_attention``, and ``cross_entropy`` with class-index targets and no class
``weight`` (logits reshaped to ``(N, C)``). The losses live in ``minillm/nn/losses.py``, the
activations beyond ReLU/GELU (SiLU, softplus, ELU, ...) and RMSNorm in
``minillm/nn/activation_functions.py``; both are re-exported here.

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
from minillm.nn.losses import (
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    cross_entropy,
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
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "celu",
    "cosine_similarity",
    "cross_entropy",
    "dropout",
    "elu",
    "embedding",
    "gelu",
    "glu",
    "hardsigmoid",
    "hardswish",
    "hardtanh",
    "huber_loss",
    "kl_div",
    "l1_loss",
    "layer_norm",
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

    The row ``padding_idx`` (if given) never receives a gradient, so it stays as initialized.

    >>> import minillm
    >>> embedding(minillm.tensor([[2, 0]]), minillm.arange(6.0).reshape(3, 2)).tolist()
    [[[4.0, 5.0], [0.0, 1.0]]]
    """
    # fused.embedding checks the dtype and range of the indices and of padding_idx.
    return fused.embedding(weight, _t(input), padding_idx=padding_idx)


def layer_norm(
    input: Any,  # noqa: A002
    normalized_shape: int | Sequence[int],
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    eps: float = 1e-5,
) -> Tensor:
    """Normalize over the trailing ``normalized_shape`` dims, then scale and shift.

    ``y = (x - mean) / sqrt(var + eps) * weight + bias``, with the biased variance. The trailing
    dims are flattened into one axis so the fused kernel (which works on the last axis) applies.

    >>> import minillm
    >>> y = layer_norm(minillm.tensor([[1.0, 2.0, 3.0]]), 3)
    >>> [round(v, 3) for v in y.tolist()[0]]
    [-1.225, 0.0, 1.225]
    """
    x = _t(input)
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    k = len(shape)
    if k == 0 or x.ndim < k or x.shape[x.ndim - k :] != shape:
        raise ValueError(
            f"layer_norm: input of shape {x.shape} must end with normalized_shape {shape}"
        )
    for name, p in (("weight", weight), ("bias", bias)):
        if p is not None and p.shape != shape:
            raise ValueError(f"layer_norm: {name} has shape {p.shape}, expected {shape}")
    if k == 1:
        return fused.layer_norm(x, weight, bias, eps=eps)
    d = int(np.prod(shape))
    w = None if weight is None else weight.reshape(d)
    b = None if bias is None else bias.reshape(d)
    flat = x.reshape(x.shape[: x.ndim - k] + (d,))
    return fused.layer_norm(flat, w, b, eps=eps).reshape(x.shape)


def scaled_dot_product_attention(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    attn_mask: Tensor | None = None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    scale: float | None = None,
    enable_gqa: bool = False,
) -> Tensor:
    """``softmax(Q K^T * scale + mask) V`` over the last two axes (``scale`` = 1/sqrt(D)).

    ``attn_mask`` is boolean (True = may attend) or additive; ``is_causal`` masks the future;
    ``enable_gqa`` lets keys and values have fewer heads than the queries (grouped-query).
    Shapes: ``(..., T, D)`` queries, ``(..., S, D)`` keys, ``(..., S, Dv)`` values.

    >>> import minillm
    >>> q = k = v = minillm.randn(1, 2, 4, 8)
    >>> scaled_dot_product_attention(q, k, v, is_causal=True).shape
    (1, 2, 4, 8)
    """
    return fused.scaled_dot_product_attention(
        _t(query),
        _t(key),
        _t(value),
        attn_mask=attn_mask,
        dropout_p=dropout_p,
        is_causal=is_causal,
        scale=scale,
        enable_gqa=enable_gqa,
    )


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


def qkv_attention(
    qkv: Tensor,
    n_head: int,
    is_causal: bool = False,
    dropout_p: float = 0.0,
    scale: float | None = None,
) -> Tensor:
    """Multi-head self-attention on a packed projection: ``qkv`` (B, T, 3C) holds q, k and v side
    by side, each C = n_head * D wide; the result is the heads' outputs merged back, (B, T, C).

    The same as ``qkv_attention_reference`` (split, ``scaled_dot_product_attention``, merge), run
    as one fused op (``ops.fused.PackedAttention``) when there is no dropout: a GPT block's
    attention without the copies and zero-padded gradients of the split.

    >>> import minillm
    >>> qkv_attention(minillm.randn(2, 5, 3 * 8), n_head=2, is_causal=True).shape
    (2, 5, 8)
    """
    qkv = _t(qkv)
    if qkv.ndim != 3 or qkv.shape[-1] % 3 or (qkv.shape[-1] // 3) % max(n_head, 1) or n_head < 1:
        raise ValueError(f"qkv_attention: qkv must be (B, T, 3C) with C divisible by n_head="
                         f"{n_head}, got shape {qkv.shape}")  # fmt: skip
    if qkv.dtype.kind != "f":
        raise TypeError(f"qkv_attention: qkv must be floating point, not {qkv.dtype}")
    if not 0.0 <= dropout_p <= 1.0:
        raise ValueError(f"qkv_attention: dropout_p must be in [0, 1], got {dropout_p}")
    if dropout_p > 0.0:
        return qkv_attention_reference(qkv, n_head, is_causal, dropout_p, scale)
    D = qkv.shape[-1] // 3 // n_head
    scale = 1.0 / np.sqrt(D) if scale is None else float(scale)
    return fused.PackedAttention.apply(qkv, n_head=int(n_head), causal=bool(is_causal),
                                       scale=float(scale))  # fmt: skip


def qkv_attention_reference(
    qkv: Tensor, n_head: int, is_causal: bool = False, dropout_p: float = 0.0, scale: Any = None
) -> Tensor:
    """``qkv_attention`` spelled out in three steps (what the fused op is tested against)."""
    B, T, C3 = qkv.shape
    C = C3 // 3
    heads = qkv.reshape(B, T, 3, n_head, C // n_head).permute(2, 0, 3, 1, 4)  # (3, B, H, T, D)
    q, k, v = heads[0], heads[1], heads[2]
    y = scaled_dot_product_attention(q, k, v, dropout_p=dropout_p, is_causal=is_causal,
                                     scale=scale)  # (B, H, T, D)  # fmt: skip
    return y.transpose(1, 2).reshape(B, T, C)  # (B, T, C)


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
