"""The core every classification score is read from: the confusion matrix, and one 2 x 2 table
per label (the multilabel confusion matrix).

    CM[i, j] = (weighted) count of samples with true label labels[i] predicted as labels[j]

Label i against all the others is a binary problem with the table [[tn, fp], [fn, tp]]:

    tp = CM[i, i],   fp = sum_r CM[r, i] - tp,   fn = sum_c CM[i, c] - tp,   tn = the rest

Multilabel indicator targets (column j of y says "the sample has label j") have no single confusion
matrix, but each column is already a binary problem: tp counts the samples with a 1 in both
y_true[:, j] and y_pred[:, j], fp those with a 1 only in y_pred, fn only in y_true. Counting along
a row instead gives one table per *sample*: which of its labels it got right
(``samplewise=True``, the basis of ``average="samples"``).

Read next: ``minillm/metrics/classification.py`` (precision, recall, F and friends from the tables).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from minillm.metrics.targets import MULTILABEL, check_targets


def _counts(
    y_true: np.ndarray, y_pred: np.ndarray, labels: np.ndarray, sample_weight: np.ndarray | None
) -> np.ndarray:
    """The (len(labels), len(labels)) confusion counts; samples with a label outside ``labels``
    (true or predicted) are left out."""
    order = np.argsort(labels, kind="stable")
    ranked = labels[order]

    def index_of(y: np.ndarray) -> np.ndarray:  # each sample's row in ``labels``, or -1
        at = np.minimum(np.searchsorted(ranked, y), len(ranked) - 1)
        return np.where(ranked[at] == y, order[at], -1)

    t, p = index_of(y_true), index_of(y_pred)
    keep = (t >= 0) & (p >= 0)
    n = len(labels)
    weights = None if sample_weight is None else sample_weight[keep]
    flat = np.bincount(t[keep] * n + p[keep], weights=weights, minlength=n * n)
    if sample_weight is None or sample_weight.dtype.kind in "iub":
        flat = flat.astype(np.int64)
    return flat.reshape(n, n)


def confusion_matrix(
    y_true: Any,
    y_pred: Any,
    *,
    labels: Sequence[Any] | None = None,
    sample_weight: Any = None,
    normalize: str | None = None,
) -> np.ndarray:
    """``CM[i, j]``: samples of true label i predicted as j, rows and columns in ``labels`` order
    (default: every label present, sorted). ``normalize`` "true" divides each row by its sum,
    "pred" each column, "all" the whole matrix (an empty row or column stays 0).

    >>> confusion_matrix([0, 1, 1, 2], [0, 2, 1, 2])
    array([[1, 0, 0],
           [0, 1, 1],
           [0, 0, 1]])
    """
    if normalize not in (None, "true", "pred", "all"):
        raise ValueError(
            f"normalize must be one of {{'true', 'pred', 'all', None}}, got {normalize!r}"
        )
    kind, present, y_true, y_pred, sample_weight = check_targets(y_true, y_pred, sample_weight)
    if kind == MULTILABEL:
        raise ValueError(f"{kind} is not supported")
    if labels is None:
        labels = present
    else:
        labels = np.asarray(labels)
        if labels.size == 0:
            raise ValueError("'labels' should contain at least one label.")
        if not np.isin(y_true, labels).any():
            raise ValueError("At least one label specified must be in y_true")
    cm = _counts(y_true, y_pred, np.asarray(labels), sample_weight)
    if normalize is None:
        return cm
    total = {"true": cm.sum(axis=1, keepdims=True), "pred": cm.sum(axis=0, keepdims=True),
             "all": cm.sum()}[normalize]  # fmt: skip
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.nan_to_num(cm / total)


def _tables(
    kind: str,
    present: np.ndarray,
    y_true: np.ndarray,
    y_pred: np.ndarray,
    labels: Any,
    sample_weight: np.ndarray | None,
    samplewise: bool,
) -> np.ndarray:
    """The (k, 2, 2) tables [[tn, fp], [fn, tp]] of the k chosen labels (or of the samples)."""
    chosen = present if labels is None else np.asarray(labels)
    if kind != MULTILABEL:
        if samplewise:
            raise ValueError(
                "Samplewise metrics are not available outside of multilabel classification."
            )
        rest = np.setdiff1d(present, chosen) if labels is not None else present[:0]
        cm = _counts(y_true, y_pred, np.concatenate([chosen, rest]), sample_weight)
        if sample_weight is not None or not (y_true == y_pred).any():
            cm = cm.astype(np.float64)  # scikit-learn's dtype (so its report prints "3.0")
        k = len(chosen)
        tp, pred, true = np.diag(cm)[:k], cm.sum(axis=0)[:k], cm.sum(axis=1)[:k]
        total = cm.sum()  # every sample: the rest of the labels are in cm too
    else:
        if labels is not None and len(chosen):
            if chosen.max() >= len(present):
                raise ValueError(
                    "All labels must be in [0, n labels) for multilabel targets. Got "
                    f"{chosen.max()} > {len(present) - 1}"
                )
            if chosen.min() < 0:
                raise ValueError(
                    f"All labels must be in [0, n labels) for multilabel targets. Got "
                    f"{chosen.min()} < 0"
                )
        T, P = y_true[:, chosen] != 0, y_pred[:, chosen] != 0  # (n, k) indicators
        w = np.ones((len(T), 1), np.int64) if sample_weight is None else sample_weight[:, None]
        axis = 1 if samplewise else 0  # count along a sample's labels, or a label's samples
        tp, pred, true = ((T & P) * w).sum(axis), (P * w).sum(axis), (T * w).sum(axis)
        total = w[:, 0] * T.shape[1] if samplewise else w.sum()
    fp, fn = pred - tp, true - tp
    return np.stack([total - tp - fp - fn, fp, fn, tp], axis=1).reshape(-1, 2, 2)


def multilabel_confusion_matrix(
    y_true: Any,
    y_pred: Any,
    *,
    sample_weight: Any = None,
    labels: Sequence[Any] | None = None,
    samplewise: bool = False,
) -> np.ndarray:
    """One 2 x 2 table [[tn, fp], [fn, tp]] per label in ``labels`` order (default: all, sorted;
    for multilabel indicators the column numbers), each label against the rest; with
    ``samplewise`` (multilabel only), one per sample.

    >>> multilabel_confusion_matrix([0, 1, 1], [0, 1, 0]).tolist()
    [[[1, 1], [0, 1]], [[1, 0], [1, 1]]]
    """
    kind, present, y_true, y_pred, sample_weight = check_targets(y_true, y_pred, sample_weight)
    return _tables(kind, present, y_true, y_pred, labels, sample_weight, samplewise)
