"""Embedding backward: scatter-add each output row's gradient into the row of the table it read.

    forward (a gather, done by the op):  y[n, :] = W[idx[n], :]
    backward:                            dW[idx[n], :] += dy[n, :]   for every n

An index that appears k times receives the sum of its k row gradients, which is why this is an
*add*-at and not an assignment. Rows equal to ``padding_idx`` (or none when it is -1) receive no
gradient, as in PyTorch. The twin is NumPy's unbuffered ``np.add.at``, correct but slow.

Shapes: ``dW`` (V, C) C-contiguous, zeroed by the caller; ``dy`` (N, C) C-contiguous; ``idx`` (N,)
int64, already checked to lie in [0, V). Called by ``minillm.ops.fused.Embedding``.
"""

from __future__ import annotations

import numpy as np

from minillm.kernels._numba import entry


def embedding_backward_ref(
    dW: np.ndarray, dy: np.ndarray, idx: np.ndarray, padding_idx: int
) -> None:
    np.add.at(dW, idx, dy)
    if padding_idx >= 0:
        dW[padding_idx] = 0


@entry(embedding_backward_ref)
def embedding_backward(dW: np.ndarray, dy: np.ndarray, idx: np.ndarray, padding_idx: int) -> None:
    N, C = idx.size, dW.shape[1]
    # Serial on purpose: two rows with the same index would race under prange.
    for n in range(N):
        row = idx[n]
        if row == padding_idx:
            continue
        for c in range(C):
            dW[row, c] += dy[n, c]
