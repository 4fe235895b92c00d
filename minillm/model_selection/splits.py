"""Ways to split n samples into train and test indices, with scikit-learn's names and results.

Every splitter has ``split(X, y=None, groups=None)``, yielding ``(train, test)`` index arrays, and
``get_n_splits()``. Two families, the k-fold ones here and the shuffle splits in ``shuffle.py``:

    k-fold          the samples are cut into k folds; fold i is the test set of split i and the
                    other k - 1 folds its training set, so every sample is tested exactly once.
                    KFold (contiguous, optionally shuffled), StratifiedKFold (each class dealt
                    round-robin over the folds), GroupKFold (whole groups to the lightest fold),
                    TimeSeriesSplit (train on the past, test on the next block).
    shuffle-split   n_splits independent random draws of a test set and a training set.
                    ShuffleSplit, StratifiedShuffleSplit (class proportions kept to within one).

With the same integer ``random_state`` KFold, StratifiedKFold, ShuffleSplit,
StratifiedShuffleSplit and ``train_test_split`` give exactly scikit-learn's indices: the same
NumPy ``RandomState`` draws, in the same order. ``random_state=None`` draws a seed from minillm's
generator, so ``minillm.manual_seed`` makes a run reproducible.

``check_cv`` turns what a user passes as ``cv`` (an int, a splitter, a list of splits) into a
splitter. Read next: ``minillm/model_selection/shuffle.py`` (the random splits).
"""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np

from minillm.random import generator

Split = tuple[np.ndarray, np.ndarray]


def check_random_state(seed: Any) -> np.random.RandomState:
    """A NumPy RandomState from an int (as scikit-learn's), an existing RandomState, or None (a seed
    drawn from minillm's generator)."""
    if isinstance(seed, np.random.RandomState):
        return seed
    if seed is None:
        return np.random.RandomState(int(generator().integers(2**32)))
    if isinstance(seed, numbers.Integral) and not isinstance(seed, bool):
        return np.random.RandomState(int(seed))
    raise ValueError(f"random_state must be an int, a numpy RandomState or None, got {seed!r}")


def num_samples(X: Any) -> int:
    """len(X) for arrays, lists, minillm tensors and datasets; a clear error for a scalar."""
    shape = getattr(X, "shape", None)
    if shape is not None:
        if len(shape) == 0:
            raise TypeError(f"expected an array of samples, got a 0-d {type(X).__name__}")
        return int(shape[0])
    try:
        return len(X)
    except TypeError:
        raise TypeError(f"expected an array of samples, got {type(X).__name__}") from None


def class_labels(y: Any, who: str) -> np.ndarray:
    if y is None:
        raise ValueError(f"{who} needs the class labels y")
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise ValueError(f"{who}: y must be a 1-D array of class labels, got shape {y.shape}")
    if y.dtype.kind == "f" and (y != np.round(y)).any():
        raise ValueError(f"{who}: y holds continuous values; stratifying needs class labels")
    return y


class _KFoldBase:
    """k folds of the samples: subclasses say which samples are in test fold i."""

    def __init__(self, n_splits: int, shuffle: bool = False, random_state: Any = None) -> None:
        if not isinstance(n_splits, numbers.Integral) or isinstance(n_splits, bool):
            raise ValueError(f"n_splits must be an integer, got {n_splits!r}")
        if n_splits < 2:
            raise ValueError(f"k-fold cross-validation needs n_splits >= 2, got {n_splits}")
        if not isinstance(shuffle, bool):
            raise TypeError(f"shuffle must be True or False, got {shuffle!r}")
        if not shuffle and random_state is not None:
            raise ValueError("random_state has no effect when shuffle=False; set shuffle=True")
        self.n_splits, self.shuffle, self.random_state = int(n_splits), shuffle, random_state

    def get_n_splits(self, X: Any = None, y: Any = None, groups: Any = None) -> int:
        return self.n_splits

    def test_folds(self, n: int, y: Any, groups: Any) -> Iterator[np.ndarray]:
        raise NotImplementedError

    def split(self, X: Any, y: Any = None, groups: Any = None) -> Iterator[Split]:
        n = num_samples(X)
        if self.n_splits > n:
            raise ValueError(f"n_splits={self.n_splits} is more than the {n} samples")
        everyone = np.arange(n)
        for test in self.test_folds(n, y, groups):
            in_test = np.zeros(n, dtype=bool)
            in_test[test] = True
            yield everyone[~in_test], everyone[in_test]

    def __repr__(self) -> str:
        return splitter_repr(self)


class KFold(_KFoldBase):
    """Contiguous folds of sizes n // k + 1 (the first n % k folds) and n // k; the sample order
    is shuffled first when ``shuffle``."""

    def __init__(self, n_splits: int = 5, *, shuffle: bool = False, random_state: Any = None):
        super().__init__(n_splits, shuffle, random_state)

    def test_folds(self, n: int, y: Any, groups: Any) -> Iterator[np.ndarray]:
        order = np.arange(n)
        if self.shuffle:
            check_random_state(self.random_state).shuffle(order)
        sizes = np.full(self.n_splits, n // self.n_splits)
        sizes[: n % self.n_splits] += 1
        yield from np.split(order, np.cumsum(sizes)[:-1])


class StratifiedKFold(_KFoldBase):
    """Folds that keep each class's share: sort the labels and deal them round-robin, so fold i
    gets the i-th, (i+k)-th, ... sample of the sorted order; each class's fold numbers are then
    given to its samples in order (shuffled when ``shuffle``). Classes are numbered by first
    appearance, as in scikit-learn."""

    def __init__(self, n_splits: int = 5, *, shuffle: bool = False, random_state: Any = None):
        super().__init__(n_splits, shuffle, random_state)

    def fold_of_each_sample(self, y: Any) -> np.ndarray:
        y = class_labels(y, "StratifiedKFold")
        _, first, inverse = np.unique(y, return_index=True, return_inverse=True)
        code = np.argsort(np.argsort(first))[inverse.ravel()]  # class number by first appearance
        counts = np.bincount(code)
        k = self.n_splits
        if (counts < k).all():
            raise ValueError(f"n_splits={k} is more than the members of every class")
        if counts.min() < k:
            warnings.warn(
                f"the least populated class in y has only {counts.min()} members, fewer than "
                f"n_splits={k}",
                UserWarning,
                stacklevel=3,
            )
        dealt = np.sort(code)
        per_fold = np.array([np.bincount(dealt[i::k], minlength=len(counts)) for i in range(k)])
        rng = check_random_state(self.random_state)
        fold = np.empty(len(y), dtype=np.int64)
        for c in range(len(counts)):
            folds_of_class = np.repeat(np.arange(k), per_fold[:, c])
            if self.shuffle:
                rng.shuffle(folds_of_class)
            fold[code == c] = folds_of_class
        return fold

    def test_folds(self, n: int, y: Any, groups: Any) -> Iterator[np.ndarray]:
        fold = self.fold_of_each_sample(y)
        if len(fold) != n:
            raise ValueError(f"y has {len(fold)} labels but X has {n} samples")
        for i in range(self.n_splits):
            yield np.flatnonzero(fold == i)


class GroupKFold(_KFoldBase):
    """Folds made of whole groups, so no group is on both sides: the largest group first, each to
    the fold with the fewest samples so far (``shuffle``: a random order of groups, cut evenly)."""

    def __init__(self, n_splits: int = 5, *, shuffle: bool = False, random_state: Any = None):
        super().__init__(n_splits, shuffle, random_state)

    def test_folds(self, n: int, y: Any, groups: Any) -> Iterator[np.ndarray]:
        if groups is None:
            raise ValueError("GroupKFold needs the groups argument (one group label per sample)")
        groups = np.asarray(groups)
        if len(groups) != n:
            raise ValueError(f"groups has {len(groups)} labels but X has {n} samples")
        names, group_of = np.unique(groups, return_inverse=True)
        if self.n_splits > len(names):
            raise ValueError(f"n_splits={self.n_splits} is more than the {len(names)} groups")
        if self.shuffle:
            order = check_random_state(self.random_state).permutation(len(names))
            for part in np.array_split(order, self.n_splits):
                yield np.flatnonzero(np.isin(group_of, part))
            return
        sizes = np.bincount(group_of)
        fold_of_group = np.zeros(len(names), dtype=np.int64)
        load = np.zeros(self.n_splits)
        for g in np.argsort(sizes, kind="stable")[::-1]:
            fold_of_group[g] = np.argmin(load)
            load[fold_of_group[g]] += sizes[g]
        for i in range(self.n_splits):
            yield np.flatnonzero(fold_of_group[group_of] == i)


class TimeSeriesSplit(_KFoldBase):
    """Train on a prefix, test on the next ``test_size`` samples (default n // (n_splits + 1)),
    with ``gap`` samples left out between them and the training set cut to its last
    ``max_train_size``; the test blocks are the last n_splits blocks of the series."""

    def __init__(
        self,
        n_splits: int = 5,
        *,
        max_train_size: int | None = None,
        test_size: int | None = None,
        gap: int = 0,
    ) -> None:
        super().__init__(n_splits)
        self.max_train_size, self.test_size, self.gap = max_train_size, test_size, gap

    def split(self, X: Any, y: Any = None, groups: Any = None) -> Iterator[Split]:
        n = num_samples(X)
        k, gap = self.n_splits, self.gap
        size = self.test_size if self.test_size is not None else n // (k + 1)
        if k + 1 > n:
            raise ValueError(f"n_splits + 1 = {k + 1} folds are more than the {n} samples")
        if n - gap - size * k <= 0:
            raise ValueError(
                f"too many splits ({k}) for {n} samples with test_size={size} and gap={gap}"
            )
        for start in range(n - k * size, n, size):
            end = start - gap
            first = end - self.max_train_size if self.max_train_size else 0
            yield np.arange(max(first, 0), end), np.arange(start, start + size)


def check_cv(cv: Any = 5, y: Any = None, classifier: bool = False) -> Any:
    """A splitter from ``cv``: an int k gives StratifiedKFold(k) for a classifier with binary or
    multiclass y, else KFold(k); a splitter is returned as is; an iterable of (train, test) pairs
    is replayed."""
    if cv is None:
        cv = 5
    if isinstance(cv, numbers.Integral) and not isinstance(cv, bool):
        stratify = False
        if classifier and y is not None:
            y_arr = np.asarray(y)
            if y_arr.ndim == 2 and y_arr.shape[1] == 1:
                y_arr = y_arr[:, 0]  # a column of labels is still one label per sample
            stratify = y_arr.ndim == 1 and not (
                y_arr.dtype.kind == "f" and (y_arr != np.round(y_arr)).any()
            )
        return StratifiedKFold(cv) if stratify else KFold(cv)
    if hasattr(cv, "split") and hasattr(cv, "get_n_splits"):
        return cv
    if hasattr(cv, "__iter__") and not isinstance(cv, str):
        return FixedSplits(cv)
    raise ValueError(f"cv must be an int, a splitter with split() or an iterable of splits: {cv!r}")


class FixedSplits:
    """A given list of (train, test) index pairs, as a splitter."""

    def __init__(self, splits: Any) -> None:
        self.splits = [(np.asarray(tr), np.asarray(te)) for tr, te in splits]

    def get_n_splits(self, X: Any = None, y: Any = None, groups: Any = None) -> int:
        return len(self.splits)

    def split(self, X: Any = None, y: Any = None, groups: Any = None) -> Iterator[Split]:
        yield from self.splits


def splitter_repr(splitter: Any) -> str:
    args = ", ".join(f"{k}={v!r}" for k, v in sorted(vars(splitter).items()))
    return f"{type(splitter).__name__}({args})"
