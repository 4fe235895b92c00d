"""The KV cache: keys and values of past positions, so each new token costs O(T), not O(T^2).

In causal attention, position t's output depends on q_t and on the keys/values of positions 0..t.
Those past keys and values never change, so generation can compute them once and store them:
``prefill`` runs the whole prompt in one pass and fills the cache; each ``decode`` step computes q,
k, v for one new token, appends k and v, and attends over the cache. Without the cache every step
recomputes the whole prefix.

Memory is allocated once, up front: per layer a key and a value buffer of shape (B, H, T_max, D).

Read next: ``minillm/inference/engine.py`` (the forward pass that reads and writes this cache).
"""

from __future__ import annotations

import numpy as np


class KVCache:
    """Preallocated keys and values of ``n_layer`` layers: ``k[l]``, ``v[l]`` (B, H, T_max, D).

    ``length`` counts the positions filled so far (the same for every row: batched prompts are left
    padded to one length, and padding is masked out of attention instead of trimmed).

    >>> cache = KVCache(n_layer=2, batch=1, n_head=4, max_len=16, head_dim=8, dtype=np.float32)
    >>> cache.k.shape, cache.nbytes
    ((2, 1, 4, 16, 8), 8192)
    """

    def __init__(
        self, n_layer: int, batch: int, n_head: int, max_len: int, head_dim: int, dtype: np.dtype
    ) -> None:
        shape = (n_layer, batch, n_head, max_len, head_dim)
        self.k = np.zeros(shape, dtype=dtype)
        self.v = np.zeros(shape, dtype=dtype)
        self.max_len = max_len
        self.length = 0

    @property
    def nbytes(self) -> int:
        """Bytes held by the key and value buffers."""
        return self.k.nbytes + self.v.nbytes

    @property
    def used_bytes(self) -> int:
        """Bytes of the buffers that hold real positions (``length`` of ``max_len``)."""
        return self.nbytes * self.length // self.max_len

    def reset(self) -> None:
        """Forget every position (the buffers are kept for reuse)."""
        self.length = 0
