"""Embedding: a learned lookup table from integer ids (tokens, positions) to vectors.

``Embedding(num_embeddings, embedding_dim)`` holds ``weight`` of shape ``(num, dim)``, drawn from
N(0, 1) as in PyTorch; calling it with integer ids of any shape returns their rows, one more axis at
the end. The backward pass adds each output gradient into the row it came from (the fused op in
``minillm/ops/fused.py``). ``padding_idx`` names a row that starts at zero and never receives a
gradient (the padding token).

Read next: ``normalization.py``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from minillm.nn import functional as F
from minillm.nn import init
from minillm.nn.module import Module
from minillm.nn.parameter import Parameter
from minillm.tensor import DEFAULT_FLOAT, Tensor


class Embedding(Module):
    """A ``(num_embeddings, embedding_dim)`` table; ``forward(ids)`` returns ``weight[ids]``.

    >>> import minillm
    >>> emb = Embedding(10, 4, padding_idx=0)
    >>> emb(minillm.tensor([[1, 2, 0]])).shape
    (1, 3, 4)
    >>> emb.weight[0].tolist()
    [0.0, 0.0, 0.0, 0.0]
    """

    def __init__(
        self,
        num_embeddings: int,
        embedding_dim: int,
        padding_idx: int | None = None,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        if padding_idx is not None:
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise ValueError(
                    f"Embedding: padding_idx {padding_idx} is out of range for "
                    f"{num_embeddings} embeddings"
                )
            padding_idx %= num_embeddings
        self.num_embeddings = num_embeddings
        self.embedding_dim = embedding_dim
        self.padding_idx = padding_idx
        dtype = DEFAULT_FLOAT if dtype is None else np.dtype(dtype)
        self.weight = Parameter(np.empty((num_embeddings, embedding_dim), dtype=dtype))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """N(0, 1) rows, and a zero padding row."""
        init.normal_(self.weight)
        if self.padding_idx is not None:
            self.weight.data[self.padding_idx] = 0

    @classmethod
    def from_pretrained(
        cls, embeddings: Tensor, freeze: bool = True, padding_idx: int | None = None
    ) -> Embedding:
        """An Embedding holding a copy of ``embeddings`` (frozen unless ``freeze=False``)."""
        if embeddings.ndim != 2:
            raise ValueError(
                f"from_pretrained: embeddings must be 2-D (num, dim), got shape {embeddings.shape}"
            )
        num, dim = embeddings.shape
        emb = cls(num, dim, padding_idx=padding_idx, dtype=embeddings.dtype)
        emb.weight.data[...] = embeddings.data
        emb.weight.requires_grad_(not freeze)
        return emb

    def forward(self, input: Any) -> Tensor:  # noqa: A002
        return F.embedding(input, self.weight, self.padding_idx)

    def extra_repr(self) -> str:
        pad = f", padding_idx={self.padding_idx}" if self.padding_idx is not None else ""
        return f"{self.num_embeddings}, {self.embedding_dim}{pad}"
