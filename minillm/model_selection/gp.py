"""A Gaussian-process regressor: the surrogate model of Bayesian optimization.

A Gaussian process is a prior over functions: any finite set of values f(x_1..x_n) is jointly
normal with covariance k(x_i, x_j). Here k is the Matérn-5/2 kernel with one length scale per
input dimension (automatic relevance determination, ARD) and a signal variance s2:

    r = sqrt(sum_d ((x_d - x'_d) / l_d)^2)
    k(x, x') = s2 (1 + sqrt(5) r + 5/3 r^2) exp(-sqrt(5) r)

Its sample paths are twice differentiable, smooth enough to model a loss surface and rough enough
not to be fooled by it (the squared-exponential kernel believes functions are infinitely smooth).
Observations are y = f(x) + noise, noise ~ N(0, s2_n), and the targets are standardised first
(y -> (y - mean) / std), so one set of hyperparameter bounds fits any scale of y.

Given training inputs X and targets y, with K = k(X, X) + s2_n I = L L^T (Cholesky) and
alpha = K^-1 y, the posterior at a new x with k* = k(X, x) is normal with

    mean(x) = k*^T alpha,     var(x) = k(x, x) - k*^T K^-1 k*   (v = L^-1 k*, var = s2 - |v|^2)

the latent f(x), without the observation noise (the optimizer wants f, not one noisy draw).

The hyperparameters theta = log(s2, l_1..l_D, s2_n) maximise the log marginal likelihood

    log p(y | X, theta) = -1/2 y^T alpha - sum_i log L_ii - n/2 log(2 pi)

whose gradient is  d/d theta_j = 1/2 trace((alpha alpha^T - K^-1) dK/d theta_j)  with

    dK/d log s2   = k(X, X)                         dK/d log s2_n = s2_n I
    dK/d log l_d  = s2 5/3 (1 + sqrt(5) r) exp(-sqrt(5) r) (x_d - x'_d)^2 / l_d^2

(the last from dk/dr = -5/3 s2 r (1 + sqrt(5) r) exp(-sqrt(5) r) and dr/d log l_d =
-(x_d - x'_d)^2 / (l_d^2 r): the r cancels, so no division by zero at r = 0). scipy's L-BFGS-B
climbs it in log space, inside box bounds, from the previous optimum and a few random starts.
The acquisition search also needs the slope of the posterior in x: with
dk*_i/dx = -5/3 s2 (1 + sqrt(5) r_i) exp(-sqrt(5) r_i) (x - x_i) / l^2 (per dimension),

    d mean/dx = alpha^T dk*/dx,     d std/dx = -(K^-1 k*)^T dk*/dx / std

Rasmussen & Williams, *Gaussian Processes for Machine Learning* (2006), ch. 2 and 5.

Read next: ``minillm/model_selection/bayes.py`` (choosing where to evaluate next).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.linalg import cho_factor, cho_solve, solve_triangular
from scipy.optimize import minimize

from minillm.model_selection.space import as_generator

SQRT5 = np.sqrt(5.0)


def _scaled_differences(A: np.ndarray, B: np.ndarray, length_scale: np.ndarray) -> np.ndarray:
    """(n, m, D) per-dimension differences (a_d - b_d) / l_d."""
    return (A[:, None, :] - B[None, :, :]) / length_scale


def matern52(
    A: np.ndarray, B: np.ndarray, length_scale: np.ndarray, signal_variance: float
) -> np.ndarray:
    """The (n, m) Matérn-5/2 covariance between the rows of A and of B.

    >>> x = np.array([[0.0], [1.0]])
    >>> matern52(x, x, np.array([1.0]), 2.0).round(4).tolist()
    [[2.0, 1.048], [1.048, 2.0]]
    """
    r = np.sqrt(np.sum(_scaled_differences(A, B, length_scale) ** 2, axis=-1))
    return signal_variance * (1.0 + SQRT5 * r + 5.0 / 3.0 * r**2) * np.exp(-SQRT5 * r)


class GaussianProcess:
    """GP regression with a Matérn-5/2 ARD kernel, fitted by maximum marginal likelihood.

    Args:
        length_scale: the starting (or fixed) length scale, a float or one per input dimension.
        signal_variance: the starting (or fixed) s2, in standardised-target units.
        noise: the starting (or fixed) noise variance s2_n, in standardised-target units.
        optimize: fit the hyperparameters (True) or keep the values above (False).
        n_restarts: random starting points of the likelihood search, besides the given one.
        length_scale_bounds, signal_variance_bounds, noise_bounds: the search box.
        random_state: seeds the random restarts.

    After ``fit``: ``length_scale_``, ``signal_variance_``, ``noise_`` and
    ``log_marginal_likelihood_``.

    >>> X = np.linspace(0, 1, 8)[:, None]
    >>> gp = GaussianProcess(random_state=0).fit(X, np.sin(6 * X[:, 0]))
    >>> mean, std = gp.predict(X, return_std=True)
    >>> bool(np.allclose(mean, np.sin(6 * X[:, 0]), atol=1e-3)), bool(std.max() < 1e-2)
    (True, True)
    """

    def __init__(
        self,
        length_scale: Any = 0.5,
        signal_variance: float = 1.0,
        noise: float = 1e-4,
        optimize: bool = True,
        n_restarts: int = 2,
        length_scale_bounds: tuple[float, float] = (0.01, 20.0),
        signal_variance_bounds: tuple[float, float] = (0.01, 100.0),
        noise_bounds: tuple[float, float] = (1e-6, 1.0),
        random_state: Any = None,
    ):
        for label, (lo, hi) in (
            ("length_scale_bounds", length_scale_bounds),
            ("signal_variance_bounds", signal_variance_bounds),
            ("noise_bounds", noise_bounds),
        ):
            if not 0 < lo <= hi:
                raise ValueError(f"{label} must satisfy 0 < low <= high, got ({lo}, {hi})")
        self.length_scale, self.signal_variance, self.noise = length_scale, signal_variance, noise
        self.optimize, self.n_restarts = optimize, n_restarts
        self.length_scale_bounds = length_scale_bounds
        self.signal_variance_bounds = signal_variance_bounds
        self.noise_bounds = noise_bounds
        self.random_state = random_state

    # theta = log [s2, l_1 .. l_D, s2_n]: the order of the vector the likelihood search moves.
    def _theta0(self, n_features: int) -> np.ndarray:
        ls = np.broadcast_to(np.asarray(self.length_scale, dtype=np.float64), (n_features,))
        return np.log(np.r_[self.signal_variance, ls, self.noise])

    def _log_bounds(self, n_features: int) -> np.ndarray:
        rows = [self.signal_variance_bounds] + [self.length_scale_bounds] * n_features
        return np.log(np.array(rows + [self.noise_bounds], dtype=np.float64))

    def log_marginal_likelihood(
        self, theta: np.ndarray, X: np.ndarray | None = None, y: np.ndarray | None = None
    ) -> tuple[float, np.ndarray]:
        """(log p(y | X, theta), its gradient in theta), on standardised targets.

        Without X and y, the training data of the last ``fit`` are used.
        """
        X = self.X_train_ if X is None else X
        y = self.y_train_ if y is None else y
        s2, ls, noise = np.exp(theta[0]), np.exp(theta[1:-1]), np.exp(theta[-1])
        n = len(X)
        diff2 = _scaled_differences(X, X, ls) ** 2  # (n, n, D)
        r = np.sqrt(diff2.sum(axis=-1))
        kf = s2 * (1.0 + SQRT5 * r + 5.0 / 3.0 * r**2) * np.exp(-SQRT5 * r)
        try:
            L = cho_factor(kf + noise * np.eye(n), lower=True)
        except np.linalg.LinAlgError:
            return -np.inf, np.zeros_like(theta)
        alpha = cho_solve(L, y)
        lml = -0.5 * y @ alpha - np.log(np.diag(L[0])).sum() - 0.5 * n * np.log(2 * np.pi)
        inner = np.outer(alpha, alpha) - cho_solve(L, np.eye(n))  # alpha alpha^T - K^-1
        dk_dls = (s2 * 5.0 / 3.0 * (1.0 + SQRT5 * r) * np.exp(-SQRT5 * r))[..., None] * diff2
        grad = np.empty_like(theta)
        grad[0] = 0.5 * np.sum(inner * kf)
        grad[1:-1] = 0.5 * np.einsum("ij,ijd->d", inner, dk_dls)
        grad[-1] = 0.5 * noise * np.trace(inner)
        return float(lml), grad

    def _fit_theta(self, X: np.ndarray, y: np.ndarray) -> np.ndarray:
        """The theta of largest marginal likelihood over the starts (L-BFGS-B in log space)."""
        bounds = self._log_bounds(X.shape[1])
        theta0 = np.clip(self._theta0(X.shape[1]), bounds[:, 0], bounds[:, 1])
        if not self.optimize:
            return theta0
        rng = as_generator(self.random_state)
        starts = [theta0] + [
            rng.uniform(bounds[:, 0], bounds[:, 1]) for _ in range(self.n_restarts)
        ]

        def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
            lml, grad = self.log_marginal_likelihood(theta, X, y)
            return (1e25, np.zeros_like(theta)) if not np.isfinite(lml) else (-lml, -grad)

        best = None
        for start in starts:
            found = minimize(loss, start, jac=True, method="L-BFGS-B", bounds=bounds)
            if best is None or found.fun < best.fun:
                best = found
        return best.x

    def fit(self, X: Any, y: Any) -> GaussianProcess:
        """Standardise y, fit the hyperparameters (unless ``optimize=False``), factor K."""
        X = np.asarray(X, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        if X.ndim != 2 or y.ndim != 1 or len(X) != len(y) or len(X) == 0:
            raise ValueError(
                f"fit needs X of shape (n, D) and y of shape (n,) with n > 0, "
                f"got {X.shape} and {y.shape}"
            )
        if not (np.isfinite(X).all() and np.isfinite(y).all()):
            raise ValueError("fit needs finite X and y (got NaN or infinity)")
        self.y_mean_ = float(y.mean())
        self.y_std_ = float(y.std()) or 1.0  # a constant y: nothing to scale
        self.X_train_, self.y_train_ = X, (y - self.y_mean_) / self.y_std_
        theta = self._fit_theta(X, self.y_train_)
        self.theta_ = theta
        self.signal_variance_ = float(np.exp(theta[0]))
        self.length_scale_ = np.exp(theta[1:-1])
        self.noise_ = float(np.exp(theta[-1]))
        self.log_marginal_likelihood_ = self.log_marginal_likelihood(theta)[0]
        k = matern52(X, X, self.length_scale_, self.signal_variance_)
        self.L_ = cho_factor(k + self.noise_ * np.eye(len(X)), lower=True)
        self.alpha_ = cho_solve(self.L_, self.y_train_)
        return self

    def predict(self, X: Any, return_std: bool = False) -> Any:
        """The posterior mean of f at the rows of X (and its standard deviation), in y's units."""
        if not hasattr(self, "alpha_"):
            raise ValueError("this GaussianProcess is not fitted yet: call fit(X, y) first")
        X = np.atleast_2d(np.asarray(X, dtype=np.float64))
        if X.shape[1] != self.X_train_.shape[1]:
            raise ValueError(
                f"X has {X.shape[1]} features, the process was fitted on {self.X_train_.shape[1]}"
            )
        k_star = matern52(self.X_train_, X, self.length_scale_, self.signal_variance_)  # (n, m)
        mean = self.y_mean_ + self.y_std_ * (k_star.T @ self.alpha_)
        if not return_std:
            return mean
        v = solve_triangular(self.L_[0], k_star, lower=True)
        var = np.maximum(self.signal_variance_ - np.sum(v**2, axis=0), 0.0)
        return mean, self.y_std_ * np.sqrt(var)

    def predict_with_gradient(self, X: Any) -> tuple[np.ndarray, ...]:
        """(mean, std, d mean/dx, d std/dx) at the rows of X; the slopes are (m, D), in y's units
        per unit of x (std's slope is 0 where std = 0)."""
        X = np.atleast_2d(np.asarray(X, dtype=np.float64))
        ls, s2 = self.length_scale_, self.signal_variance_
        diff = X[:, None, :] - self.X_train_[None, :, :]  # (m, n, D)
        r = np.sqrt(np.sum((diff / ls) ** 2, axis=-1))  # (m, n)
        decay = np.exp(-SQRT5 * r)
        k_star = s2 * (1.0 + SQRT5 * r + 5.0 / 3.0 * r**2) * decay  # (m, n)
        dk = (-5.0 / 3.0 * s2 * (1.0 + SQRT5 * r) * decay)[..., None] * diff / ls**2  # (m, n, D)
        kinv_k = cho_solve(self.L_, k_star.T)  # (n, m)
        sd = np.sqrt(np.maximum(s2 - np.sum(k_star.T * kinv_k, axis=0), 0.0))  # standardised
        dmean = np.einsum("n,mnd->md", self.alpha_, dk)
        safe = np.where(sd > 0, sd, 1.0)[:, None]
        dsd = np.where(sd[:, None] > 0, -np.einsum("nm,mnd->md", kinv_k, dk) / safe, 0.0)
        mean = self.y_mean_ + self.y_std_ * (k_star @ self.alpha_)
        return mean, self.y_std_ * sd, self.y_std_ * dmean, self.y_std_ * dsd
