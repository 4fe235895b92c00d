"""Metrics of predicted probabilities, with scikit-learn's names and results: the log loss and
the Brier score.

Both compare the one-hot truth T (T[i, c] = 1 when sample i is of class c) with the predicted
probabilities P, one row per sample, and average over samples (weighted by w):

    log_loss = -(1/sum w) sum_i w_i log P[i, y_i]             the mean negative log-likelihood
    brier    =  (1/sum w) sum_i w_i sum_c (T[i, c] - P[i, c])^2   the mean squared error

The log loss is the cross-entropy a classifier is trained on (``nn.functional.cross_entropy`` of
the logits gives the same number); probabilities are clipped to [eps, 1 - eps] of their dtype, so
a confident mistake costs a large but finite loss. The Brier score ranges over [0, 2]; for two
classes it is halved to the familiar mean of (y - p)^2 over [0, 1] (``scale_by_half="auto"``).

The columns of ``y_proba`` are the labels in sorted order (or ``labels``). A 1-D ``y_proba`` is
the probability of the positive class: for the log loss the second label, for the Brier score
``pos_label`` (default 1 for labels in {0, 1} or {-1, 1}, else the larger label). Rows that do
not sum to one are used as given, with a warning.

Read next: ``minillm/metrics/language.py``.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from minillm.metrics._validation import check_lengths, check_sample_weight
from minillm.metrics.targets import type_of_target


def _as_float(p: Any) -> np.ndarray:
    p = np.asarray(p)
    return p.astype(np.float64) if p.dtype.kind != "f" else p


def _classes(y_true: np.ndarray, labels: Any) -> np.ndarray:
    """The sorted classes the columns stand for, from ``labels`` or from y_true (at least two)."""
    if labels is None:
        classes = np.unique(y_true)
    else:
        classes = np.unique(np.asarray(labels))
        if not np.array_equal(classes, np.asarray(labels)):
            warnings.warn(
                f"Labels passed were {labels}. But this function assumes labels are ordered "
                f"lexicographically. Pass the ordered labels={classes.tolist()} and ensure that "
                "the columns of y_prob correspond to this ordering.",
                UserWarning,
                stacklevel=4,
            )
        unknown = set(y_true.tolist()) - set(np.asarray(labels).tolist())
        if unknown:
            raise ValueError(
                f"y_true contains values {unknown} not belonging to the passed labels {labels}."
            )
    if len(classes) == 1:
        raise ValueError(
            f"y_true contains only one label ({classes[0]}). Please provide the list of all "
            "expected class labels explicitly through the labels argument."
            if labels is None
            else f"The labels array needs to contain at least two labels, got {classes}."
        )
    return classes


def _one_hot(
    y_true: Any, y_proba: Any, sample_weight: Any, labels: Any
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(T, P, weights): the one-hot truth and the probabilities, both (n, classes), checked."""
    y_true, p = np.asarray(y_true), _as_float(y_proba)
    if y_true.ndim != 1:
        raise ValueError(f"y_true must be 1-D, got shape {y_true.shape}")
    check_lengths(y_true, p)
    sample_weight = check_sample_weight(sample_weight, len(y_true))
    if p.max() > 1:
        raise ValueError(f"y_prob contains values greater than 1: {p.max()}")
    if p.min() < 0:
        raise ValueError(f"y_prob contains values lower than 0: {p.min()}")
    classes = _classes(y_true, labels)
    p = p[:, None] if p.ndim == 1 else p
    if p.shape[1] == 1:  # the probability of the second label
        p = np.concatenate([1 - p, p], axis=1)
    if not np.allclose(p.sum(axis=1), 1.0, rtol=np.sqrt(np.finfo(p.dtype).eps), atol=0):
        warnings.warn(
            "The y_prob values do not sum to one. Make sure to pass probabilities.",
            UserWarning,
            stacklevel=3,
        )
    if p.shape[1] != len(classes):
        raise ValueError(
            f"y_true and y_prob contain different number of classes: {len(classes)} vs "
            f"{p.shape[1]}. Please provide the true labels explicitly through the labels "
            f"argument. Classes found in y_true: {classes}"
            if labels is None
            else "The number of classes in labels is different from that in y_prob. Classes "
            f"found in labels: {classes}"
        )
    return (y_true[:, None] == classes[None, :]).astype(p.dtype), p, sample_weight


def log_loss(
    y_true: Any,
    y_proba: Any,
    *,
    normalize: bool = True,
    sample_weight: Any = None,
    labels: Sequence[Any] | None = None,
) -> float:
    """The mean (or with ``normalize=False`` the summed) negative log-probability of the true
    labels.

    >>> round(log_loss(["spam", "ham", "ham", "spam"], [[0.1, 0.9], [0.9, 0.1], [0.8, 0.2],
    ...                                                 [0.35, 0.65]]), 6)
    0.216162
    """
    T, p, sample_weight = _one_hot(y_true, y_proba, sample_weight, labels)
    eps = np.finfo(p.dtype).eps
    p = np.clip(p, eps, 1 - eps)
    losses = -np.log(p[T.astype(bool)]).astype(np.float64)  # one true class per row
    if not normalize:
        return float(np.sum(losses if sample_weight is None else losses * sample_weight))
    return float(np.average(losses, weights=sample_weight))


def _positive_class(y_true: np.ndarray, pos_label: Any) -> Any:
    """``pos_label``, or when None: 1 for labels in {0, 1} or {-1, 1}, else the larger label
    (strings must name it)."""
    if pos_label is not None:
        return pos_label
    classes = np.unique(y_true)
    if y_true.dtype.kind in "iufb" and set(classes.tolist()) in ({0, 1}, {-1, 1}, {0}, {-1}, {1}):
        return 1
    if y_true.dtype.kind in "OUS":
        raise ValueError(
            f"y_true takes value in {{{', '.join(repr(c) for c in classes.tolist())}}} and "
            "pos_label is not specified: either make y_true take value in {0, 1} or {-1, 1} "
            "or pass pos_label explicitly."
        )
    return classes[-1]


def _binary_one_hot(
    y_true: Any, y_proba: Any, sample_weight: Any, pos_label: Any
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(T, P, weights) with two columns (negative, positive) from a 1-D positive probability."""
    y_true, p = np.asarray(y_true), _as_float(y_proba).reshape(-1)
    y_true = y_true.reshape(-1) if y_true.ndim == 2 and y_true.shape[1] == 1 else y_true
    if not np.isfinite(p).all():
        raise ValueError("Input y_prob contains NaN or infinity.")
    check_lengths(p, y_true)
    sample_weight = check_sample_weight(sample_weight, len(y_true))
    kind = type_of_target(y_true)
    if kind != "binary":
        raise ValueError(
            f"The type of the target inferred from y_true is {kind} but should be binary "
            "according to the shape of y_prob."
        )
    if p.max() > 1:
        raise ValueError(f"y_prob contains values greater than 1: {p.max()}")
    if p.min() < 0:
        raise ValueError(f"y_prob contains values less than 0: {p.min()}")
    positive = (y_true == _positive_class(y_true, pos_label)).astype(p.dtype)
    return np.stack([1 - positive, positive], axis=1), np.stack([1 - p, p], axis=1), sample_weight


def brier_score_loss(
    y_true: Any,
    y_proba: Any,
    *,
    sample_weight: Any = None,
    pos_label: Any = None,
    labels: Sequence[Any] | None = None,
    scale_by_half: bool | str = "auto",
) -> float:
    """The mean squared distance between the one-hot truth and the predicted probabilities,
    halved for two classes (``scale_by_half="auto"``) so it is the mean of (y - p)^2.

    >>> round(brier_score_loss([0, 1, 1, 0], [0.1, 0.9, 0.8, 0.3]), 6)
    0.0375
    >>> round(brier_score_loss(["eggs", "ham", "spam"],
    ...                        [[0.8, 0.1, 0.1], [0.2, 0.7, 0.1], [0.2, 0.2, 0.6]]), 6)
    0.146667
    """
    if not (scale_by_half == "auto" or isinstance(scale_by_half, (bool, np.bool_))):
        raise ValueError(f"scale_by_half must be a bool or 'auto', got {scale_by_half!r}")
    p = np.asarray(y_proba)
    if p.ndim == 1 or (p.ndim == 2 and p.shape[1] == 1):
        T, p, sample_weight = _binary_one_hot(y_true, p, sample_weight, pos_label)
    else:
        T, p, sample_weight = _one_hot(y_true, p, sample_weight, labels)
    score = np.average(np.sum((T - p) ** 2, axis=1), weights=sample_weight)
    if scale_by_half == "auto":
        scale_by_half = p.shape[1] < 3
    return float(score * 0.5 if scale_by_half else score)
