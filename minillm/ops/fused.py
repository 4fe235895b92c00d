"""Fused ops: several primitives in one Function with a hand-written backward, for speed and memory.

* ``CrossEntropy`` — log-softmax + negative log-likelihood over class indices, with ignore_index
  and label smoothing, never building a one-hot target;
* ``LayerNorm`` — normalization over the last axis, saving mean and 1/std for the backward;
* ``Embedding`` — a row gather whose backward scatter-adds rows into the table's gradient;
* ``Attention`` / ``PackedAttention`` / ``AttentionWeights`` — softmax(q k^T scale + mask) v with a
  tiled online softmax that never stores the (Tq, Tk) matrix unless the weights are asked for.

Like every op they see arrays only. The Tensor-level functions, which check their inputs once,
live in ``minillm/nn`` (``losses.cross_entropy``, ``functional.layer_norm`` and ``embedding``,
``attention_functions.scaled_dot_product_attention``), each beside a ``*_reference`` that writes
the same math from primitives, which the tests hold the fused op equal to. Fusing saves the
intermediate arrays and the passes over memory. The loops live in ``minillm/kernels`` and are
called by module and name (``kernels.attention.attention_forward``). Read a kernel file's header
for the math of its backward.

Read next: ``minillm/kernels/cross_entropy.py``, then ``minillm/kernels/attention.py``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from minillm import kernels
from minillm.autograd import Context, Function, constant
from minillm.ops.movement import IndexAdd

if TYPE_CHECKING:
    from minillm.tensor import Tensor

Grads = tuple[np.ndarray | None, ...]


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
        N = logits.shape[0]
        x = np.ascontiguousarray(logits)
        t = np.ascontiguousarray(target, dtype=np.int64)
        losses = np.empty(N, dtype=np.float64)
        lse = np.empty(N, dtype=np.float64)
        kernels.cross_entropy.cross_entropy_forward(
            losses, lse, x, t, ignore_index, label_smoothing
        )
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
        if reduction == "none":
            dlosses = np.ascontiguousarray(g, dtype=np.float64)
        else:
            weight = float(g) / count if reduction == "mean" and count else float(g)
            dlosses = np.full(x.shape[0], weight)
        dx = np.empty_like(x)
        kernels.cross_entropy.cross_entropy_backward(
            dx, dlosses, x, lse, t, ignore_index, smoothing
        )
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
        rows = ctx.parents[0].softmax(-1) * constant(kept) - constant(target * kept)
        if reduction == "none":
            return rows * g.reshape(N, 1), None
        return rows * (g / count if reduction == "mean" and count else g), None


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
        kernels.layernorm.layernorm_forward(y, mean, rstd, x2, w, b, eps)
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
        kernels.layernorm.layernorm_backward(dx, dw, db, dy, x2, mean, rstd, w)
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
        kernels.embedding.embedding_backward(dW, dy, idx, ctx.padding_idx)
        return dW, None

    @staticmethod
    def backward_graph(ctx: Context, g: Tensor, out: Tensor) -> tuple[Tensor | None, ...]:
        (idx,) = ctx.saved_tensors
        rows = g.reshape(-1, ctx.weight_shape[1])
        keep = idx != ctx.padding_idx
        if not keep.all():
            rows, idx = rows[keep], idx[keep]
        return IndexAdd.apply(rows, index=idx, shape=ctx.weight_shape), None


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
        (G, Tq, _), Dv = q.shape, v.shape[2]
        out = np.empty((G, Tq, Dv), dtype=q.dtype)
        lse = np.empty((G, Tq), dtype=np.float64)
        fwd = kernels.attention.attention_forward
        fwd(out, lse, q, k, v, bias, bias_index, has_bias, causal, scale)
        ctx.save_for_backward(q, k, v, out, lse, bias, bias_index)
        ctx.params = (has_bias, causal, scale)
        return out

    @staticmethod
    def backward(ctx: Context, g: np.ndarray) -> Grads:
        q, k, v, out, lse, bias, bias_index = ctx.saved_tensors
        has_bias, causal, scale = ctx.params
        dout = np.ascontiguousarray(g, dtype=q.dtype)
        dq, dk, dv = np.empty_like(q), np.empty_like(k), np.empty_like(v)
        inputs = (dout, q, k, v, out, lse, bias, bias_index, has_bias, causal, scale)
        kernels.attention.attention_backward(dq, dk, dv, *inputs)
        return dq, dk, dv


class PackedAttention(Function):
    """y = attention over the heads of the packed projection qkv (B, T, 3C), merged to (B, T, C).

    The same computation as splitting qkv into q, k, v (B, H, T, D), ``Attention``, and merging
    the heads back (``qkv_attention_reference`` in ``nn/attention_functions.py``), as one op: the
    kernel's (G, T, D) inputs are gathered from qkv once, and backward writes dq, dk, dv straight
    into one (B, T, 3C) gradient, instead of three zero-padded (3, B, H, T, D) slices that are
    then summed. (Gathering inside the kernel, head by head, measured no faster: NumPy's strided
    copies of the whole batch cost under 1 ms each way at a GPT block's shapes.)
    """

    @staticmethod
    def forward(ctx: Context, qkv: np.ndarray, *, n_head: int, causal: bool, scale: float
                ) -> np.ndarray:  # fmt: skip
        B, T, C3 = qkv.shape
        H, D = n_head, C3 // 3 // n_head
        heads = qkv.reshape(B, T, 3, H, D).transpose(2, 0, 3, 1, 4)  # (3, B, H, T, D), a view
        q, k, v = (np.ascontiguousarray(heads[i]).reshape(B * H, T, D) for i in range(3))
        out = np.empty_like(q)
        lse = np.empty((B * H, T), dtype=np.float64)
        bias, bias_index = np.zeros((1, 1, 1), dtype=q.dtype), np.zeros(B * H, dtype=np.int64)
        inputs = (q, k, v, bias, bias_index, False, causal, scale)
        kernels.attention.attention_forward(out, lse, *inputs)
        ctx.save_for_backward(q, k, v, out, lse, bias, bias_index)
        ctx.params = (B, T, H, D, causal, scale)
        return out.reshape(B, H, T, D).transpose(0, 2, 1, 3).reshape(B, T, H * D)  # (B, T, C)

    @staticmethod
    def backward(ctx: Context, g: np.ndarray) -> Grads:
        q, k, v, out, lse, bias, bias_index = ctx.saved_tensors
        B, T, H, D, causal, scale = ctx.params
        dout = np.ascontiguousarray(g.reshape(B, T, H, D).transpose(0, 2, 1, 3), dtype=q.dtype)
        dq, dk, dv = np.empty_like(q), np.empty_like(k), np.empty_like(v)
        inputs = (dout.reshape(B * H, T, D), q, k, v, out, lse, bias, bias_index, False, causal)
        kernels.attention.attention_backward(dq, dk, dv, *inputs, scale)
        dqkv = np.empty((B, T, 3, H, D), dtype=q.dtype)
        for i, d in enumerate((dq, dk, dv)):
            dqkv[:, :, i] = d.reshape(B, H, T, D).transpose(0, 2, 1, 3)
        return (dqkv.reshape(B, T, 3 * H * D),)


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
        s = np.ascontiguousarray(q @ np.swapaxes(k, 1, 2))  # (G, Tq, Tk): one BLAS call
        p = np.empty_like(s)
        kernels.attention.masked_softmax_forward(p, s, bias, bias_index, has_bias, causal, scale)
        ctx.save_for_backward(q, k, p)
        ctx.scale = scale
        return p

    @staticmethod
    def backward(ctx: Context, g: np.ndarray) -> Grads:
        q, k, p = ctx.saved_tensors
        G, Tq, Tk = p.shape
        dp = np.ascontiguousarray(g, dtype=p.dtype).reshape(G * Tq, Tk)
        ds = np.empty_like(dp)
        kernels.softmax.softmax_backward(ds, dp, p.reshape(G * Tq, Tk))
        ds = ds.reshape(G, Tq, Tk)
        dq = (ds @ k) * ctx.scale if ctx.needs_input_grad[0] else None
        dk = (np.swapaxes(ds, 1, 2) @ q) * ctx.scale if ctx.needs_input_grad[1] else None
        return dq, dk
