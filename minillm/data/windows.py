"""Token streams for language modelling: cached encoding, a train/val split, random block windows.

A language model learns p(next token | previous tokens). From one long stream of ids we cut windows
of ``block_size + 1`` tokens at random offsets: the first ``block_size`` are the input ``x``, the
same window shifted by one is the target ``y``, so every position is a training example.

Encoding the whole corpus is the slow part, so ids are cached on disk as a ``.npy`` file (loaded
with ``allow_pickle=False``), keyed by a hash of the corpus text and the tokenizer's JSON: change
either and the key changes.

Read next: ``minillm/training/trainer.py`` (the loop that draws these batches).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

import minillm
from minillm.io import atomic_write
from minillm.tensor import Tensor


def encode_cached(
    text: str, tokenizer: Any, cache_dir: str | Path | None, write: bool = True
) -> np.ndarray:
    """``tokenizer.encode(text)`` as an int32 array, read from ``cache_dir`` when encoded before.

    A cache file that cannot be read, or holds ids outside the vocabulary, is encoded anew.
    ``write=False`` reads the cache but never writes it (the ranks of a data-parallel run other
    than rank 0, which owns the folder).
    """
    if cache_dir is None:
        return np.asarray(tokenizer.encode(text), dtype=np.int32)
    digest = hashlib.sha256()
    digest.update(text.encode("utf-8"))
    digest.update(json.dumps(tokenizer.to_dict(), sort_keys=True).encode("utf-8"))
    path = Path(cache_dir) / f"tokens-{digest.hexdigest()[:16]}.npy"
    if path.exists():
        try:
            ids = np.load(path, allow_pickle=False)
        except (OSError, ValueError):  # damaged: a cache is only a shortcut, so encode again
            ids = None
        vocab = tokenizer.vocab_size
        if ids is not None and ids.ndim == 1 and ids.dtype == np.int32 and \
                (ids.size == 0 or (ids.min() >= 0 and ids.max() < vocab)):  # fmt: skip
            return ids
    ids = np.asarray(tokenizer.encode(text), dtype=np.int32)
    if not write:
        return ids
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(path) as f:
            np.save(f, ids, allow_pickle=False)
    except OSError as e:  # name the cache file, whatever the OS error said
        raise OSError(e.errno, e.strerror or str(e), str(path)) from None
    return ids


def split_by_position(ids: np.ndarray, val_fraction: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """The first (1 - val_fraction) of the stream for training, the rest for validation.

    Splitting by position (not by random windows) keeps validation text unseen in training.

    >>> train, val = split_by_position(np.arange(10), 0.2)
    >>> train.tolist(), val.tolist()
    ([0, 1, 2, 3, 4, 5, 6, 7], [8, 9])
    """
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
    cut = round(len(ids) * (1.0 - val_fraction))
    return ids[:cut], ids[cut:]


def random_windows(
    ids: np.ndarray, batch_size: int, block_size: int, rng: np.random.Generator | None = None
) -> tuple[Tensor, Tensor]:
    """``batch_size`` random windows: inputs ``x`` and next-token targets ``y``, both int64 (B, T).

    >>> x, y = random_windows(np.arange(100), batch_size=2, block_size=4)
    >>> bool((x.data[:, 1:] == y.data[:, :-1]).all())
    True
    """
    if len(ids) < block_size + 1:
        raise ValueError(
            f"a stream of {len(ids)} tokens is too short for windows of block_size {block_size} "
            f"(needs at least {block_size + 1}); use a smaller block_size or more text"
        )
    rng = minillm.random.generator() if rng is None else rng
    starts = rng.integers(0, len(ids) - block_size, size=batch_size)
    offsets = starts[:, None] + np.arange(block_size + 1)  # (B, T + 1)
    window = ids[offsets].astype(np.int64)
    return Tensor(window[:, :-1]), Tensor(window[:, 1:])
