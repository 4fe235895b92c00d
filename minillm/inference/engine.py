"""The inference forward pass of a GPT: plain NumPy, no autograd graph, and a KV cache.

Training needs autograd; generation does not, and at batch 1 the bookkeeping of building a graph
costs more than the arithmetic. ``GPTEngine`` snapshots a trained model's weights into arrays
(linear weights transposed once to (in, out) so every product is ``x @ W``) and runs the same math
as ``GPT.forward``:

    x = wte[idx] + wpe[pos]
    per block:  x += c_proj(attention(split(c_attn(ln_1(x)))));  x += c_proj(gelu(c_fc(ln_2(x))))
    logits = ln_f(x) @ wte^T

``forward(idx, cache, positions, key_mask)`` handles both phases of generation: a *prefill* of many
positions, and a *decode* of one position per row, attending to everything already in the cache. The
tests prove its logits equal ``GPT.forward`` (float64 to 1e-10, float32 to 1e-5).

Padding: batched prompts of different lengths are left padded. ``key_mask[b, j]`` is False at pad
positions, so no real token attends to them; ``positions`` restarts at 0 at each row's first real
token, so a padded row computes exactly what it would alone. A pad query attends only to itself,
which keeps its (unused) output finite.

Read next: ``minillm/inference/generate.py``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from minillm import kernels
from minillm.inference.kv_cache import KVCache


@dataclass
class _Layer:
    ln_1_w: np.ndarray
    ln_1_b: np.ndarray
    attn_w: np.ndarray  # (C, 3C)
    attn_b: np.ndarray | None
    attn_proj_w: np.ndarray  # (C, C)
    attn_proj_b: np.ndarray | None
    ln_2_w: np.ndarray
    ln_2_b: np.ndarray
    fc_w: np.ndarray  # (C, 4C)
    fc_b: np.ndarray | None
    mlp_proj_w: np.ndarray  # (4C, C)
    mlp_proj_b: np.ndarray | None


def layer_norm_into(
    out: np.ndarray,
    x: np.ndarray,
    w: np.ndarray,
    b: np.ndarray,
    eps: float,
    mean: np.ndarray,
    rstd: np.ndarray,
) -> None:
    """out = layer_norm(x) w + b for C-contiguous (N, C) rows, by the kernel training uses.

    ``mean`` and ``rstd`` are (N,) float64 scratch rows. Prefill and decode both come here, so the
    cached and uncached paths round identically.
    """
    kernels.layernorm.layernorm_forward(out, mean, rstd, x, w, b, eps)


def gelu_tanh_into(out: np.ndarray, x: np.ndarray) -> None:
    """out = GELU(x), tanh form, by the kernel training uses (both C-contiguous)."""
    kernels.gelu.gelu_forward(out.reshape(-1), x.reshape(-1), True)


def _layer_norm(x: np.ndarray, w: np.ndarray, b: np.ndarray, eps: float) -> np.ndarray:
    rows = np.ascontiguousarray(x).reshape(-1, x.shape[-1])
    out = np.empty_like(rows)
    scratch = np.empty((2, rows.shape[0]), dtype=np.float64)
    layer_norm_into(out, rows, w, b, eps, scratch[0], scratch[1])
    return out.reshape(x.shape)


def _gelu_tanh(x: np.ndarray) -> np.ndarray:
    x = np.ascontiguousarray(x)
    out = np.empty_like(x)
    gelu_tanh_into(out, x)
    return out


def _linear(x: np.ndarray, w: np.ndarray, b: np.ndarray | None) -> np.ndarray:
    y = x @ w
    if b is not None:
        y += b
    return y


class GPTEngine:
    """Generation-time forward pass over a snapshot of a ``GPT``'s weights.

    It copies every weight, so later training does not change it: build a new engine to see new
    weights.

    >>> import minillm
    >>> from minillm.models import GPT, GPTConfig
    >>> _ = minillm.manual_seed(0)
    >>> model = GPT(GPTConfig(vocab_size=11, block_size=8, n_layer=1, n_head=2, n_embd=8))
    >>> engine = GPTEngine(model)
    >>> idx = np.array([[1, 2, 3]])
    >>> full = model(minillm.tensor(idx))[0].data
    >>> bool(np.allclose(engine.forward(idx), full, atol=1e-5))
    True
    """

    def __init__(self, model: Any) -> None:
        cfg = model.config
        self.config = cfg
        # A true snapshot: later training of the model cannot leak into half of the engine.
        sd = {name: np.array(t.data, copy=True) for name, t in model.state_dict().items()}
        self.dtype = sd["transformer.wte.weight"].dtype
        self.n_head = cfg.n_head
        self.head_dim = cfg.n_embd // cfg.n_head
        self.eps = model.transformer.ln_f.eps
        self.wte = sd["transformer.wte.weight"]  # (V, C)
        self.wpe = sd["transformer.wpe.weight"]  # (block_size, C)
        self.lm_head = np.ascontiguousarray(self.wte.T)  # (C, V), tied to wte

        def w(name: str) -> np.ndarray:
            return np.ascontiguousarray(sd[name].T)  # Linear stores (out, in); we want (in, out)

        def b(name: str) -> np.ndarray | None:
            return sd.get(name)

        def ln_b(name: str) -> np.ndarray:  # the layer-norm kernel always adds a bias
            return sd.get(name, np.zeros(cfg.n_embd, dtype=self.dtype))

        self.layers = []
        for i in range(cfg.n_layer):
            p = f"transformer.h.{i}."
            self.layers.append(
                _Layer(
                    sd[p + "ln_1.weight"],
                    ln_b(p + "ln_1.bias"),
                    w(p + "attn.c_attn.weight"),
                    b(p + "attn.c_attn.bias"),
                    w(p + "attn.c_proj.weight"),
                    b(p + "attn.c_proj.bias"),
                    sd[p + "ln_2.weight"],
                    ln_b(p + "ln_2.bias"),
                    w(p + "mlp.c_fc.weight"),
                    b(p + "mlp.c_fc.bias"),
                    w(p + "mlp.c_proj.weight"),
                    b(p + "mlp.c_proj.bias"),
                )
            )
        self.ln_f_w, self.ln_f_b = sd["transformer.ln_f.weight"], ln_b("transformer.ln_f.bias")
        self._buffers: tuple[tuple[int, int], Any] | None = None  # decode's, made on first use

    def new_cache(self, batch: int, max_len: int | None = None) -> KVCache:
        """An empty cache for ``batch`` rows and ``max_len`` positions (default block_size)."""
        max_len = self.config.block_size if max_len is None else max_len
        return KVCache(self.config.n_layer, batch, self.n_head, max_len, self.head_dim, self.dtype)

    def decode(
        self,
        ids: np.ndarray,
        cache: KVCache,
        positions: np.ndarray | None = None,
        key_mask: np.ndarray | None = None,
    ) -> np.ndarray:
        """Logits (B, V) for one new token per row, ``ids`` (B,), with no per-tick allocation.

        The same math as ``forward`` on a (B, 1) input, run in buffers kept with the engine (see
        ``decode.py``). The result is one of those buffers: copy it to keep it past the next call.
        """
        from minillm.inference.decode import DecodeBuffers, decode_step

        ids = np.asarray(ids)
        B = ids.shape[0]
        if cache.length + 1 > cache.max_len:
            raise ValueError(
                f"KV cache overflow: {cache.length} cached + 1 > capacity {cache.max_len}"
            )
        if positions is None:
            positions = np.full(B, cache.length)
        if positions.max(initial=0) >= self.config.block_size:
            raise ValueError(
                f"position {int(positions.max())} is outside the model's block_size "
                f"{self.config.block_size}; re-prefill a shorter window"
            )
        key = (B, cache.max_len)
        if self._buffers is None or self._buffers[0] != key:
            self._buffers = (key, DecodeBuffers(self, B, cache.max_len))
        return decode_step(self, self._buffers[1], ids, positions, cache, key_mask)

    def forward(
        self,
        idx: np.ndarray,
        cache: KVCache | None = None,
        positions: np.ndarray | None = None,
        key_mask: np.ndarray | None = None,
        last_only: bool = False,
    ) -> np.ndarray:
        """Logits (B, T, V) for ``idx`` (B, T), placed after the ``cache.length`` cached positions.

        Args:
            idx: int token ids (B, T).
            cache: filled in place (its length grows by T); None runs without one (a fresh prefix).
            positions: (B, T) position ids; default ``cache.length + arange(T)`` for every row.
            key_mask: (B, S) bool over all S = cache.length + T positions, False at padding.
            last_only: return only the last position's logits, (B, 1, V): all generation needs.
        """
        idx = np.asarray(idx)
        B, T = idx.shape
        start = 0 if cache is None else cache.length
        if cache is not None and start + T > cache.max_len:
            raise ValueError(
                f"KV cache overflow: {start} cached + {T} new positions > capacity {cache.max_len}"
            )
        if positions is None:
            positions = np.broadcast_to(np.arange(start, start + T), (B, T))
        if positions.max(initial=0) >= self.config.block_size:
            raise ValueError(
                f"position {int(positions.max())} is outside the model's block_size "
                f"{self.config.block_size}; re-prefill a shorter window"
            )
        x = self.wte[idx] + self.wpe[positions]  # (B, T, C)
        allowed = self._attention_mask(B, T, start, key_mask)  # (B, 1, T, S)
        for li, layer in enumerate(self.layers):
            x = self._block(x, layer, li, cache, start, allowed)
        if cache is not None:
            cache.length = start + T
        if last_only:
            x = x[:, -1:, :]
        x = _layer_norm(x, self.ln_f_w, self.ln_f_b, self.eps)
        return x @ self.lm_head  # (B, T, V)

    @staticmethod
    def _attention_mask(B: int, T: int, start: int, key_mask: np.ndarray | None) -> np.ndarray:
        """(B, 1, T, S) booleans: query i (at absolute position start + i) may see key j."""
        S = start + T
        causal = np.arange(S)[None, :] <= (start + np.arange(T))[:, None]  # (T, S)
        if key_mask is None:
            return np.broadcast_to(causal, (B, 1, T, S))
        key_mask = np.asarray(key_mask, dtype=bool)
        if key_mask.shape != (B, S):
            raise ValueError(f"key_mask has shape {key_mask.shape}, expected {(B, S)}")
        itself = np.arange(S)[None, :] == (start + np.arange(T))[:, None]  # (T, S)
        return (causal & (key_mask[:, None, :] | itself))[:, None]  # (B, 1, T, S)

    def _block(
        self,
        x: np.ndarray,
        L: _Layer,
        li: int,
        cache: KVCache | None,
        start: int,
        allowed: np.ndarray,
    ) -> np.ndarray:
        B, T, C = x.shape
        H, D = self.n_head, self.head_dim
        h = _layer_norm(x, L.ln_1_w, L.ln_1_b, self.eps)
        qkv = _linear(h, L.attn_w, L.attn_b).reshape(B, T, 3, H, D).transpose(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]  # (B, H, T, D)
        if cache is None:
            keys, values = k, v  # (B, H, S, D), S = T
        else:
            cache.k[li, :, :, start : start + T] = k
            cache.v[li, :, :, start : start + T] = v
            keys = cache.k[li, :, :, : start + T]  # (B, H, S, D)
            values = cache.v[li, :, :, : start + T]
        scores = (q @ keys.transpose(0, 1, 3, 2)) * (1.0 / math.sqrt(D))  # (B, H, T, S)
        scores = np.where(allowed, scores, -np.inf)
        scores -= scores.max(axis=-1, keepdims=True)
        p = np.exp(scores)
        p /= p.sum(axis=-1, keepdims=True)
        y = (p @ values).transpose(0, 2, 1, 3).reshape(B, T, C)  # (B, T, C)
        x = x + _linear(y, L.attn_proj_w, L.attn_proj_b)
        h = _layer_norm(x, L.ln_2_w, L.ln_2_b, self.eps)
        return x + _linear(_gelu_tanh(_linear(h, L.fc_w, L.fc_b)), L.mlp_proj_w, L.mlp_proj_b)
