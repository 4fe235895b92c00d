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

A decode tick (T = 1) is one call per layer: B H dot products per cached position and one exp
each, the scores kept in float64 scratch. Prefill runs the same loops over T queries (O(T^2 D),
fine for prompts; training's tiled kernel is the one built for long sequences).

Shapes: ``qkv`` (B, T, 3C) and ``y`` (B, T, C) C-contiguous, C = H D; ``k_cache``, ``v_cache``
(B, H, S_max, D) with start + T <= S_max; ``key_mask`` (B, S) bool over S >= start + T positions,
read only when ``has_mask``. Called by ``minillm.inference.engine.GPTEngine.forward``.
"""

from __future__ import annotations

import numpy as np

from minillm.kernels._math import exp, row_dot
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
    for b in range(B):  # the cache write, first: a query attends to its own key too
        for t in range(T):
            for h in range(H):
                k_cache[b, h, start + t] = qkv[b, t, C + h * D : C + (h + 1) * D]
                v_cache[b, h, start + t] = qkv[b, t, 2 * C + h * D : 2 * C + (h + 1) * D]
    s = np.empty(start + T)  # one query's scores, float64
    acc = np.empty(D)  # its output before the softmax's division, float64
    for b in range(B):
        for h in range(H):
            keys, values = k_cache[b, h], v_cache[b, h]
            for t in range(T):
                q = qkv[b, t, h * D : (h + 1) * D]
                n = start + t + 1  # keys 0 .. start + t: causal
                m = -np.inf
                for j in range(n):
                    if has_mask and not key_mask[b, j]:
                        s[j] = -np.inf
                        continue
                    s[j] = row_dot(q, keys[j]) * scale
                    m = max(m, s[j])
                out = y[b, t, h * D : (h + 1) * D]
                if m == -np.inf:  # sees no key: zeros, as in training's attention
                    out[:] = 0.0
                    continue
                acc[:] = 0.0
                total = 0.0
                for j in range(n):
                    if s[j] == -np.inf:
                        continue
                    e = exp(s[j] - m)
                    total += e
                    vj = values[j]
                    for d in range(D):
                        acc[d] += e * vj[d]
                inv = 1.0 / total
                for d in range(D):
                    out[d] = acc[d] * inv
