"""A tensor-parallel GPT: each block's attention split by heads and its MLP by the hidden width.

``parallelize_gpt(model, group)`` changes a ``minillm.models.gpt.GPT`` in place. On each of the N
ranks of ``group``, in every block:

    attn.c_attn   ColumnParallelLinear  rows [q rows of my heads; k rows of them; v rows of them]
    attention     F.qkv_attention on my n_head / N heads, unchanged: heads never talk to each other
    attn.c_proj   RowParallelLinear     the columns of my heads' channels; all-reduce (g)
    mlp.c_fc      ColumnParallelLinear  my 4C / N hidden units (GELU acts on them elementwise)
    mlp.c_proj    RowParallelLinear     the same 4C / N columns; all-reduce (g)

Embeddings, layer norms, the tied ``lm_head`` and the biases of the two row layers stay whole on
every rank (replicated). They need no communication of their own: everything outside the split
layers is computed from replicated values (the residual stream after each all-reduce), and in
backward each block's ``copy_to_parallel`` (f) sums the ranks' parts of the gradient at the block's
input, so every rank receives the same full gradient and gives every replicated parameter the
same gradient as one process would. Two all-reduces of B*T*C per block forward, two backward.

Dropout. The residual dropouts (``attn.resid_dropout``, ``mlp.dropout``, ``transformer.drop``) act
on replicated values: ranks that share the seed draw the same masks because they draw in the same
order, the same shapes. The attention-weight dropout acts on split heads: each rank draws the
*whole* (B*H, T, T) mask, as one process does, and keeps its heads' rows. So the generator stays
in step on every rank, and a split model in training mode is the single-process model exactly.

The checkpoint stays unsplit: ``full_state_dict`` gathers it (the same names and shapes as a plain
GPT's ``state_dict()``), ``load_full_state_dict`` cuts each rank's shard from it. Their primitives
``shard_array`` / ``unshard_array`` do the same for one array laid out as a named parameter (an
optimizer's moments, say).

Read next: ``minillm/parallel/tensor.py`` (the layers and collectives), ``minillm/models/gpt.py``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from minillm import nn
from minillm.models.gpt import GPT, CausalSelfAttention
from minillm.nn import functional as F
from minillm.parallel.tensor import (
    ColumnParallelLinear,
    RowParallelLinear,
    _ParallelLinear,
    rank_and_size,
)
from minillm.random import generator
from minillm.tensor import Tensor


class ParallelSelfAttention(CausalSelfAttention):
    """``CausalSelfAttention`` over this rank's ``n_head`` heads (of ``n_head_total``), with the
    same children (``c_attn``, ``c_proj``, ``resid_dropout``) split as the module docstring says."""

    def __init__(self, attn: CausalSelfAttention, group: Any = None) -> None:
        nn.Module.__init__(self)  # not CausalSelfAttention's: that would draw fresh weights
        rank, N = rank_and_size(group)
        C, H = attn.c_attn.in_features, attn.n_head
        self.training = attn.training
        self.n_head_total, self.n_head, self.dropout = H, H // N, attn.dropout
        self.first_head = rank * self.n_head
        k = C // N  # channels of my heads, within each of q, k and v
        order = [s * C + r * k + i for r in range(N) for s in range(3) for i in range(k)]
        self.c_attn = ColumnParallelLinear.from_linear(attn.c_attn, group=group, order=order)
        self.c_proj = RowParallelLinear.from_linear(attn.c_proj, group=group)
        self.resid_dropout = attn.resid_dropout

    def forward(self, x: Tensor) -> Tensor:
        qkv = self.c_attn(x)  # (B, T, 3C/N): q, k, v of my heads
        p = self.dropout if self.training else 0.0
        if p == 0.0:
            y = F.qkv_attention(qkv, self.n_head, is_causal=True)  # (B, T, C/N)
        else:
            y = self._attention_with_dropout(qkv, p)
        return self.resid_dropout(self.c_proj(y))  # (B, T, C): summed over the ranks' heads

    def _attention_with_dropout(self, qkv: Tensor, p: float) -> Tensor:
        """softmax(q k^T / sqrt(D) + causal) * mask @ v, the mask cut from the whole model's."""
        B, T, C3 = qkv.shape
        Hl, H = self.n_head, self.n_head_total
        heads = qkv.reshape(B, T, 3, Hl, C3 // 3 // Hl).permute(2, 0, 3, 1, 4)  # (3, B, Hl, T, D)
        q, k, v = heads[0], heads[1], heads[2]
        scores = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(q.shape[-1]))  # (B, Hl, T, T)
        scores = scores + Tensor(np.where(np.tri(T, dtype=bool), 0.0, -np.inf).astype(q.dtype))
        # the draw one process makes for all H heads (scaled_dot_product_attention's), then mine
        draw = generator().random((B * H, T, T)).reshape(B, H, T, T)
        keep = draw[:, self.first_head : self.first_head + Hl] >= p  # (B, Hl, T, T)
        weights = scores.softmax(-1) * Tensor((keep / (1.0 - p)).astype(q.dtype))
        return (weights @ v).transpose(1, 2).reshape(B, T, C3 // 3)  # (B, T, C/N)


def parallelize_gpt(model: GPT, group: Any = None) -> GPT:
    """Split ``model``'s blocks over the ranks of ``group``, in place (see the module docstring).

    Every rank calls it on the same full model (the same seed, or the same checkpoint loaded);
    afterwards each keeps only its shards. ``group`` None: every process (or, with no process
    group, one: the model is unchanged but for its layers' types).

    >>> import minillm
    >>> from minillm.models.gpt import GPT, GPTConfig
    >>> model = parallelize_gpt(GPT(GPTConfig(vocab_size=8, block_size=4, n_layer=1, n_head=2,
    ...                                       n_embd=8)))
    >>> type(model.transformer.h[0].mlp.c_fc).__name__
    'ColumnParallelLinear'
    """
    if not isinstance(model, GPT):
        raise TypeError(f"parallelize_gpt: expected a minillm GPT, got {type(model).__name__}")
    if any(isinstance(m, _ParallelLinear) for m in model.modules()):
        raise ValueError("parallelize_gpt: the model is already tensor-parallel")
    N = rank_and_size(group)[1]
    H, C = model.config.n_head, model.config.n_embd
    if H % N:
        raise ValueError(f"parallelize_gpt: n_head={H} is not divisible by the tensor-parallel "
                         f"group size {N} (each rank takes n_head / {N} heads)")  # fmt: skip
    if 4 * C % N:  # (implied by the heads' check while n_embd % n_head == 0; said all the same)
        raise ValueError(f"parallelize_gpt: the MLP's hidden width 4*n_embd={4 * C} is not "
                         f"divisible by the tensor-parallel group size {N}")  # fmt: skip
    for block in model.transformer.h:
        block.attn = ParallelSelfAttention(block.attn, group)
        block.mlp.c_fc = ColumnParallelLinear.from_linear(block.mlp.c_fc, group=group)
        block.mlp.c_proj = RowParallelLinear.from_linear(block.mlp.c_proj, group=group)
    model.tensor_parallel_group = group
    return model


# ------------------------------------------------------------------------------ checkpoints
def _split(model: GPT, name: str, group: Any) -> tuple[_ParallelLinear, int] | None:
    """The layer owning parameter ``name`` and the axis it is split along; None: replicated."""
    if group is not None and group is not getattr(model, "tensor_parallel_group", None):
        raise ValueError("tensor parallel: the group given is not the one the model was split "
                         "over (parallelize_gpt's)")  # fmt: skip
    path, _, leaf = name.rpartition(".")
    layer = model.get_submodule(path)
    if not isinstance(layer, _ParallelLinear):
        return None
    dim = getattr(getattr(layer, leaf, None), "tensor_parallel_dim", None)  # a shard's mark
    return None if dim is None else (layer, dim)


def shard_array(model: GPT, name: str, full_array: np.ndarray, group: Any = None) -> np.ndarray:
    """This rank's part of ``full_array``, an array laid out as the unsplit model's parameter
    ``name`` (a copy; the array itself for a replicated name). Local: no communication.

    ``group``: the group ``parallelize_gpt`` was given (None: that one).
    """
    split = _split(model, name, group)
    if split is None:
        return full_array
    layer, dim = split
    full = np.asarray(full_array)
    expect = list(getattr(layer, name.rpartition(".")[2]).shape)
    expect[dim] *= layer.world_size
    if list(full.shape) != expect:
        raise ValueError(f"shard_array: {name} is {tuple(expect)} in the unsplit model, but the "
                         f"array given is {full.shape}")  # fmt: skip
    return layer.shard(full, dim)


def unshard_array(model: GPT, name: str, local_array: np.ndarray, group: Any = None) -> np.ndarray:
    """The unsplit array from every rank's ``local_array`` laid out as this rank's parameter
    ``name`` (the array itself for a replicated name). Collective: every rank of the group calls
    it, with the same names in the same order (an all-gather for each split name).
    """
    split = _split(model, name, group)
    if split is None:
        return local_array
    layer, dim = split
    return layer.unshard(np.asarray(local_array), dim)


def full_state_dict(model: GPT, group: Any = None) -> dict[str, np.ndarray]:
    """The unsplit model's ``state_dict()`` as arrays, on every rank of the group (collective):
    the same names and shapes, for ``io.save_checkpoint`` or a plain ``GPT.load_state_dict``."""
    return {name: np.array(unshard_array(model, name, t.data, group))
            for name, t in model.state_dict().items()}  # fmt: skip


def load_full_state_dict(model: GPT, state: Any, group: Any = None) -> nn.IncompatibleKeys:
    """Load an unsplit GPT state dict: each rank keeps its shard of every split parameter and the
    whole of every replicated one. Local: no communication. Missing, unexpected and mis-shaped
    names are reported as ``load_state_dict`` does."""
    own = model.state_dict()
    local = {}
    for name, value in state.items():
        array = value.data if isinstance(value, Tensor) else np.asarray(value)
        local[name] = shard_array(model, name, array, group) if name in own else array
    return model.load_state_dict(local)
