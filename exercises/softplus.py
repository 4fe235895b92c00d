"""Exercise 1: Softplus as a Function. softplus(x) = log(1 + e^x), and its derivative.

Write ``forward`` (numerically stable: for large x, log(1 + e^x) overflows in e^x; use
log(1 + e^x) = max(x, 0) + log1p(e^-|x|)) and ``backward`` (d/dx softplus(x) = sigmoid(x)).
Both work on NumPy arrays, as every primitive in ``minillm/ops/elementwise.py`` does (read
``Exp`` there first). The checks: ``exercises/test_exercises.py -k softplus``.
"""

from __future__ import annotations

import numpy as np

from minillm.autograd import Context, Function


class Softplus(Function):
    """y = log(1 + e^x);  dy/dx = sigmoid(x) = 1 / (1 + e^-x)."""

    @staticmethod
    def forward(ctx: Context, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError("exercise 1: log(1 + e^x), stably; save what backward needs")

    @staticmethod
    def backward(ctx: Context, g: np.ndarray) -> tuple[np.ndarray]:
        raise NotImplementedError("exercise 1: return (g * sigmoid(x),)")


def softplus(x: object) -> object:
    """The function form (what a Tensor method would call)."""
    return Softplus.apply(x)
