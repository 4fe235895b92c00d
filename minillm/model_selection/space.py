"""Search spaces for Bayesian optimization: ``Real``, ``Integer``, ``Categorical`` and ``Space``.

A dimension owns three things: a *prior* to draw random points from, a *warp* onto the unit
interval where the Gaussian process works, and the way back. The warp makes one length scale
mean the same thing in every dimension, and makes "log-uniform" a straight line:

    Real / Integer, uniform:      u = (v - low) / (high - low)
    Real / Integer, log-uniform:  u = (log v - log low) / (log high - log low)
    Categorical with k choices:   one-hot, k columns (choice i -> e_i)

and back: clip u to [0, 1] and invert the line (then the exponential); an Integer rounds to the
nearest integer, a Categorical takes the column with the largest value (argmax). One-hot rather
than a single code i / (k - 1) because categories have no order: with one-hot, every two distinct
choices are the same distance apart (sqrt 2), so the surrogate never believes that "adam" lies
between "sgd" and "rmsprop".

Draws: a log-uniform Real is exp(uniform(log low, log high)), so its logarithm is uniform. A
log-uniform Integer is floor(exp(uniform(log low, log (high + 1)))), so integer k has probability
log((k + 1) / k) / log((high + 1) / low), the discrete version of the same density.

``Space`` is the product of dimensions; it accepts scikit-optimize's shorthands: a ``(low, high)``
tuple of ints is an Integer, of floats a Real, ``(low, high, "log-uniform")`` a Real or Integer with
that prior, and a list is a Categorical.

Read next: ``minillm/model_selection/gp.py`` (the surrogate that models a function on the cube).
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

PRIORS = ("uniform", "log-uniform")


def as_generator(random_state: Any) -> np.random.Generator:
    """A NumPy Generator from None (fresh entropy), an int seed, a Generator or a RandomState."""
    if random_state is None or isinstance(random_state, numbers.Integral):
        return np.random.default_rng(random_state)
    if isinstance(random_state, np.random.Generator):
        return random_state
    if isinstance(random_state, np.random.RandomState):
        return np.random.default_rng(random_state.randint(2**31))
    raise ValueError(
        f"random_state must be None, an int or a NumPy Generator, got {random_state!r}"
    )


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


class Dimension:
    """One coordinate of a search space (the base of Real, Integer and Categorical)."""

    name: str | None
    transformed_size: int = 1  # columns this dimension takes in the unit cube

    def rvs(self, n_samples: int = 1, random_state: Any = None) -> list:
        """``n_samples`` values drawn from the prior, in the dimension's own type."""
        raise NotImplementedError

    def transform(self, values: Any) -> np.ndarray:
        """Values -> an (n, transformed_size) float array in [0, 1]."""
        raise NotImplementedError

    def inverse_transform(self, cube: Any) -> list:
        """Unit-cube coordinates (n, transformed_size) -> n values (clipped, rounded)."""
        raise NotImplementedError

    def _label(self) -> str:
        return "" if self.name is None else f", name={self.name!r}"

    def _where(self) -> str:
        return f"dimension {self.name!r}" if self.name else repr(self)


class _Interval(Dimension):
    """What Real and Integer share: bounds, a prior and the linear-or-log warp."""

    def __init__(self, low: Any, high: Any, prior: str = "uniform", name: str | None = None):
        kind = type(self).__name__
        if not (_is_number(low) and _is_number(high)):
            raise ValueError(f"{kind} bounds must be numbers, got low={low!r}, high={high!r}")
        if not np.isfinite(low) or not np.isfinite(high):
            raise ValueError(f"{kind} bounds must be finite, got low={low!r}, high={high!r}")
        if not low < high:
            raise ValueError(f"{kind} needs low < high, got low={low!r}, high={high!r}")
        if prior not in PRIORS:
            raise ValueError(f"{kind} prior must be one of {PRIORS}, got {prior!r}")
        if prior == "log-uniform" and low <= 0:
            raise ValueError(f"{kind} with a log-uniform prior needs low > 0, got low={low!r}")
        self.low, self.high, self.prior, self.name = low, high, prior, name

    @property
    def bounds(self) -> tuple:
        return (self.low, self.high)

    def _warp(self, v: np.ndarray) -> np.ndarray:
        return np.log(v) if self.prior == "log-uniform" else v

    def _unwarp(self, w: np.ndarray) -> np.ndarray:
        return np.exp(w) if self.prior == "log-uniform" else w

    def transform(self, values: Any) -> np.ndarray:
        v = np.asarray(values, dtype=np.float64).reshape(-1)
        lo, hi = self._warp(np.float64(self.low)), self._warp(np.float64(self.high))
        return ((self._warp(v) - lo) / (hi - lo))[:, None]

    def _inverse(self, cube: Any) -> np.ndarray:
        u = np.clip(np.asarray(cube, dtype=np.float64).reshape(-1), 0.0, 1.0)
        lo, hi = self._warp(np.float64(self.low)), self._warp(np.float64(self.high))
        return np.clip(self._unwarp(lo + u * (hi - lo)), self.low, self.high)

    def __contains__(self, value: Any) -> bool:
        return _is_number(value) and self.low <= value <= self.high

    def __repr__(self) -> str:
        kind, bounds = type(self).__name__, f"low={self.low!r}, high={self.high!r}"
        return f"{kind}({bounds}, prior={self.prior!r}{self._label()})"

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and repr(other) == repr(self)

    def __hash__(self) -> int:
        return hash(repr(self))


class Real(_Interval):
    """A float in [low, high] with a uniform or log-uniform prior.

    >>> lr = Real(1e-4, 1e-1, prior="log-uniform", name="lr")
    >>> lr.transform([1e-4, 1e-1]).ravel().round(6).tolist()
    [0.0, 1.0]
    >>> round(lr.inverse_transform([[0.5]])[0], 6)  # the geometric midpoint
    0.003162
    """

    def __init__(self, low: float, high: float, prior: str = "uniform", name: str | None = None):
        super().__init__(low, high, prior, name)
        self.low, self.high = float(low), float(high)

    def rvs(self, n_samples: int = 1, random_state: Any = None) -> list[float]:
        rng = as_generator(random_state)
        lo, hi = self._warp(np.float64(self.low)), self._warp(np.float64(self.high))
        draws = np.clip(self._unwarp(rng.uniform(lo, hi, size=n_samples)), self.low, self.high)
        return [float(v) for v in draws]

    def inverse_transform(self, cube: Any) -> list[float]:
        return [float(v) for v in self._inverse(cube)]


class Integer(_Interval):
    """An int in [low, high] (both included) with a uniform or log-uniform prior.

    >>> n = Integer(1, 9)
    >>> n.inverse_transform([[0.0], [0.5], [1.0]])
    [1, 5, 9]
    >>> all(isinstance(v, int) and 1 <= v <= 9 for v in n.rvs(20, random_state=0))
    True
    """

    def __init__(self, low: int, high: int, prior: str = "uniform", name: str | None = None):
        for side, value in (("low", low), ("high", high)):
            if not isinstance(value, numbers.Integral) or isinstance(value, bool):
                raise ValueError(f"Integer {side} must be an int, got {value!r}")
        super().__init__(int(low), int(high), prior, name)

    def rvs(self, n_samples: int = 1, random_state: Any = None) -> list[int]:
        rng = as_generator(random_state)
        if self.prior == "uniform":
            return [int(v) for v in rng.integers(self.low, self.high + 1, size=n_samples)]
        logs = rng.uniform(np.log(self.low), np.log(self.high + 1), size=n_samples)
        return [int(v) for v in np.clip(np.floor(np.exp(logs)), self.low, self.high)]

    def inverse_transform(self, cube: Any) -> list[int]:
        return [int(v) for v in np.clip(np.round(self._inverse(cube)), self.low, self.high)]

    def __contains__(self, value: Any) -> bool:
        return super().__contains__(value) and float(value).is_integer()


class Categorical(Dimension):
    """One of a fixed list of choices (any objects), drawn uniformly, one-hot in the cube.

    >>> opt = Categorical(["sgd", "adam"], name="optimizer")
    >>> opt.transform(["adam"]).tolist()
    [[0.0, 1.0]]
    >>> opt.inverse_transform([[0.2, 0.7]])
    ['adam']
    """

    def __init__(self, categories: Iterable, name: str | None = None):
        if isinstance(categories, str | bytes):
            raise ValueError(
                f"Categorical needs a sequence of choices, got the string {categories!r}"
            )
        self.categories = tuple(categories)
        if not self.categories:
            raise ValueError("Categorical needs at least one category, got none")
        if len(set(map(repr, self.categories))) != len(self.categories):
            raise ValueError(f"Categorical categories must be distinct, got {self.categories!r}")
        self.name = name
        self.transformed_size = len(self.categories)

    @property
    def bounds(self) -> tuple:
        return self.categories

    def _index(self, value: Any) -> int:
        for i, c in enumerate(self.categories):
            if c is value or (type(c) is type(value) and c == value):
                return i
        raise ValueError(f"{value!r} is not one of the categories of {self._where()}")

    def rvs(self, n_samples: int = 1, random_state: Any = None) -> list:
        rng = as_generator(random_state)
        return [self.categories[i] for i in rng.integers(len(self.categories), size=n_samples)]

    def transform(self, values: Any) -> np.ndarray:
        index = [self._index(v) for v in values]
        return np.eye(len(self.categories))[index].reshape(len(index), len(self.categories))

    def inverse_transform(self, cube: Any) -> list:
        cube = np.asarray(cube, dtype=np.float64).reshape(-1, len(self.categories))
        return [self.categories[i] for i in np.argmax(cube, axis=1)]

    def __contains__(self, value: Any) -> bool:
        try:
            self._index(value)
        except ValueError:
            return False
        return True

    def __repr__(self) -> str:
        return f"Categorical(categories={self.categories!r}{self._label()})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Categorical) and repr(other) == repr(self)

    def __hash__(self) -> int:
        return hash(repr(self))


def check_dimension(spec: Any) -> Dimension:
    """A Dimension from itself or from a shorthand: (low, high[, prior]) tuple or a list."""
    if isinstance(spec, Dimension):
        return spec
    if isinstance(spec, list):
        return Categorical(spec)
    if isinstance(spec, tuple) and len(spec) in (2, 3) and all(map(_is_number, spec[:2])):
        prior = spec[2] if len(spec) == 3 else "uniform"
        if all(isinstance(v, numbers.Integral) for v in spec[:2]):
            return Integer(spec[0], spec[1], prior=prior)
        return Real(float(spec[0]), float(spec[1]), prior=prior)
    raise ValueError(
        f"cannot read a dimension from {spec!r}: give Real/Integer/Categorical, a (low, high) "
        "or (low, high, prior) tuple of numbers, or a list of categories"
    )


class Space:
    """The product of dimensions: points are lists with one value per dimension.

    >>> space = Space([(1, 5), (0.0, 1.0), ["relu", "gelu"]])
    >>> [type(d).__name__ for d in space], space.transformed_n_dims
    (['Integer', 'Real', 'Categorical'], 4)
    >>> space.transform([[5, 0.25, "gelu"]]).tolist()
    [[1.0, 0.25, 0.0, 1.0]]
    >>> space.inverse_transform(space.transform([[3, 0.5, "relu"]]))
    [[3, 0.5, 'relu']]
    """

    def __init__(self, dimensions: Sequence):
        if isinstance(dimensions, Space):
            dimensions = dimensions.dimensions
        single = isinstance(dimensions, Dimension | str) or (
            isinstance(dimensions, tuple) and any(map(_is_number, dimensions))
        )
        if single or not len(dimensions):
            raise ValueError(f"a space needs a non-empty list of dimensions, got {dimensions!r}")
        self.dimensions = [check_dimension(d) for d in dimensions]

    @property
    def n_dims(self) -> int:
        return len(self.dimensions)

    @property
    def transformed_n_dims(self) -> int:
        return sum(d.transformed_size for d in self.dimensions)

    @property
    def bounds(self) -> list:
        return [d.bounds for d in self.dimensions]

    @property
    def dimension_names(self) -> list:
        return [d.name for d in self.dimensions]

    def rvs(self, n_samples: int = 1, random_state: Any = None) -> list[list]:
        """``n_samples`` random points, each a list drawn from every dimension's prior."""
        rng = as_generator(random_state)
        columns = [d.rvs(n_samples, rng) for d in self.dimensions]
        return [list(point) for point in zip(*columns)]

    def check_point(self, point: Any) -> list:
        """``point`` as a list, or a ValueError naming the dimension it breaks."""
        if not isinstance(point, list | tuple | np.ndarray) or len(point) != self.n_dims:
            raise ValueError(f"a point of this space has {self.n_dims} values, got {point!r}")
        for value, dim in zip(point, self.dimensions):
            if isinstance(dim, Categorical):
                dim._index(value)  # raises, naming the categories
            elif value not in dim:
                kind = "an int" if isinstance(dim, Integer) else "a number"
                raise ValueError(
                    f"{value!r} is outside {dim._where()}: need {kind} in {dim.bounds}"
                )
        return list(point)

    def transform(self, points: Sequence) -> np.ndarray:
        """Points -> an (n, transformed_n_dims) array in the unit cube."""
        points = [self.check_point(p) for p in points]
        columns = [d.transform([p[i] for p in points]) for i, d in enumerate(self.dimensions)]
        return np.hstack(columns).reshape(len(points), self.transformed_n_dims)

    def inverse_transform(self, cube: Any) -> list[list]:
        """Unit-cube rows -> points (each coordinate clipped, rounded or argmax-ed)."""
        cube = np.atleast_2d(np.asarray(cube, dtype=np.float64))
        if cube.shape[1] != self.transformed_n_dims:
            raise ValueError(
                f"expected {self.transformed_n_dims} columns in the unit cube, got {cube.shape[1]}"
            )
        columns, start = [], 0
        for d in self.dimensions:
            columns.append(d.inverse_transform(cube[:, start : start + d.transformed_size]))
            start += d.transformed_size
        return [list(point) for point in zip(*columns)]

    def __len__(self) -> int:
        return self.n_dims

    def __iter__(self):
        return iter(self.dimensions)

    def __repr__(self) -> str:
        return f"Space({self.dimensions!r})"
