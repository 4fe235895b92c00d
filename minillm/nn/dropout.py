"""Dropout: randomly zero activations while training, as a regularizer (Srivastava et al., 2014).

In training mode each element is kept with probability ``1 - p`` and scaled by ``1 / (1 - p)``
("inverted" dropout), so the expected activation is unchanged and evaluation is the identity. The
mask is drawn from ``minillm.random.generator()``: ``minillm.manual_seed`` makes a run repeatable.
``model.eval()`` turns it off.

Read next: ``embedding.py``.
"""

from __future__ import annotations

from minillm.nn import functional as F
from minillm.nn.module import Module
from minillm.tensor import Tensor


class Dropout(Module):
    """Zero elements with probability ``p`` in training mode; identity in eval mode.

    >>> import minillm
    >>> drop = Dropout(p=0.5)
    >>> y = drop(minillm.ones(1000))
    >>> sorted(set(y.tolist()))
    [0.0, 2.0]
    >>> drop.eval()(minillm.ones(3)).tolist()
    [1.0, 1.0, 1.0]
    """

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"Dropout: probability p must be in [0, 1], got {p}")
        self.p = p

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return F.dropout(input, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"
