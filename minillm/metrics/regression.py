"""Regression metrics with scikit-learn's names and results: mean squared error and R^2.

For targets y (n,) or (n, outputs), predictions f and sample weights w (default 1):

    MSE = sum_i w_i (y_i - f_i)^2 / sum_i w_i                          per output
    R^2 = 1 - sum_i w_i (y_i - f_i)^2 / sum_i w_i (y_i - mean_w(y))^2   per output

R^2 is 1 for a perfect prediction, 0 for predicting the (weighted) mean, and unbounded below. A
constant target makes its denominator 0: with ``force_finite`` (the default) the score is then 1
for a perfect prediction and 0 otherwise, else the raw nan or -inf. ``multioutput``
"uniform_average" averages the outputs, "raw_values" returns one score each, "variance_weighted"
(R^2 only) weights each output by its target's variance, and an array gives explicit weights.

Read next: ``minillm/metrics/probabilistic.py``.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from minillm.metrics._validation import check_lengths, check_sample_weight
from minillm.metrics.classification import UndefinedMetricWarning


def _regression_targets(
    y_true: Any, y_pred: Any, sample_weight: Any
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    y_true, y_pred = np.asarray(y_true, dtype=np.float64), np.asarray(y_pred, dtype=np.float64)
    y_true = y_true[:, None] if y_true.ndim == 1 else y_true
    y_pred = y_pred[:, None] if y_pred.ndim == 1 else y_pred
    if y_true.ndim != 2 or y_pred.ndim != 2:
        raise ValueError("y_true and y_pred must be 1-D or 2-D (samples, outputs)")
    check_lengths(y_true, y_pred)
    if y_true.shape[1] != y_pred.shape[1]:
        raise ValueError(
            f"y_true and y_pred have different number of output ({y_true.shape[1]}!="
            f"{y_pred.shape[1]})"
        )
    if not (np.isfinite(y_true).all() and np.isfinite(y_pred).all()):
        raise ValueError("Input contains NaN or infinity.")
    w = check_sample_weight(sample_weight, len(y_true))
    return y_true, y_pred, None if w is None else w.astype(np.float64)


def _combine(scores: np.ndarray, multioutput: Any, variances: np.ndarray | None = None) -> Any:
    if isinstance(multioutput, str):
        if multioutput == "raw_values":
            return scores
        if multioutput == "uniform_average":
            return float(np.mean(scores))
        if multioutput == "variance_weighted" and variances is not None:
            return float(np.average(scores, weights=variances if variances.any() else None))
        raise ValueError(f"multioutput {multioutput!r} is not one of the allowed options")
    weights = np.asarray(multioutput, dtype=np.float64)
    if scores.size == 1:
        raise ValueError("Custom weights are useful only in multi-output cases.")
    if weights.shape != scores.shape:
        raise ValueError(
            f"There must be equally many custom weights ({weights.size}) as outputs ({scores.size})"
        )
    return float(np.average(scores, weights=weights))


def mean_squared_error(
    y_true: Any, y_pred: Any, *, sample_weight: Any = None, multioutput: Any = "uniform_average"
) -> Any:
    """The (weighted) mean of squared errors, per output then combined by ``multioutput``.

    >>> mean_squared_error([3.0, -0.5, 2.0, 7.0], [2.5, 0.0, 2.0, 8.0])
    0.375
    """
    y_true, y_pred, w = _regression_targets(y_true, y_pred, sample_weight)
    errors = np.average((y_true - y_pred) ** 2, axis=0, weights=w)
    return _combine(errors, multioutput)


def r2_score(
    y_true: Any,
    y_pred: Any,
    *,
    sample_weight: Any = None,
    multioutput: Any = "uniform_average",
    force_finite: bool = True,
) -> Any:
    """The coefficient of determination, 1 - residual sum of squares / total sum of squares."""
    y_true, y_pred, w = _regression_targets(y_true, y_pred, sample_weight)
    if len(y_true) < 2:
        warnings.warn(
            "R^2 score is not well-defined with less than two samples.",
            UndefinedMetricWarning,
            stacklevel=2,
        )
        return float("nan")
    weight = 1.0 if w is None else w[:, None]
    residual = np.sum(weight * (y_true - y_pred) ** 2, axis=0)
    total = np.sum(weight * (y_true - np.average(y_true, axis=0, weights=w)) ** 2, axis=0)
    if force_finite:
        scores = np.ones(y_true.shape[1])
        both = (total != 0) & (residual != 0)
        scores[both] = 1 - residual[both] / total[both]
        scores[(residual != 0) & (total == 0)] = 0.0  # a constant target, missed
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            scores = 1 - residual / total
    return _combine(scores, multioutput, variances=total)
