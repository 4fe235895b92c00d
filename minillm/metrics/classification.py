"""Classification scores with scikit-learn's names, arguments and results, all read off one core.

The core (``confusion.py``) gives every label its 2 x 2 table, and the table gives the sufficient
statistics ``tp``, ``pred`` = tp + fp (predicted as the label) and ``true`` = tp + fn (truly the
label, its support). Then

    precision = tp / pred,   recall = tp / true,
    F_beta    = (1 + beta^2) tp / ((1 + beta^2) tp + beta^2 fn + fp)
              = (1 + beta^2) tp / (beta^2 true + pred)     (for beta = 1: the harmonic mean of P, R)

A zero denominator (no sample predicted, or none true) gives ``zero_division``: 0 with a warning
("warn", the default), 0.0, 1.0 or nan. Averages, as scikit-learn: ``"binary"`` reports the class
``pos_label`` alone; ``"micro"`` sums tp, pred and true over labels first (for single-label data it
equals accuracy); ``"macro"`` is the unweighted mean over labels; ``"weighted"`` weights each label
by its support; ``"samples"`` (multilabel only) scores each sample's set of labels, from the
per-sample tables, and averages over samples; ``None`` returns one value per label. NaN scores are
left out of an average.

Targets are label arrays or multilabel indicator matrices (``targets.py`` says which is which).
``accuracy_score`` of multilabel targets is the *subset* accuracy: a sample counts as right only
when its whole row of labels is.

Read next: ``minillm/metrics/report.py`` (the scores as a table), then
``minillm/metrics/ranking.py`` (curves over a score's thresholds).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from minillm.metrics.confusion import _counts, _tables
from minillm.metrics.targets import MULTILABEL, check_targets

AVERAGES = (None, "binary", "micro", "macro", "weighted", "samples")


class UndefinedMetricWarning(UserWarning):
    """A score was 0/0 and was set to 0 (pass ``zero_division`` to choose, and to silence this)."""


def accuracy_score(
    y_true: Any, y_pred: Any, *, normalize: bool = True, sample_weight: Any = None
) -> float:
    """The fraction of samples predicted right (weighted by ``sample_weight``), or with
    ``normalize=False`` their count (sum of weights): the confusion matrix's trace over its sum.
    A multilabel sample is right only when all its labels are (subset accuracy)."""
    kind, _, y_true, y_pred, sample_weight = check_targets(y_true, y_pred, sample_weight)
    if kind == MULTILABEL:
        right = (~(y_true != y_pred).any(axis=1)).astype(np.float64)
    else:
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
    num: np.ndarray, den: np.ndarray, zero_division: Any, warning: str | None
) -> np.ndarray:
    """num / den, with ``zero_division``'s value where den is 0 (and ``warning`` for "warn")."""
    den = np.asarray(den, dtype=np.float64)
    zero = den == 0
    out = np.asarray(num, dtype=np.float64) / np.where(zero, 1.0, den)
    if zero.any():
        out[zero] = _zero_value(zero_division)
        if warning and isinstance(zero_division, str) and zero_division == "warn":
            warnings.warn(warning, UndefinedMetricWarning, stacklevel=4)
    return out


def _ill_defined(score: str, missing: str, average: str | None, size: int) -> str:
    """scikit-learn's warning for a 0/0 score: which labels (or samples) lacked what."""
    things, groups = ("label", "sample") if average == "samples" else ("sample", "label")
    where = "due to" if size == 1 else f"in {groups}s with"
    return (
        f"{score} is ill-defined and being set to 0.0 {where} no {missing} {things}s. Use "
        "`zero_division` parameter to control this behavior."
    )


def _average(scores: np.ndarray, weights: np.ndarray | None) -> float:
    keep = ~np.isnan(scores)
    if not keep.any():
        return float("nan")
    if weights is None or np.sum(weights[keep]) == 0:  # all weights 0: a plain mean
        return float(np.mean(scores[keep]))
    return float(np.average(scores[keep], weights=weights[keep]))


def _chosen_labels(
    kind: str, present: np.ndarray, average: str | None, labels: Any, pos_label: Any
) -> Any:
    """The labels to score: ``[pos_label]`` for "binary" (checked), else ``labels`` as given."""
    if average == "binary":
        if kind != "binary":
            options = [None, "micro", "macro", "weighted"] + (["samples"] * (kind == MULTILABEL))
            raise ValueError(
                f"Target is {kind} but average='binary'. Please choose another average setting, "
                f"one of {options}."
            )
        if pos_label not in present.tolist() and len(present) >= 2:
            raise ValueError(
                f"pos_label={pos_label} is not a valid label. It should be one of {present}"
            )
        return [pos_label]
    if pos_label not in (None, 1):
        warnings.warn(
            f"Note that pos_label (set to {pos_label!r}) is ignored when average != 'binary' "
            f"(got {average!r}). You may use labels=[pos_label] to specify a single positive "
            "class.",
            UserWarning,
            stacklevel=3,
        )
    return labels


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
    >>> precision_recall_fscore_support([[1, 1], [0, 1]], [[1, 0], [0, 1]], average="samples")
    (1.0, 0.75, 0.8333333333333333, None)
    """
    if average not in AVERAGES:
        raise ValueError(f"average has to be one of {AVERAGES}, got {average!r}")
    if beta < 0:
        raise ValueError(f"beta should be >= 0, got {beta}")
    _zero_value(zero_division)  # a bad value fails before any work
    kind, present, y_true, y_pred, sample_weight = check_targets(y_true, y_pred, sample_weight)
    labels = _chosen_labels(kind, present, average, labels, pos_label)
    samplewise = average == "samples"
    tables = _tables(kind, present, y_true, y_pred, labels, sample_weight, samplewise)  # the core
    tp = tables[:, 1, 1]
    pred, true = tp + tables[:, 0, 1], tp + tables[:, 1, 0]
    if average == "micro":
        tp, pred, true = tp.sum(keepdims=True), pred.sum(keepdims=True), true.sum(keepdims=True)

    def warning(name: str, missing: str) -> str | None:
        return _ill_defined(name, missing, average, len(tp)) if name.lower() in warn_for else None

    precision = _divide(tp, pred, zero_division, warning("Precision", "predicted"))
    recall = _divide(tp, true, zero_division, warning("Recall", "true"))
    if np.isposinf(beta):
        f = recall
    elif beta == 0:
        f = precision
    else:
        b2 = beta * beta
        denominator = b2 * np.asarray(true, np.float64) + pred
        f = _divide((1 + b2) * tp, denominator, zero_division,
                    warning("F-score", "true nor predicted"))  # fmt: skip
    if average is None:
        return precision, recall, f, true
    weights = {"weighted": true, "samples": sample_weight}.get(average)
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
    kind, labels, y_true, y_pred, sample_weight = check_targets(y_true, y_pred, sample_weight)
    if kind == MULTILABEL:
        raise ValueError(f"{kind} is not supported")
    C = _counts(y_true, y_pred, labels, sample_weight).astype(np.float64)
    t, p = C.sum(axis=1), C.sum(axis=0)
    c, s = np.trace(C), C.sum()
    denominator = (s * s - p @ p) * (s * s - t @ t)
    return 0.0 if denominator == 0 else float((c * s - t @ p) / np.sqrt(denominator))
