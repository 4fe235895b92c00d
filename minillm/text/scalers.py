"""Numeric features put on one scale: ``StandardScaler`` and ``MinMaxScaler``, as scikit-learn's.

Features measured in different units (a document's length in characters beside its share of
digits) pull a gradient-trained model unevenly; scaling each column first fixes that. Both are
fitted on the training data only, and the same transform is applied to validation and test data,
so nothing about them leaks into training.

    StandardScaler   z = (x - mean) / std          per column; std with ddof 0
    MinMaxScaler     z = (x - min) / (max - min) * (hi - lo) + lo,   for feature_range (lo, hi)

A constant column would divide by zero; its scale is taken as 1 (scikit-learn's rule: a variance
within floating-point error of zero, or a range below 10 machine epsilons, counts as constant).
Float32 input stays float32; other input becomes float64.

Read next: ``augment.py`` (more training text from the text there is).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from minillm.model_selection.base import BaseEstimator, check_fitted


def _as_2d(X: Any, who: str) -> np.ndarray:
    X = np.asarray(X)
    if X.ndim != 2:
        raise ValueError(f"{who} needs a 2-D array (n_samples, n_features), got shape {X.shape}")
    if X.dtype.kind not in "biuf":
        raise ValueError(f"{who} needs numeric features, got dtype {X.dtype}")
    dtype = X.dtype if X.dtype in (np.float32, np.float64) else np.float64
    X = X.astype(dtype, copy=True)
    if not np.isfinite(X).all():
        raise ValueError(f"{who}: X contains NaN or infinity")
    return X


def _check_width(scaler: Any, X: np.ndarray) -> None:
    if X.shape[1] != scaler.n_features_in_:
        raise ValueError(f"X has {X.shape[1]} features, but {type(scaler).__name__} was fitted "
                         f"with {scaler.n_features_in_}")  # fmt: skip


class StandardScaler(BaseEstimator):
    """Center each column on its mean and divide by its standard deviation.

    >>> s = StandardScaler().fit([[0.0, 10.0], [2.0, 10.0]])
    >>> s.mean_.tolist(), s.scale_.tolist(), s.transform([[1.0, 12.0]]).tolist()
    ([1.0, 10.0], [1.0, 1.0], [[0.0, 2.0]])
    """

    def __init__(self, *, with_mean: bool = True, with_std: bool = True) -> None:
        self.with_mean, self.with_std = with_mean, with_std

    def fit(self, X: Any, y: Any = None) -> StandardScaler:
        X = _as_2d(X, "StandardScaler")
        n = X.shape[0]
        if n == 0:
            raise ValueError("StandardScaler needs at least one sample")
        self.n_samples_seen_, self.n_features_in_ = n, X.shape[1]
        mean = X.mean(axis=0, dtype=np.float64)
        var = X.var(axis=0, dtype=np.float64)
        self.mean_ = mean if self.with_mean else None
        self.var_ = var if self.with_std else None
        if self.with_std:
            eps = np.finfo(np.float64).eps
            constant = var <= n * eps * var + (n * mean * eps) ** 2
            self.scale_ = np.where(constant, 1.0, np.sqrt(var))
        else:
            self.scale_ = None
        return self

    def transform(self, X: Any) -> np.ndarray:
        check_fitted(self, "n_features_in_")
        X = _as_2d(X, "StandardScaler")
        _check_width(self, X)
        if self.with_mean:
            X -= self.mean_.astype(X.dtype)
        if self.with_std:
            X /= self.scale_.astype(X.dtype)
        return X

    def inverse_transform(self, X: Any) -> np.ndarray:
        check_fitted(self, "n_features_in_")
        X = _as_2d(X, "StandardScaler")
        _check_width(self, X)
        if self.with_std:
            X *= self.scale_.astype(X.dtype)
        if self.with_mean:
            X += self.mean_.astype(X.dtype)
        return X

    def fit_transform(self, X: Any, y: Any = None) -> np.ndarray:
        return self.fit(X).transform(X)


class MinMaxScaler(BaseEstimator):
    """Map each column's [min, max] on the training data onto ``feature_range``.

    >>> s = MinMaxScaler(feature_range=(-1, 1)).fit([[0.0], [4.0]])
    >>> s.transform([[1.0], [6.0]]).tolist()
    [[-0.5], [2.0]]
    >>> MinMaxScaler(clip=True).fit([[0], [4]]).transform([[6]])
    array([[1.]])
    """

    def __init__(self, feature_range: tuple[float, float] = (0, 1), *, clip: bool = False) -> None:
        self.feature_range, self.clip = feature_range, clip

    def fit(self, X: Any, y: Any = None) -> MinMaxScaler:
        lo, hi = self.feature_range
        if not lo < hi:
            raise ValueError(f"feature_range must be (lo, hi) with lo < hi, got "
                             f"{self.feature_range!r}")  # fmt: skip
        X = _as_2d(X, "MinMaxScaler")
        if X.shape[0] == 0:
            raise ValueError("MinMaxScaler needs at least one sample")
        self.n_samples_seen_, self.n_features_in_ = X.shape
        self.data_min_, self.data_max_ = X.min(axis=0), X.max(axis=0)
        self.data_range_ = self.data_max_ - self.data_min_
        tiny = 10 * np.finfo(self.data_range_.dtype).eps
        range_or_one = np.where(self.data_range_ < tiny, 1.0, self.data_range_)
        self.scale_ = ((hi - lo) / range_or_one).astype(X.dtype)
        self.min_ = (lo - self.data_min_ * self.scale_).astype(X.dtype)
        return self

    def transform(self, X: Any) -> np.ndarray:
        check_fitted(self, "scale_")
        X = _as_2d(X, "MinMaxScaler")
        _check_width(self, X)
        X *= self.scale_
        X += self.min_
        if self.clip:
            np.clip(X, self.feature_range[0], self.feature_range[1], out=X)
        return X

    def inverse_transform(self, X: Any) -> np.ndarray:
        check_fitted(self, "scale_")
        X = _as_2d(X, "MinMaxScaler")
        _check_width(self, X)
        return (X - self.min_) / self.scale_

    def fit_transform(self, X: Any, y: Any = None) -> np.ndarray:
        return self.fit(X).transform(X)
