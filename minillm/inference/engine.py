"""The GPT forward pass for generation: a framework-free mirror of ``GPT.forward``, with a KV cache.

This file writes the model's forward a second time, in NumPy and kernel calls with no autograd
graph, as llm.c mirrors its PyTorch script in C. Generation needs no gradients, and one token at
batch 1 is so little arithmetic that building a graph would cost more than the math
(``benchmarks/bench_decode.py`` measures the autograd model against this mirror). It reads the
model's own modules (``block.ln_1``, ``block.attn.c_attn``, ...) and copies nothing: every weight
is a view of the model's array, so the engine runs the model's current weights: in-place updates
(an optimizer step), ``load_state_dict`` and ``.double()`` are seen. Modules are read once: after
replacing one (a new ``c_attn``, another GELU), build a new engine. Change the model's math
(RMSNorm, RoPE) and this is the one other place to change.

    x = wte[idx] + wpe[pos]
    per block:  x += c_proj(attention(c_attn(ln_1(x))));   x += c_proj(gelu(c_fc(ln_2(x))))
    logits = ln_f(x) @ wte^T

One ``forward(idx, cache, positions, key_mask)`` runs both phases of generation: a *prefill* of
many positions per row and a *decode* tick of one, attending to everything already in the cache.
Three kernels do the work between the matrix products, each with its NumPy twin:

* ``kernels.kv_attention`` — attention of the new positions over the cache, reading q, k, v
  straight from c_attn's output and writing the new keys and values into the cache;
* ``kernels.layernorm.residual_layernorm_forward`` — a projection's bias and the residual add,
  fused with the layer norm that follows (the next block's ln_1, or ln_f after the last);
* ``kernels.gelu.bias_gelu_forward`` — c_fc's bias and the GELU.

The quantized GPT (``minillm.compress.quantize_dynamic(model)``, or an int8 checkpoint) runs here
too: a ``QuantizedLinear`` in place of a Linear makes its product ``compress.linear_int8`` (int8
weights, each row of activations quantized as it arrives, int32 sums: ``kernels.qlinear``)
instead of ``x @ w.T``. Nothing else changes: layer norms, attention and the head stay float.

A decode tick's work arrays are kept for the next tick, so it allocates only its logits and the
attention kernel's small per-head rows.
At batch 1 a tick is mostly the weight products (matrix-vector, at the speed of reading 12.6 MB
of weights for config (a)); with 2-16 rows OpenBLAS repacks each (out, in) weight on every call,
which a transposed copy would avoid, at the price of no longer reading the model's own arrays
(measured in RESULTS.md, "Decoding": batches of 8).

Padding, as in training's attention: batched prompts of different lengths are left padded;
``key_mask[b, j]`` is False at pad positions, which no query sees; a query that sees no key at all
(a pad) gets a zero attention output; ``positions`` restart at 0 at each row's first real token,
so a padded row computes what it would alone. Dropout is not applied (generation is evaluation).

Read next: ``minillm/inference/generate.py`` (prefill, then a tick per token), whose
``batch.py`` calls ``forward`` once per tick.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from minillm import kernels
from minillm.inference.kv_cache import KVCache


@dataclass
class _Block:
    """One transformer block's arrays: views of the model's parameters (Linear weights are
    (out, in), so each product is ``x @ w.T``, which BLAS reads without a copy). A quantized
    layer's "weight" is its ``QuantizedLinear`` module, whose product ``_product`` runs."""

    ln_1: tuple[np.ndarray, np.ndarray, float]  # weight, bias, eps
    attn_w: Any  # (3C, C)
    attn_b: np.ndarray  # (3C,)
    attn_proj_w: Any  # (C, C)
    attn_proj_b: np.ndarray
    ln_2: tuple[np.ndarray, np.ndarray, float]
    fc_w: Any  # (4C, C)
    fc_b: np.ndarray
    mlp_proj_w: Any  # (C, 4C)
    mlp_proj_b: np.ndarray
    tanh_gelu: bool


class _Scratch:
    """The work arrays of one forward call at N = B T rows, kept for the next call of that shape."""

    def __init__(self, N: int, C: int, dtype: np.dtype) -> None:
        self.x = np.empty((N, C), dtype)  # the residual stream
        self.h = np.empty((N, C), dtype)  # its layer-normed copy
        self.qkv = np.empty((N, 3 * C), dtype)
        self.y = np.empty((N, C), dtype)  # attention's output, heads merged
        self.out = np.empty((N, C), dtype)  # a projection's output before its bias and the add
        self.fc = np.empty((N, 4 * C), dtype)
        self.act = np.empty((N, 4 * C), dtype)
        self.mean = np.empty(N, np.float64)  # layer norm's row statistics (kernel scratch)
        self.rstd = np.empty(N, np.float64)


_NO_MASK = np.ones((1, 1), dtype=bool)  # what kv_attention reads when there is no key mask


def _product(out: np.ndarray, x: np.ndarray, w: Any) -> None:
    """``out = x @ w.T`` for a float weight (the bias is added by the next kernel); for an int8
    layer, its ``linear_int8`` with a zero bias (the bias is added later all the same)."""
    if isinstance(w, np.ndarray):
        np.matmul(x, w.T, out=out)
        return
    from minillm.compress.dynamic import linear_int8

    linear_int8(out, x, w, w.mode, with_bias=False)


class GPTEngine:
    """Generation-time forward pass of a ``GPT``, reading the model's weights in place.

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
        self.model = model
        self.config = model.config
        self.n_head = model.config.n_head
        self.head_dim = model.config.n_embd // model.config.n_head
        self._zeros: dict[tuple[int, np.dtype], np.ndarray] = {}  # the bias of a bias-free layer
        self._tick: tuple[int, _Scratch] | None = None  # a decode tick's work arrays, and its B
        self._read_weights()

    # ---- the model's arrays ----------------------------------------------------------------------
    def _read_weights(self) -> None:
        """Take views of every parameter the forward uses (cheap: nothing is copied)."""
        t = self.model.transformer
        self.dtype = t.wte.weight.data.dtype
        self.wte, self.wpe = t.wte.weight.data, t.wpe.weight.data  # (V, C), (block_size, C)
        self.blocks = [
            _Block(
                self._norm(blk.ln_1),
                *self._linear(blk.attn.c_attn),
                *self._linear(blk.attn.c_proj),
                self._norm(blk.ln_2),
                *self._linear(blk.mlp.c_fc),
                *self._linear(blk.mlp.c_proj),
                tanh_gelu=blk.mlp.gelu.approximate == "tanh",
            )
            for blk in t.h
        ]
        self.ln_f = self._norm(t.ln_f)
        self._params = [*self.model.parameters(), *self.model.buffers()]
        self._arrays = [p.data for p in self._params]

    def _fresh(self) -> None:
        """Re-read the views if any parameter's array was replaced (``load_state_dict``, ``.to``):
        in-place updates (an optimizer step) need nothing, the views see them."""
        if any(p.data is not a for p, a in zip(self._params, self._arrays)):
            self._read_weights()
            self._tick = None

    def _bias(self, module: Any, size: int) -> np.ndarray:
        if module.bias is not None:
            return module.bias.data
        key = (size, self.dtype)
        if key not in self._zeros:
            self._zeros[key] = np.zeros(size, self.dtype)
        return self._zeros[key]

    def _linear(self, module: Any) -> tuple[Any, np.ndarray]:
        if hasattr(module, "weight_int8"):  # a QuantizedLinear: the module is the "weight"
            return module, self._bias(module, module.out_features)
        return module.weight.data, self._bias(module, module.weight.shape[0])

    def _norm(self, module: Any) -> tuple[np.ndarray, np.ndarray, float]:
        return module.weight.data, self._bias(module, module.weight.shape[0]), module.eps

    # ---- the forward pass ------------------------------------------------------------------------
    def new_cache(self, batch: int, max_len: int | None = None) -> KVCache:
        """An empty cache for ``batch`` rows and ``max_len`` positions (default block_size)."""
        self._fresh()
        max_len = self.config.block_size if max_len is None else max_len
        return KVCache(self.config.n_layer, batch, self.n_head, max_len, self.head_dim, self.dtype)

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
        self._fresh()
        idx, positions, key_mask, start = self._check(idx, cache, positions, key_mask)
        B, T = idx.shape
        C = self.config.n_embd
        if cache is None:  # attention reads its keys from a cache either way: a temporary one
            cache = KVCache(self.config.n_layer, B, self.n_head, T, self.head_dim, self.dtype)
        buf = self._scratch_for(B, T)
        x, h = buf.x, buf.h
        np.take(self.wte, idx.reshape(-1), axis=0, out=x)
        np.take(self.wpe, positions.reshape(-1), axis=0, out=h)
        x += h  # (B T, C)
        scale = 1.0 / math.sqrt(self.head_dim)
        mask = key_mask if key_mask is not None else _NO_MASK
        w, b, eps = self.blocks[0].ln_1
        kernels.layernorm.layernorm_forward(h, buf.mean, buf.rstd, x, w, b, eps)
        for li, L in enumerate(self.blocks):
            # attention: x += c_proj(attend(c_attn(h)));  then h = ln_2(x)
            _product(buf.qkv, h, L.attn_w)
            buf.qkv += L.attn_b
            kernels.kv_attention.kv_attention(
                buf.y.reshape(B, T, C), cache.k[li], cache.v[li], buf.qkv.reshape(B, T, 3 * C),
                mask, key_mask is not None, start, scale,
            )  # fmt: skip
            _product(buf.out, buf.y, L.attn_proj_w)
            w, b, eps = L.ln_2
            kernels.layernorm.residual_layernorm_forward(
                h, buf.mean, buf.rstd, x, buf.out, L.attn_proj_b, w, b, eps
            )
            # MLP: x += c_proj(gelu(c_fc(h)));  then h = the next norm (next block's ln_1, or ln_f)
            _product(buf.fc, h, L.fc_w)
            kernels.gelu.bias_gelu_forward(buf.act, buf.fc, L.fc_b, L.tanh_gelu)
            _product(buf.out, buf.act, L.mlp_proj_w)
            w, b, eps = self.blocks[li + 1].ln_1 if li + 1 < len(self.blocks) else self.ln_f
            kernels.layernorm.residual_layernorm_forward(
                h, buf.mean, buf.rstd, x, buf.out, L.mlp_proj_b, w, b, eps
            )
        cache.length = start + T
        h3 = h.reshape(B, T, C)
        return (h3[:, -1:] if last_only else h3) @ self.wte.T  # (B, T, V): the head is wte

    def _check(
        self,
        idx: Any,
        cache: KVCache | None,
        positions: Any,
        key_mask: Any,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, int]:
        """The inputs as arrays of the right shapes, or a ValueError that says what is wrong."""
        idx = np.asarray(idx)
        if idx.ndim != 2 or idx.dtype.kind not in "iu":
            raise ValueError(f"idx must be (B, T) integer token ids, got {idx.dtype} {idx.shape}")
        B, T = idx.shape
        if B == 0 or T == 0:
            raise ValueError(f"idx must hold at least one row and one position, got {idx.shape}")
        V = self.config.vocab_size
        if idx.min() < 0 or idx.max() >= V:
            raise ValueError(f"token ids must be in [0, {V}), got {idx.min()}..{idx.max()}")
        start = 0 if cache is None else cache.length
        if cache is not None:
            if start + T > cache.max_len:
                raise ValueError(
                    f"KV cache overflow: {start} cached + {T} new positions > capacity "
                    f"{cache.max_len}"
                )
            want = (self.config.n_layer, B, self.n_head, cache.max_len, self.head_dim)
            if cache.k.shape != want or cache.k.dtype != self.dtype:
                raise ValueError(
                    f"the cache holds {cache.k.dtype} {cache.k.shape} (layers, rows, heads, "
                    f"positions, head size), but this model and idx need {self.dtype} {want}: "
                    "make it with engine.new_cache(batch)"
                )
        W = self.config.block_size
        if positions is None:  # the next T columns, the same for every row: checked by arithmetic
            if start + T > W:
                raise ValueError(
                    f"positions {start}..{start + T - 1} are outside the model's block_size {W}; "
                    "re-prefill a shorter window"
                )
            positions = np.broadcast_to(np.arange(start, start + T), (B, T))
        else:
            positions = np.asarray(positions)
            if positions.dtype.kind not in "iu":
                raise ValueError(f"positions must be integers, got {positions.dtype}")
            if positions.shape != (B, T):
                raise ValueError(f"positions has shape {positions.shape}, expected {(B, T)}")
            if positions.min() < 0 or positions.max() >= W:
                raise ValueError(
                    f"positions {int(positions.min())}..{int(positions.max())} are outside the "
                    f"model's block_size {W}; re-prefill a shorter window"
                )
        if key_mask is not None:
            key_mask = np.ascontiguousarray(key_mask, dtype=bool)
            if key_mask.shape != (B, start + T):
                raise ValueError(f"key_mask has shape {key_mask.shape}, expected {(B, start + T)}")
        return idx, positions, key_mask, start

    def _scratch_for(self, B: int, T: int) -> _Scratch:
        """Work arrays for B T rows: a decode tick's (T = 1) are made once and kept; a prefill's
        are made for the call (their cost is nothing beside its products, and keeping them would
        hold a long prompt's memory for good)."""
        if T > 1:
            return _Scratch(B * T, self.config.n_embd, self.dtype)
        if self._tick is None or self._tick[0] != B:
            self._tick = (B, _Scratch(B, self.config.n_embd, self.dtype))
        return self._tick[1]
