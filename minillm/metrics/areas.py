"""ROC AUC and average precision as single scores of binary, multilabel and multiclass targets.

Both areas are defined for one binary problem (``ranking.py`` computes them from sorted scores).
Every other target is first cut into binary problems, scored one by one, and averaged:

    multilabel indicators   column j of y_true against column j of y_score, one problem per label
    multiclass, "ovr"       one-vs-rest: the indicator "is class j" against the probability of
                            class j (the labels binarized into a multilabel matrix, then as above)
    multiclass, "ovo"       one-vs-one (Hand & Till, 2001): for each pair of classes (a, b), only
                            the samples of a or b; the AUC of "is a" scored by p(a) and of "is b"
                            scored by p(b), averaged. The score is the mean over the pairs.

Averages over the per-label scores, as scikit-learn: ``"macro"`` the plain mean; ``"weighted"``
weights each label by its (weighted) number of positives, "ovo" each pair by its share of the
samples; ``"micro"`` pools all the (sample, label) cells into one binary problem; ``"samples"``
(multilabel only) scores each sample's row and averages over samples; ``None`` returns one score
per label. A multiclass ``y_score`` is (n, n_classes), columns in sorted label order (or
``labels``), and its rows must sum to 1.

Read next: ``minillm/metrics/regression.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from itertools import combinations
from typing import Any

import numpy as np

from minillm.metrics._validation import check_lengths, check_sample_weight
from minillm.metrics.ranking import binary_average_precision, binary_roc_auc
from minillm.metrics.targets import MULTILABEL, type_of_target

AVERAGES = (None, "micro", "macro", "weighted", "samples")


def _over_columns(
    metric: Callable[..., float],
    Y: np.ndarray,
    S: np.ndarray,
    average: str | None,
    sample_weight: np.ndarray | None,
) -> Any:
    """A binary ``metric(y, score, sample_weight)`` of each column of the indicators Y (n, k) and
    scores S (n, k), averaged; rows instead of columns for "samples"."""
    if S.shape != Y.shape:
        raise ValueError(f"y_true and y_score have different shapes: {Y.shape} vs {S.shape}")
    if average == "micro":  # every cell one sample of a single binary problem
        w = None if sample_weight is None else np.repeat(sample_weight, Y.shape[1])
        return metric(Y.ravel(), S.ravel(), sample_weight=w)
    weights = None
    if average == "weighted":
        weights = (Y * (1 if sample_weight is None else sample_weight[:, None])).sum(axis=0)
        if np.isclose(weights.sum(), 0):
            return 0.0
    if average == "samples":
        weights = sample_weight
        scores = np.array([metric(Y[i], S[i], sample_weight=None) for i in range(len(Y))])
    else:
        scores = np.array([metric(Y[:, j], S[:, j], sample_weight=sample_weight)
                           for j in range(Y.shape[1])])  # fmt: skip
    if average is None:
        return scores
    if weights is not None:
        scores[weights == 0] = 0.0  # a label with no weight cannot spoil the average with nan
    return float(np.average(scores, weights=weights))


def _one_vs_one(codes: np.ndarray, S: np.ndarray, average: str) -> float:
    """Hand & Till's multiclass AUC: the mean over class pairs (a, b) of the two one-vs-one AUCs,
    each on the samples of a or b only. ``codes`` are the classes as column numbers of S."""
    pairs = list(combinations(np.unique(codes), 2))
    scores, shares = np.empty(len(pairs)), np.empty(len(pairs))
    for i, (a, b) in enumerate(pairs):
        is_a, is_b = codes == a, codes == b
        both = is_a | is_b
        shares[i] = both.mean()
        a_vs_b = binary_roc_auc(is_a[both], S[both, a])  # "is a", scored by p(a)
        b_vs_a = binary_roc_auc(is_b[both], S[both, b])
        scores[i] = (a_vs_b + b_vs_a) / 2
    return float(np.average(scores, weights=shares if average == "weighted" else None))


def _classes(y_true: np.ndarray, n_columns: int, labels: Any) -> np.ndarray:
    """The labels of y_score's columns: ``labels`` (unique, sorted, covering y_true) or y_true's."""
    if labels is None:
        classes = np.unique(y_true)
        if len(classes) != n_columns:
            raise ValueError(
                "Number of classes in y_true not equal to the number of columns in 'y_score'"
            )
        return classes
    labels = np.asarray(labels).reshape(-1)
    classes = np.unique(labels)
    if len(classes) != len(labels):
        raise ValueError("Parameter 'labels' must be unique")
    if not np.array_equal(classes, labels):
        raise ValueError("Parameter 'labels' must be ordered")
    if len(classes) != n_columns:
        raise ValueError(
            f"Number of given labels, {len(classes)}, not equal to the number of columns in "
            f"'y_score', {n_columns}"
        )
    if len(np.setdiff1d(y_true, classes)):
        raise ValueError("'y_true' contains labels not in parameter 'labels'")
    return classes


def _multiclass_roc_auc(
    y_true: np.ndarray,
    S: np.ndarray,
    labels: Any,
    multi_class: str,
    average: str | None,
    sample_weight: np.ndarray | None,
) -> Any:
    if S.ndim != 2:
        raise ValueError(
            "`y_score` needs to be of shape `(n_samples, n_classes)`, since `y_true` contains "
            f"multiple classes. Got `y_score.shape={S.shape}`."
        )
    if not np.allclose(1, S.sum(axis=1)):
        raise ValueError(
            "Target scores need to be probabilities for multiclass roc_auc, i.e. they should "
            "sum up to 1.0 over classes"
        )
    allowed = (
        ("micro", "macro", "weighted", None) if multi_class == "ovr" else ("macro", "weighted")
    )
    if average not in allowed and average is not None:
        raise ValueError(f"average must be one of {allowed} for multiclass problems")
    if average is None and multi_class == "ovo":
        raise NotImplementedError("average=None is not implemented for multi_class='ovo'.")
    classes = _classes(y_true, S.shape[1], labels)
    if multi_class == "ovo":
        if sample_weight is not None:
            raise ValueError(
                "sample_weight is not supported for multiclass one-vs-one ROC AUC, "
                "'sample_weight' must be None in this case."
            )
        return _one_vs_one(np.searchsorted(classes, y_true), S, average)
    Y = (y_true[:, None] == classes[None, :]).astype(np.int64)  # one-vs-rest: is it class j?
    return _over_columns(binary_roc_auc, Y, S, average, sample_weight)


def _inputs(y_true: Any, y_score: Any, sample_weight: Any, average: Any) -> tuple:
    if average not in AVERAGES:
        raise ValueError(f"average has to be one of {AVERAGES}, got {average!r}")
    kind = type_of_target(y_true)
    y_true, y_score = np.asarray(y_true), np.asarray(y_score, dtype=np.float64)
    check_lengths(y_true, y_score)
    if not np.isfinite(y_score).all():
        raise ValueError("Input contains NaN or infinity in y_score.")
    if y_true.ndim == 2 and kind != MULTILABEL:
        y_true = y_true.reshape(len(y_true))  # a column vector of labels
    weights = check_sample_weight(sample_weight, len(y_true))
    return kind, y_true, y_score, None if weights is None else weights.astype(np.float64)


def roc_auc_score(
    y_true: Any,
    y_score: Any,
    *,
    average: str | None = "macro",
    sample_weight: Any = None,
    max_fpr: float | None = None,
    multi_class: str = "raise",
    labels: Any = None,
) -> Any:
    """The area under the ROC curve: of binary labels (``max_fpr``: the McClish-standardized
    partial area), of each column of multilabel indicators, or of multiclass labels one-vs-rest
    or one-vs-one (``multi_class`` must then say which), averaged by ``average``.

    >>> roc_auc_score([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    0.75
    >>> p = [[0.7, 0.2, 0.1], [0.2, 0.5, 0.3], [0.1, 0.3, 0.6], [0.3, 0.4, 0.3]]
    >>> roc_auc_score([0, 1, 2, 1], p, multi_class="ovo")
    1.0
    """
    if multi_class not in ("raise", "ovr", "ovo"):
        raise ValueError(f"multi_class must be one of ('raise', 'ovr', 'ovo'), got {multi_class!r}")
    kind, y_true, y_score, weights = _inputs(y_true, y_score, sample_weight, average)
    if kind == "multiclass" or (kind == "binary" and y_score.ndim == 2 and y_score.shape[1] > 2):
        if max_fpr is not None and max_fpr != 1.0:
            raise ValueError(
                "Partial AUC computation not available in multiclass setting, 'max_fpr' must be "
                f"set to `None`, received `max_fpr={max_fpr}` instead"
            )
        if multi_class == "raise":
            raise ValueError("multi_class must be in ('ovo', 'ovr')")
        return _multiclass_roc_auc(y_true, y_score, labels, multi_class, average, weights)
    metric = partial(binary_roc_auc, max_fpr=max_fpr)
    if kind == "binary":  # the larger label is the positive class
        return metric((y_true == np.unique(y_true)[-1]).astype(np.int64), y_score, weights)
    if kind != MULTILABEL:
        raise ValueError(f"{kind} format is not supported")
    return _over_columns(metric, y_true, y_score, average, weights)


def average_precision_score(
    y_true: Any,
    y_score: Any,
    *,
    average: str | None = "macro",
    pos_label: Any = 1,
    sample_weight: Any = None,
) -> Any:
    """AP = sum_n (R_n - R_{n-1}) P_n of binary labels (positive class ``pos_label``), or of each
    column of multilabel indicators or of multiclass labels binarized one-vs-rest, averaged by
    ``average``.

    >>> average_precision_score([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    0.8333333333333333
    """
    kind, y_true, y_score, weights = _inputs(y_true, y_score, sample_weight, average)
    if kind == "binary":
        present = np.unique(y_true)
        if len(present) == 2 and pos_label not in present.tolist():
            raise ValueError(
                f"pos_label={pos_label} is not a valid label. It should be one of {present}"
            )
        return binary_average_precision(y_true, y_score, weights, pos_label=pos_label)
    if kind in (MULTILABEL, "multiclass") and pos_label != 1:
        raise ValueError(
            f"Parameter pos_label is fixed to 1 for {kind} y_true. Do not set pos_label or set "
            "pos_label to 1."
        )
    if kind == "multiclass":
        Y = (y_true[:, None] == np.unique(y_true)[None, :]).astype(np.int64)
        if y_score.shape != Y.shape:
            raise ValueError(
                "`y_score` needs to be of shape `(n_samples, n_classes)`, since `y_true` "
                f"contains multiple classes. Got `y_score.shape={y_score.shape}`."
            )
        y_true = Y
    elif kind != MULTILABEL:
        raise ValueError(f"{kind} format is not supported")
    return _over_columns(binary_average_precision, y_true, y_score, average, weights)
