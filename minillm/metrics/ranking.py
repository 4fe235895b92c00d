"""Curves over a score's thresholds, and the areas under them, as scikit-learn computes them.

The core is one pass over the samples sorted by decreasing score. Every distinct score is a
threshold t ("predict positive when score >= t"); walking down the sorted list, the cumulative
(weighted) counts of positives and negatives seen so far are the true and false positives at each
threshold:

    tps[i] = sum of w over positives with score >= t_i,   fps[i] = the same over negatives

Everything else is arithmetic on those two arrays:

    ROC:  fpr = fps / fps[-1],  tpr = tps / tps[-1]         starting at (0, 0), threshold +inf
    PR:   precision = tps / (tps + fps),  recall = tps / tps[-1]   ending at (recall 0, precision 1)
    AUC = trapezoids under (fpr, tpr);   AP = sum_n (R_n - R_{n-1}) P_n (a step function, no
    interpolation)

ROC AUC is also the probability that a random positive outscores a random negative (ties count
half), which the tests check against that definition. ``max_fpr`` gives the McClish-standardized
partial AUC up to that false-positive rate.

Targets: binary labels, the positive class ``pos_label`` (default 1, for labels in {0, 1} or
{-1, 1}). The areas as scores of any target (binary, multiclass, multilabel) are ``areas.py``'s;
``top_k_accuracy_score``, the last function here, ranks the classes of each sample instead.

Read next: ``minillm/metrics/areas.py`` (ROC AUC and average precision, averaged over labels).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from minillm.metrics._validation import check_lengths, check_sample_weight
from minillm.metrics.classification import UndefinedMetricWarning


def _binary_truth(y_true: Any, y_score: Any, pos_label: Any, sample_weight: Any) -> tuple:
    """(is_positive float array, scores, weights or None), validated like scikit-learn."""
    y_true, y_score = np.asarray(y_true), np.asarray(y_score, dtype=np.float64)
    if y_true.ndim != 1 or y_score.ndim != 1:
        raise ValueError(
            f"y_true and y_score must be 1-D, got shapes {y_true.shape} and {y_score.shape}"
        )
    check_lengths(y_true, y_score)
    if not np.isfinite(y_score).all():
        raise ValueError("Input contains NaN or infinity in y_score.")
    classes = np.unique(y_true)
    if len(classes) > 2:
        raise ValueError("multiclass format is not supported")
    if pos_label is None:
        allowed = ({0, 1}, {-1, 1}, {0}, {-1}, {1})
        if y_true.dtype.kind not in "iufb" or set(classes.tolist()) not in allowed:
            raise ValueError(
                f"y_true takes value in {{{', '.join(repr(c) for c in classes.tolist())}}} and "
                "pos_label is not specified: either make y_true take value in {0, 1} or "
                "{-1, 1} or pass pos_label explicitly."
            )
        pos_label = 1
    weights = check_sample_weight(sample_weight, len(y_true))
    weights = None if weights is None else weights.astype(np.float64)
    return (y_true == pos_label).astype(np.float64), y_score, weights


def threshold_counts(
    y_true: Any, y_score: Any, *, pos_label: Any = None, sample_weight: Any = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(fps, tps, thresholds): false and true positives at each distinct score, from the highest
    threshold down; samples of weight 0 are left out. The core of every curve here."""
    positive, score, weights = _binary_truth(y_true, y_score, pos_label, sample_weight)
    if weights is not None:
        keep = weights != 0
        positive, score, weights = positive[keep], score[keep], weights[keep]
    order = np.argsort(-score, kind="stable")  # decreasing score; ties keep their order
    positive, score = positive[order], score[order]
    w = np.ones_like(positive) if weights is None else weights[order]
    last_of_each = np.r_[np.flatnonzero(np.diff(score)), len(score) - 1]  # a threshold each
    tps = np.cumsum(positive * w)[last_of_each]
    fps = np.cumsum((1 - positive) * w)[last_of_each]
    return fps, tps, score[last_of_each]


def roc_curve(
    y_true: Any,
    y_score: Any,
    *,
    pos_label: Any = None,
    sample_weight: Any = None,
    drop_intermediate: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(fpr, tpr, thresholds) from (0, 0) at threshold +inf to (1, 1). ``drop_intermediate``
    leaves out points collinear with their neighbours (no corner: the curve and its area are the
    same).

    >>> fpr, tpr, _ = roc_curve([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    >>> fpr.tolist(), tpr.tolist()
    ([0.0, 0.0, 0.5, 0.5, 1.0], [0.0, 0.5, 0.5, 1.0, 1.0])
    """
    fps, tps, thresholds = threshold_counts(
        y_true, y_score, pos_label=pos_label, sample_weight=sample_weight
    )
    if drop_intermediate and len(fps) > 2:
        corner = np.r_[True, np.logical_or(np.diff(fps, 2), np.diff(tps, 2)), True]
        fps, tps, thresholds = fps[corner], tps[corner], thresholds[corner]
    fps, tps = np.r_[0.0, fps], np.r_[0.0, tps]
    thresholds = np.r_[np.inf, thresholds]
    return _rate(fps, "negative", "false"), _rate(tps, "positive", "true"), thresholds


def _rate(counts: np.ndarray, samples: str, kind: str) -> np.ndarray:
    """counts / their total (the last, cumulative); all nan, with a warning, when it is 0."""
    if counts[-1] > 0:
        return counts / counts[-1]
    warnings.warn(
        f"No {samples} samples in y_true, {kind} positive value should be meaningless",
        UndefinedMetricWarning,
        stacklevel=3,
    )
    return np.full(counts.shape, np.nan)


def precision_recall_curve(
    y_true: Any,
    y_score: Any,
    *,
    pos_label: Any = None,
    sample_weight: Any = None,
    drop_intermediate: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(precision, recall, thresholds) by increasing threshold; the last point is (recall 0,
    precision 1) with no threshold. ``drop_intermediate`` keeps only the first and last threshold
    of each recall value."""
    fps, tps, thresholds = threshold_counts(
        y_true, y_score, pos_label=pos_label, sample_weight=sample_weight
    )
    if drop_intermediate and len(fps) > 2:
        keep = np.r_[True, np.logical_or(np.diff(tps[:-1]), np.diff(tps[1:])), True]
        fps, tps, thresholds = fps[keep], tps[keep], thresholds[keep]
    predicted = tps + fps
    precision = np.divide(tps, predicted, out=np.zeros_like(tps), where=predicted != 0)
    if tps[-1] == 0:
        warnings.warn(
            "No positive class found in y_true, recall is set to one for all thresholds.",
            stacklevel=2,
        )
        recall = np.ones_like(tps)
    else:
        recall = tps / tps[-1]
    return np.r_[precision[::-1], 1.0], np.r_[recall[::-1], 0.0], thresholds[::-1]


def auc(x: Any, y: Any) -> float:
    """The area under the curve through the points (x, y) by trapezoids; x must be increasing or
    decreasing (a decreasing x gives the same, positive, area)."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.ndim != 1 or x.shape != y.shape:
        raise ValueError(f"x and y must be 1-D of one length, got {x.shape} and {y.shape}")
    if len(x) < 2:
        raise ValueError(
            f"At least 2 points are needed to compute area under curve, but x.shape = {len(x)}"
        )
    dx = np.diff(x)
    direction = 1.0
    if np.any(dx < 0):
        if not np.all(dx <= 0):
            raise ValueError(f"x is neither increasing nor decreasing : {x}.")
        direction = -1.0
    return float(direction * np.sum(dx * (y[1:] + y[:-1]) / 2.0))


def binary_roc_auc(
    y_true: Any, y_score: Any, sample_weight: Any = None, max_fpr: float | None = None
) -> float:
    """The area under the ROC curve of labels in {0, 1} (nan, with a warning, when one class is
    missing). With ``max_fpr``, the partial area up to it, standardized by McClish's correction
    (0.5 for a random score, 1 for a perfect one). ``roc_auc_score`` (``areas.py``) calls this
    once per binary problem."""
    if len(np.unique(np.asarray(y_true))) != 2:
        warnings.warn(
            "Only one class is present in y_true. ROC AUC score is not defined in that case.",
            UndefinedMetricWarning,
            stacklevel=3,
        )
        return float("nan")
    fpr, tpr, _ = roc_curve(y_true, y_score, sample_weight=sample_weight)
    if max_fpr is None or max_fpr == 1:
        return auc(fpr, tpr)
    if not 0 < max_fpr <= 1:
        raise ValueError(f"Expected max_fpr in range (0, 1], got: {max_fpr!r}")
    if np.isnan(fpr).any() or np.isnan(tpr).any():
        raise ValueError(
            "the partial ROC AUC needs both classes among the samples of nonzero weight"
        )
    stop = np.searchsorted(fpr, max_fpr, "right")  # the curve up to max_fpr, then one point on it
    at = np.interp(max_fpr, fpr[stop - 1 : stop + 1], tpr[stop - 1 : stop + 1])
    partial = auc(np.r_[fpr[:stop], max_fpr], np.r_[tpr[:stop], at])
    lowest, highest = 0.5 * max_fpr**2, max_fpr  # a random score's area, a perfect one's
    return float(0.5 * (1 + (partial - lowest) / (highest - lowest)))


def binary_average_precision(
    y_true: Any, y_score: Any, sample_weight: Any = None, pos_label: Any = 1
) -> float:
    """AP = sum_n (R_n - R_{n-1}) P_n over the thresholds: the precision at each threshold,
    weighted by the recall it adds (no interpolation between points)."""
    precision, recall, _ = precision_recall_curve(
        y_true, y_score, pos_label=pos_label, sample_weight=sample_weight
    )
    return float(max(0.0, -np.sum(np.diff(recall) * precision[:-1])))


def top_k_accuracy_score(
    y_true: Any,
    y_score: Any,
    *,
    k: int = 2,
    normalize: bool = True,
    sample_weight: Any = None,
    labels: Any = None,
) -> float:
    """The fraction of samples whose true label is among the ``k`` highest-scored (ties broken
    toward the later column, as scikit-learn). ``y_score`` is (n, classes), columns in sorted label
    order (or ``labels``, which must be sorted); for binary labels a 1-D score of the second label,
    predicted when above 0.5 (or 0 for scores outside [0, 1])."""
    y_true, y_score = np.asarray(y_true), np.asarray(y_score, dtype=np.float64)
    if y_true.ndim != 1:
        raise ValueError(f"y_true must be 1-D, got shape {y_true.shape}")
    binary = len(np.unique(y_true)) <= 2 and (labels is None or len(labels) <= 2)
    if binary:
        if y_score.ndim == 2 and y_score.shape[1] != 1:
            raise ValueError(
                f"`y_true` is binary while y_score is 2d with {y_score.shape[1]} classes. If "
                "`y_true` does not contain all the labels, `labels` must be provided."
            )
        y_score = y_score.reshape(-1)
        n_scored = 2
    else:
        if y_score.ndim != 2:
            raise ValueError(
                f"`y_true` is multiclass: y_score must be 2-D (samples, classes), got "
                f"{y_score.shape}"
            )
        n_scored = y_score.shape[1]
    check_lengths(y_true, y_score)
    sample_weight = check_sample_weight(sample_weight, len(y_true))
    if labels is None:
        classes = np.unique(y_true)
        if len(classes) != n_scored:
            raise ValueError(
                f"Number of classes in 'y_true' ({len(classes)}) not equal to the number of "
                f"classes in 'y_score' ({n_scored}).You can provide a list of all known classes "
                "by assigning it to the `labels` parameter."
            )
    else:
        labels = np.asarray(labels)
        classes = np.unique(labels)
        if len(classes) != len(labels):
            raise ValueError("Parameter 'labels' must be unique.")
        if not np.array_equal(classes, labels):
            raise ValueError("Parameter 'labels' must be ordered.")
        if len(classes) != n_scored:
            raise ValueError(
                f"Number of given labels ({len(classes)}) not equal to the number of classes "
                f"in 'y_score' ({n_scored})."
            )
        if len(np.setdiff1d(y_true, classes)):
            raise ValueError("'y_true' contains labels not in parameter 'labels'.")
    if k >= len(classes):
        warnings.warn(
            f"'k' ({k}) greater than or equal to 'n_classes' ({len(classes)}) will result in a "
            "perfect score and is therefore meaningless.",
            UndefinedMetricWarning,
            stacklevel=2,
        )
    truth = np.searchsorted(classes, y_true)  # each sample's column
    if binary:
        if k == 1:
            threshold = 0.5 if y_score.min() >= 0 and y_score.max() <= 1 else 0.0
            hits = (y_score > threshold).astype(np.int64) == truth
        else:
            hits = np.ones(len(y_true), dtype=bool)
    else:
        ranked = np.argsort(y_score, axis=1, kind="stable")[:, ::-1]  # best column first
        hits = (ranked[:, :k] == truth[:, None]).any(axis=1)
    if normalize:
        return float(np.average(hits, weights=sample_weight))
    return float(np.sum(hits) if sample_weight is None else np.dot(hits, sample_weight))
