"""A plain-PyTorch GPT with minillm's structure and parameter names, for parity tests and benches.

Written the ordinary PyTorch way (nn.Linear, F.scaled_dot_product_attention, F.cross_entropy), so it
is an independent answer to check minillm against. ``from_minillm(model)`` builds one with identical
weights by copying the state dict (the names match one to one).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn


class _Attention(nn.Module):
    def __init__(self, C: int, H: int, bias: bool) -> None:
        super().__init__()
        self.n_head = H
        self.c_attn = nn.Linear(C, 3 * C, bias=bias)
        self.c_proj = nn.Linear(C, C, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        q, k, v = self.c_attn(x).split(C, dim=2)
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.c_proj(y.transpose(1, 2).reshape(B, T, C))


class _MLP(nn.Module):
    def __init__(self, C: int, bias: bool) -> None:
        super().__init__()
        self.c_fc = nn.Linear(C, 4 * C, bias=bias)
        self.c_proj = nn.Linear(4 * C, C, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.c_proj(F.gelu(self.c_fc(x), approximate="tanh"))


class _Block(nn.Module):
    def __init__(self, C: int, H: int, bias: bool) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(C, bias=bias)
        self.attn = _Attention(C, H, bias)
        self.ln_2 = nn.LayerNorm(C, bias=bias)
        self.mlp = _MLP(C, bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class TorchGPT(nn.Module):
    def __init__(
        self,
        vocab_size: int,
        block_size: int,
        n_layer: int,
        n_head: int,
        n_embd: int,
        bias: bool = True,
        **_: Any,
    ) -> None:
        super().__init__()
        self.transformer = nn.ModuleDict(
            {
                "wte": nn.Embedding(vocab_size, n_embd),
                "wpe": nn.Embedding(block_size, n_embd),
                "h": nn.ModuleList([_Block(n_embd, n_head, bias) for _ in range(n_layer)]),
                "ln_f": nn.LayerNorm(n_embd, bias=bias),
            }
        )
        self.lm_head = nn.Linear(n_embd, vocab_size, bias=False)
        self.lm_head.weight = self.transformer.wte.weight

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None) -> Any:
        T = idx.shape[1]
        x = self.transformer.wte(idx) + self.transformer.wpe(torch.arange(T))
        for block in self.transformer.h:
            x = block(x)
        logits = self.lm_head(self.transformer.ln_f(x))
        if targets is None:
            return logits, None
        loss = F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=-1)
        return logits, loss


def from_minillm(model: Any, dtype: torch.dtype = torch.float32) -> TorchGPT:
    """A TorchGPT with the same configuration and a copy of ``model``'s weights."""
    ref = TorchGPT(**model.config.to_dict()).to(dtype)
    state = {name: torch.tensor(t.data) for name, t in model.state_dict().items()}
    missing, unexpected = ref.load_state_dict(state, strict=False)
    if unexpected or [m for m in missing if m != "lm_head.weight"]:
        raise KeyError(f"state dict mismatch: missing {missing}, unexpected {unexpected}")
    return ref
