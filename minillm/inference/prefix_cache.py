"""A prefix cache: KV blocks shared between requests whose prompts start alike (the LRU of serving).

Many requests share a beginning: a system prompt, a few-shot preamble, a document being questioned.
The keys and values of a position depend only on the tokens up to it, so they are the same in every
request that shares the prefix. The cache stores them in fixed-size **blocks** of ``block_tokens``
positions:

* a block's key is a hash of the *whole* prefix up to its end (a chain: h_i = hash(h_{i-1}, tokens
  of block i)), so equal keys mean equal prefixes, not just equal blocks;
* ``acquire(tokens)`` finds the longest run of cached blocks that starts the prompt, marks them used
  (a reference count: a block in use is never evicted), and counts hits and misses;
* ``insert(tokens, cache)`` stores the prompt's complete blocks after a prefill;
* a byte budget bounds memory: inserting past it evicts the least recently used unreferenced blocks
  (the deepest block of a prefix before its parents), and a block that can't fit without evicting
  one in use is simply not stored;
* keys hash tokens only: use one prefix cache per model.

Read next: ``minillm/inference/generate.py``, whose ``prefix_cache=`` argument uses this.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from minillm.inference.kv_cache import KVCache


@dataclass
class Block:
    """Keys and values of ``block_tokens`` positions, all layers: (L, H, block_tokens, D) each."""

    key: str
    k: np.ndarray
    v: np.ndarray
    refs: int = 0

    @property
    def nbytes(self) -> int:
        return self.k.nbytes + self.v.nbytes


@dataclass
class CacheStats:
    hits: int = 0  # blocks found
    misses: int = 0  # blocks looked up and not found
    evictions: int = 0
    inserts: int = 0


@dataclass
class PrefixCache:
    """LRU cache of KV blocks keyed by prefix hash, with reference counts and a byte budget.

    >>> pc = PrefixCache(block_tokens=2, max_bytes=10_000)
    >>> cache = KVCache(n_layer=1, batch=1, n_head=1, max_len=8, head_dim=2, dtype=np.float32)
    >>> cache.length = 5
    >>> pc.insert([1, 2, 3, 4, 5], cache)  # two complete blocks of 2 tokens
    2
    >>> blocks = pc.acquire([1, 2, 3, 4, 9])
    >>> len(blocks), pc.stats.hits
    (2, 2)
    >>> pc.release(blocks)
    """

    block_tokens: int = 16
    max_bytes: int = 64 * 2**20
    blocks: OrderedDict[str, Block] = field(default_factory=OrderedDict)
    stats: CacheStats = field(default_factory=CacheStats)

    def __post_init__(self) -> None:
        if self.block_tokens < 1:
            raise ValueError(f"block_tokens must be >= 1, got {self.block_tokens}")
        if self.max_bytes < 0:
            raise ValueError(f"max_bytes must be >= 0, got {self.max_bytes}")

    @property
    def nbytes(self) -> int:
        return sum(b.nbytes for b in self.blocks.values())

    def _keys(self, tokens: Sequence[int], n_blocks: int) -> list[str]:
        """Chained hashes of the first ``n_blocks`` blocks of ``tokens``."""
        keys, h = [], hashlib.sha256()
        bt = self.block_tokens
        for i in range(n_blocks):
            h.update(np.asarray(tokens[i * bt : (i + 1) * bt], dtype=np.int64).tobytes())
            keys.append(h.copy().hexdigest())
        return keys

    def acquire(self, tokens: Sequence[int], max_blocks: int | None = None) -> list[Block]:
        """The longest cached run of blocks starting ``tokens``, each referenced until released."""
        n = len(tokens) // self.block_tokens
        if max_blocks is not None:
            n = min(n, max_blocks)
        found: list[Block] = []
        for key in self._keys(tokens, n):
            block = self.blocks.get(key)
            if block is None:
                self.stats.misses += 1
                break
            self.stats.hits += 1
            block.refs += 1
            found.append(block)
        self._touch([b.key for b in found])
        return found

    def _touch(self, chain: list[str]) -> None:
        """Mark a chain of blocks most recently used, its first block last of all.

        A block is reachable only through its whole prefix, so eviction must take a chain's deepest
        block first: evicting a parent would strand its children, still costing bytes.
        """
        for key in reversed(chain):
            self.blocks.move_to_end(key)

    def release(self, blocks: Sequence[Block]) -> None:
        """Drop the references taken by ``acquire``; unreferenced blocks become evictable."""
        for block in blocks:
            if block.refs <= 0:
                raise RuntimeError(
                    f"prefix cache block {block.key[:12]} released more than acquired"
                )
            block.refs -= 1

    def load_into(
        self, blocks: Sequence[Block], cache: KVCache, row: int = 0, offset: int = 0
    ) -> int:
        """Copy ``blocks`` into ``cache`` row ``row`` from column ``offset`` (after left padding).

        Returns the number of positions filled.
        """
        bt = self.block_tokens
        for i, block in enumerate(blocks):
            cols = slice(offset + i * bt, offset + (i + 1) * bt)
            cache.k[:, row, :, cols] = block.k
            cache.v[:, row, :, cols] = block.v
        return len(blocks) * bt

    def insert(self, tokens: Sequence[int], cache: KVCache, row: int = 0, offset: int = 0) -> int:
        """Store the complete blocks of ``tokens``, whose keys and values are in ``cache``
        row ``row`` from column ``offset``.

        Returns how many blocks of this prefix are now cached.
        """
        bt = self.block_tokens
        n = min(len(tokens), cache.length - offset) // bt
        stored = 0
        keys = self._keys(tokens, n)
        for i, key in enumerate(keys):
            if key in self.blocks:
                self._touch(keys[: i + 1])  # this prefix outranks anything evicted to make room
                stored += 1
                continue
            cols = slice(offset + i * bt, offset + (i + 1) * bt)
            k, v = cache.k[:, row, :, cols].copy(), cache.v[:, row, :, cols].copy()
            block = Block(key, k, v)
            if not self._make_room(block.nbytes):
                break  # everything left is in use: keep serving, just don't cache this block
            self.blocks[key] = block
            self.stats.inserts += 1
            stored += 1
        self._touch(keys[:stored])
        return stored

    def _make_room(self, need: int) -> bool:
        """Evict least recently used free blocks until ``need`` more bytes fit the budget."""
        if need > self.max_bytes:
            return False
        used = self.nbytes
        for key in list(self.blocks):
            if used + need <= self.max_bytes:
                break
            block = self.blocks[key]
            if block.refs == 0:
                del self.blocks[key]
                used -= block.nbytes
                self.stats.evictions += 1
        return used + need <= self.max_bytes
