"""Exercise 5: the gradient of softmax cross-entropy, by hand.

For logits z (N, V) and integer targets y (N,), loss = mean_n [ logsumexp(z_n) - z_n[y_n] ].
Derive dloss/dz and write it with NumPy (no autograd): it is (softmax(z) - onehot(y)) / N, which
is why ``minillm/kernels/cross_entropy.py`` never builds the softmax's Jacobian. The checks compare
with minillm's autograd through ``minillm.nn.functional.cross_entropy``:
``exercises/test_exercises.py -k cross_entropy``.
"""

from __future__ import annotations

import numpy as np


def cross_entropy_grad(logits: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """d mean-cross-entropy / d logits, shape (N, V)."""
    raise NotImplementedError("exercise 5: softmax minus one-hot, over N")
