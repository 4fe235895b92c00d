"""GPT: a decoder-only transformer language model with GPT-2's structure and parameter names.

Shape glossary (used in the ``# (...)`` comments on every tensor line):
    B  batch size                T  sequence length (time), at most block_size
    C  embedding width n_embd    V  vocabulary size
    H  attention heads n_head    D  head size, C // H

The model, bottom to top:
    x = wte[idx] + wpe[0..T)                       token + position embeddings       (B, T, C)
    for each of n_layer blocks (pre-norm residual):
        x = x + attn(ln_1(x))                      causal multi-head self-attention
        x = x + mlp(ln_2(x))                       C -> 4C -> GELU(tanh) -> C
    logits = ln_f(x) @ wte^T                       the output head shares wte         (B, T, V)
    loss = cross_entropy(logits, targets)          targets are idx shifted by one; -1 is ignored

Parameter names match GPT-2 checkpoints one to one (``transformer.wte``,
``transformer.h.0.attn.c_attn``, ...), except that minillm's Linear stores weights as (out, in) like
PyTorch, where GPT-2's TF-era "Conv1D" stores (in, out): transpose those four matrices when
importing GPT-2 weights.

Initialization follows GPT-2: weights N(0, 0.02), biases zero, and the two projections that write
into the residual stream (``attn.c_proj``, ``mlp.c_proj``) N(0, 0.02 / sqrt(2 n_layer)), so the
residual's variance does not grow with depth.

Read next: ``minillm/nn/functional.py`` (scaled_dot_product_attention, cross_entropy) and
``minillm/inference/`` (generation with a KV cache).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import minillm
from minillm import nn, optim
from minillm.nn import functional as F
from minillm.tensor import Tensor


@dataclass
class GPTConfig:
    """Hyperparameters of a GPT. The defaults are a small model that trains on a CPU in minutes."""

    vocab_size: int = 256
    block_size: int = 128
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    dropout: float = 0.0
    bias: bool = True

    def __post_init__(self) -> None:
        for name in ("vocab_size", "block_size", "n_layer", "n_head", "n_embd"):
            if int(getattr(self, name)) < 1:
                raise ValueError(
                    f"GPTConfig.{name} must be a positive integer, got {getattr(self, name)}"
                )
        if self.n_embd % self.n_head:
            raise ValueError(
                f"GPTConfig: n_embd={self.n_embd} must be divisible by n_head={self.n_head} "
                f"(each head gets n_embd // n_head channels)"
            )
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"GPTConfig.dropout must be in [0, 1), got {self.dropout}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class CausalSelfAttention(nn.Module):
    """Multi-head self-attention where position t sees positions 0..t only."""

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        C = config.n_embd
        self.n_head = config.n_head
        self.dropout = config.dropout
        self.c_attn = nn.Linear(C, 3 * C, bias=config.bias)  # q, k, v for all heads at once
        self.c_proj = nn.Linear(C, C, bias=config.bias)
        self.resid_dropout = nn.Dropout(config.dropout)

    def forward(self, x: Tensor) -> Tensor:
        qkv = self.c_attn(x)  # (B, T, 3C): q, k, v for all heads, side by side
        p = self.dropout if self.training else 0.0
        # split into heads (B, H, T, D), attend causally, merge back: one fused op (the same three
        # steps spelled out: F.qkv_attention_reference)
        y = F.qkv_attention(qkv, self.n_head, is_causal=True, dropout_p=p)  # (B, T, C)
        return self.resid_dropout(self.c_proj(y))  # (B, T, C)


class MLP(nn.Module):
    """The position-wise feed-forward network: C -> 4C -> GELU -> C."""

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=config.bias)
        self.gelu = nn.GELU(approximate="tanh")  # GPT-2 used the tanh form
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=config.bias)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: Tensor) -> Tensor:
        return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))  # (B, T, C)


class Block(nn.Module):
    """One transformer block: pre-norm attention and MLP, each added to the residual stream."""

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.mlp = MLP(config)

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.attn(self.ln_1(x))  # (B, T, C)
        return x + self.mlp(self.ln_2(x))  # (B, T, C)


class GPT(nn.Module):
    """A GPT language model.

    >>> import math, minillm
    >>> from minillm.models.gpt import GPT, GPTConfig
    >>> _ = minillm.manual_seed(0)
    >>> model = GPT(GPTConfig(vocab_size=16, block_size=8, n_layer=1, n_head=2, n_embd=8))
    >>> idx = minillm.randint(0, 16, (2, 8))
    >>> logits, loss = model(idx, targets=idx)
    >>> logits.shape, abs(loss.item() - math.log(16)) < 0.2  # a fresh model's loss is ~ln(V)
    ((2, 8, 16), True)
    """

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.config = config
        self.transformer = nn.ModuleDict(
            {
                "wte": nn.Embedding(config.vocab_size, config.n_embd),
                "wpe": nn.Embedding(config.block_size, config.n_embd),
                "drop": nn.Dropout(config.dropout),
                "h": nn.ModuleList([Block(config) for _ in range(config.n_layer)]),
                "ln_f": nn.LayerNorm(config.n_embd, bias=config.bias),
            }
        )
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        # Weight tying: the output head reuses the token embedding (one Parameter, two names).
        self.lm_head.weight = self.transformer.wte.weight
        self._init_weights()

    def _init_weights(self) -> None:
        std = 0.02
        residual_std = std / math.sqrt(2 * self.config.n_layer)
        for name, module in self.named_modules():
            if isinstance(module, nn.Linear):
                is_residual_proj = name.endswith("c_proj")
                nn.init.normal_(module.weight, 0.0, residual_std if is_residual_proj else std)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Embedding):
                nn.init.normal_(module.weight, 0.0, std)

    def forward(self, idx: Tensor, targets: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        """Logits for every position, and the mean cross-entropy against ``targets`` if given.

        Args:
            idx: token ids, int (B, T) with T <= block_size.
            targets: the next token at each position, int (B, T); -1 marks positions to ignore.
        """
        B, T = idx.shape
        if self.config.block_size < T:
            raise ValueError(
                f"GPT: sequence length {T} exceeds block_size {self.config.block_size}; crop the "
                f"input to its last {self.config.block_size} tokens"
            )
        pos = minillm.arange(T)
        tok_emb = self.transformer.wte(idx)  # (B, T, C)
        pos_emb = self.transformer.wpe(pos)  # (T, C)
        x = self.transformer.drop(tok_emb + pos_emb)  # (B, T, C)
        for block in self.transformer.h:
            x = block(x)  # (B, T, C)
        x = self.transformer.ln_f(x)  # (B, T, C)
        logits = self.lm_head(x)  # (B, T, V)
        if targets is None:
            return logits, None
        V = logits.shape[-1]
        loss = F.cross_entropy(logits.reshape(B * T, V), targets.reshape(B * T), ignore_index=-1)
        return logits, loss

    def num_parameters(self, non_embedding: bool = False, **kwargs: Any) -> int:
        """Parameter count (tied weights count once); ``non_embedding`` leaves out wpe (GPT-2)."""
        n = super().num_parameters(**kwargs)
        if non_embedding:
            n -= self.transformer.wpe.weight.numel()
        return n

    def flops_per_token(self, seq_len: int | None = None) -> int:
        """Approximate FLOPs to train on one token (forward + backward).

        6 N for the weight matmuls (2 N forward, 4 N backward, N non-embedding parameters), plus
        12 L T C for attention (QK^T and AV: 2 T C each per layer forward, tripled for backward),
        from the PaLM paper's appendix B.
        """
        cfg = self.config
        T = cfg.block_size if seq_len is None else seq_len
        return 6 * self.num_parameters(non_embedding=True) + 12 * cfg.n_layer * T * cfg.n_embd

    def configure_optimizers(
        self, weight_decay: float, lr: float, betas: tuple[float, float] = (0.9, 0.95)
    ) -> optim.AdamW:
        """AdamW with decay on the matrices that multiply activations only: every 2-D weight but
        the embeddings' (not biases, norms, wte/wpe or the head tied to wte). The rule reads
        shapes, not layer types, so it holds for a split model too (``minillm.parallel``)."""
        embeddings = {id(m.weight) for m in self.modules() if isinstance(m, nn.Embedding)}
        decay = {id(p): p for p in self.parameters() if p.ndim == 2 and id(p) not in embeddings}
        no_decay = [p for p in self.parameters() if id(p) not in decay]
        groups = [
            {"params": list(decay.values()), "weight_decay": weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ]
        return optim.AdamW(groups, lr=lr, betas=betas)
