"""The decode step without allocation: one new position per row, written into buffers made once.

A decode tick at batch B computes one position per row, so its arrays are small (B, C) rows and the
cost is dominated by fixed per-call overheads and by reading the weights. Allocating fresh
temporaries for every op, every layer, every token adds to that. ``DecodeBuffers`` holds every
intermediate of one tick (the residual row, the normed row, q|k|v, the attention scores over the
whole cache, the MLP's hidden row, the logits), and ``decode_step`` runs the same math as
``GPTEngine.forward`` with NumPy's ``out=`` arguments. After the first tick no array is allocated
(the indexing of masks aside).

Read next: ``minillm/inference/generate.py``, which calls this for every tick after the prefill.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from minillm.inference.engine import gelu_tanh_into, layer_norm_into

if TYPE_CHECKING:
    from minillm.inference.engine import GPTEngine
    from minillm.inference.kv_cache import KVCache


class DecodeBuffers:
    """Every intermediate array of one decode tick for ``batch`` rows, allocated once."""

    def __init__(self, engine: GPTEngine, batch: int, max_len: int) -> None:
        cfg, dt = engine.config, engine.dtype
        B, C, H, D = batch, cfg.n_embd, engine.n_head, engine.head_dim
        self.x = np.empty((B, C), dt)  # the residual stream
        self.h = np.empty((B, C), dt)  # a normed copy of it
        self.out = np.empty((B, C), dt)  # a sublayer's output before it is added back
        self.qkv = np.empty((B, 3 * C), dt)
        self.mean = np.empty(B, np.float64)  # layer norm's per-row statistics (kernel scratch)
        self.rstd = np.empty(B, np.float64)
        self.scores = np.empty((B, H, 1, max_len), dt)
        self.smax = np.empty((B, H, 1, 1), dt)
        self.y = np.empty((B, H, 1, D), dt)
        self.fc = np.empty((B, 4 * C), dt)
        self.act = np.empty((B, 4 * C), dt)
        self.logits = np.empty((B, cfg.vocab_size), dt)


def _layer_norm_into(
    out: np.ndarray, x: np.ndarray, w: np.ndarray, b: np.ndarray, eps: float, buf: DecodeBuffers
) -> None:
    layer_norm_into(out, x, w, b, eps, buf.mean, buf.rstd)


def _linear_into(out: np.ndarray, x: np.ndarray, w: np.ndarray, b: np.ndarray | None) -> None:
    np.matmul(x, w, out=out)
    if b is not None:
        out += b


def decode_step(
    engine: GPTEngine,
    buf: DecodeBuffers,
    ids: np.ndarray,
    positions: np.ndarray,
    cache: KVCache,
    key_mask: np.ndarray | None,
) -> np.ndarray:
    """Logits (B, V) of one new position per row, appended to ``cache`` (its length grows by 1).

    ``ids`` and ``positions`` are (B,); ``key_mask`` is (B, S) over the S = cache.length + 1
    positions. The returned array is a buffer: copy it to keep it past the next tick.
    """
    B = ids.shape[0]
    H, D = engine.n_head, engine.head_dim
    t = cache.length
    S = t + 1
    np.take(engine.wte, ids, axis=0, out=buf.x)
    buf.x += engine.wpe[positions]
    scores = buf.scores[..., :S]  # (B, H, 1, S)
    blocked = None if key_mask is None else ~np.asarray(key_mask, dtype=bool)[:, None, None, :]
    scale = 1.0 / math.sqrt(D)
    for li, L in enumerate(engine.layers):
        _layer_norm_into(buf.h, buf.x, L.ln_1_w, L.ln_1_b, engine.eps, buf)
        _linear_into(buf.qkv, buf.h, L.attn_w, L.attn_b)
        qkv = buf.qkv.reshape(B, 3, H, D)
        cache.k[li, :, :, t] = qkv[:, 1]
        cache.v[li, :, :, t] = qkv[:, 2]
        keys = cache.k[li, :, :, :S]  # (B, H, S, D)
        np.matmul(qkv[:, 0, :, None, :], keys.transpose(0, 1, 3, 2), out=scores)
        scores *= scale
        if blocked is not None:
            np.copyto(scores, -np.inf, where=blocked)
        np.max(scores, axis=-1, keepdims=True, out=buf.smax)
        scores -= buf.smax
        np.exp(scores, out=scores)
        np.sum(scores, axis=-1, keepdims=True, out=buf.smax)
        scores /= buf.smax
        np.matmul(scores, cache.v[li, :, :, :S], out=buf.y)  # (B, H, 1, D)
        _linear_into(buf.out, buf.y.reshape(B, H * D), L.attn_proj_w, L.attn_proj_b)
        buf.x += buf.out
        _layer_norm_into(buf.h, buf.x, L.ln_2_w, L.ln_2_b, engine.eps, buf)
        _linear_into(buf.fc, buf.h, L.fc_w, L.fc_b)
        gelu_tanh_into(buf.act, buf.fc)
        _linear_into(buf.out, buf.act, L.mlp_proj_w, L.mlp_proj_b)
        buf.x += buf.out
    cache.length = S
    _layer_norm_into(buf.h, buf.x, engine.ln_f_w, engine.ln_f_b, engine.eps, buf)
    np.matmul(buf.h, engine.lm_head, out=buf.logits)
    return buf.logits
