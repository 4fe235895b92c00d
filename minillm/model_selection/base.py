"""The estimator protocol model selection relies on, as scikit-learn defines it.

An estimator is an object whose constructor only stores its keyword arguments, so that

    get_params()          reads them back (by the constructor's signature), and
    set_params(**params)  changes them (``name__param`` reaches into a nested estimator),
    clone(estimator)      builds a fresh, unfitted copy:  type(e)(**e.get_params(deep=False))

and whose ``fit(X, y)`` learns attributes ending in ``_`` (``classes_``, ``module_``). A classifier
also has ``predict`` (and often ``predict_proba``) and scores by accuracy; a regressor scores by
R^2. Nothing here is minillm-specific: scikit-learn's estimators pass through ``clone`` and the
searches unchanged, and ``BaseEstimator.__sklearn_tags__`` tells scikit-learn (1.6 and newer)
what a minillm estimator is, so scikit-learn's own ``cross_val_score``, ``clone`` and
``GridSearchCV`` accept it.

Read next: ``minillm/model_selection/scoring.py`` (turning a metric into a score of a fitted model).
"""

from __future__ import annotations

import copy
import inspect
from typing import Any

import numpy as np


class BaseEstimator:
    """get_params / set_params / repr from the constructor's keyword arguments."""

    @classmethod
    def _param_names(cls) -> list[str]:
        signature = inspect.signature(cls.__init__)
        return sorted(
            p.name
            for p in signature.parameters.values()
            if p.name != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
        )

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        params = {name: getattr(self, name) for name in self._param_names()}
        if deep:
            for name, value in list(params.items()):
                if hasattr(value, "get_params") and not isinstance(value, type):
                    for sub, v in value.get_params(deep=True).items():
                        params[f"{name}__{sub}"] = v
        return params

    def set_params(self, **params: Any) -> BaseEstimator:
        valid = self.get_params(deep=False)
        nested: dict[str, dict[str, Any]] = {}
        for key, value in params.items():
            name, _, sub = key.partition("__")
            if name not in valid:
                raise ValueError(
                    f"invalid parameter {name!r} for {type(self).__name__}; valid parameters "
                    f"are {sorted(valid)}"
                )
            if sub:
                nested.setdefault(name, {})[sub] = value
            else:
                setattr(self, name, value)
                valid[name] = value
        for name, sub_params in nested.items():
            valid[name].set_params(**sub_params)
        return self

    def __repr__(self) -> str:
        defaults = {
            p.name: p.default for p in inspect.signature(type(self).__init__).parameters.values()
        }
        shown = [
            f"{k}={v!r}"
            for k, v in self.get_params(deep=False).items()
            if k not in defaults or not _same(v, defaults[k])
        ]
        return f"{type(self).__name__}({', '.join(shown)})"

    def __sklearn_tags__(self) -> Any:
        """scikit-learn's Tags for this estimator (scikit-learn imported only when it asks)."""
        from sklearn.utils import ClassifierTags, InputTags, RegressorTags, Tags, TargetTags

        kind = getattr(self, "_estimator_type", None)
        return Tags(
            estimator_type=kind,
            target_tags=TargetTags(required=kind in ("classifier", "regressor")),
            transformer_tags=None,
            classifier_tags=ClassifierTags() if kind == "classifier" else None,
            regressor_tags=RegressorTags() if kind == "regressor" else None,
            input_tags=InputTags(),
        )


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(a is b or a == b)
    except (TypeError, ValueError):  # arrays compare elementwise
        return False


class ClassifierMixin:
    """score = accuracy of predict."""

    _estimator_type = "classifier"

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        from minillm.metrics import accuracy_score

        return accuracy_score(y, self.predict(X), sample_weight=sample_weight)


class RegressorMixin:
    """score = R^2 of predict."""

    _estimator_type = "regressor"

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        from minillm.metrics import r2_score

        return r2_score(y, self.predict(X), sample_weight=sample_weight)


def clone(estimator: Any) -> Any:
    """A new unfitted estimator with the same parameters (nested estimators cloned too); lists
    and tuples of estimators are cloned element by element."""
    if isinstance(estimator, (list, tuple, set, frozenset)):
        return type(estimator)(clone(e) for e in estimator)
    if not hasattr(estimator, "get_params") or isinstance(estimator, type):
        raise TypeError(
            f"cannot clone {estimator!r}: it is not an estimator (it has no get_params method)"
        )
    params = {
        k: clone(v) if hasattr(v, "get_params") and not isinstance(v, type) else copy.deepcopy(v)
        for k, v in estimator.get_params(deep=False).items()
    }
    return type(estimator)(**params)


def estimator_type(estimator: Any) -> str | None:
    """'classifier', 'regressor' or None, from a minillm estimator or a scikit-learn one."""
    kind = getattr(estimator, "_estimator_type", None)
    if kind is None and hasattr(estimator, "__sklearn_tags__"):
        kind = estimator.__sklearn_tags__().estimator_type
    return kind


def is_classifier(estimator: Any) -> bool:
    return estimator_type(estimator) == "classifier"


def is_regressor(estimator: Any) -> bool:
    return estimator_type(estimator) == "regressor"


def check_fitted(estimator: Any, attribute: str) -> None:
    if not hasattr(estimator, attribute):
        raise RuntimeError(
            f"this {type(estimator).__name__} is not fitted yet: call fit before using it"
        )


def as_2d_float(X: Any, dtype: Any, name: str = "X") -> np.ndarray:
    """X as a C-contiguous (n_samples, n_features) float array, or a clear error."""
    data = getattr(X, "data", X) if hasattr(X, "requires_grad") else X
    array = np.asarray(data)
    if array.ndim == 1:
        raise ValueError(
            f"{name} must be 2-D (n_samples, n_features), got a 1-D array of shape "
            f"{array.shape}; reshape it with X.reshape(-1, 1) for one feature"
        )
    if array.ndim != 2:
        raise ValueError(f"{name} must be 2-D (n_samples, n_features), got shape {array.shape}")
    if array.dtype.kind not in "biuf":
        raise ValueError(f"{name} must be numeric, got dtype {array.dtype}")
    array = np.ascontiguousarray(array, dtype=dtype)
    if not np.isfinite(array).all():
        raise ValueError(f"{name} contains NaN or infinity")
    return array
