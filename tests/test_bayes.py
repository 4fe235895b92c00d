"""Bayesian optimization: search spaces, the Gaussian process, acquisitions and gp_minimize."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, stats

from minillm.model_selection.bayes import (
    Optimizer,
    dummy_minimize,
    expected_improvement,
    gp_minimize,
    lower_confidence_bound,
    probability_of_improvement,
)
from minillm.model_selection.gp import GaussianProcess, matern52
from minillm.model_selection.space import Categorical, Integer, Real, Space

# ---------------------------------------------------------------- spaces


@settings(max_examples=30)
@given(
    low=st.floats(1e-3, 1e3),
    width=st.floats(1e-2, 1e3),
    prior=st.sampled_from(["uniform", "log-uniform"]),
    seed=st.integers(0, 2**16),
)
def test_real_transform_round_trips_into_the_unit_interval(low, width, prior, seed):
    dim = Real(low, low + width, prior=prior)
    values = dim.rvs(20, random_state=seed) + [dim.low, dim.high]
    cube = dim.transform(values)
    assert cube.shape == (22, 1) and cube.min() >= -1e-12 and cube.max() <= 1 + 1e-12
    assert np.allclose(dim.inverse_transform(cube), values, rtol=1e-9)
    assert all(isinstance(v, float) and dim.low <= v <= dim.high for v in values)


@settings(max_examples=30)
@given(
    low=st.integers(1, 50),
    width=st.integers(1, 200),
    prior=st.sampled_from(["uniform", "log-uniform"]),
    seed=st.integers(0, 2**16),
)
def test_integer_draws_are_ints_in_bounds_and_round_trip_exactly(low, width, prior, seed):
    dim = Integer(low, low + width, prior=prior)
    values = dim.rvs(30, random_state=seed)
    assert all(type(v) is int and low <= v <= low + width for v in values)
    assert dim.inverse_transform(dim.transform(values)) == values
    # any point of the cube maps to a valid int, including slightly out-of-range ones
    out = dim.inverse_transform(np.array([[-0.1], [0.37], [1.2]]))
    assert out[0] == low and out[2] == low + width and low <= out[1] <= low + width


def test_categorical_returns_the_category_objects_and_one_hot_codes():
    marker = object()
    dim = Categorical(["sgd", 3, marker], name="choice")
    draws = dim.rvs(50, random_state=0)
    assert set(map(id, draws)) <= {id(c) for c in dim.categories}
    assert any(d is marker for d in draws)
    cube = dim.transform(["sgd", marker, 3])
    assert cube.tolist() == [[1, 0, 0], [0, 0, 1], [0, 1, 0]]
    assert dim.inverse_transform(cube)[1] is marker
    # one-hot: every two distinct categories are equally far apart
    d = np.linalg.norm(cube[:, None] - cube[None], axis=-1)
    assert np.allclose(d[~np.eye(3, dtype=bool)], np.sqrt(2))


def test_log_uniform_real_has_uniform_logarithms():
    dim = Real(1e-5, 1e-1, prior="log-uniform")
    logs = (np.log(dim.rvs(4000, random_state=1)) - np.log(1e-5)) / (np.log(1e-1) - np.log(1e-5))
    assert stats.kstest(logs, "uniform").pvalue > 0.01
    # and the uniform prior does not: its logs pile up at the top
    flat = Real(1e-5, 1e-1).rvs(4000, random_state=1)
    flat_logs = (np.log(flat) - np.log(1e-5)) / (np.log(1e-1) - np.log(1e-5))
    assert stats.kstest(flat_logs, "uniform").pvalue < 1e-6


def test_log_uniform_integer_has_the_discrete_log_density():
    dim = Integer(1, 10, prior="log-uniform")
    draws = np.array(dim.rvs(40_000, random_state=2))
    k = np.arange(1, 11)
    expected = np.log((k + 1) / k) / np.log(11)
    observed = np.bincount(draws, minlength=11)[1:] / len(draws)
    assert np.abs(observed - expected).max() < 0.01
    assert observed[0] > 3 * observed[-1]  # small values are much more likely


def test_space_reads_scikit_optimize_shorthands():
    space = Space([(1, 5), (0.0, 1.0), (1e-4, 1e-1, "log-uniform"), ["a", "b", "c"]])
    kinds = [type(d) for d in space]
    assert kinds == [Integer, Real, Real, Categorical]
    assert space.dimensions[2].prior == "log-uniform"
    assert space.n_dims == 4 and space.transformed_n_dims == 6
    points = space.rvs(10, random_state=0)
    assert space.inverse_transform(space.transform(points))[0][0] == points[0][0]
    back = space.inverse_transform(space.transform(points))
    assert [p[3] for p in back] == [p[3] for p in points]
    assert np.allclose([p[1] for p in back], [p[1] for p in points])


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Real(1.0, 1.0), "low < high"),
        (lambda: Real(2.0, 1.0), "low=2.0, high=1.0"),
        (lambda: Real(0.0, 1.0, prior="log-uniform"), "low > 0"),
        (lambda: Real(0.0, 1.0, prior="normal"), "prior must be one of"),
        (lambda: Real(0.0, float("inf")), "finite"),
        (lambda: Integer(0.5, 3), "Integer low must be an int"),
        (lambda: Categorical([]), "at least one category"),
        (lambda: Categorical("abc"), "sequence of choices"),
        (lambda: Categorical(["a", "a"]), "distinct"),
        (lambda: Space([("a", "b")]), "cannot read a dimension"),
        (lambda: Space([]), "non-empty list"),
    ],
)
def test_bad_dimensions_name_the_problem(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_points_outside_the_space_name_the_dimension():
    space = Space([Real(0.0, 1.0, name="dropout"), Categorical(["relu", "gelu"], name="act")])
    with pytest.raises(
        ValueError, match=r"1.5 is outside dimension 'dropout': need a number in \(0.0, 1.0\)"
    ):
        space.check_point([1.5, "relu"])
    with pytest.raises(ValueError, match="'tanh' is not one of the categories of dimension 'act'"):
        space.transform([[0.5, "tanh"]])
    with pytest.raises(ValueError, match="has 2 values"):
        space.check_point([0.5])


# ---------------------------------------------------------------- the Gaussian process


def _data(n: int = 12, d: int = 2, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.uniform(size=(n, d))
    return X, np.sin(3 * X[:, 0]) + X[:, 1] ** 2


def test_gp_interpolates_noise_free_data():
    X, y = _data()
    gp = GaussianProcess(random_state=0).fit(X, y)
    mean, std = gp.predict(X, return_std=True)
    assert np.allclose(mean, y, atol=1e-3 * y.std())
    # at the data the std falls to the noise floor, away from it the process is unsure
    floor = np.sqrt(gp.noise_) * y.std()
    assert std.max() <= 2 * floor
    assert gp.predict(np.array([[3.0, 3.0]]), return_std=True)[1][0] > 100 * floor


def test_fitting_raises_the_marginal_likelihood_above_its_start():
    X, y = _data(seed=3)
    start = GaussianProcess(optimize=False).fit(X, y).log_marginal_likelihood_
    assert GaussianProcess(random_state=0).fit(X, y).log_marginal_likelihood_ > start


@settings(max_examples=15)
@given(theta=st.lists(st.floats(-2.0, 1.0), min_size=4, max_size=4), seed=st.integers(0, 99))
def test_marginal_likelihood_gradient_equals_finite_differences(theta, seed):
    X, y = _data(n=8, d=2, seed=seed)
    gp = GaussianProcess()
    theta = np.array(theta)
    theta[-1] -= 3  # noise variance between e^-5 and e^-2
    _, grad = gp.log_marginal_likelihood(theta, X, y)
    h, numeric = 1e-6, np.empty_like(theta)
    for j in range(len(theta)):
        e = np.zeros_like(theta)
        e[j] = h
        plus = gp.log_marginal_likelihood(theta + e, X, y)[0]
        minus = gp.log_marginal_likelihood(theta - e, X, y)[0]
        numeric[j] = (plus - minus) / (2 * h)
    assert np.allclose(grad, numeric, rtol=1e-4, atol=1e-5)


def test_posterior_slope_equals_finite_differences():
    X, y = _data(n=10, d=3, seed=4)
    gp = GaussianProcess(random_state=0).fit(X, y)
    U = np.random.default_rng(5).uniform(size=(5, 3))
    mean, std, dmean, dstd = gp.predict_with_gradient(U)
    assert np.allclose((mean, std), gp.predict(U, return_std=True), atol=1e-12)
    h = 1e-6
    for j in range(3):
        e = np.zeros(3)
        e[j] = h
        (mp, sp), (mm, sm) = gp.predict(U + e, return_std=True), gp.predict(U - e, return_std=True)
        assert np.allclose(dmean[:, j], (mp - mm) / (2 * h), atol=1e-5)
        assert np.allclose(dstd[:, j], (sp - sm) / (2 * h), atol=1e-5)


def test_gp_agrees_with_scikit_learn_at_fixed_hyperparameters():
    pytest.importorskip("sklearn")
    from sklearn.gaussian_process import GaussianProcessRegressor
    from sklearn.gaussian_process.kernels import ConstantKernel, Matern

    X, y = _data(n=15, d=3, seed=6)
    ls, s2, noise = np.array([0.3, 0.7, 1.5]), 1.7, 1e-3
    ours = GaussianProcess(ls, s2, noise, optimize=False).fit(X, y)
    kernel = ConstantKernel(s2, "fixed") * Matern(ls, "fixed", nu=2.5)
    theirs = GaussianProcessRegressor(kernel, alpha=noise, normalize_y=True, optimizer=None)
    theirs.fit(X, y)
    T = np.random.default_rng(7).uniform(-0.2, 1.2, size=(20, 3))
    assert np.allclose(matern52(X, T, ls, s2), kernel(X, T), atol=1e-12)
    mean, std = ours.predict(T, return_std=True)
    ref_mean, ref_std = theirs.predict(T, return_std=True)
    assert np.allclose(mean, ref_mean, atol=1e-9)
    assert np.allclose(std, ref_std, atol=1e-7)
    assert ours.log_marginal_likelihood_ == pytest.approx(theirs.log_marginal_likelihood_value_)


def test_gp_errors_name_the_problem():
    with pytest.raises(ValueError, match="not fitted"):
        GaussianProcess().predict([[0.0]])
    X, y = _data()
    gp = GaussianProcess(random_state=0).fit(X, y)
    with pytest.raises(ValueError, match="3 features, the process was fitted on 2"):
        gp.predict(np.zeros((1, 3)))
    with pytest.raises(ValueError, match=r"got \(12, 2\) and \(11,\)"):
        GaussianProcess().fit(X, y[:-1])
    with pytest.raises(ValueError, match="finite"):
        GaussianProcess().fit(X, np.r_[y[:-1], np.nan])


# ---------------------------------------------------------------- acquisitions


@given(
    mean=st.floats(-1e3, 1e3),
    std=st.floats(0.0, 1e3),
    best=st.floats(-1e3, 1e3),
    xi=st.floats(0.0, 1.0),
)
def test_expected_improvement_is_non_negative_and_grows_with_std(mean, std, best, xi):
    ei = expected_improvement(mean, std, best, xi)
    assert ei >= 0
    assert expected_improvement(mean, std + 1.0, best, xi) >= ei - 1e-9


def test_expected_improvement_equals_its_closed_form_and_its_definition():
    mean, std, best = 1.0, 2.0, 2.0  # gain 1, z = 0.5
    closed = 1.0 * stats.norm.cdf(0.5) + 2.0 * stats.norm.pdf(0.5)
    assert float(expected_improvement(mean, std, best, xi=0.0)) == pytest.approx(closed, rel=1e-12)
    assert closed == pytest.approx(1.3955931, abs=1e-6)
    integrand = lambda f: max(best - f, 0.0) * stats.norm.pdf(f, mean, std)  # noqa: E731
    by_quadrature, _ = integrate.quad(integrand, -np.inf, best)
    assert float(expected_improvement(mean, std, best, xi=0.0)) == pytest.approx(by_quadrature)
    # with no uncertainty it is the plain improvement
    assert float(expected_improvement(0.5, 0.0, 2.0, xi=0.0)) == 1.5
    assert float(expected_improvement(3.0, 0.0, 2.0, xi=0.0)) == 0.0


def test_probability_of_improvement_and_confidence_bound():
    assert float(probability_of_improvement(0.0, 1.0, 0.0, xi=0.0)) == pytest.approx(0.5)
    assert float(probability_of_improvement(-1.0, 0.0, 0.0, xi=0.0)) == 1.0
    assert np.allclose(lower_confidence_bound([1.0, 2.0], [0.5, 1.0], kappa=2.0), [0.0, 0.0])


# ---------------------------------------------------------------- the optimizer


def _counting(f):
    calls = []

    def wrapped(x):
        calls.append(list(x))
        return f(x)

    return wrapped, calls


def test_gp_minimize_calls_func_exactly_n_calls_times_counting_x0():
    func, calls = _counting(lambda x: (x[0] - 0.2) ** 2)
    res = gp_minimize(
        func,
        [(-1.0, 1.0)],
        n_calls=8,
        n_initial_points=3,
        x0=[[0.9], [-0.9]],
        random_state=0,
        n_points=200,
    )
    assert len(calls) == 8 and len(res.func_vals) == 8 and isinstance(res.func_vals, np.ndarray)
    assert res.x_iters[:2] == [[0.9], [-0.9]] and calls == res.x_iters
    assert res.fun == min(res.func_vals) and res.x == res.x_iters[int(np.argmin(res.func_vals))]
    # with y0 the given points are free: n_calls new evaluations
    func, calls = _counting(lambda x: (x[0] - 0.2) ** 2)
    res = gp_minimize(
        func,
        [(-1.0, 1.0)],
        n_calls=5,
        n_initial_points=2,
        x0=[0.9],
        y0=0.49,
        random_state=0,
        n_points=200,
    )
    assert len(calls) == 5 and len(res.x_iters) == 6


def test_gp_minimize_is_reproducible_and_returns_the_dimensions_types():
    space = [Integer(1, 20), Real(1e-3, 1.0, prior="log-uniform"), Categorical(["a", "b", "c"])]

    def f(x):
        return (x[0] - 7) ** 2 / 50 + np.log10(x[1]) ** 2 + (x[2] != "b")

    runs = [
        gp_minimize(f, space, n_calls=9, n_initial_points=4, random_state=s, n_points=200)
        for s in (3, 3, 4)
    ]
    assert runs[0].x_iters == runs[1].x_iters and runs[0].x_iters != runs[2].x_iters
    for x in runs[0].x_iters:
        assert type(x[0]) is int and type(x[1]) is float and x[2] in ("a", "b", "c")
    assert len(runs[0].models) == 9 - 4 + 1 and len(runs[0].trace) == 9 - 4


def test_ask_is_stable_until_tell_and_tell_validates():
    opt = Optimizer([(0.0, 1.0), ["x", "y"]], n_initial_points=2, random_state=0)
    assert opt.ask() == opt.ask()
    opt.tell([[0.1, "x"], [0.9, "y"]], [1.0, 0.5])  # a batch
    assert opt.ask() == opt.ask() and len(opt.models) == 1
    with pytest.raises(ValueError, match="finite number, got nan"):
        opt.tell([0.5, "x"], float("nan"))
    with pytest.raises(ValueError, match="'z' is not one of the categories"):
        opt.tell([[0.5, "x"], [0.5, "z"]], [1.0, 2.0])
    with pytest.raises(ValueError, match="finite number, got 'bad'"):
        opt.tell([0.5, "x"], "bad")
    assert len(opt.Xi) == len(opt.yi) == 2  # a rejected batch leaves nothing behind
    with pytest.raises(ValueError, match="acq_func must be one of"):
        Optimizer([(0.0, 1.0)], acq_func="UCB")
    with pytest.raises(ValueError, match="unknown acq_func_kwargs"):
        Optimizer([(0.0, 1.0)], acq_func_kwargs={"kapa": 2})
    with pytest.raises(ValueError, match="n_calls must be an int >= 5"):
        gp_minimize(lambda x: 0.0, [(0.0, 1.0)], n_calls=4, n_initial_points=5)


def test_verbose_prints_the_surrogate_and_callback_can_stop(capsys):
    seen = []
    res = gp_minimize(
        lambda x: x[0] ** 2,
        [(-1.0, 1.0)],
        n_calls=10,
        n_initial_points=3,
        acq_func="LCB",
        random_state=0,
        verbose=True,
        n_points=200,
        callback=lambda r: seen.append(len(r.func_vals)) or len(r.func_vals) >= 5,
    )
    assert seen == [1, 2, 3, 4, 5] and len(res.func_vals) == 5
    printed = capsys.readouterr().out
    assert "mean=" in printed and "std=" in printed and "LCB=" in printed
    step = res.trace[-1]
    assert {"iteration", "x", "mean", "std", "acquisition"} <= set(step)


def _branin(x):
    b, c, t = 5.1 / (4 * np.pi**2), 5 / np.pi, 1 / (8 * np.pi)
    return (x[1] - b * x[0] ** 2 + c * x[0] - 6) ** 2 + 10 * (1 - t) * np.cos(x[0]) + 10


@pytest.mark.parametrize(
    ("func", "dims", "optimum", "n_calls"),
    [
        (lambda x: (x[0] - 1.3) ** 2, [(-5.0, 5.0)], 0.0, 10),
        (_branin, [(-5.0, 10.0), (0.0, 15.0)], 0.397887, 20),
    ],
    ids=["quadratic", "branin"],
)
def test_gp_minimize_beats_random_search_at_the_same_budget(func, dims, optimum, n_calls):
    seeds = range(5)
    ours = [
        gp_minimize(
            func, dims, n_calls=n_calls, n_initial_points=5, random_state=s, n_points=500
        ).fun
        for s in seeds
    ]
    rand = [dummy_minimize(func, dims, n_calls=n_calls, random_state=s).fun for s in seeds]
    assert np.median(ours) - optimum < 0.5 * (np.median(rand) - optimum)


def test_a_point_already_told_is_not_proposed_again():
    from minillm.model_selection import Optimizer

    opt = Optimizer([Integer(0, 3), Categorical(["a", "b"])], n_initial_points=2, random_state=0)
    for _ in range(8):  # 8 points exhaust the space: every ask must be new until then
        x = opt.ask()
        assert x not in opt.Xi
        opt.tell(x, 1.0)  # a flat objective: the surrogate has no reason to move away
