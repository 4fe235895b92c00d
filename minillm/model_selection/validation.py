"""Cross-validation: fit a fresh copy of a model on each training split, score it on the test split.

Everything here is one loop, written once in ``fit_and_score``:

    for train, test in cv.split(X, y, groups):
        model = clone(estimator).set_params(**candidate)
        model.fit(X[train], y[train])
        scores = {name: scorer(model, X[test], y[test]) for name, scorer in scorers}

``cross_validate`` returns every split's scores and times (and the training scores, the fitted
models and the indices when asked); ``cross_val_score`` just the test scores of one metric;
``learning_curve`` repeats it with growing prefixes of each training split (how much does more
data help?), ``validation_curve`` over the values of one parameter (under- or over-fitting?).
The mean of k test scores estimates how the model does on unseen data; their spread, how much
that estimate depends on the split. A fit that raises gives ``error_score`` (NaN by default,
with a FitFailedWarning) instead of stopping the study, unless ``error_score="raise"``.

Read next: ``minillm/model_selection/search.py`` (the same loop over many candidates).
"""

from __future__ import annotations

import numbers
import time
import traceback
import warnings
from typing import Any

import numpy as np

from minillm.model_selection.base import clone, is_classifier
from minillm.model_selection.jobs import run_tasks
from minillm.model_selection.scoring import check_scoring
from minillm.model_selection.shuffle import take
from minillm.model_selection.splits import check_cv, check_random_state, num_samples


class FitFailedWarning(RuntimeWarning):
    """A fit raised; its scores were set to error_score."""


def check_lengths(X: Any, y: Any, groups: Any = None) -> int:
    n = num_samples(X)
    for name, a in (("y", y), ("groups", groups)):
        if a is not None and num_samples(a) != n:
            raise ValueError(f"X has {n} samples but {name} has {num_samples(a)}")
    return n


def as_scorer_dict(estimator: Any, scoring: Any) -> tuple[dict, bool]:
    """(name -> scorer, several?) — one scorer is called "score"."""
    scorers = check_scoring(estimator, scoring)
    if isinstance(scorers, dict):
        return scorers, True
    return {"score": scorers}, False


def _check_error_score(error_score: Any) -> bool:
    """True for "raise"; a number is the score a failed fit or scorer gets."""
    if isinstance(error_score, str) and error_score == "raise":
        return True
    if isinstance(error_score, bool) or not isinstance(error_score, numbers.Real):
        raise ValueError(f"error_score must be 'raise' or a number, got {error_score!r}")
    return False


def _score(scorers: dict, model: Any, X: Any, y: Any, error_score: Any,
           score_params: dict) -> dict[str, float]:  # fmt: skip
    """Each scorer's value; one that raises gets error_score (with a warning), as in sklearn."""
    scores = {}
    for name, scorer in scorers.items():
        try:
            value = scorer(model, X, y, **score_params)
        except Exception as error:
            if _check_error_score(error_score):
                raise
            message = f"scoring {name!r} failed and was set to {error_score}: {error!r}"
            warnings.warn(message, UserWarning, stacklevel=2)
            value = error_score
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise ValueError(f"scorer {name!r} returned {value!r}, not a number")
        scores[name] = float(value)
    return scores


def split_fit_params(fit_params: dict | None, n: int, rows: np.ndarray) -> dict:
    """Fit parameters with one value per sample (sample_weight, groups) cut to ``rows``; the
    others passed as they are (scikit-learn's rule)."""
    out = {}
    for key, value in (fit_params or {}).items():
        per_sample = hasattr(value, "__len__") and not isinstance(value, (str, dict))
        out[key] = take(value, rows) if per_sample and num_samples(value) == n else value
    return out


def fit_and_score(
    estimator: Any,
    X: Any,
    y: Any,
    scorers: dict,
    train: np.ndarray,
    test: np.ndarray,
    parameters: dict | None = None,
    fit_params: dict | None = None,
    return_train_score: bool = False,
    return_estimator: bool = False,
    error_score: Any = np.nan,
    score_params: dict | None = None,
) -> dict[str, Any]:
    """Fit a clone with ``parameters`` on ``train`` and score it on ``test`` (and on ``train``);
    per-sample ``fit_params`` and ``score_params`` (sample_weight) are cut to the rows used."""
    model = clone(estimator)
    if parameters:
        model.set_params(**parameters)
    X_train, X_test = take(X, train), take(X, test)
    y_train, y_test = (None, None) if y is None else (take(y, train), take(y, test))
    n = num_samples(X)
    fit_params = split_fit_params(fit_params, n, train)
    result: dict[str, Any] = {"n_train": len(train), "fit_error": None}
    start = time.perf_counter()
    try:
        if y is None:
            model.fit(X_train, **fit_params)
        else:
            model.fit(X_train, y_train, **fit_params)
    except Exception as error:
        if _check_error_score(error_score):
            raise
        result["fit_time"], result["score_time"] = time.perf_counter() - start, 0.0
        result["fit_error"] = "".join(traceback.format_exception_only(type(error), error))
        result["test"] = dict.fromkeys(scorers, float(error_score))
        if return_train_score:
            result["train"] = dict.fromkeys(scorers, float(error_score))
        return result
    result["fit_time"] = time.perf_counter() - start
    start = time.perf_counter()
    test_params = split_fit_params(score_params, n, test)
    result["test"] = _score(scorers, model, X_test, y_test, error_score, test_params)
    result["score_time"] = time.perf_counter() - start
    if return_train_score:
        train_params = split_fit_params(score_params, n, train)
        result["train"] = _score(scorers, model, X_train, y_train, error_score, train_params)
    if return_estimator:
        result["estimator"] = model
    return result


def warn_failed_fits(results: list[dict], error_score: Any) -> None:
    failed = [r["fit_error"] for r in results if r["fit_error"]]
    if not failed:
        return
    if len(failed) == len(results):
        raise ValueError(f"all {len(results)} fits failed; the first error was:\n{failed[0]}")
    warnings.warn(
        f"{len(failed)} of the {len(results)} fits failed and were scored {error_score}; "
        f"the first error was:\n{failed[0]}",
        FitFailedWarning,
        stacklevel=3,
    )


def cross_validate(
    estimator: Any,
    X: Any,
    y: Any = None,
    *,
    groups: Any = None,
    scoring: Any = None,
    cv: Any = None,
    n_jobs: int | None = None,
    verbose: int = 0,
    params: dict | None = None,
    return_train_score: bool = False,
    return_estimator: bool = False,
    return_indices: bool = False,
    error_score: Any = np.nan,
) -> dict[str, Any]:
    """Scores and times of each split: ``fit_time``, ``score_time``, ``test_score`` (or
    ``test_<name>`` for several scorings), ``train_*`` when asked, ``estimator``, ``indices``."""
    check_lengths(X, y, groups)
    scorers, several = as_scorer_dict(estimator, scoring)
    splitter = check_cv(cv, y, classifier=is_classifier(estimator))
    splits = list(splitter.split(X, y, groups))
    tasks = [
        (estimator, X, y, scorers, train, test, None, params, return_train_score,
         return_estimator, error_score)
        for train, test in splits
    ]  # fmt: skip
    results = run_tasks(fit_and_score, tasks, n_jobs)
    warn_failed_fits(results, error_score)
    if verbose:
        for i, r in enumerate(results):
            shown = ", ".join(f"{k}={v:.3f}" for k, v in r["test"].items())
            print(f"[CV {i + 1}/{len(results)}] {shown}  fit {r['fit_time']:.2f}s")
    out: dict[str, Any] = {
        "fit_time": np.array([r["fit_time"] for r in results]),
        "score_time": np.array([r["score_time"] for r in results]),
    }
    for side in ("test", "train") if return_train_score else ("test",):
        for name in scorers:
            key = f"{side}_{name}" if several else f"{side}_score"
            out[key] = np.array([r[side][name] for r in results])
    if return_estimator:
        out["estimator"] = [r.get("estimator") for r in results]
    if return_indices:
        out["indices"] = {"train": [s[0] for s in splits], "test": [s[1] for s in splits]}
    return out


def cross_val_score(
    estimator: Any,
    X: Any,
    y: Any = None,
    *,
    groups: Any = None,
    scoring: Any = None,
    cv: Any = None,
    n_jobs: int | None = None,
    verbose: int = 0,
    params: dict | None = None,
    error_score: Any = np.nan,
) -> np.ndarray:
    """The test score of each split, for one scoring (a name, a callable, or None: ``score``)."""
    if isinstance(scoring, (list, tuple, set, dict)):
        raise ValueError("cross_val_score takes one scoring; use cross_validate for several")
    result = cross_validate(
        estimator, X, y, groups=groups, scoring=scoring, cv=cv, n_jobs=n_jobs, verbose=verbose,
        params=params, error_score=error_score,
    )  # fmt: skip
    return result["test_score"]


def train_sizes_from(train_sizes: Any, n_max: int) -> np.ndarray:
    """Absolute training-set sizes from fractions in (0, 1] of n_max, or from counts."""
    sizes = np.asarray(train_sizes)
    if sizes.ndim != 1 or len(sizes) == 0:
        raise ValueError(f"train_sizes must be a non-empty 1-D list, got {train_sizes!r}")
    if sizes.dtype.kind == "f":
        if sizes.min() <= 0 or sizes.max() > 1:
            raise ValueError(f"fractional train_sizes must be in (0, 1], got {sizes.tolist()}")
        absolute = np.clip((sizes * n_max).astype(int), 1, n_max)
    else:
        if sizes.min() <= 0 or sizes.max() > n_max:
            raise ValueError(
                f"train_sizes must be counts in [1, {n_max}] (the first training split), "
                f"got {sizes.tolist()}"
            )
        absolute = sizes.astype(int)
    unique = np.unique(absolute)
    if len(unique) < len(absolute):
        warnings.warn(
            f"some train_sizes are the same number of samples; using {unique.tolist()}",
            RuntimeWarning,
            stacklevel=3,
        )
    return unique


def learning_curve(
    estimator: Any,
    X: Any,
    y: Any,
    *,
    groups: Any = None,
    train_sizes: Any = (0.1, 0.325, 0.55, 0.775, 1.0),
    cv: Any = None,
    scoring: Any = None,
    n_jobs: int | None = None,
    shuffle: bool = False,
    random_state: Any = None,
    error_score: Any = np.nan,
    return_times: bool = False,
) -> tuple:
    """``(train_sizes_abs, train_scores, test_scores[, fit_times, score_times])``; the score
    arrays have shape (n_sizes, n_splits): a model fitted on the first n samples of each
    training split (shuffled first when ``shuffle``), scored on that split's test set."""
    check_lengths(X, y, groups)
    scorers, several = as_scorer_dict(estimator, scoring)
    if several:
        raise ValueError("learning_curve takes one scoring")
    splits = list(check_cv(cv, y, classifier=is_classifier(estimator)).split(X, y, groups))
    if shuffle:
        rng = check_random_state(random_state)
        splits = [(rng.permutation(train), test) for train, test in splits]
    sizes = train_sizes_from(train_sizes, len(splits[0][0]))  # the first split, as sklearn
    tasks = [
        (estimator, X, y, scorers, train[:n], test, None, None, True, False, error_score)
        for train, test in splits
        for n in sizes
    ]
    results = run_tasks(fit_and_score, tasks, n_jobs)
    warn_failed_fits(results, error_score)

    def grid(pick: Any) -> np.ndarray:  # (n_sizes, n_splits)
        return np.array([pick(r) for r in results]).reshape(len(splits), len(sizes)).T

    out = (sizes, grid(lambda r: r["train"]["score"]), grid(lambda r: r["test"]["score"]))
    if return_times:
        out += (grid(lambda r: r["fit_time"]), grid(lambda r: r["score_time"]))
    return out


def validation_curve(
    estimator: Any,
    X: Any,
    y: Any,
    *,
    param_name: str,
    param_range: Any,
    groups: Any = None,
    cv: Any = None,
    scoring: Any = None,
    n_jobs: int | None = None,
    error_score: Any = np.nan,
) -> tuple[np.ndarray, np.ndarray]:
    """``(train_scores, test_scores)`` of shape (len(param_range), n_splits): the model with
    ``param_name`` set to each value, cross-validated."""
    check_lengths(X, y, groups)
    scorers, several = as_scorer_dict(estimator, scoring)
    if several:
        raise ValueError("validation_curve takes one scoring")
    values = list(param_range)
    if not values:
        raise ValueError("param_range is empty")
    clone(estimator).set_params(**{param_name: values[0]})  # a bad name fails now, not in a fit
    splits = list(check_cv(cv, y, classifier=is_classifier(estimator)).split(X, y, groups))
    tasks = [
        (estimator, X, y, scorers, train, test, {param_name: v}, None, True, False, error_score)
        for train, test in splits
        for v in values
    ]
    results = run_tasks(fit_and_score, tasks, n_jobs)
    warn_failed_fits(results, error_score)
    train = np.array([r["train"]["score"] for r in results]).reshape(len(splits), len(values))
    test = np.array([r["test"]["score"] for r in results]).reshape(len(splits), len(values))
    return train.T, test.T
