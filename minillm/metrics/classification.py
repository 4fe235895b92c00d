"""Classification metrics with scikit-learn's names, arguments and results, all from one core.

The core is the confusion matrix ``CM[i, j]`` = (weighted) count of samples whose true label is
``labels[i]`` and whose predicted label is ``labels[j]``. Per label it gives every sufficient
statistic:

    tp   = CM[i, i]          true positives
    pred = sum_r CM[r, i]    predicted as i     (tp + false positives)
    true = sum_c CM[i, c]    truly i, the support (tp + false negatives)

and from them

    precision = tp / pred,   recall = tp / true,
    F_beta    = (1 + beta^2) tp / ((1 + beta^2) tp + beta^2 fn + fp)
              = (1 + beta^2) tp / (beta^2 true + pred)     (for beta = 1: the harmonic mean of P, R)

A zero denominator (no sample predicted, or none true) gives ``zero_division``: 0 with a warning
("warn", the default), 0.0, 1.0 or nan. Averages, as scikit-learn: ``"binary"`` reports the class
``pos_label`` alone; ``"micro"`` sums tp, pred and true over labels first (for single-label data it
equals accuracy); ``"macro"`` is the unweighted mean over labels; ``"weighted"`` weights each label
by its support; ``None`` returns one value per label. NaN scores are left out of an average.

Targets are 1-D label arrays (ints, strings, bools, or floats that are whole numbers): ``"binary"``
when at most two labels occur in y_true and y_pred together, else ``"multiclass"``. Continuous
values, mixed strings and numbers, different lengths and empty inputs are refused with
scikit-learn's messages. Multilabel indicator matrices (and ``average="samples"``) are not handled
here.

Read next: ``minillm/metrics/ranking.py`` (curves over a score's thresholds).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from minillm.metrics._validation import check_lengths, check_sample_weight

AVERAGES = (None, "binary", "micro", "macro", "weighted")


class UndefinedMetricWarning(UserWarning):
    """A score was 0/0 and was set to 0 (pass ``zero_division`` to choose, and to silence this)."""


def _as_labels(y: Any, name: str) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:  # a column vector, as scikit-learn accepts
        y = y[:, 0]
    if y.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array of labels, got shape {y.shape}")
    if y.shape[0] == 0:
        raise ValueError(
            "Found empty input array (e.g., `y_true` or `y_pred`) while a minimum of 1 sample "
            "is required."
        )
    return y


def _kind(y: np.ndarray) -> str:
    """'binary', 'multiclass' or 'continuous' for a 1-D label array (scikit-learn's names)."""
    if y.dtype.kind == "f" and (not np.isfinite(y).all() or (y != np.round(y)).any()):
        return "continuous"
    return "binary" if len(np.unique(y)) <= 2 else "multiclass"


def check_targets(
    y_true: Any, y_pred: Any, sample_weight: Any = None
) -> tuple[str, np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """(kind, sorted labels present in either, y_true, y_pred, sample_weight) as arrays, or a
    ValueError naming what is wrong."""
    y_true, y_pred = _as_labels(y_true, "y_true"), _as_labels(y_pred, "y_pred")
    check_lengths(y_true, y_pred)
    kinds = {_kind(y_true), _kind(y_pred)}
    if kinds == {"binary", "multiclass"}:
        kinds = {"multiclass"}
    if len(kinds) > 1:
        a, b = _kind(y_true), _kind(y_pred)
        raise ValueError(f"Classification metrics can't handle a mix of {a} and {b} targets")
    kind = kinds.pop()
    if kind == "continuous":
        raise ValueError("continuous is not supported")
    strings = [y.dtype.kind in "USO" for y in (y_true, y_pred)]
    if any(strings) and not all(strings):
        raise ValueError("Mix of label input types (string and number)")
    labels = np.unique(np.concatenate([y_true, y_pred]))
    if kind == "binary" and len(labels) > 2:
        kind = "multiclass"
    sample_weight = check_sample_weight(sample_weight, len(y_true))
    if sample_weight is not None and not np.any(sample_weight):
        raise ValueError("Sample weights must contain at least one non-zero number.")
    return kind, labels, y_true, y_pred, sample_weight


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
    _, present, y_true, y_pred, sample_weight = check_targets(y_true, y_pred, sample_weight)
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


def accuracy_score(
    y_true: Any, y_pred: Any, *, normalize: bool = True, sample_weight: Any = None
) -> float:
    """The fraction of samples predicted right (weighted by ``sample_weight``), or with
    ``normalize=False`` their count (sum of weights): the confusion matrix's trace over its sum."""
    _, _, y_true, y_pred, sample_weight = check_targets(y_true, y_pred, sample_weight)
    right = (y_true == y_pred).astype(np.float64)
    if sample_weight is not None:
        right = right * sample_weight
        total = float(np.sum(sample_weight))
    else:
        total = float(len(right))
    if not normalize:
        return float(right.sum())
    if total == 0:  # weights of both signs that cancel
        raise ValueError("sample_weight sums to zero: the weighted accuracy is undefined")
    return float(right.sum() / total)


def _zero_value(zero_division: Any) -> float:
    if isinstance(zero_division, str) and zero_division == "warn":
        return 0.0
    if isinstance(zero_division, str) and zero_division == "nan":
        return float("nan")
    if isinstance(zero_division, (int, float)) and (
        zero_division in (0, 1) or np.isnan(zero_division)
    ):
        return float(zero_division)
    raise ValueError(f"zero_division must be 'warn', 0.0, 1.0 or np.nan, got {zero_division!r}")


def _divide(
    num: np.ndarray, den: np.ndarray, zero_division: Any, what: str, warn: bool
) -> np.ndarray:
    """num / den, with ``zero_division``'s value where den is 0 (and a warning for "warn")."""
    den = np.asarray(den, dtype=np.float64)
    zero = den == 0
    out = np.asarray(num, dtype=np.float64) / np.where(zero, 1.0, den)
    if zero.any():
        out[zero] = _zero_value(zero_division)
        if warn and isinstance(zero_division, str):
            warnings.warn(
                f"{what} is ill-defined and being set to 0.0 for labels with no samples. Use "
                "`zero_division` parameter to control this behavior.",
                UndefinedMetricWarning,
                stacklevel=4,
            )
    return out


def _average(scores: np.ndarray, weights: np.ndarray | None) -> float:
    keep = ~np.isnan(scores)
    if not keep.any():
        return float("nan")
    if weights is None or np.sum(weights[keep]) == 0:  # all weights 0: a plain mean
        return float(np.mean(scores[keep]))
    return float(np.average(scores[keep], weights=weights[keep]))


def precision_recall_fscore_support(
    y_true: Any,
    y_pred: Any,
    *,
    beta: float = 1.0,
    labels: Sequence[Any] | None = None,
    pos_label: Any = 1,
    average: str | None = None,
    warn_for: Sequence[str] = ("precision", "recall", "f-score"),
    sample_weight: Any = None,
    zero_division: Any = "warn",
) -> tuple[Any, Any, Any, Any]:
    """(precision, recall, F_beta, support): per label when ``average`` is None (support = true
    counts), else three floats and None. See the module docstring for the averages.

    >>> p, r, f, _ = precision_recall_fscore_support([0, 1, 1, 1], [0, 1, 0, 0], average="binary")
    >>> round(p, 3), round(r, 3), round(f, 3)
    (1.0, 0.333, 0.5)
    """
    if average not in AVERAGES:
        raise ValueError(f"average has to be one of {AVERAGES}, got {average!r}")
    if beta < 0:
        raise ValueError(f"beta should be >= 0, got {beta}")
    _zero_value(zero_division)  # a bad value fails before any work
    kind, present, y_true, y_pred, sample_weight = check_targets(y_true, y_pred, sample_weight)
    if average == "binary":
        if kind != "binary":
            raise ValueError(
                f"Target is {kind} but average='binary'. Please choose another average setting, "
                "one of [None, 'micro', 'macro', 'weighted']."
            )
        if pos_label not in present.tolist() and len(present) >= 2:
            raise ValueError(
                f"pos_label={pos_label} is not a valid label. It should be one of {present}"
            )
        labels = [pos_label]
    elif pos_label not in (None, 1):
        warnings.warn(
            f"Note that pos_label (set to {pos_label!r}) is ignored when average != 'binary' "
            f"(got {average!r}). You may use labels=[pos_label] to specify a single positive "
            "class.",
            UserWarning,
            stacklevel=2,
        )
    chosen = present if labels is None else np.asarray(labels)
    rest = np.setdiff1d(present, chosen) if labels is not None else present[:0]
    everything = np.concatenate([chosen, rest]) if len(rest) else chosen
    cm = _counts(y_true, y_pred, everything, sample_weight)  # the core: one confusion matrix
    k = len(chosen)
    tp = np.diag(cm)[:k].astype(np.float64)
    pred = cm.sum(axis=0)[:k].astype(np.float64)
    true = cm.sum(axis=1)[:k]
    if average == "micro":
        tp, pred, true_f = tp.sum(keepdims=True), pred.sum(keepdims=True), true.sum(keepdims=True)
    else:
        true_f = true
    true_f = np.asarray(true_f, dtype=np.float64)
    precision = _divide(tp, pred, zero_division, "Precision", "precision" in warn_for)
    recall = _divide(tp, true_f, zero_division, "Recall", "recall" in warn_for)
    if np.isposinf(beta):
        f = recall
    elif beta == 0:
        f = precision
    else:
        b2 = beta * beta
        f = _divide((1 + b2) * tp, b2 * true_f + pred, zero_division, "F-score",
                    "f-score" in warn_for)  # fmt: skip
    if average is None:
        return precision, recall, f, true
    weights = true_f if average == "weighted" else None
    return _average(precision, weights), _average(recall, weights), _average(f, weights), None


def fbeta_score(
    y_true: Any,
    y_pred: Any,
    *,
    beta: float,
    labels: Sequence[Any] | None = None,
    pos_label: Any = 1,
    average: str | None = "binary",
    sample_weight: Any = None,
    zero_division: Any = "warn",
) -> Any:
    """F_beta: recall weighted beta times as much as precision (beta=1 is F1)."""
    _, _, f, _ = precision_recall_fscore_support(
        y_true, y_pred, beta=beta, labels=labels, pos_label=pos_label, average=average,
        warn_for=("f-score",), sample_weight=sample_weight, zero_division=zero_division,
    )  # fmt: skip
    return f


def f1_score(y_true: Any, y_pred: Any, **kwargs: Any) -> Any:
    """F1 = 2 P R / (P + R), the harmonic mean of precision and recall (fbeta_score, beta=1)."""
    return fbeta_score(y_true, y_pred, beta=1.0, **kwargs)


def precision_score(
    y_true: Any,
    y_pred: Any,
    *,
    labels: Sequence[Any] | None = None,
    pos_label: Any = 1,
    average: str | None = "binary",
    sample_weight: Any = None,
    zero_division: Any = "warn",
) -> Any:
    """tp / (tp + fp): of the samples predicted as a label, the fraction that are."""
    p, _, _, _ = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, pos_label=pos_label, average=average,
        warn_for=("precision",), sample_weight=sample_weight, zero_division=zero_division,
    )  # fmt: skip
    return p


def recall_score(
    y_true: Any,
    y_pred: Any,
    *,
    labels: Sequence[Any] | None = None,
    pos_label: Any = 1,
    average: str | None = "binary",
    sample_weight: Any = None,
    zero_division: Any = "warn",
) -> Any:
    """tp / (tp + fn): of the samples of a label, the fraction predicted as it."""
    _, r, _, _ = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, pos_label=pos_label, average=average,
        warn_for=("recall",), sample_weight=sample_weight, zero_division=zero_division,
    )  # fmt: skip
    return r


def matthews_corrcoef(y_true: Any, y_pred: Any, *, sample_weight: Any = None) -> float:
    """The correlation between true and predicted labels, from the confusion matrix C (any number
    of classes): with c = trace C, s = C.sum(), t = row sums, p = column sums,

        MCC = (c s - t.p) / sqrt((s^2 - p.p) (s^2 - t.t))

    1 for a perfect prediction, 0 for one no better than chance, -1 for total disagreement (and 0
    when a denominator factor is 0: one class predicted or present)."""
    _, labels, y_true, y_pred, sample_weight = check_targets(y_true, y_pred, sample_weight)
    C = _counts(y_true, y_pred, labels, sample_weight).astype(np.float64)
    t, p = C.sum(axis=1), C.sum(axis=0)
    c, s = np.trace(C), C.sum()
    denominator = (s * s - p @ p) * (s * s - t @ t)
    return 0.0 if denominator == 0 else float((c * s - t @ p) / np.sqrt(denominator))
