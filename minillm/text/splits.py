"""Leak-free train/validation/test splits for text: deduplicate first, then stratify, then check.

A text that is in both the training and the test set turns a test score into a memory score.
Real corpora repeat themselves (the same docstring in two modules, a sentence quoted twice, the
same words in other case or spacing), so a random split of raw texts leaks. The recipe:

1. ``deduplicate``: keep the first of every group of texts that are equal, or equal after a
   normalizing pipeline (default: NFKC, lowercase, no punctuation, single spaces). Texts equal
   after normalizing but labelled differently are counted as conflicts.
2. ``train_val_test_split``: split the survivors with ``minillm.model_selection``'s stratified
   ``train_test_split`` twice (test off the whole, then validation off the rest), so each split
   keeps the class shares.
3. ``check_no_leak``: no normalized training text is a normalized test text. A leak raises,
   naming an example.

Read next: ``docstrings.py`` (a labelled dataset split this way).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from minillm.model_selection import train_test_split
from minillm.text.pipeline import Pipeline

DEFAULT_KEY = Pipeline(["nfkc", "lower", "punctuation", "whitespace"])


@dataclass
class Deduplicated:
    """Which texts survived, and how many of each kind of duplicate were dropped."""

    kept: np.ndarray
    exact: int
    normalized: int
    conflicts: int
    examples: list[tuple[str, str]] = field(default_factory=list)

    def summary(self) -> str:
        return (f"kept {len(self.kept)}; dropped {self.exact} exact and {self.normalized} "
                f"normalized duplicates ({self.conflicts} with another label)")  # fmt: skip


def deduplicate(texts: Sequence[str], labels: Sequence[Any] | None = None,
                key: Callable[[str], str] = DEFAULT_KEY) -> Deduplicated:  # fmt: skip
    """The indices of the first text of each group of exact or ``key``-equal duplicates.

    >>> d = deduplicate(["Hello, world", "hello world!", "Hello, world", "Bye"])
    >>> d.kept.tolist(), d.exact, d.normalized
    ([0, 3], 1, 1)
    """
    if labels is not None and len(labels) != len(texts):
        raise ValueError(f"{len(texts)} texts but {len(labels)} labels")
    seen_exact: dict[str, int] = {}
    seen_key: dict[str, int] = {}
    kept, exact, normalized, conflicts, examples = [], 0, 0, 0, []
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f"text {i} is {type(text).__name__}, not str")
        k = key(text)
        first = seen_exact.get(text, seen_key.get(k))
        if first is None:
            seen_exact[text], seen_key[k] = i, i
            kept.append(i)
            continue
        if text in seen_exact:
            exact += 1
        else:
            seen_exact[text] = first
            normalized += 1
            if len(examples) < 5:
                examples.append((texts[first], text))
        if labels is not None and labels[first] != labels[i]:
            conflicts += 1
    return Deduplicated(np.asarray(kept, dtype=np.int64), exact, normalized, conflicts, examples)


class LeakError(ValueError):
    """A text of one split is also (after normalizing) in another."""


def check_no_leak(train: Sequence[str], test: Sequence[str],
                  key: Callable[[str], str] = DEFAULT_KEY) -> None:  # fmt: skip
    """Raise ``LeakError`` if any training text equals a test text after ``key``.

    >>> check_no_leak(["a cat"], ["A cat!"])
    Traceback (most recent call last):
    ...
    minillm.text.splits.LeakError: 1 test texts are also in the training set (after ...
    """
    train_keys = {key(t) for t in train}
    leaked = [t for t in test if key(t) in train_keys]
    if leaked:
        raise LeakError(f"{len(leaked)} test texts are also in the training set (after "
                        f"normalizing), e.g. {leaked[0]!r}")  # fmt: skip


@dataclass
class TextSplits:
    """Index arrays into the original texts, and the deduplication report."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    dedup: Deduplicated


def train_val_test_split(texts: Sequence[str], labels: Sequence[Any], *, val_size: float = 0.1,
                         test_size: float = 0.2, random_state: int | None = None,
                         key: Callable[[str], str] = DEFAULT_KEY) -> TextSplits:  # fmt: skip
    """Deduplicate, then split stratified by label into train, validation and test indices
    (fractions of the deduplicated texts), then check that test and validation do not leak.

    >>> texts = [f"sentence number {w}" for w in "one two three four five six seven eight".split()]
    >>> s = train_val_test_split(texts * 2, [0, 1] * 8, val_size=0.25, test_size=0.25,
    ...                          random_state=0)
    >>> len(s.train), len(s.val), len(s.test), s.dedup.exact
    (4, 2, 2, 8)
    """
    if not (0 < val_size < 1 and 0 < test_size < 1 and val_size + test_size < 1):
        raise ValueError(f"need 0 < val_size, test_size and val_size + test_size < 1, got "
                         f"{val_size} and {test_size}")  # fmt: skip
    dedup = deduplicate(texts, labels, key)
    kept, y = dedup.kept, np.asarray(labels)[dedup.kept]
    rest, test = train_test_split(kept, test_size=test_size, stratify=y, random_state=random_state)
    rest_y = np.asarray(labels)[rest]
    val_share = val_size / (1.0 - test_size)
    train, val = train_test_split(rest, test_size=val_share, stratify=rest_y,
                                  random_state=random_state)  # fmt: skip
    train_texts = [texts[i] for i in train]
    for name, part in (("test", test), ("validation", val)):
        try:
            check_no_leak(train_texts, [texts[i] for i in part], key)
        except LeakError as e:  # cannot happen after deduplication with the same key
            raise LeakError(f"{name} split: {e}") from None
    return TextSplits(np.sort(train), np.sort(val), np.sort(test), dedup)
