"""Bayesian optimization: an ask/tell ``Optimizer``, ``gp_minimize`` and ``dummy_minimize``.

To minimise an expensive f over a search space, evaluate it at a few random points, then repeat:

1. fit a Gaussian process to the points seen so far (in the unit cube, ``space.py``),
2. evaluate f where an *acquisition function* of the posterior mean m(x) and std s(x) is largest,
3. add the new point and go to 1.

The acquisition trades exploiting a low mean against exploring a large std. With y* the value to
beat (the lowest posterior mean at the points evaluated: the best value seen when f has no noise,
and not fooled by a lucky draw when it has), z = (y* - m - xi) / s, and Phi, phi the standard
normal cdf and pdf:

    expected improvement      EI(x)  = (y* - m - xi) Phi(z) + s phi(z)    = E[max(y* - xi - f, 0)]
    probability of improvement PI(x) = Phi(z)
    lower confidence bound    LCB(x) = m - kappa s     (smaller is better: maximise -LCB)

``xi`` (default 0.01, in y's units) asks for a little more than a tie; ``kappa`` (default 1.96)
weighs the std. Jones, Schonlau & Welch (1998), "Efficient global optimization of expensive
black-box functions"; Srinivas et al. (2010) for the confidence bound.

The acquisition is maximised in the unit cube: score ``n_points`` random points from the prior,
refine the best ``n_restarts_optimizer`` of them with L-BFGS-B inside [0, 1]^D, map the refined
points back to the space (an Integer rounds, a Categorical takes its largest one-hot column),
score them again as mapped, and keep the best. The results follow scikit-optimize: ``gp_minimize``
calls ``func`` exactly ``n_calls`` times (evaluating ``x0`` counts when no ``y0`` is given; the
``n_initial_points`` random points come after it) and returns a ``scipy.optimize.OptimizeResult``
with ``x``, ``fun``, ``x_iters``, ``func_vals``, ``space``, ``models`` and, here, ``trace``: the
surrogate's mean, std and acquisition value at each point it chose. One ``random_state`` seeds
everything, so the same seed gives the same sequence of points.

Read next: ``benchmarks/bench_search.py`` (how it compares with random search, skopt and TPE).
"""

from __future__ import annotations

import functools
import numbers
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from scipy.optimize import OptimizeResult, minimize
from scipy.stats import norm
from threadpoolctl import ThreadpoolController

from minillm.model_selection.gp import GaussianProcess
from minillm.model_selection.space import Space, as_generator

ACQUISITIONS = ("EI", "PI", "LCB")


def expected_improvement(mean: Any, std: Any, y_best: float, xi: float = 0.01) -> np.ndarray:
    """E[max(y_best - xi - f(x), 0)] for f(x) ~ N(mean, std^2); ``max(gain, 0)`` where std = 0.

    >>> float(expected_improvement(0.0, 1.0, y_best=0.0, xi=0.0).round(6))  # = phi(0)
    0.398942
    """
    mean, std = np.asarray(mean, dtype=np.float64), np.asarray(std, dtype=np.float64)
    gain = y_best - xi - mean
    safe = np.where(std > 0, std, 1.0)
    with np.errstate(over="ignore"):  # a tiny std makes z huge: pdf 0, cdf 0 or 1, as it should
        z = gain / safe
        ei = gain * norm.cdf(z) + safe * norm.pdf(z)
    return np.where(std > 0, np.maximum(ei, 0.0), np.maximum(gain, 0.0))


def probability_of_improvement(mean: Any, std: Any, y_best: float, xi: float = 0.01) -> np.ndarray:
    """P[f(x) < y_best - xi] for f(x) ~ N(mean, std^2)."""
    mean, std = np.asarray(mean, dtype=np.float64), np.asarray(std, dtype=np.float64)
    gain = y_best - xi - mean
    with np.errstate(over="ignore"):
        z = gain / np.where(std > 0, std, 1.0)
    return np.where(std > 0, norm.cdf(z), (gain > 0).astype(np.float64))


def lower_confidence_bound(mean: Any, std: Any, kappa: float = 1.96) -> np.ndarray:
    """mean - kappa * std: an optimistic guess of f(x), to be minimised."""
    return np.asarray(mean, dtype=np.float64) - kappa * np.asarray(std, dtype=np.float64)


@functools.cache
def _threadpools() -> ThreadpoolController:
    return ThreadpoolController()


def _one_blas_thread() -> Any:
    """A context with BLAS on one thread. The surrogate's matrices are n x n for n evaluations
    (tens to hundreds): a thread pool only adds hand-off cost there, and on a busy machine its
    spinning threads can make each small product many times slower."""
    return _threadpools().limit(limits=1, user_api="blas")


def _check_options(given: dict | None, allowed: dict, what: str) -> dict:
    unknown = set(given or {}) - set(allowed)
    if unknown:
        raise ValueError(f"unknown {what} {sorted(unknown)}; known: {sorted(allowed)}")
    return {**allowed, **(given or {})}


class Optimizer:
    """Ask for a point, evaluate it yourself, tell the value; the next ask uses what it was told.

    Args:
        dimensions: a ``Space`` or what ``Space`` accepts (dimensions or their shorthands).
        n_initial_points: points drawn at random before the Gaussian process is used (points told
            before that, such as a user's own starting points, count among them).
        acq_func: "EI", "PI" or "LCB".
        acq_func_kwargs: {"xi": 0.01, "kappa": 1.96}.
        acq_optimizer_kwargs: {"n_points": 2000, "n_restarts_optimizer": 5}.
        base_estimator: "GP" (Bayesian optimization) or "dummy" (random search, no model).
        gp_kwargs: keyword arguments for ``GaussianProcess`` (bounds, restarts).
        random_state: None, an int or a Generator; seeds every draw.
        verbose: print the surrogate's mean, std and acquisition at each point it chooses.

    ``Xi`` and ``yi`` hold what was told, ``models`` the fitted processes, ``trace`` one dict per
    model-chosen point: iteration, x, mean, std, acquisition.

    >>> opt = Optimizer([(-2.0, 2.0)], n_initial_points=3, random_state=0)
    >>> for _ in range(6):
    ...     x = opt.ask()
    ...     _ = opt.tell(x, (x[0] - 0.5) ** 2)
    >>> len(opt.yi), len(opt.models), bool(min(opt.yi) < 0.05)
    (6, 4, True)
    """

    def __init__(
        self,
        dimensions: Any,
        n_initial_points: int = 10,
        acq_func: str = "EI",
        acq_func_kwargs: dict | None = None,
        acq_optimizer_kwargs: dict | None = None,
        base_estimator: str = "GP",
        gp_kwargs: dict | None = None,
        random_state: Any = None,
        verbose: bool = False,
    ):
        if acq_func not in ACQUISITIONS:
            raise ValueError(f"acq_func must be one of {ACQUISITIONS}, got {acq_func!r}")
        if base_estimator not in ("GP", "dummy"):
            raise ValueError(f"base_estimator must be 'GP' or 'dummy', got {base_estimator!r}")
        if not isinstance(n_initial_points, numbers.Integral) or n_initial_points < 0:
            raise ValueError(f"n_initial_points must be an int >= 0, got {n_initial_points!r}")
        self.space = Space(dimensions)
        self.n_initial_points, self.acq_func, self.verbose = n_initial_points, acq_func, verbose
        self.acq_func_kwargs = _check_options(
            acq_func_kwargs, {"xi": 0.01, "kappa": 1.96}, "acq_func_kwargs"
        )
        self.acq_optimizer_kwargs = _check_options(
            acq_optimizer_kwargs,
            {"n_points": 2000, "n_restarts_optimizer": 5},
            "acq_optimizer_kwargs",
        )
        if self.acq_optimizer_kwargs["n_points"] < 1:
            raise ValueError(f"n_points must be >= 1, got {self.acq_optimizer_kwargs['n_points']}")
        self.base_estimator, self.gp_kwargs = base_estimator, dict(gp_kwargs or {})
        self.rng = as_generator(random_state)
        self.Xi: list[list] = []
        self.yi: list[float] = []
        self.models: list[GaussianProcess] = []
        self.trace: list[dict] = []
        self._next: list | None = None  # ask() is idempotent until the next tell()

    def _uses_model(self) -> bool:
        return self.base_estimator == "GP" and len(self.yi) >= max(self.n_initial_points, 1)

    def ask(self) -> list:
        """The next point to evaluate, as a list of values in the dimensions' own types."""
        if self._next is None:
            if self._uses_model():
                with _one_blas_thread():
                    self._next = self._maximise_acquisition()
            else:
                self._next = self.space.rvs(1, self.rng)[0]
        return list(self._next)

    def tell(self, x: Any, y: Any) -> OptimizeResult:
        """Record f(x) = y (or lists of points and values), refit the surrogate; the result."""
        batch = np.ndim(y) > 0
        points, values = (list(x), list(y)) if batch else ([x], [y])
        if len(points) != len(values):
            raise ValueError(f"tell got {len(points)} points but {len(values)} values")
        points = [self.space.check_point(p) for p in points]  # all checked before any is kept
        for point, value in zip(points, values):
            number = isinstance(value, numbers.Real) or (
                isinstance(value, np.ndarray) and value.shape == () and value.dtype.kind in "iuf"
            )
            if not number or not np.isfinite(value):
                raise ValueError(f"the objective must be a finite number, got {value!r} at {point}")
        self.Xi += points
        self.yi += [float(v) for v in values]
        self._next = None
        if self._uses_model():
            with _one_blas_thread():
                self.models.append(self._fit_model())
        return self.get_result()

    def _fit_model(self) -> GaussianProcess:
        """A GP on the told points, started from the previous model's hyperparameters."""
        kwargs = dict(self.gp_kwargs)
        if self.models:
            last = self.models[-1]
            kwargs.update(
                length_scale=last.length_scale_,
                signal_variance=last.signal_variance_,
                noise=last.noise_,
            )
        kwargs.setdefault("random_state", int(self.rng.integers(2**31)))
        return GaussianProcess(**kwargs).fit(self.space.transform(self.Xi), np.array(self.yi))

    def _acquisition(self, cube: np.ndarray, model: GaussianProcess) -> np.ndarray:
        """The acquisition at rows of the unit cube, as a score to maximise."""
        mean, std = model.predict(cube, return_std=True)
        if self.acq_func == "LCB":
            return -lower_confidence_bound(mean, std, self.acq_func_kwargs["kappa"])
        acquire = expected_improvement if self.acq_func == "EI" else probability_of_improvement
        return acquire(mean, std, self._incumbent, self.acq_func_kwargs["xi"])

    def _negative_acquisition(self, u: np.ndarray, model: GaussianProcess) -> tuple:
        """(-score, -its gradient) at one point u of the cube, for L-BFGS-B.

        By the chain rule through (mean, std): dEI = -Phi(z) dmean + phi(z) dstd,
        dPI = -phi(z) / std (dmean + z dstd), d(-LCB) = -dmean + kappa dstd.
        """
        mean, std, dmean, dstd = (v[0] for v in model.predict_with_gradient(u[None, :]))
        if self.acq_func == "LCB":
            kappa = self.acq_func_kwargs["kappa"]
            return mean - kappa * std, dmean - kappa * dstd
        if std <= 0:
            return -float(self._acquisition(u[None, :], model)[0]), np.zeros_like(u)
        z = (self._incumbent - self.acq_func_kwargs["xi"] - mean) / std
        if self.acq_func == "EI":
            score = (z * norm.cdf(z) + norm.pdf(z)) * std
            return -score, norm.cdf(z) * dmean - norm.pdf(z) * dstd
        return -norm.cdf(z), norm.pdf(z) / std * (dmean + z * dstd)

    def _maximise_acquisition(self) -> list:
        model, space = self.models[-1], self.space
        # The value to improve on: the lowest posterior mean at the evaluated points. Without
        # noise it is min(yi); with noise it ignores a lucky draw the surrogate does not believe.
        self._incumbent = float(model.predict(space.transform(self.Xi)).min())
        n_points = self.acq_optimizer_kwargs["n_points"]
        n_restarts = self.acq_optimizer_kwargs["n_restarts_optimizer"]
        candidates = space.transform(space.rvs(n_points, self.rng))
        scores = self._acquisition(candidates, model)
        starts = candidates[np.argsort(scores)[::-1][:n_restarts]]
        box = [(0.0, 1.0)] * space.transformed_n_dims
        refined = [
            minimize(self._negative_acquisition, s, (model,), jac=True, bounds=box).x
            for s in starts
        ]
        # Map refined points into the space (rounding) and score them as they will be evaluated;
        # a point already evaluated is not proposed again (rounding or a flat surrogate can lead
        # back to one, and a deterministic objective would only repeat its answer).
        finalists = space.inverse_transform(np.vstack([starts, *refined]))
        final_scores = self._acquisition(space.transform(finalists), model)
        told = {repr(x) for x in self.Xi}
        fresh = [i for i, x in enumerate(finalists) if repr(x) not in told]
        if not fresh:
            unseen = [x for x in space.rvs(n_points, self.rng) if repr(x) not in told]
            finalists = unseen[:1] or finalists[:1]
            final_scores = self._acquisition(space.transform(finalists), model)
            fresh = [0]
        best = max(fresh, key=lambda i: final_scores[i])
        chosen = finalists[best]
        mean, std = model.predict(space.transform([chosen]), return_std=True)
        step = {
            "iteration": len(self.yi) + 1,
            "x": chosen,
            "mean": float(mean[0]),
            "std": float(std[0]),
            "acquisition": float(final_scores[best]),
        }
        self.trace.append(step)
        if self.verbose:
            print(
                f"iteration {step['iteration']}: x={chosen}  mean={step['mean']:.6g}  "
                f"std={step['std']:.6g}  {self.acq_func}={step['acquisition']:.6g}"
            )
        return chosen

    def get_result(self) -> OptimizeResult:
        """The best point told so far and the history, shaped like scikit-optimize's result."""
        best = int(np.argmin(self.yi)) if self.yi else None
        return OptimizeResult(
            x=None if best is None else list(self.Xi[best]),
            fun=None if best is None else self.yi[best],
            x_iters=[list(p) for p in self.Xi],
            func_vals=np.array(self.yi),
            space=self.space,
            models=list(self.models),
            trace=list(self.trace),
        )


def _points(x0: Any, space: Space) -> list[list]:
    """x0 as a list of points: None, one point, or a list of points."""
    if x0 is None:
        return []
    x0 = list(x0)
    one = x0 and not isinstance(x0[0], list | tuple | np.ndarray)
    return [space.check_point(p) for p in ([x0] if one else x0)]


def _run(
    func: Callable,
    optimizer: Optimizer,
    n_calls: int,
    x0: list[list],
    y0: Any,
    callback: Callable | None,
) -> OptimizeResult:
    """The evaluation loop both minimisers share: x0 first, then ask / evaluate / tell."""
    if y0 is not None:
        y0 = [y0] if np.ndim(y0) == 0 else list(y0)
        if len(y0) != len(x0):
            raise ValueError(f"x0 has {len(x0)} points but y0 has {len(y0)} values")
    calls = 0
    if x0:
        if y0 is None:
            y0 = [func(x) for x in x0]
            calls = len(x0)
        result = optimizer.tell(x0, y0)
        if callback is not None and callback(result):
            return result
    while calls < n_calls:
        x = optimizer.ask()
        y = func(x)
        calls += 1
        result = optimizer.tell(x, y)
        if optimizer.verbose:
            print(f"call {calls}: f={result.func_vals[-1]:.6g}  best so far={result.fun:.6g}")
        if callback is not None and callback(result):
            break
    return optimizer.get_result()


def _check_budget(n_calls: int, n_initial_points: int, x0: list, y0: Any) -> None:
    required = n_initial_points + (len(x0) if y0 is None else 0)
    if not isinstance(n_calls, numbers.Integral) or n_calls < max(required, 1):
        raise ValueError(
            f"n_calls must be an int >= {max(required, 1)} (n_initial_points={n_initial_points}"
            f" plus {len(x0) if y0 is None else 0} x0 evaluations), got {n_calls!r}"
        )


def gp_minimize(
    func: Callable[[list], float],
    dimensions: Sequence,
    n_calls: int = 100,
    n_initial_points: int = 10,
    acq_func: str = "EI",
    random_state: Any = None,
    x0: Any = None,
    y0: Any = None,
    verbose: bool = False,
    callback: Callable[[OptimizeResult], Any] | None = None,
    xi: float = 0.01,
    kappa: float = 1.96,
    n_points: int = 2000,
    n_restarts_optimizer: int = 5,
    gp_kwargs: dict | None = None,
) -> OptimizeResult:
    """Minimise ``func`` over ``dimensions`` by Bayesian optimization with a Gaussian process.

    ``func`` takes a point (a list, one value per dimension) and returns a float; it is called
    exactly ``n_calls`` times unless ``callback(result)`` returns True to stop early.

    >>> res = gp_minimize(lambda x: (x[0] - 0.3) ** 2, [(-1.0, 1.0)], n_calls=12,
    ...                   n_initial_points=4, random_state=0)
    >>> len(res.func_vals), bool(abs(res.x[0] - 0.3) < 0.05)
    (12, True)
    """
    space = Space(dimensions)
    x0 = _points(x0, space)
    _check_budget(n_calls, n_initial_points, x0, y0)
    optimizer = Optimizer(
        space,
        n_initial_points=n_initial_points + len(x0),
        acq_func=acq_func,
        acq_func_kwargs={"xi": xi, "kappa": kappa},
        acq_optimizer_kwargs={"n_points": n_points, "n_restarts_optimizer": n_restarts_optimizer},
        gp_kwargs=gp_kwargs,
        random_state=random_state,
        verbose=verbose,
    )
    return _run(func, optimizer, n_calls, x0, y0, callback)


def dummy_minimize(
    func: Callable[[list], float],
    dimensions: Sequence,
    n_calls: int = 100,
    random_state: Any = None,
    x0: Any = None,
    y0: Any = None,
    verbose: bool = False,
    callback: Callable[[OptimizeResult], Any] | None = None,
) -> OptimizeResult:
    """Random search: ``n_calls`` evaluations at points drawn from the priors, same result shape.

    >>> res = dummy_minimize(lambda x: x[0] ** 2, [(-1.0, 1.0)], n_calls=5, random_state=0)
    >>> len(res.x_iters), bool(res.fun == res.func_vals.min())
    (5, True)
    """
    space = Space(dimensions)
    x0 = _points(x0, space)
    _check_budget(n_calls, 0, x0, y0)
    optimizer = Optimizer(space, base_estimator="dummy", random_state=random_state, verbose=verbose)
    return _run(func, optimizer, n_calls, x0, y0, callback)
