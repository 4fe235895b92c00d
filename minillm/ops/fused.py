"""Fused ops: several primitives in one Function with a hand-written backward, for speed and memory.

* ``cross_entropy`` — log-softmax + negative log-likelihood over class indices, with ignore_index
  and label smoothing, never building a one-hot target;
* ``layer_norm`` — normalization over the last axis, saving mean and 1/std for the backward;
* ``embedding`` — a row gather whose backward scatter-adds rows into the table's gradient;
* ``scaled_dot_product_attention`` — softmax(q k^T scale + mask) v with a tiled online softmax that
  never stores the (Tq, Tk) matrix unless the weights are asked for.

Each could be written from primitives (``tests/test_fused.py`` does exactly that and checks the two
agree); fusing saves the intermediate arrays and the passes over memory. The loops live in
``minillm/kernels`` and are reached only through ``kernel(name)``. Read a kernel file's header for
the math of its backward.

Read next: ``minillm/kernels/cross_entropy.py``, then ``minillm/kernels/attention.py``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from minillm.autograd import Context, Function
from minillm.kernels import kernel
from minillm.ops.movement import IndexAdd
from minillm.random import generator
from minillm.tensor import Tensor, _wrap
from minillm.tensor import as_tensor as _t

Grads = tuple[np.ndarray | None, ...]
_REDUCTIONS = ("mean", "sum", "none")


# --------------------------------------------------------------------------------------------------
# Cross-entropy
# --------------------------------------------------------------------------------------------------
class CrossEntropy(Function):
    """loss_n = (1 - eps)(lse_n - x_{n,t}) + eps (lse_n - mean_c x_{n,c}); reduced over kept rows.

    d loss_n / d x_n = softmax(x_n) - (1 - eps) onehot(t_n) - eps / C   (kernels/cross_entropy.py)
    """

    @staticmethod
    def forward(
        ctx: Context,
        logits: np.ndarray,
        target: np.ndarray,
        *,
        ignore_index: int,
        label_smoothing: float,
        reduction: str,
    ) -> np.ndarray:
        N, C = logits.shape
        x = np.ascontiguousarray(logits)
        t = np.ascontiguousarray(target, dtype=np.int64)
        losses = np.empty(N, dtype=np.float64)
        lse = np.empty(N, dtype=np.float64)
        kernel("cross_entropy_forward")(losses, lse, x, t, ignore_index, label_smoothing, N, C)
        count = int(np.count_nonzero(t != ignore_index))
        ctx.save_for_backward(x, t, lse)
        ctx.params = (ignore_index, label_smoothing, reduction, count)
        if reduction == "none":
            return losses.astype(x.dtype)
        total = losses.sum()
        if reduction == "sum":
            return np.asarray(total, dtype=x.dtype)
        # Every row ignored: 0 / 0 = NaN, as in PyTorch.
        return np.asarray(total / count if count else np.nan, dtype=x.dtype)

    @staticmethod
    def backward(ctx: Context, g: np.ndarray) -> Grads:
        x, t, lse = ctx.saved_tensors
        ignore_index, smoothing, reduction, count = ctx.params
        N, C = x.shape
        if reduction == "none":
            dlosses = np.ascontiguousarray(g, dtype=np.float64)
        else:
            weight = float(g) / count if reduction == "mean" and count else float(g)
            dlosses = np.full(N, weight)
        dx = np.empty_like(x)
        kernel("cross_entropy_backward")(dx, dlosses, x, lse, t, ignore_index, smoothing, N, C)
        return dx, None

    @staticmethod
    def backward_graph(ctx: Context, g: Tensor, out: Tensor) -> tuple[Tensor | None, ...]:
        # the same formula, softmax(x) - target distribution, with the softmax recorded
        x, t, _ = ctx.saved_tensors
        ignore_index, smoothing, reduction, count = ctx.params
        N, C = x.shape
        kept = (t != ignore_index).astype(x.dtype)[:, None]
        target = np.full((N, C), smoothing / C, dtype=x.dtype)
        target[np.arange(N), np.where(t != ignore_index, t, 0)] += 1.0 - smoothing
        rows = ctx.parents[0].softmax(-1) * _wrap(kept) - _wrap(target * kept)
        if reduction == "none":
            return rows * g.reshape(N, 1), None
        return rows * (g / count if reduction == "mean" and count else g), None


def cross_entropy(
    logits: Tensor,
    target: Tensor,
    ignore_index: int = -100,
    label_smoothing: float = 0.0,
    reduction: str = "mean",
) -> Tensor:
    """Cross-entropy between logits (N, C) and class indices (N,), as ``F.cross_entropy``.

    ``loss_n = (1 - eps) * nll_n + eps * mean_c(-log_softmax(x_n)_c)`` with eps =
    ``label_smoothing``; rows whose target is ``ignore_index`` contribute 0 and are not counted.
    ``reduction``: "mean" (over counted rows; NaN when none), "sum", or "none" ((N,) losses).

    >>> import minillm
    >>> logits = minillm.tensor([[0.0, 0.0], [10.0, -10.0]])
    >>> round(cross_entropy(logits, minillm.tensor([1, 0])).item(), 4)  # (ln 2 + ~0) / 2
    0.3466
    """
    logits, target = _t(logits), _t(target)
    if logits.ndim != 2:
        raise ValueError(f"cross_entropy: logits must be (N, C), got shape {logits.shape}")
    if logits.dtype.kind != "f":
        raise TypeError(f"cross_entropy: logits must be floating point, not {logits.dtype}")
    if target.dtype.kind not in "iu":
        raise TypeError(
            f"cross_entropy: target must hold integer class indices, not {target.dtype}"
        )
    N, C = logits.shape
    if target.shape != (N,):
        raise ValueError(
            f"cross_entropy: target must have shape ({N},) to match logits {logits.shape}, "
            f"got {target.shape}"
        )
    if reduction not in _REDUCTIONS:
        raise ValueError(
            f"cross_entropy: reduction must be one of {_REDUCTIONS}, got {reduction!r}"
        )
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1], got {label_smoothing}")
    t = target.data
    bad = (t != ignore_index) & ((t < 0) | (t >= C))
    if bad.any():
        value = int(t[np.argmax(bad)])
        raise IndexError(
            f"cross_entropy: target {value} is out of range for {C} classes (valid: 0..{C - 1}, "
            f"or ignore_index={ignore_index})"
        )
    return CrossEntropy.apply(
        logits,
        target,
        ignore_index=int(ignore_index),
        label_smoothing=float(label_smoothing),
        reduction=reduction,
    )


# --------------------------------------------------------------------------------------------------
# Layer norm
# --------------------------------------------------------------------------------------------------
class LayerNorm(Function):
    """y = (x - mean) rstd w + b over the last axis;  backward in ``kernels/layernorm.py``."""

    @staticmethod
    def forward(
        ctx: Context, x: np.ndarray, w: np.ndarray, b: np.ndarray, *, eps: float
    ) -> np.ndarray:
        C = x.shape[-1]
        x2 = np.ascontiguousarray(x).reshape(-1, C)
        N = x2.shape[0]
        w = np.ascontiguousarray(w, dtype=x.dtype)
        b = np.ascontiguousarray(b, dtype=x.dtype)
        y = np.empty_like(x2)
        mean = np.empty(N, dtype=np.float64)
        rstd = np.empty(N, dtype=np.float64)
        kernel("layernorm_forward")(y, mean, rstd, x2, w, b, eps, N, C)
        ctx.save_for_backward(x2, w, mean, rstd)
        ctx.shape, ctx.eps = x.shape, eps
        return y.reshape(x.shape)

    @staticmethod
    def backward(ctx: Context, g: np.ndarray) -> Grads:
        x2, w, mean, rstd = ctx.saved_tensors
        N, C = x2.shape
        dy = np.ascontiguousarray(g, dtype=x2.dtype).reshape(N, C)
        dx = np.empty_like(x2)
        dw = np.empty_like(w)
        db = np.empty_like(w)
        kernel("layernorm_backward")(dx, dw, db, dy, x2, mean, rstd, w, N, C)
        need_w, need_b = ctx.needs_input_grad[1:]
        return dx.reshape(ctx.shape), (dw if need_w else None), (db if need_b else None)

    @staticmethod
    def backward_graph(ctx: Context, g: Tensor, out: Tensor) -> tuple[Tensor | None, ...]:
        # the kernel's formula, recomputed with recorded ops: with xhat = (x - mean) rstd and
        # gh = g w,  dx = rstd (gh - mean(gh) - xhat mean(gh xhat)),  dw = sum g xhat,  db = sum g
        x, w, _ = ctx.parents
        C = x.shape[-1]
        xc = x - x.mean(axis=-1, keepdims=True)
        rstd = ((xc * xc).mean(axis=-1, keepdims=True) + ctx.eps).rsqrt()
        xhat = xc * rstd
        gh = g * w
        mean_gh = gh.mean(axis=-1, keepdims=True)
        dx = rstd * (gh - mean_gh - xhat * (gh * xhat).mean(axis=-1, keepdims=True))
        return dx, (g * xhat).reshape(-1, C).sum(axis=0), g.reshape(-1, C).sum(axis=0)


def layer_norm(x: Tensor, weight: Tensor | None, bias: Tensor | None, eps: float = 1e-5) -> Tensor:
    """Normalize over the last axis to mean 0, variance 1 (biased), then scale and shift.

    ``y = (x - mean) / sqrt(var + eps) * weight + bias``; ``weight``/``bias`` are (C,) or None.

    >>> import minillm
    >>> y = layer_norm(minillm.tensor([[1.0, 3.0]]), None, None)
    >>> [round(v, 3) for v in y.tolist()[0]]
    [-1.0, 1.0]
    """
    x = _t(x)
    C = x.shape[-1] if x.ndim else 0
    if x.ndim == 0 or x.dtype.kind != "f":
        raise TypeError(
            f"layer_norm: x must be a floating tensor with at least 1 axis, got dtype {x.dtype} "
            f"and shape {x.shape}"
        )
    w = _wrap(np.ones(C, dtype=x.dtype)) if weight is None else _t(weight)
    b = _wrap(np.zeros(C, dtype=x.dtype)) if bias is None else _t(bias)
    for name, p in (("weight", w), ("bias", b)):
        if p.shape != (C,):
            raise ValueError(
                f"layer_norm: {name} must have shape ({C},) to match the last axis of x "
                f"{x.shape}, got {p.shape}"
            )
    return LayerNorm.apply(x, w, b, eps=float(eps))


# --------------------------------------------------------------------------------------------------
# Embedding
# --------------------------------------------------------------------------------------------------
class Embedding(Function):
    """y[..., :] = W[idx[...], :];  dW[r] = sum of dy where idx == r (nothing for padding_idx)."""

    @staticmethod
    def forward(
        ctx: Context, weight: np.ndarray, indices: np.ndarray, *, padding_idx: int
    ) -> np.ndarray:
        idx = np.ascontiguousarray(indices, dtype=np.int64).reshape(-1)
        ctx.save_for_backward(idx)
        ctx.weight_shape, ctx.out_shape = weight.shape, indices.shape + weight.shape[1:]
        ctx.padding_idx = padding_idx
        return np.take(weight, idx, axis=0).reshape(ctx.out_shape)

    @staticmethod
    def backward(ctx: Context, g: np.ndarray) -> Grads:
        (idx,) = ctx.saved_tensors
        V, C = ctx.weight_shape
        dy = np.ascontiguousarray(g).reshape(-1, C)
        dW = np.zeros((V, C), dtype=g.dtype)
        kernel("embedding_backward")(dW, dy, idx, ctx.padding_idx, idx.size, C)
        return dW, None

    @staticmethod
    def backward_graph(ctx: Context, g: Tensor, out: Tensor) -> tuple[Tensor | None, ...]:
        (idx,) = ctx.saved_tensors
        rows = g.reshape(-1, ctx.weight_shape[1])
        keep = idx != ctx.padding_idx
        if not keep.all():
            rows, idx = rows[keep], idx[keep]
        return IndexAdd.apply(rows, index=idx, shape=ctx.weight_shape), None


def embedding(weight: Tensor, indices: Tensor, padding_idx: int | None = None) -> Tensor:
    """Look up rows of ``weight`` (V, C) at integer ``indices`` of any shape -> (*indices.shape, C).

    The ``padding_idx`` row (negative counts from the end) receives no gradient, as in PyTorch.

    >>> import minillm
    >>> W = minillm.tensor([[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]])
    >>> embedding(W, minillm.tensor([[2, 0]])).tolist()
    [[[4.0, 5.0], [0.0, 1.0]]]
    """
    weight, indices = _t(weight), _t(indices)
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
    return Embedding.apply(weight, indices, padding_idx=pad)


# --------------------------------------------------------------------------------------------------
# Scaled dot-product attention
# --------------------------------------------------------------------------------------------------
class Attention(Function):
    """out = softmax(scale q k^T + bias) v, tiled; the backward recomputes p (kernels/attention.py).

    Inputs are (G, T, D) with the batch axes flattened into G; ``bias``/``bias_index`` as in the
    kernel header.
    """

    @staticmethod
    def forward(
        ctx: Context,
        q: np.ndarray,
        k: np.ndarray,
        v: np.ndarray,
        *,
        bias: np.ndarray,
        bias_index: np.ndarray,
        has_bias: bool,
        causal: bool,
        scale: float,
    ) -> np.ndarray:
        q, k, v = np.ascontiguousarray(q), np.ascontiguousarray(k), np.ascontiguousarray(v)
        G, Tq, D = q.shape
        Tk, Dv = v.shape[1:]
        out = np.empty((G, Tq, Dv), dtype=q.dtype)
        lse = np.empty((G, Tq), dtype=np.float64)
        fwd = kernel("attention_forward")
        fwd(out, lse, q, k, v, bias, bias_index, has_bias, causal, scale, G, Tq, Tk, D, Dv)
        ctx.save_for_backward(q, k, v, out, lse, bias, bias_index)
        ctx.params = (has_bias, causal, scale)
        return out

    @staticmethod
    def backward(ctx: Context, g: np.ndarray) -> Grads:
        q, k, v, out, lse, bias, bias_index = ctx.saved_tensors
        has_bias, causal, scale = ctx.params
        G, Tq, D = q.shape
        Tk, Dv = v.shape[1:]
        dout = np.ascontiguousarray(g, dtype=q.dtype)
        dq, dk, dv = np.empty_like(q), np.empty_like(k), np.empty_like(v)
        inputs = (dout, q, k, v, out, lse, bias, bias_index, has_bias, causal, scale)
        kernel("attention_backward")(dq, dk, dv, *inputs, G, Tq, Tk, D, Dv)
        return dq, dk, dv


class PackedAttention(Function):
    """y = attention over the heads of the packed projection qkv (B, T, 3C), merged to (B, T, C).

    The same computation as splitting qkv into q, k, v (B, H, T, D), ``Attention``, and merging
    the heads back (``qkv_attention_reference`` in ``nn/functional.py``), as one op: the kernels
    (``packed_attention_*`` in ``kernels/attention.py``) read each head's columns of qkv and write
    y and the (B, T, 3C) gradient in place, so neither the split nor the merge is ever copied.
    """

    @staticmethod
    def forward(ctx: Context, qkv: np.ndarray, *, n_head: int, causal: bool, scale: float
                ) -> np.ndarray:  # fmt: skip
        B, T, C3 = qkv.shape
        qkv = np.ascontiguousarray(qkv)
        out = np.empty((B, T, C3 // 3), dtype=qkv.dtype)
        lse = np.empty((B * n_head, T), dtype=np.float64)
        kernel("packed_attention_forward")(out, lse, qkv, n_head, causal, scale)
        ctx.save_for_backward(qkv, out, lse)
        ctx.params = (n_head, causal, scale)
        return out

    @staticmethod
    def backward(ctx: Context, g: np.ndarray) -> Grads:
        qkv, out, lse = ctx.saved_tensors
        n_head, causal, scale = ctx.params
        dqkv = np.empty_like(qkv)
        dout = np.ascontiguousarray(g, dtype=qkv.dtype)
        kernel("packed_attention_backward")(dqkv, dout, qkv, out, lse, n_head, causal, scale)
        return (dqkv,)


class AttentionWeights(Function):
    """p = softmax(scale q k^T + bias) per row (fully masked rows 0);  ds = p (dp - sum(dp p))."""

    @staticmethod
    def forward(
        ctx: Context,
        q: np.ndarray,
        k: np.ndarray,
        *,
        bias: np.ndarray,
        bias_index: np.ndarray,
        has_bias: bool,
        causal: bool,
        scale: float,
    ) -> np.ndarray:
        G, Tq, _ = q.shape
        Tk = k.shape[1]
        s = np.ascontiguousarray(q @ np.swapaxes(k, 1, 2))  # (G, Tq, Tk): one BLAS call
        p = np.empty_like(s)
        kernel("masked_softmax_forward")(p, s, bias, bias_index, has_bias, causal, scale, G, Tq, Tk)
        ctx.save_for_backward(q, k, p)
        ctx.scale = scale
        return p

    @staticmethod
    def backward(ctx: Context, g: np.ndarray) -> Grads:
        q, k, p = ctx.saved_tensors
        G, Tq, Tk = p.shape
        dp = np.ascontiguousarray(g, dtype=p.dtype).reshape(G * Tq, Tk)
        ds = np.empty_like(dp)
        kernel("softmax_backward")(ds, dp, p.reshape(G * Tq, Tk), G * Tq, Tk)
        ds = ds.reshape(G, Tq, Tk)
        dq = (ds @ k) * ctx.scale if ctx.needs_input_grad[0] else None
        dk = (np.swapaxes(ds, 1, 2) @ q) * ctx.scale if ctx.needs_input_grad[1] else None
        return dq, dk


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
    q: Tensor,
    k: Tensor,
    v: Tensor,
    attn_mask: Tensor | None = None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    scale: float | None = None,
    return_weights: bool = False,
    enable_gqa: bool = False,
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
    q, k, v = _t(q), _t(k), _t(v)
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
        return Attention.apply(q3, k3, v3, **params).reshape(*batch, Tq, Dv)
    weights = AttentionWeights.apply(q3, k3, **params)
    if dropout_p > 0.0:
        keep = generator().random(weights.shape) >= dropout_p
        factor = 0.0 if dropout_p == 1.0 else 1.0 / (1.0 - dropout_p)
        weights = weights * _wrap((keep * factor).astype(q.dtype))
    out = (weights @ v3).reshape(*batch, Tq, Dv)
    if not return_weights:
        return out
    return out, weights.reshape(*batch, Tq, Tk)
