"""Random train/test splits: ``ShuffleSplit``, ``StratifiedShuffleSplit`` and ``train_test_split``.

Where a k-fold split tests every sample once, a shuffle split draws each split afresh: a random
permutation of the samples, whose first n_test are the test set and the next n_train the
training set. ``split_sizes`` turns ``test_size``/``train_size`` (fractions or counts) into those
two numbers as scikit-learn does; the stratified version first decides how many of each class go
to each side (``apportion``: the exact share's floor, then one more for the largest remainders)
and then permutes within each class. With the same integer ``random_state`` the indices are
scikit-learn's: the same ``RandomState`` calls in the same order.

Read next: ``minillm/model_selection/validation.py`` (cross-validation over these splits).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterator
from typing import Any

import numpy as np

from minillm.model_selection.splits import (
    Split,
    check_random_state,
    class_labels,
    num_samples,
    splitter_repr,
)


def split_sizes(n: int, test_size: Any, train_size: Any, default_test: float | None) -> tuple:
    """(n_train, n_test) from fractions in (0, 1) or counts, as scikit-learn computes them: a
    fractional test size rounds up, a fractional train size down, and a missing one is the rest."""
    if test_size is None and train_size is None:
        test_size = default_test
    sizes = {}
    for name, size in (("test_size", test_size), ("train_size", train_size)):
        if size is None:
            sizes[name] = None
            continue
        if isinstance(size, bool) or not isinstance(size, numbers.Real):
            raise ValueError(f"{name} must be a fraction in (0, 1) or a count, got {size!r}")
        is_count = isinstance(size, numbers.Integral)
        if (is_count and not 0 < size < n) or (not is_count and not 0 < size < 1):
            raise ValueError(
                f"{name}={size!r} should be a count between 1 and {n - 1} (there are {n} "
                "samples) or a fraction in (0, 1)"
            )
        sizes[name] = int(size) if is_count else float(size)  # NumPy scalars become Python's
    test_size, train_size = sizes["test_size"], sizes["train_size"]
    fractions = [s for s in (test_size, train_size) if isinstance(s, float)]
    if len(fractions) == 2 and sum(fractions) > 1:
        raise ValueError(f"test_size + train_size = {sum(fractions)} is more than 1")
    n_test = math.ceil(test_size * n) if isinstance(test_size, float) else test_size
    n_train = math.floor(train_size * n) if isinstance(train_size, float) else train_size
    n_train = n - n_test if n_train is None else n_train
    n_test = n - n_train if n_test is None else n_test
    if n_train + n_test > n:
        raise ValueError(f"train ({n_train}) + test ({n_test}) samples are more than the {n}")
    if n_train == 0:
        raise ValueError(
            f"with {n} samples, test_size={test_size} and train_size={train_size} the training "
            "set is empty"
        )
    return int(n_train), int(n_test)


class ShuffleSplit:
    """``n_splits`` random permutations of the samples: the first n_test are the test set, the
    next n_train the training set (default test_size 0.1)."""

    default_test = 0.1

    def __init__(
        self,
        n_splits: int = 10,
        *,
        test_size: Any = None,
        train_size: Any = None,
        random_state: Any = None,
    ) -> None:
        if not isinstance(n_splits, numbers.Integral) or n_splits < 1:
            raise ValueError(f"n_splits must be a positive integer, got {n_splits!r}")
        self.n_splits, self.test_size, self.train_size = int(n_splits), test_size, train_size
        self.random_state = random_state

    def get_n_splits(self, X: Any = None, y: Any = None, groups: Any = None) -> int:
        return self.n_splits

    def split(self, X: Any, y: Any = None, groups: Any = None) -> Iterator[Split]:
        n = num_samples(X)
        n_train, n_test = split_sizes(n, self.test_size, self.train_size, self.default_test)
        rng = check_random_state(self.random_state)
        for _ in range(self.n_splits):
            order = rng.permutation(n)
            yield order[n_test : n_test + n_train], order[:n_test]

    def __repr__(self) -> str:
        return splitter_repr(self)


def apportion(counts: np.ndarray, n_draws: int, rng: np.random.RandomState) -> np.ndarray:
    """How many of n_draws to take from each class so the shares follow ``counts``: the floor of
    each exact share, then one more for the classes with the largest remainders (ties broken at
    random) until n_draws are taken (scikit-learn's ``_approximate_mode``)."""
    exact = counts / counts.sum() * n_draws
    taken = np.floor(exact)
    missing = int(n_draws - taken.sum())
    remainder = exact - taken
    for value in np.sort(np.unique(remainder))[::-1]:
        if missing <= 0:
            break
        tied = np.flatnonzero(remainder == value)
        chosen = rng.choice(tied, size=min(len(tied), missing), replace=False)
        taken[chosen] += 1
        missing -= len(chosen)
    return taken.astype(int)


class StratifiedShuffleSplit(ShuffleSplit):
    """Random splits that keep each class's share in both sets (to within one sample): the number
    per class comes from ``apportion``, the samples from a permutation within the class."""

    def split(self, X: Any, y: Any = None, groups: Any = None) -> Iterator[Split]:
        n = num_samples(X)
        y = class_labels(y, "StratifiedShuffleSplit")
        if len(y) != n:
            raise ValueError(f"y has {len(y)} labels but X has {n} samples")
        n_train, n_test = split_sizes(n, self.test_size, self.train_size, self.default_test)
        classes, code, counts = np.unique(y, return_inverse=True, return_counts=True)
        if counts.min() < 2:
            raise ValueError(
                f"classes {classes[counts < 2].tolist()} have only 1 member; stratifying needs "
                "at least 2 per class"
            )
        for name, size in (("train", n_train), ("test", n_test)):
            if size < len(classes):
                raise ValueError(f"the {name} set ({size}) is smaller than the {len(classes)} "
                                 "classes")  # fmt: skip
        members = np.split(np.argsort(code.ravel(), kind="stable"), np.cumsum(counts)[:-1])
        rng = check_random_state(self.random_state)
        for _ in range(self.n_splits):
            to_train = apportion(counts, n_train, rng)
            to_test = apportion(counts - to_train, n_test, rng)
            train: list[int] = []
            test: list[int] = []
            for c in range(len(classes)):
                shuffled = members[c][rng.permutation(counts[c])]
                train.extend(shuffled[: to_train[c]])
                test.extend(shuffled[to_train[c] : to_train[c] + to_test[c]])
            yield rng.permutation(train), rng.permutation(test)


def take(a: Any, index: np.ndarray) -> Any:
    """Rows ``index`` of an array, tensor or list (a list stays a list)."""
    if isinstance(a, list):
        return [a[i] for i in index]
    if hasattr(a, "shape"):
        return a[index]
    return np.asarray(a)[index]


def train_test_split(
    *arrays: Any,
    test_size: Any = None,
    train_size: Any = None,
    random_state: Any = None,
    shuffle: bool = True,
    stratify: Any = None,
) -> list[Any]:
    """Split each array into a train part and a test part (default test share 0.25): returns
    ``[a_train, a_test, b_train, b_test, ...]``, the same indices as scikit-learn's.

    >>> import numpy as np
    >>> X_train, X_test = train_test_split(np.arange(10), test_size=3, random_state=0)
    >>> X_test.tolist(), len(X_train)
    ([2, 8, 4], 7)
    """
    if not arrays:
        raise ValueError("train_test_split needs at least one array")
    n = num_samples(arrays[0])
    for a in arrays[1:]:
        if num_samples(a) != n:
            lengths = [num_samples(b) for b in arrays]
            raise ValueError(f"arrays have different numbers of samples: {lengths}")
    n_train, n_test = split_sizes(n, test_size, train_size, 0.25)
    if not shuffle:
        if stratify is not None:
            raise ValueError("a stratified split needs shuffle=True")
        train, test = np.arange(n_train), np.arange(n_train, n_train + n_test)
    else:
        kind = ShuffleSplit if stratify is None else StratifiedShuffleSplit
        cv = kind(1, test_size=n_test, train_size=n_train, random_state=random_state)
        train, test = next(cv.split(arrays[0], stratify))
    return [part for a in arrays for part in (take(a, train), take(a, test))]
