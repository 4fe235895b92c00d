"""Scorers: a metric turned into "how good is this fitted model on (X, y)", larger is better.

A scorer is a callable ``scorer(estimator, X, y) -> float``. ``make_scorer(metric, ...)`` builds
one from any metric: it asks the estimator for the response the metric needs (``predict`` for
labels and values, ``predict_proba`` or ``decision_function`` for scores), passes it to the metric
with fixed keyword arguments, and negates losses (``greater_is_better=False``) so a search can
always maximise. The names scikit-learn uses ("accuracy", "f1_macro", "roc_auc",
"neg_log_loss", "neg_mean_squared_error", "r2", ...) are in ``SCORERS``; ``get_scorer(name)``
looks one up and ``check_scoring(estimator, scoring)`` turns what a user passed (None for the
estimator's own ``score``, a name, a callable, or a list/dict of them) into scorers.

Read next: ``minillm/model_selection/validation.py`` (cross-validation that calls scorers).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from minillm import metrics

Scorer = Callable[[Any, Any, Any], float]


class _Scorer:
    """metric(y, response(estimator, X), **kwargs) times sign."""

    def __init__(self, metric: Callable, sign: int, response: Any, kwargs: dict) -> None:
        self.metric, self.sign, self.response, self.kwargs = metric, sign, response, kwargs

    def __call__(self, estimator: Any, X: Any, y: Any, sample_weight: Any = None) -> float:
        kwargs = dict(self.kwargs)
        if sample_weight is not None:
            kwargs["sample_weight"] = sample_weight
        return self.sign * float(self.metric(y, self._response(estimator, X, y), **kwargs))

    def _response(self, estimator: Any, X: Any, y: Any) -> Any:
        methods = (self.response,) if isinstance(self.response, str) else self.response
        method = next((m for m in methods if hasattr(estimator, m)), None)
        if method is None:
            raise AttributeError(
                f"{type(estimator).__name__} has none of {list(methods)}, which the "
                f"{self.metric.__name__} scorer needs"
            )
        out = np.asarray(getattr(estimator, method)(X))
        classes = getattr(estimator, "classes_", None)
        binary = classes is not None and len(classes) == 2
        if not binary or method == "predict":
            return out
        positive = self.kwargs.get("pos_label")
        positive = classes[1] if positive is None else positive
        if positive not in list(classes):
            raise ValueError(f"pos_label={positive!r} is not one of classes_ {list(classes)}")
        if method == "predict_proba":
            return out[:, list(classes).index(positive)]  # P(positive class), as scikit-learn
        return out if positive == classes[1] else -out  # a decision score is for classes_[1]

    def __repr__(self) -> str:
        sign = "" if self.sign > 0 else ", greater_is_better=False"
        extra = "".join(f", {k}={v!r}" for k, v in self.kwargs.items())
        method = f"response_method={self.response!r}"
        return f"make_scorer({self.metric.__name__}{sign}, {method}{extra})"


def make_scorer(
    score_func: Callable,
    *,
    response_method: str | tuple[str, ...] = "predict",
    greater_is_better: bool = True,
    **kwargs: Any,
) -> Scorer:
    """A scorer from ``score_func(y_true, response, **kwargs)``; losses are negated.

    >>> from minillm.metrics import mean_squared_error
    >>> make_scorer(mean_squared_error, greater_is_better=False)
    make_scorer(mean_squared_error, greater_is_better=False, response_method='predict')
    """
    return _Scorer(score_func, 1 if greater_is_better else -1, response_method, kwargs)


def _root_mean_squared_error(y_true: Any, y_pred: Any, **kwargs: Any) -> float:
    per_output = metrics.mean_squared_error(y_true, y_pred, multioutput="raw_values", **kwargs)
    return float(np.mean(np.sqrt(per_output)))


_root_mean_squared_error.__name__ = "root_mean_squared_error"

_SCORES = ("decision_function", "predict_proba")

SCORERS: dict[str, Scorer] = {
    "accuracy": make_scorer(metrics.accuracy_score),
    "matthews_corrcoef": make_scorer(metrics.matthews_corrcoef),
    "top_k_accuracy": make_scorer(metrics.top_k_accuracy_score, response_method=_SCORES),
    "roc_auc": make_scorer(metrics.roc_auc_score, response_method=_SCORES),
    "average_precision": make_scorer(metrics.average_precision_score, response_method=_SCORES),
    "neg_log_loss": make_scorer(
        metrics.log_loss, response_method="predict_proba", greater_is_better=False
    ),
    "neg_brier_score": make_scorer(
        metrics.brier_score_loss, response_method="predict_proba", greater_is_better=False
    ),
    "r2": make_scorer(metrics.r2_score),
    "neg_mean_squared_error": make_scorer(metrics.mean_squared_error, greater_is_better=False),
    "neg_root_mean_squared_error": make_scorer(_root_mean_squared_error, greater_is_better=False),
}
for _kind in ("ovr", "ovo"):
    for _average, _suffix in (("macro", ""), ("weighted", "_weighted")):
        SCORERS[f"roc_auc_{_kind}{_suffix}"] = make_scorer(
            metrics.roc_auc_score, response_method="predict_proba", multi_class=_kind,
            average=_average,
        )  # fmt: skip
for _name, _metric in (
    ("precision", metrics.precision_score),
    ("recall", metrics.recall_score),
    ("f1", metrics.f1_score),
):
    SCORERS[_name] = make_scorer(_metric, average="binary")
    for _average in ("macro", "micro", "weighted"):
        SCORERS[f"{_name}_{_average}"] = make_scorer(_metric, pos_label=None, average=_average)


def get_scorer_names() -> list[str]:
    return sorted(SCORERS)


def get_scorer(scoring: str | Callable) -> Scorer:
    """The scorer called ``scoring`` (a callable is returned as is)."""
    if callable(scoring):
        return scoring
    if isinstance(scoring, str) and scoring in SCORERS:
        return SCORERS[scoring]
    raise ValueError(
        f"{scoring!r} is not a valid scoring value; use one of get_scorer_names(): "
        f"{', '.join(get_scorer_names())}, or a callable scorer(estimator, X, y)"
    )


def _own_score(estimator: Any, X: Any, y: Any, **score_params: Any) -> float:
    return float(estimator.score(X, y, **score_params))


def check_scoring(estimator: Any, scoring: Any = None) -> Scorer | dict[str, Scorer]:
    """One scorer (None: the estimator's own ``score``; a name; a callable), or a dict of named
    scorers for a list/tuple of names or a dict of name -> scorer."""
    if scoring is None:
        if not hasattr(estimator, "score"):
            raise TypeError(
                f"{type(estimator).__name__} has no score method: pass scoring= (a name or a "
                "callable)"
            )
        return _own_score
    if isinstance(scoring, (list, tuple, set)):
        names = list(scoring)
        if not names or len(set(names)) != len(names) or not all(isinstance(n, str) for n in names):
            raise ValueError(f"scoring must be a non-empty list of distinct names, got {scoring!r}")
        return {name: get_scorer(name) for name in names}
    if isinstance(scoring, dict):
        if not scoring:
            raise ValueError("scoring must be a non-empty dict of name -> scorer")
        return {name: get_scorer(s) for name, s in scoring.items()}
    return get_scorer(scoring)
