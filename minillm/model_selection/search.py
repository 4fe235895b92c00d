"""Hyperparameter search: cross-validate every candidate setting, keep the best, refit it.

A search is cross-validation (``fit_and_score``) over candidates, with one difference between
the kinds — who proposes the candidates:

    GridSearchCV         every combination of the listed values (``ParameterGrid``)
    RandomizedSearchCV   n_iter draws from lists and distributions (``ParameterSampler``)
    BayesSearchCV        a Gaussian-process model of score vs setting picks each next candidate
                         (``bayes_search.py``, built on the same ``evaluate``)

Each kind implements ``_run_search(evaluate)``: it calls ``evaluate(list_of_candidates)`` as
often as it likes, and gets back the results so far, which is all a sequential method needs.
After the search, ``cv_results_`` holds scikit-learn's columns (``params``, ``param_<name>``,
``split<i>_test_<score>``, ``mean_/std_/rank_test_<score>``, the fit and score times, and the
train scores when asked), ``best_index_``/``best_params_``/``best_score_`` the winner by
``refit``'s metric, and ``best_estimator_`` the winner refitted on all the data, to which
``predict``, ``predict_proba``, ``score`` ... are passed on.

Read next: ``minillm/model_selection/bayes_search.py`` (the search that learns where to look).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from minillm.model_selection.base import (
    BaseEstimator,
    check_fitted,
    clone,
    estimator_type,
    is_classifier,
)
from minillm.model_selection.jobs import run_tasks
from minillm.model_selection.splits import check_cv, check_random_state
from minillm.model_selection.validation import (
    as_scorer_dict,
    check_lengths,
    fit_and_score,
    warn_failed_fits,
)


def _grids(param_grid: Any, name: str) -> list[dict]:
    grids = [param_grid] if isinstance(param_grid, Mapping) else list(param_grid)
    for grid in grids:
        if not isinstance(grid, Mapping):
            raise TypeError(f"{name} must be a dict or a list of dicts, got {grid!r}")
        for key, values in grid.items():
            if isinstance(values, str) or not (
                isinstance(values, Sequence | np.ndarray) or hasattr(values, "rvs")
            ):
                raise TypeError(
                    f"{name}[{key!r}] must be a list of values"
                    + (" or a distribution with rvs()" if name != "param_grid" else "")
                    + f", got {values!r}"
                )
            if not hasattr(values, "rvs") and len(values) == 0:
                raise ValueError(f"{name}[{key!r}] is an empty list")
    return grids


class ParameterGrid:
    """Every combination of the values in a dict (or in each dict of a list), keys sorted.

    >>> list(ParameterGrid({"b": [1, 2], "a": ["x"]}))
    [{'a': 'x', 'b': 1}, {'a': 'x', 'b': 2}]
    """

    def __init__(self, param_grid: Any) -> None:
        self.grids = _grids(param_grid, "param_grid")
        for grid in self.grids:
            for key, values in grid.items():
                if hasattr(values, "rvs"):
                    raise TypeError(f"param_grid[{key!r}] is a distribution; grids take lists")

    def __iter__(self) -> Iterator[dict]:
        for grid in self.grids:
            keys = sorted(grid)
            for values in itertools.product(*(grid[k] for k in keys)):
                yield dict(zip(keys, values))

    def __len__(self) -> int:
        return sum(int(np.prod([len(v) for v in grid.values()])) for grid in self.grids)

    def __getitem__(self, index: int) -> dict:
        if not -len(self) <= index < len(self):
            raise IndexError(f"ParameterGrid index {index} out of range for {len(self)} settings")
        index %= len(self)
        for grid in self.grids:
            size = int(np.prod([len(v) for v in grid.values()]))
            if index < size:
                params = {}
                for key in sorted(grid, reverse=True):  # the last key varies fastest
                    index, position = divmod(index, len(grid[key]))
                    params[key] = grid[key][position]
                return dict(sorted(params.items()))
            index -= size
        raise AssertionError("unreachable")


class ParameterSampler:
    """``n_iter`` settings drawn at random: a list is sampled uniformly, anything with
    ``rvs(random_state=...)`` (a scipy.stats distribution, or a search space dimension) is drawn
    from. When every entry is a list, settings are drawn from the grid without replacement (and
    at most the whole grid is returned)."""

    def __init__(self, param_distributions: Any, n_iter: int, *, random_state: Any = None):
        self.grids = _grids(param_distributions, "param_distributions")
        if not isinstance(n_iter, int) or n_iter < 1:
            raise ValueError(f"n_iter must be a positive integer, got {n_iter!r}")
        self.n_iter, self.random_state = n_iter, random_state

    def _all_lists(self) -> bool:
        return all(not hasattr(v, "rvs") for grid in self.grids for v in grid.values())

    def __len__(self) -> int:
        if not self._all_lists():
            return self.n_iter
        return min(self.n_iter, len(ParameterGrid(self.grids)))

    def __iter__(self) -> Iterator[dict]:
        rng = check_random_state(self.random_state)
        if self._all_lists():
            grid = ParameterGrid(self.grids)
            for i in rng.permutation(len(grid))[: len(self)]:
                yield grid[int(i)]
            return
        for _ in range(self.n_iter):
            grid = self.grids[rng.randint(len(self.grids))]
            params = {}
            for key in sorted(grid):
                values = grid[key]
                if hasattr(values, "rvs"):
                    params[key] = values.rvs(random_state=rng)
                else:
                    params[key] = values[rng.randint(len(values))]
            yield params


def _masked_columns(candidates: list[dict]) -> dict[str, np.ma.MaskedArray]:
    """param_<name> columns: the value where the candidate sets it, masked where it does not;
    a numeric dtype when the values allow one, else object (scikit-learn's rule)."""
    names = list(dict.fromkeys(name for c in candidates for name in c))
    columns = {}
    for name in names:
        try:
            values = np.array([c[name] for c in candidates if name in c])
            dtype = values.dtype if values.dtype.kind != "U" and values.ndim == 1 else object
        except ValueError:  # lists of different lengths
            dtype = np.dtype(object)
        column = np.ma.MaskedArray(np.empty(len(candidates), dtype=dtype), mask=True)
        for i, candidate in enumerate(candidates):
            if name in candidate:
                column[i] = candidate[name]
        columns[f"param_{name}"] = column
    return columns


def _rank(means: np.ndarray) -> np.ndarray:
    """1 for the best mean, ties share the smaller rank; NaN ranks last."""
    if np.isnan(means).all():
        return np.ones(len(means), dtype=np.int32)
    filled = np.where(np.isnan(means), np.nanmin(means) - 1, means)
    order = -filled
    return (np.searchsorted(np.sort(order), order, side="left") + 1).astype(np.int32)


def _passed_on(name: str) -> property:
    """The refit best estimator's method ``name``, present only if that estimator has it (so
    ``hasattr(search, "decision_function")`` tells the truth, as scorers rely on)."""

    def get(self: BaseSearchCV) -> Callable:
        owner = getattr(self, "best_estimator_", self.estimator)
        if not hasattr(owner, name):
            raise AttributeError(f"{type(owner).__name__} has no {name}, so this search has none")
        return lambda X: getattr(self._best(), name)(X)

    return property(get, doc=f"best_estimator_.{name}(X)")


class BaseSearchCV(BaseEstimator):
    """The loop shared by every search; subclasses say which candidates to try."""

    def __init__(self, estimator: Any, *, scoring: Any = None, n_jobs: int | None = None,
                 refit: Any = True, cv: Any = None, verbose: int = 0, error_score: Any = np.nan,
                 return_train_score: bool = False) -> None:  # fmt: skip
        self.estimator, self.scoring, self.n_jobs, self.refit = estimator, scoring, n_jobs, refit
        self.cv, self.verbose, self.error_score = cv, verbose, error_score
        self.return_train_score = return_train_score

    @property
    def _estimator_type(self) -> str | None:
        """What the searched estimator is (a search over a classifier is a classifier)."""
        return estimator_type(self.estimator)

    def _run_search(self, evaluate: Callable[[list[dict]], dict]) -> None:
        raise NotImplementedError

    def _refit_metric(self, several: bool, names: list[str]) -> str:
        if not several:
            return "score"
        if callable(self.refit) or self.refit is False:
            return names[0]
        if self.refit not in names:
            raise ValueError(
                f"with several scorings, refit must be one of their names {names}, a callable "
                f"or False; got {self.refit!r}"
            )
        return self.refit

    def fit(self, X: Any, y: Any = None, *, groups: Any = None, **fit_params: Any) -> BaseSearchCV:
        check_lengths(X, y, groups)
        scorers, several = as_scorer_dict(self.estimator, self.scoring)
        self._refit_key = self._refit_metric(several, list(scorers)) if several else "score"
        splits = list(check_cv(self.cv, y, classifier=is_classifier(self.estimator)).split(
            X, y, groups))  # fmt: skip
        candidates: list[dict] = []
        results: list[dict] = []
        # as scikit-learn does, a sample_weight given to fit also weights the scores
        weights = fit_params.get("sample_weight")
        score_params = {} if weights is None else {"sample_weight": weights}

        def evaluate(new: list[dict]) -> dict:
            tasks = [
                (self.estimator, X, y, scorers, train, test, dict(c), fit_params,
                 self.return_train_score, False, self.error_score, score_params)
                for c in new
                for train, test in splits
            ]  # fmt: skip
            found = run_tasks(fit_and_score, tasks, self.n_jobs)
            if self.verbose:
                print(f"fitted {len(splits)} folds for each of {len(new)} candidates")
            candidates.extend(dict(c) for c in new)
            results.extend(found)
            return self._format(candidates, results, len(splits), scorers, several)

        self._run_search(evaluate)
        if not candidates:
            raise ValueError("the search tried no candidates")
        warn_failed_fits(results, self.error_score)
        self.cv_results_ = self._format(candidates, results, len(splits), scorers, several)
        self.n_splits_, self.multimetric_ = len(splits), several
        self.scorer_ = scorers if several else scorers["score"]
        key = self._refit_key
        if self.refit is False and several:
            return self  # no single "best" without a metric to rank by (as scikit-learn)
        if callable(self.refit):
            self.best_index_ = int(self.refit(self.cv_results_))
        else:
            self.best_index_ = int(np.argmin(self.cv_results_[f"rank_test_{key}"]))
            self.best_score_ = float(self.cv_results_[f"mean_test_{key}"][self.best_index_])
        self.best_params_ = candidates[self.best_index_]
        if self.refit is not False:
            self.best_estimator_ = clone(self.estimator).set_params(**self.best_params_)
            start = time.perf_counter()
            if y is None:
                self.best_estimator_.fit(X, **fit_params)
            else:
                self.best_estimator_.fit(X, y, **fit_params)
            self.refit_time_ = time.perf_counter() - start
            for name in ("classes_", "n_features_in_"):
                if hasattr(self.best_estimator_, name):
                    setattr(self, name, getattr(self.best_estimator_, name))
        return self

    @staticmethod
    def _format(candidates: list, results: list, k: int, scorers: dict, several: bool) -> dict:
        n = len(candidates)
        out: dict[str, Any] = {}
        for name in ("fit_time", "score_time"):
            times = np.array([r[name] for r in results]).reshape(n, k)
            out[f"mean_{name}"], out[f"std_{name}"] = times.mean(axis=1), times.std(axis=1)
        out.update(_masked_columns(candidates))
        out["params"] = list(candidates)
        sides = ("test", "train") if "train" in results[0] else ("test",)
        for name in scorers:
            for side in sides:
                key = f"{side}_{name}" if several else f"{side}_score"
                scores = np.array([r[side][name] for r in results]).reshape(n, k)
                for i in range(k):
                    out[f"split{i}_{key}"] = scores[:, i]
                out[f"mean_{key}"], out[f"std_{key}"] = scores.mean(axis=1), scores.std(axis=1)
                if side == "test":
                    out[f"rank_{key}"] = _rank(out[f"mean_{key}"])
        return out

    def _best(self) -> Any:
        if self.refit is False:
            raise AttributeError("this search was run with refit=False: it has no best_estimator_")
        check_fitted(self, "best_estimator_")
        return self.best_estimator_

    predict = _passed_on("predict")
    predict_proba = _passed_on("predict_proba")
    predict_log_proba = _passed_on("predict_log_proba")
    decision_function = _passed_on("decision_function")
    transform = _passed_on("transform")

    def score(self, X: Any, y: Any = None) -> float:
        """The refit model's score by the search's scoring (refit's metric if several)."""
        best = self._best()
        scorer = self.scorer_[self._refit_key] if self.multimetric_ else self.scorer_
        return float(scorer(best, X, y))


class GridSearchCV(BaseSearchCV):
    """Cross-validate every setting of ``param_grid`` (a dict of lists, or a list of them)."""

    def __init__(self, estimator: Any, param_grid: Any, *, scoring: Any = None,
                 n_jobs: int | None = None, refit: Any = True, cv: Any = None, verbose: int = 0,
                 error_score: Any = np.nan, return_train_score: bool = False) -> None:  # fmt: skip
        super().__init__(estimator, scoring=scoring, n_jobs=n_jobs, refit=refit, cv=cv,
                         verbose=verbose, error_score=error_score,
                         return_train_score=return_train_score)  # fmt: skip
        self.param_grid = param_grid

    def _run_search(self, evaluate: Callable[[list[dict]], dict]) -> None:
        evaluate(list(ParameterGrid(self.param_grid)))


class RandomizedSearchCV(BaseSearchCV):
    """Cross-validate ``n_iter`` settings drawn from ``param_distributions``."""

    def __init__(self, estimator: Any, param_distributions: Any, *, n_iter: int = 10,
                 scoring: Any = None, n_jobs: int | None = None, refit: Any = True, cv: Any = None,
                 verbose: int = 0, random_state: Any = None, error_score: Any = np.nan,
                 return_train_score: bool = False) -> None:  # fmt: skip
        super().__init__(estimator, scoring=scoring, n_jobs=n_jobs, refit=refit, cv=cv,
                         verbose=verbose, error_score=error_score,
                         return_train_score=return_train_score)  # fmt: skip
        self.param_distributions, self.n_iter = param_distributions, n_iter
        self.random_state = random_state

    def _run_search(self, evaluate: Callable[[list[dict]], dict]) -> None:
        sampler = ParameterSampler(
            self.param_distributions, self.n_iter, random_state=self.random_state
        )
        evaluate(list(sampler))
