"""Attention of new positions over a KV cache, with the cache write: generation's attention.

For row b, head h, and each of the T new positions t (absolute position p = start + t):

    k_cache[b, h, p] = k_t,   v_cache[b, h, p] = v_t          the cache write
    s_j = scale q_t . k_j     for j <= p with key_mask[b, j]    causal; padding left out
    y_t = sum_j softmax(s)_j v_j

q, k and v are read where the c_attn projection puts them, ``qkv[b, t] = [q | k | v]`` with head h
at columns h D ... (h+1) D of each third, and y is written merged, ``y[b, t, h D : (h+1) D]``: no
split, transpose or merge copies anything. A query that may see no key at all (a left-padding
position, every key up to it padding) gets y = 0, the convention of training's attention
(``attention.py``), so padding is masked the same way in training and in generation.

Per (b, h) the kernel makes two BLAS calls, scores = q keys^T over the S cached keys and
y = p values, with the causal mask, padding and softmax applied row by row in between (in the
input's dtype, like training's tiles; the NumPy twin computes the scores in float64). A decode
tick (T = 1) is one call per layer, its products two matrix-vector products; a prefill holds a
(T, S) score matrix per head, which the context window bounds (block_size^2 floats).

Shapes: ``qkv`` (B, T, 3C) and ``y`` (B, T, C) C-contiguous, C = H D; ``k_cache``, ``v_cache``
(B, H, S_max, D) with start + T <= S_max; ``key_mask`` (B, S) bool over S >= start + T positions,
read only when ``has_mask``. Called by ``minillm.inference.engine.GPTEngine.forward``.
"""

from __future__ import annotations

import numpy as np

from minillm.kernels._math import softmax_prefix
from minillm.kernels._numba import entry


def kv_attention_ref(
    y: np.ndarray,
    k_cache: np.ndarray,
    v_cache: np.ndarray,
    qkv: np.ndarray,
    key_mask: np.ndarray,
    has_mask: bool,
    start: int,
    scale: float,
) -> None:
    B, T, C3 = qkv.shape
    C, H, D = C3 // 3, k_cache.shape[1], k_cache.shape[3]
    S = start + T
    q, k, v = (
        qkv[:, :, i * C : (i + 1) * C].reshape(B, T, H, D).transpose(0, 2, 1, 3) for i in range(3)
    )  # each (B, H, T, D)
    k_cache[:, :, start:S] = k
    v_cache[:, :, start:S] = v
    s = (q.astype(np.float64) @ np.swapaxes(k_cache[:, :, :S], 2, 3)) * scale  # (B, H, T, S)
    allowed = np.arange(S)[None, :] <= (start + np.arange(T))[:, None]  # (T, S): causal
    if has_mask:
        allowed = allowed & key_mask[:, None, None, :S]  # (B, 1, T, S)
    s = np.where(allowed, s, -np.inf)
    m = s.max(axis=-1, keepdims=True)
    e = np.exp(s - np.where(np.isfinite(m), m, 0.0))
    total = e.sum(axis=-1, keepdims=True)
    p = np.divide(e, total, out=np.zeros_like(e), where=total > 0)  # a query seeing nothing: 0
    y[:] = (p @ v_cache[:, :, :S]).transpose(0, 2, 1, 3).reshape(B, T, C)


@entry(kv_attention_ref)
def kv_attention(
    y: np.ndarray,
    k_cache: np.ndarray,
    v_cache: np.ndarray,
    qkv: np.ndarray,
    key_mask: np.ndarray,
    has_mask: bool,
    start: int,
    scale: float,
) -> None:
    B, T, C3 = qkv.shape
    C, H, D = C3 // 3, k_cache.shape[1], k_cache.shape[3]
    S = start + T
    for b in range(B):  # the cache write, first: a query attends to its own key too
        for t in range(T):
            for h in range(H):
                k_cache[b, h, start + t] = qkv[b, t, C + h * D : C + (h + 1) * D]
                v_cache[b, h, start + t] = qkv[b, t, 2 * C + h * D : 2 * C + (h + 1) * D]
    q = np.empty((T, D), qkv.dtype)  # one head's queries, gathered contiguous for BLAS
    for b in range(B):
        for h in range(H):
            for t in range(T):
                q[t] = qkv[b, t, h * D : (h + 1) * D]
            keys, values = k_cache[b, h, :S], v_cache[b, h, :S]  # (S, D), contiguous
            p = np.dot(q, keys.T)  # (T, S) raw scores, one BLAS call
            for t in range(T):
                row = p[t]
                n = start + t + 1  # keys 0 .. start + t: causal
                m = -np.inf
                for j in range(n):
                    row[j] *= scale
                    if has_mask and not key_mask[b, j]:
                        row[j] = -np.inf
                    m = max(m, row[j])
                softmax_prefix(row, n, m)  # sees no key (m = -inf): zeros, as in training
            out = np.dot(p, values)  # (T, D), one BLAS call
            for t in range(T):
                y[b, t, h * D : (h + 1) * D] = out[t]
