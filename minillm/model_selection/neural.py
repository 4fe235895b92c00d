"""minillm networks as scikit-learn estimators: ``NeuralClassifier`` and ``NeuralRegressor``.

The adapter is the whole training loop a learner writes by hand, behind ``fit``:

    module = module_factory(n_features=..., n_outputs=..., **module__kwargs)
    opt = optimizer(module.parameters(), lr=lr, **optimizer__kwargs)
    for epoch in range(epochs):
        for batch in shuffled mini-batches of (X, y):
            loss = loss_fn(module(X[batch]), y[batch]); opt.zero_grad(); loss.backward(); opt.step()

``module_factory`` is any callable returning an ``nn.Module`` (a class or a function); it gets
``n_features`` and ``n_outputs`` only if its signature asks for them, and ``module__<name>=v``
arguments of the estimator as ``<name>=v`` (so a search can tune ``module__hidden``); likewise
``optimizer__<name>`` goes to the optimizer (``optimizer__weight_decay``). A classifier has one
output per class, trained with cross-entropy on the class indices, and ``predict_proba`` is the
softmax of the outputs; a regressor is trained with mean squared error on y (a column per
target). With ``random_state`` set, a fit is reproducible and leaves minillm's random stream as
it found it: initial weights, shuffling and dropout all draw from a generator seeded for the fit.

Because the constructor only stores its arguments, ``get_params``/``set_params``/``clone`` work
and scikit-learn's own ``cross_val_score`` and ``GridSearchCV`` accept these estimators.

Read next: ``minillm/model_selection/splits.py`` (how the data is cut for cross-validation).
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Iterator
from typing import Any

import numpy as np

import minillm
from minillm import nn, optim
from minillm.model_selection.base import (
    BaseEstimator,
    ClassifierMixin,
    RegressorMixin,
    as_2d_float,
    check_fitted,
)
from minillm.nn import functional as F
from minillm.random import get_rng_state, manual_seed, set_rng_state

_ROUTED = ("module__", "optimizer__")


@contextlib.contextmanager
def seeded(random_state: int | None) -> Iterator[None]:
    """Run the body on minillm's generator seeded with ``random_state``, then put the stream
    back as it was (None: leave the generator alone)."""
    if random_state is None:
        yield
        return
    saved = get_rng_state()
    manual_seed(int(random_state))
    try:
        yield
    finally:
        set_rng_state(saved)


def _call_with_accepted(factory: Any, offered: dict, required: dict) -> Any:
    """factory(**offered it accepts, **required); a required keyword it lacks is an error."""
    try:
        parameters = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return factory(**offered, **required)
    takes_any = any(p.kind == p.VAR_KEYWORD for p in parameters.values())
    missing = [k for k in required if not takes_any and k not in parameters]
    if missing:
        raise TypeError(
            f"module_factory {getattr(factory, '__name__', factory)!r} has no parameter "
            f"{missing[0]!r} (given as module__{missing[0]})"
        )
    chosen = {k: v for k, v in offered.items() if takes_any or k in parameters}
    return factory(**chosen, **required)


class _NeuralEstimator(BaseEstimator):
    def __init__(
        self,
        module_factory: Any,
        loss: Any = None,
        optimizer: Any = None,
        epochs: int = 10,
        batch_size: int = 32,
        lr: float = 1e-3,
        shuffle: bool = True,
        dtype: str = "float32",
        random_state: int | None = None,
        verbose: int = 0,
        **routed: Any,
    ) -> None:
        self.module_factory, self.loss, self.optimizer = module_factory, loss, optimizer
        self.epochs, self.batch_size, self.lr, self.shuffle = epochs, batch_size, lr, shuffle
        self.dtype, self.random_state, self.verbose = dtype, random_state, verbose
        self._check_routed(routed)
        self.routed = dict(routed)

    @staticmethod
    def _check_routed(routed: dict) -> None:
        for key in routed:
            if not key.startswith(_ROUTED) or key in _ROUTED:
                raise TypeError(
                    f"unexpected argument {key!r}: extra arguments must be module__<name> (for "
                    "module_factory) or optimizer__<name> (for the optimizer)"
                )

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        params = {name: getattr(self, name) for name in self._param_names()}
        params.update(self.routed)
        return params

    def set_params(self, **params: Any) -> _NeuralEstimator:
        routed = {k: v for k, v in params.items() if k.startswith(_ROUTED)}
        self._check_routed(routed)
        self.routed.update(routed)
        return super().set_params(**{k: v for k, v in params.items() if k not in routed})

    # -- the training loop -------------------------------------------------------------------

    def _routed(self, prefix: str) -> dict[str, Any]:
        return {k[len(prefix) :]: v for k, v in self.routed.items() if k.startswith(prefix)}

    def _check_settings(self) -> None:
        for name in ("epochs", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if not isinstance(self.lr, (int, float)) or not self.lr > 0:
            raise ValueError(f"lr must be a positive number, got {self.lr!r}")
        seed = self.random_state
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))
                                 or seed < 0):  # fmt: skip
            raise ValueError(f"random_state must be a non-negative int or None, got {seed!r}")
        if self.dtype not in ("float32", "float64"):
            raise ValueError(f"dtype must be 'float32' or 'float64', got {self.dtype!r}")

    def _fit(self, X: np.ndarray, target: np.ndarray, n_outputs: int) -> None:
        self._check_settings()
        n, self.n_features_in_ = X.shape
        with seeded(self.random_state):
            module = _call_with_accepted(
                self.module_factory,
                {"n_features": self.n_features_in_, "n_outputs": n_outputs},
                self._routed("module__"),
            )
            if not isinstance(module, nn.Module):
                got = type(module).__name__
                raise TypeError(f"module_factory returned {got}, not an nn.Module")
            module.to(getattr(minillm, self.dtype))
            opt = (self.optimizer or optim.Adam)(
                module.parameters(), lr=self.lr, **self._routed("optimizer__")
            )
            loss_fn = self.loss or self._default_loss
            self.loss_curve_ = []
            module.train()
            for epoch in range(self.epochs):
                order = minillm.random.generator().permutation(n) if self.shuffle else np.arange(n)
                total = 0.0
                for start in range(0, n, self.batch_size):
                    rows = order[start : start + self.batch_size]
                    out = self._forward(module, X[rows], n_outputs)
                    loss = loss_fn(out, minillm.from_numpy(target[rows]))
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
                    total += float(loss.item()) * len(rows)
                self.loss_curve_.append(total / n)
                if self.verbose:
                    print(f"epoch {epoch + 1}/{self.epochs}: loss {self.loss_curve_[-1]:.4f}")
        module.eval()
        self.module_, self.n_iter_ = module, self.epochs

    def _forward(self, module: nn.Module, X: np.ndarray, n_outputs: int) -> minillm.Tensor:
        out = module(minillm.from_numpy(X))
        if not isinstance(out, minillm.Tensor) or tuple(out.shape) != (len(X), n_outputs):
            shape = getattr(out, "shape", type(out).__name__)
            raise ValueError(
                f"the module must map X of shape {X.shape} to outputs of shape "
                f"({len(X)}, {n_outputs}), got {shape}"
            )
        return out

    def _outputs(self, X: Any) -> np.ndarray:
        check_fitted(self, "module_")
        X = as_2d_float(X, self.dtype)
        if X.shape[1] != self.n_features_in_:
            raise ValueError(f"X has {X.shape[1]} features, but this model was fitted with "
                             f"{self.n_features_in_}")  # fmt: skip
        n_outputs = self._n_outputs
        with minillm.no_grad():
            parts = [
                self._forward(self.module_, X[i : i + 1024], n_outputs).numpy()
                for i in range(0, len(X), 1024)
            ]
        return np.concatenate(parts) if parts else np.empty((0, n_outputs), dtype=X.dtype)


class NeuralClassifier(ClassifierMixin, _NeuralEstimator):
    """A minillm network as a classifier: one output per class, cross-entropy, softmax."""

    @staticmethod
    def _default_loss(output: minillm.Tensor, target: minillm.Tensor) -> minillm.Tensor:
        return F.cross_entropy(output, target)

    def fit(self, X: Any, y: Any) -> NeuralClassifier:
        X = as_2d_float(X, self.dtype)
        y = np.asarray(y)
        if y.ndim == 2 and y.shape[1] == 1:
            y = y[:, 0]
        if y.ndim != 1 or len(y) != len(X):
            raise ValueError(f"y must be 1-D with one label per row of X ({len(X)}), got "
                             f"shape {y.shape}")  # fmt: skip
        if y.dtype.kind == "f" and (y != np.round(y)).any():
            raise ValueError("y holds continuous values; a classifier needs class labels")
        self.classes_, index = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(f"a classifier needs at least 2 classes in y, got {self.classes_}")
        self._n_outputs = len(self.classes_)
        self._fit(X, index.astype(np.int64), self._n_outputs)
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        logits = self._outputs(X).astype(np.float64)
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        return p / p.sum(axis=1, keepdims=True)

    def predict(self, X: Any) -> np.ndarray:
        outputs = self._outputs(X)
        return self.classes_[np.argmax(outputs, axis=1)]


class NeuralRegressor(RegressorMixin, _NeuralEstimator):
    """A minillm network as a regressor: one output per target column, mean squared error."""

    @staticmethod
    def _default_loss(output: minillm.Tensor, target: minillm.Tensor) -> minillm.Tensor:
        return F.mse_loss(output, target)

    def fit(self, X: Any, y: Any) -> NeuralRegressor:
        X = as_2d_float(X, self.dtype)
        y = np.asarray(y)
        if y.ndim not in (1, 2) or len(y) != len(X):
            raise ValueError(f"y must have one row per row of X ({len(X)}), got shape {y.shape}")
        if y.dtype.kind not in "biuf":
            raise ValueError(f"a regressor needs numeric y, got dtype {y.dtype}")
        self._one_column = y.ndim == 1
        target = np.ascontiguousarray(y.reshape(len(y), -1), dtype=self.dtype)
        self._n_outputs = target.shape[1]
        self._fit(X, target, self._n_outputs)
        return self

    def predict(self, X: Any) -> np.ndarray:
        out = self._outputs(X)
        return out[:, 0] if self._one_column else out
