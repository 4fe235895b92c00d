"""``BayesSearchCV``: a search whose next candidate is chosen by a model of the ones tried so far.

Grid and random search decide every candidate before seeing any score. Here each round is

    x = optimizer.ask()                       # largest expected improvement under the GP
    score = mean cross-validated score at x   # the same evaluate() as every search
    optimizer.tell(x, -score)                 # the optimizer minimises, the search maximises

with ``minillm.model_selection.Optimizer`` (a Gaussian process over the unit cube, after
``n_initial_points`` random candidates). ``search_spaces`` maps each parameter to a ``Real``,
``Integer`` or ``Categorical`` (or their shorthands: a (low, high) tuple, a list of choices).
``n_points`` > 1 asks for several candidates per round, evaluated together (in ``n_jobs``
processes): after each ask the optimizer is told the mean score so far at that point (the
"constant liar"), so the candidates of a round differ. A candidate whose fits all failed is told
the worst score seen (so the model learns to avoid it). The shapes follow scikit-optimize's
``BayesSearchCV``; ``optimizer_`` keeps the optimizer, with its trace of the surrogate's mean, std
and acquisition at each point it chose.

Read next: ``minillm/model_selection/bayes.py`` (the optimizer) and ``neural.py``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from minillm.model_selection.bayes import Optimizer
from minillm.model_selection.search import BaseSearchCV
from minillm.model_selection.space import check_dimension


class BayesSearchCV(BaseSearchCV):
    """Cross-validate ``n_iter`` candidates proposed one round at a time by a GP optimizer."""

    def __init__(self, estimator: Any, search_spaces: Mapping, *, n_iter: int = 50,
                 optimizer_kwargs: dict | None = None, scoring: Any = None,
                 n_jobs: int | None = None, n_points: int = 1, refit: Any = True, cv: Any = None,
                 verbose: int = 0, random_state: Any = None, error_score: Any = np.nan,
                 return_train_score: bool = False) -> None:  # fmt: skip
        super().__init__(estimator, scoring=scoring, n_jobs=n_jobs, refit=refit, cv=cv,
                         verbose=verbose, error_score=error_score,
                         return_train_score=return_train_score)  # fmt: skip
        self.search_spaces, self.n_iter, self.n_points = search_spaces, n_iter, n_points
        self.optimizer_kwargs, self.random_state = optimizer_kwargs, random_state

    def _dimensions(self) -> tuple[list[str], list]:
        if not isinstance(self.search_spaces, Mapping) or not self.search_spaces:
            raise ValueError(
                "search_spaces must be a non-empty dict of parameter name -> dimension, got "
                f"{self.search_spaces!r}"
            )
        names = sorted(self.search_spaces)
        dimensions = []
        for name in names:
            dim = copy.copy(check_dimension(self.search_spaces[name]))
            dim.name = name
            dimensions.append(dim)
        return names, dimensions

    def _run_search(self, evaluate: Callable[[list[dict]], dict]) -> None:
        for name, value in (("n_iter", self.n_iter), ("n_points", self.n_points)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        names, dimensions = self._dimensions()
        kwargs = {"n_initial_points": min(10, self.n_iter), **(self.optimizer_kwargs or {})}
        optimizer = Optimizer(dimensions, random_state=self.random_state, **kwargs)
        key = f"mean_test_{self._refit_key}"
        done = 0
        while done < self.n_iter:
            points = self._ask(optimizer, min(self.n_points, self.n_iter - done))
            results = evaluate([dict(zip(names, p)) for p in points])
            scores = np.asarray(results[key][-len(points) :], dtype=np.float64)
            seen = np.asarray(results[key], dtype=np.float64)
            worst = np.nanmin(seen) if np.isfinite(seen).any() else 0.0
            optimizer.tell(points, [-(s if np.isfinite(s) else worst) for s in scores])
            done += len(points)
        self.optimizer_ = optimizer

    @staticmethod
    def _ask(optimizer: Optimizer, n: int) -> list[list]:
        """n candidates: ask, pretend the answer is the mean so far, ask again (on a copy, whose
        random stream the optimizer then continues, so the next round draws new points)."""
        if n == 1:
            return [optimizer.ask()]
        liar = copy.deepcopy(optimizer)
        lie = float(np.mean(optimizer.yi)) if optimizer.yi else 0.0
        points = []
        for _ in range(n):
            point = liar.ask()
            points.append(point)
            liar.tell(point, lie)
        optimizer.rng = liar.rng
        return points

    @property
    def total_iterations(self) -> int:
        return self.n_iter
