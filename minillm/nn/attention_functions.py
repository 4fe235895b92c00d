"""Attention at the Tensor level: ``scaled_dot_product_attention`` (PyTorch's function) and
``qkv_attention`` (a GPT block's packed form), each checking its inputs once and handing arrays to
the fused ops of ``minillm/ops/fused.py``; ``attention_reference`` and ``qkv_attention_reference``
write the same math from primitives, and the tests hold the fused ops equal to them.

    scores = q k^T * scale + mask          (..., Tq, Tk)   bool mask: -inf where False
    weights = softmax(scores)              row-wise over the keys
    out = weights v                        (..., Tq, Dv)

Read next: ``minillm/ops/fused.py`` (``Attention``), then ``minillm/kernels/attention.py``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from minillm.ops import fused
from minillm.random import generator
from minillm.tensor import Tensor, _wrap
from minillm.tensor import as_tensor as _t


def _attention_bias(
    attn_mask: Any, batch: tuple[int, ...], Tq: int, Tk: int, dtype: np.dtype
) -> tuple[np.ndarray, np.ndarray, bool]:
    """Turn a bool/float mask broadcastable to (*batch, Tq, Tk) into (bias slabs, slab per g)."""
    G = math.prod(batch)
    if attn_mask is None:
        return np.zeros((1, 1, 1), dtype=dtype), np.zeros(G, dtype=np.int64), False
    m = attn_mask.data if isinstance(attn_mask, Tensor) else np.asarray(attn_mask)
    if m.dtype == bool:
        bias = np.where(m, 0.0, -np.inf).astype(dtype)  # True = take part in attention
    elif m.dtype.kind == "f":
        bias = m.astype(dtype)
    else:
        raise TypeError(
            f"scaled_dot_product_attention: attn_mask must be bool or float, not {m.dtype}"
        )
    if bias.ndim < 2:
        bias = bias.reshape((1,) * (2 - bias.ndim) + bias.shape)
    lead = bias.shape[:-2]
    if len(lead) > len(batch):
        raise ValueError(
            f"scaled_dot_product_attention: attn_mask of shape {m.shape} has more axes than the "
            f"attention scores {(*batch, Tq, Tk)}"
        )
    try:
        np.broadcast_shapes(bias.shape, (*batch, Tq, Tk))
        slabs = np.broadcast_to(bias, (*lead, Tq, Tk))
        index = np.broadcast_to(np.arange(math.prod(lead)).reshape(lead), batch)
    except ValueError:
        raise ValueError(
            f"scaled_dot_product_attention: attn_mask of shape {m.shape} does not broadcast to "
            f"the attention scores {(*batch, Tq, Tk)}"
        ) from None
    slabs = np.ascontiguousarray(slabs.reshape(-1, Tq, Tk))
    return slabs, np.ascontiguousarray(index.reshape(G), dtype=np.int64), True


def _attention_composed(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    mask: Tensor,
    dropout_p: float,
    is_causal: bool,
    scale: float,
    return_weights: bool,
) -> Tensor | tuple[Tensor, Tensor]:
    """softmax(q k^T * scale + mask) v from primitives, for a float mask that needs its gradient
    (an ALiBi-style or learned bias); the fused kernels treat the mask as a constant."""
    if mask.dtype.kind != "f":
        raise TypeError(f"scaled_dot_product_attention: a mask that requires grad is float, "
                        f"not {mask.dtype}")  # fmt: skip
    scores = (q @ k.transpose(-2, -1)) * scale + mask.astype(q.dtype)  # (..., Tq, Tk)
    if is_causal:
        Tq, Tk = scores.shape[-2:]
        allowed = np.tril(np.ones((Tq, Tk), dtype=bool))
        scores = scores.masked_fill(_wrap(~allowed), -np.inf)
    weights = scores.softmax(-1)
    if dropout_p > 0.0:
        keep = generator().random(weights.shape) >= dropout_p
        factor = 0.0 if dropout_p == 1.0 else 1.0 / (1.0 - dropout_p)
        weights = weights * _wrap((keep * factor).astype(q.dtype))
    out = weights @ v
    return (out, weights) if return_weights else out


def scaled_dot_product_attention(
    query: Any,
    key: Any,
    value: Any,
    attn_mask: Any = None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    scale: float | None = None,
    enable_gqa: bool = False,
    *,
    return_weights: bool = False,
) -> Tensor | tuple[Tensor, Tensor]:
    """softmax(q k^T * scale + mask) v over (..., T, D) inputs, as PyTorch's function.

    ``enable_gqa``: grouped-query attention. k and v may have fewer heads (axis -3) than q, a
    divisor of its count; each k/v head then serves ``H_q / H_kv`` consecutive query heads.

    q (..., Tq, D), k (..., Tk, D), v (..., Tk, Dv) share their batch axes (e.g. (B, H)).
    ``attn_mask`` broadcasts to (..., Tq, Tk): bool True means *attend*; a float mask is added to
    the scores. ``is_causal`` lets query i see keys j <= i (PyTorch's top-left alignment when
    Tq != Tk); it combines with a mask if both are given. ``scale`` defaults to 1/sqrt(D).
    ``dropout_p`` drops weights with ``minillm.random.generator()`` and rescales by 1/(1 - p).

    A query row that can attend to nothing returns zeros (PyTorch returns NaN) and passes no
    gradient. Without weights and dropout the (Tq, Tk) matrix is never stored (a tiled online
    softmax); ``return_weights=True`` or ``dropout_p > 0`` materializes it. ``return_weights``
    returns ``(out, weights)``, the weights after dropout, so that ``out = weights @ v``.

    >>> import minillm
    >>> q = k = minillm.ones(1, 2, 3, 4)
    >>> v = minillm.arange(24.0).reshape(1, 2, 3, 4)
    >>> out = scaled_dot_product_attention(q, k, v, is_causal=True)
    >>> out[0, 0, :, 0].tolist()  # row i averages v over keys 0..i
    [0.0, 2.0, 4.0]
    """
    q, k, v = _t(query), _t(key), _t(value)
    if enable_gqa and q.ndim >= 3 and k.ndim == q.ndim and k.shape[-3] != q.shape[-3]:
        Hq, Hkv = q.shape[-3], k.shape[-3]
        if Hkv == 0 or Hq % Hkv or v.shape[-3] != Hkv:
            raise ValueError(
                f"scaled_dot_product_attention: with enable_gqa, the query heads ({Hq}) must be a "
                f"multiple of the key/value heads ({Hkv}, {v.shape[-3]})"
            )
        k, v = k.repeat_interleave(Hq // Hkv, -3), v.repeat_interleave(Hq // Hkv, -3)
    if q.ndim < 2 or k.ndim != q.ndim or v.ndim != q.ndim:
        raise ValueError(
            f"scaled_dot_product_attention: q, k, v must be (..., T, D) with the same number of "
            f"axes, got {q.shape}, {k.shape}, {v.shape}"
        )
    batch, (Tq, D), (Tk, Dk), (Tv, Dv) = q.shape[:-2], q.shape[-2:], k.shape[-2:], v.shape[-2:]
    if k.shape[:-2] != batch or v.shape[:-2] != batch or Dk != D or Tv != Tk:
        raise ValueError(
            f"scaled_dot_product_attention: shapes do not fit: q {q.shape}, k {k.shape}, "
            f"v {v.shape} (need q (..., Tq, D), k (..., Tk, D), v (..., Tk, Dv), one batch shape)"
        )
    if q.dtype.kind != "f" or k.dtype != q.dtype or v.dtype != q.dtype:
        raise TypeError(
            f"scaled_dot_product_attention: q, k, v must share one float dtype, got "
            f"{q.dtype}, {k.dtype}, {v.dtype}"
        )
    if not 0.0 <= dropout_p <= 1.0:
        raise ValueError(
            f"scaled_dot_product_attention: dropout_p must be in [0, 1], got {dropout_p}"
        )
    scale = 1.0 / math.sqrt(D) if scale is None else float(scale)
    if isinstance(attn_mask, Tensor) and attn_mask.requires_grad:  # a learned bias: the
        return _attention_composed(q, k, v, attn_mask, dropout_p, is_causal, scale, return_weights)
    bias, bias_index, has_bias = _attention_bias(attn_mask, batch, Tq, Tk, q.dtype)
    G = math.prod(batch)
    # Contiguous (G, T, D) views for the kernels; reshape is differentiable, so grads flow back.
    q3, k3, v3 = (t.reshape(G, t.shape[-2], t.shape[-1]) for t in (q, k, v))
    params = dict(
        bias=bias, bias_index=bias_index, has_bias=has_bias, causal=bool(is_causal), scale=scale
    )
    if not return_weights and dropout_p == 0.0:
        return fused.Attention.apply(q3, k3, v3, **params).reshape(*batch, Tq, Dv)
    weights = fused.AttentionWeights.apply(q3, k3, **params)
    if dropout_p > 0.0:
        keep = generator().random(weights.shape) >= dropout_p
        factor = 0.0 if dropout_p == 1.0 else 1.0 / (1.0 - dropout_p)
        weights = weights * _wrap((keep * factor).astype(q.dtype))
    out = (weights @ v3).reshape(*batch, Tq, Dv)
    if not return_weights:
        return out
    return out, weights.reshape(*batch, Tq, Tk)


def attention_reference(
    query: Any,
    key: Any,
    value: Any,
    attn_mask: Any = None,
    is_causal: bool = False,
    scale: float | None = None,
) -> Tensor:
    """``scaled_dot_product_attention`` from primitives. A row that may attend to nothing is NaN
    here (softmax of all -inf), where the fused op returns zeros."""
    q, k, v = _t(query), _t(key), _t(value)
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else scale
    s = (q @ k.transpose(-2, -1)) * scale
    Tq, Tk = s.shape[-2:]
    if attn_mask is not None:
        m = _t(attn_mask)
        s = s + (_wrap(np.where(m.data, 0.0, -np.inf)) if m.dtype == bool else m)
    if is_causal:
        s = s + _wrap(np.where(np.tri(Tq, Tk, dtype=bool), 0.0, -np.inf))
    return s.softmax(-1) @ v


def qkv_attention(
    qkv: Any,
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
    if qkv.ndim != 3 or qkv.shape[-1] % 3 or n_head < 1 or (qkv.shape[-1] // 3) % n_head:
        raise ValueError(f"qkv_attention: qkv must be (B, T, 3C) with C divisible by n_head="
                         f"{n_head}, got shape {qkv.shape}")  # fmt: skip
    if qkv.dtype.kind != "f":
        raise TypeError(f"qkv_attention: qkv must be floating point, not {qkv.dtype}")
    if not 0.0 <= dropout_p <= 1.0:
        raise ValueError(f"qkv_attention: dropout_p must be in [0, 1], got {dropout_p}")
    if dropout_p > 0.0:
        return qkv_attention_reference(qkv, n_head, is_causal, dropout_p, scale)
    D = qkv.shape[-1] // 3 // n_head
    scale = 1.0 / math.sqrt(D) if scale is None else float(scale)
    return fused.PackedAttention.apply(qkv, n_head=int(n_head), causal=bool(is_causal),
                                       scale=float(scale))  # fmt: skip


def qkv_attention_reference(
    qkv: Any, n_head: int, is_causal: bool = False, dropout_p: float = 0.0, scale: Any = None
) -> Tensor:
    """``qkv_attention`` spelled out in three steps (what the fused op is tested against)."""
    qkv = _t(qkv)
    B, T, C3 = qkv.shape
    C = C3 // 3
    heads = qkv.reshape(B, T, 3, n_head, C // n_head).permute(2, 0, 3, 1, 4)  # (3, B, H, T, D)
    q, k, v = heads[0], heads[1], heads[2]
    y = scaled_dot_product_attention(q, k, v, dropout_p=dropout_p, is_causal=is_causal,
                                     scale=scale)  # (B, H, T, D)  # fmt: skip
    return y.transpose(1, 2).reshape(B, T, C)  # (B, T, C)
