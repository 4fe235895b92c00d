"""Model selection: scikit-learn's indices for the same random_state, the split invariants,
cross-validation and search results equal to scikit-learn's on the same estimator, and minillm
networks as estimators that scikit-learn itself accepts."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minillm
from minillm import model_selection as ms
from minillm import nn

sk = pytest.importorskip  # read as: the oracle, skipped when scikit-learn is missing


def outcome(make):
    """The list of splits, or the ValueError's type, so "both refuse" compares equal too."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return list(make())
    except ValueError:
        return ValueError


def assert_same_splits(ours, theirs):
    if ours is ValueError or theirs is ValueError:
        assert ours is theirs
        return
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs):
        for x, y in zip(a, b):
            np.testing.assert_array_equal(x, y)


@st.composite
def labelled(draw, max_n=40):
    n = draw(st.integers(2, max_n))
    k = draw(st.integers(2, 6))
    y = np.array(draw(st.lists(st.integers(0, 3), min_size=n, max_size=n)))
    shuffle = draw(st.booleans())
    seed = draw(st.integers(0, 2**31 - 1)) if shuffle else None
    return n, k, y, shuffle, seed


@settings(max_examples=60, deadline=None)
@given(case=labelled())
def test_kfolds_equal_sklearn(case):
    skm = sk("sklearn.model_selection")
    n, k, y, shuffle, seed = case
    X = np.zeros((n, 2))
    groups = y * 3 + np.arange(n) % 3
    for ours, theirs in ((ms.KFold, skm.KFold), (ms.StratifiedKFold, skm.StratifiedKFold)):
        assert_same_splits(
            outcome(lambda a=ours: a(k, shuffle=shuffle, random_state=seed).split(X, y)),
            outcome(lambda b=theirs: b(k, shuffle=shuffle, random_state=seed).split(X, y)),
        )
    assert_same_splits(
        outcome(lambda: ms.GroupKFold(k).split(X, y, groups)),
        outcome(lambda: skm.GroupKFold(k).split(X, y, groups)),
    )
    assert_same_splits(
        outcome(lambda: ms.TimeSeriesSplit(k, gap=n % 3, max_train_size=n // 2).split(X)),
        outcome(lambda: skm.TimeSeriesSplit(k, gap=n % 3, max_train_size=n // 2).split(X)),
    )


@settings(max_examples=60, deadline=None)
@given(case=labelled(), size=st.sampled_from([0.2, 0.25, 0.5, 3, 5]), stratify=st.booleans())
def test_shuffle_splits_and_train_test_split_equal_sklearn(case, size, stratify):
    skm = sk("sklearn.model_selection")
    n, _, y, _, seed = case
    seed = seed or 0
    X = np.arange(2 * n).reshape(n, 2)
    strat = y if stratify else None
    assert_same_splits(
        outcome(lambda: [tuple(ms.train_test_split(X, y, test_size=size, random_state=seed,
                                                   stratify=strat))]),
        outcome(lambda: [tuple(skm.train_test_split(X, y, test_size=size, random_state=seed,
                                                    stratify=strat))]),
    )  # fmt: skip
    for ours, theirs in (
        (ms.ShuffleSplit, skm.ShuffleSplit),
        (ms.StratifiedShuffleSplit, skm.StratifiedShuffleSplit),
    ):
        assert_same_splits(
            outcome(lambda a=ours: a(3, test_size=size, random_state=seed).split(X, y)),
            outcome(lambda b=theirs: b(3, test_size=size, random_state=seed).split(X, y)),
        )


@settings(max_examples=40, deadline=None)
@given(case=labelled(max_n=60))
def test_split_invariants(case):
    n, k, y, _, seed = case
    X = np.zeros((n, 1))
    groups = np.arange(n) // 3
    splitters = [ms.KFold(k, shuffle=True, random_state=seed or 0),
                 ms.StratifiedKFold(k, shuffle=True, random_state=seed or 0),
                 ms.GroupKFold(k, shuffle=True, random_state=seed or 0)]  # fmt: skip
    for splitter in splitters:
        splits = outcome(lambda s=splitter: s.split(X, y, groups))
        if splits is ValueError:
            continue
        tested = np.concatenate([test for _, test in splits])
        assert sorted(tested.tolist()) == list(range(n))  # every sample tested exactly once
        for train, test in splits:
            assert len(np.intersect1d(train, test)) == 0 and len(train) + len(test) == n
            if isinstance(splitter, ms.GroupKFold):
                assert not set(groups[train]) & set(groups[test])
            if isinstance(splitter, ms.StratifiedKFold):
                for c in np.unique(y):  # each class's count per fold within one of its share
                    share = (y == c).sum() / k
                    assert abs((y[test] == c).sum() - share) < 1 + 1e-9


def test_stratified_shuffle_split_keeps_proportions_within_one():
    y = np.repeat([0, 1, 2], [50, 30, 20])
    for train, test in ms.StratifiedShuffleSplit(5, test_size=0.3, random_state=1).split(y, y):
        for c, count in zip([0, 1, 2], [50, 30, 20]):
            assert abs((y[test] == c).sum() - 0.3 * count) <= 1
            assert abs((y[train] == c).sum() - 0.7 * count) <= 1


def test_random_state_none_follows_manual_seed():
    minillm.manual_seed(3)
    a = [t for _, t in ms.KFold(3, shuffle=True).split(np.zeros(10))]
    minillm.manual_seed(3)
    b = [t for _, t in ms.KFold(3, shuffle=True).split(np.zeros(10))]
    assert all((x == y).all() for x, y in zip(a, b))


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: ms.KFold(1), "n_splits >= 2"),
        (lambda: ms.KFold(3, random_state=0), "shuffle=False"),
        (lambda: list(ms.KFold(5).split(np.zeros(3))), "more than the 3 samples"),
        (lambda: list(ms.StratifiedKFold(2).split(np.zeros(3), [0.5, 1.2, 3.3])), "continuous"),
        (lambda: list(ms.GroupKFold(2).split(np.zeros(4))), "groups"),
        (lambda: ms.train_test_split(np.zeros(4), test_size=1.5), "test_size=1.5"),
        (lambda: ms.train_test_split(np.zeros(4), np.zeros(5)), "different numbers"),
        (lambda: ms.train_test_split(np.zeros(4), shuffle=False, stratify=[0, 0, 1, 1]),
         "shuffle=True"),
        (lambda: list(ms.StratifiedShuffleSplit(1).split(np.zeros(4), [0, 1, 1, 1])), "1 member"),
    ],
)  # fmt: skip
def test_bad_split_arguments_say_what_is_wrong(make, message):
    with pytest.raises((ValueError, TypeError), match=message):
        make()


# -- grids and samplers ------------------------------------------------------------------------


@settings(max_examples=30, deadline=None)
@given(grid=st.lists(
    st.dictionaries(st.sampled_from("abcd"), st.lists(st.integers(0, 9), min_size=1, max_size=3),
                    min_size=1, max_size=3), min_size=1, max_size=3))  # fmt: skip
def test_parameter_grid_equals_sklearn(grid):
    skm = sk("sklearn.model_selection")
    ours, theirs = ms.ParameterGrid(grid), skm.ParameterGrid(grid)
    assert list(ours) == list(theirs) and len(ours) == len(theirs)
    assert [ours[i] for i in range(len(ours))] == list(theirs)


def test_parameter_sampler_lists_without_replacement_and_distributions():
    grid = {"a": [1, 2, 3], "b": ["x", "y"]}
    drawn = list(ms.ParameterSampler(grid, 10, random_state=0))
    assert len(drawn) == 6 and all(d in list(ms.ParameterGrid(grid)) for d in drawn)
    assert len({tuple(sorted(d.items())) for d in drawn}) == 6
    stats = sk("scipy.stats")
    dist = {"lr": stats.loguniform(1e-4, 1e-1), "h": [8, 16]}
    first = list(ms.ParameterSampler(dist, 20, random_state=5))
    assert first == list(ms.ParameterSampler(dist, 20, random_state=5))
    assert all(1e-4 <= d["lr"] <= 1e-1 and d["h"] in (8, 16) for d in first)


# -- cross-validation and search, equal to scikit-learn's on scikit-learn's estimators --------


@pytest.fixture(scope="module")
def blobs():
    datasets = sk("sklearn.datasets")
    X, y = datasets.make_classification(120, 6, n_informative=4, n_classes=3, random_state=0)
    return X, y


def test_cross_validate_equals_sklearn(blobs):
    skm = sk("sklearn.model_selection")
    from sklearn.linear_model import LogisticRegression

    X, y = blobs
    scoring = ["accuracy", "f1_macro", "neg_log_loss", "precision_weighted"]
    kw = dict(scoring=scoring, return_train_score=True, cv=4)
    ours = ms.cross_validate(LogisticRegression(max_iter=300), X, y, **kw, return_indices=True)
    theirs = skm.cross_validate(LogisticRegression(max_iter=300), X, y, **kw, return_indices=True)
    assert set(ours) == set(theirs)
    for key in ours:
        if key.startswith(("test_", "train_")):
            np.testing.assert_allclose(ours[key], theirs[key], rtol=0, atol=1e-12)
    for side in ("train", "test"):
        assert_same_splits([ours["indices"][side]], [theirs["indices"][side]])
    np.testing.assert_array_equal(
        ms.cross_val_score(LogisticRegression(max_iter=300), X, y, cv=3),
        skm.cross_val_score(LogisticRegression(max_iter=300), X, y, cv=3),
    )


def test_every_named_scorer_equals_sklearns(blobs):
    metrics = sk("sklearn.metrics")
    from sklearn.linear_model import LinearRegression, LogisticRegression

    X, y = blobs
    binary = (y == 1).astype(int)
    regression = X @ np.arange(6.0)
    for name in ms.get_scorer_names():
        if name in ("r2", "neg_mean_squared_error", "neg_root_mean_squared_error"):
            model, target = LinearRegression().fit(X[:60], regression[:60]), regression
        else:
            target = binary if name in ("roc_auc", "average_precision", "precision", "recall",
                                        "f1") else y  # fmt: skip
            model = LogisticRegression(max_iter=300).fit(X[:60], target[:60])
        ours = ms.get_scorer(name)(model, X[60:], target[60:])
        theirs = metrics.get_scorer(name)(model, X[60:], target[60:])
        assert ours == pytest.approx(theirs, abs=1e-12), name


def test_learning_and_validation_curves_equal_sklearn(blobs):
    skm = sk("sklearn.model_selection")
    from sklearn.linear_model import LogisticRegression

    X, y = blobs
    est = LogisticRegression(max_iter=300)
    ours = ms.learning_curve(est, X, y, cv=3, shuffle=True, random_state=2, return_times=True)
    theirs = skm.learning_curve(est, X, y, cv=3, shuffle=True, random_state=2, return_times=True)
    for a, b in list(zip(ours, theirs))[:3]:
        np.testing.assert_allclose(a, b, atol=1e-12)
    assert ours[3].shape == theirs[3].shape
    kw = dict(param_name="C", param_range=[0.01, 0.1, 1.0], cv=3)
    for a, b in zip(ms.validation_curve(est, X, y, **kw), skm.validation_curve(est, X, y, **kw)):
        np.testing.assert_allclose(a, b, atol=1e-12)


def _comparable(results: dict) -> dict:
    return {k: v for k, v in results.items() if "time" not in k}


@pytest.mark.parametrize("refit", [True, "f1_macro", False])
def test_grid_search_equals_sklearn(blobs, refit):
    skm = sk("sklearn.model_selection")
    from sklearn.linear_model import LogisticRegression

    X, y = blobs
    grid = [{"C": [0.01, 0.1, 1.0], "fit_intercept": [True, False]}, {"C": [10.0], "tol": [1e-3]}]
    scoring = None if refit is True else ["accuracy", "f1_macro"]
    kw = dict(cv=3, scoring=scoring, refit=refit, return_train_score=True)
    ours = ms.GridSearchCV(LogisticRegression(max_iter=300), grid, **kw).fit(X, y)
    theirs = skm.GridSearchCV(LogisticRegression(max_iter=300), grid, **kw).fit(X, y)
    a, b = _comparable(ours.cv_results_), _comparable(theirs.cv_results_)
    assert set(a) == set(b)
    for key in a:
        if key.startswith("param_"):
            assert a[key].mask.tolist() == b[key].mask.tolist()
            assert a[key].compressed().tolist() == b[key].compressed().tolist()
        elif key == "params":
            assert a[key] == b[key]
        else:
            np.testing.assert_allclose(a[key], b[key], atol=1e-12, err_msg=key)
    if refit is False:  # several scorings and no refit: no best to name
        assert not hasattr(ours, "best_index_") and not hasattr(theirs, "best_index_")
        with pytest.raises(AttributeError, match="refit=False"):
            ours.predict(X)
    else:
        assert ours.best_index_ == theirs.best_index_
        assert ours.best_params_ == theirs.best_params_
        assert ours.best_score_ == pytest.approx(theirs.best_score_, abs=1e-12)
        np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))
        assert ours.score(X, y) == pytest.approx(theirs.score(X, y), abs=1e-12)


def test_callable_refit_and_randomized_search(blobs):
    from sklearn.linear_model import LogisticRegression

    X, y = blobs
    fewest = lambda results: int(np.argmin(results["mean_test_score"]))  # noqa: E731
    search = ms.GridSearchCV(LogisticRegression(max_iter=300), {"C": [0.001, 1.0]}, cv=3,
                             refit=fewest).fit(X, y)  # fmt: skip
    assert search.best_params_ == {"C": 0.001} and not hasattr(search, "best_score_")
    rs = ms.RandomizedSearchCV(LogisticRegression(max_iter=300), {"C": [0.01, 0.1, 1, 10]},
                               n_iter=3, random_state=0, cv=3).fit(X, y)  # fmt: skip
    assert len(rs.cv_results_["params"]) == 3 and rs.best_score_ == max(
        rs.cv_results_["mean_test_score"]
    )


# -- minillm networks as estimators -----------------------------------------------------------


def mlp(n_features, n_outputs, hidden=16):
    return nn.Sequential(nn.Linear(n_features, hidden), nn.Tanh(), nn.Linear(hidden, n_outputs))


def separable(n=120, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    y = np.where(X[:, 0] + X[:, 1] > 0, "yes", "no")
    return X, y


def test_neural_classifier_learns_is_reproducible_and_leaves_the_stream_alone():
    X, y = separable()
    minillm.manual_seed(11)
    before = minillm.random.get_rng_state()
    clf = ms.NeuralClassifier(mlp, epochs=30, lr=3e-2, random_state=0).fit(X, y)
    assert minillm.random.get_rng_state() == before
    assert clf.score(X, y) > 0.95 and set(clf.predict(X)) <= {"no", "yes"}
    proba = clf.predict_proba(X)
    assert proba.shape == (120, 2) and np.allclose(proba.sum(axis=1), 1)
    np.testing.assert_array_equal(clf.classes_[proba.argmax(axis=1)], clf.predict(X))
    again = ms.NeuralClassifier(mlp, epochs=30, lr=3e-2, random_state=0).fit(X, y)
    np.testing.assert_array_equal(again.predict_proba(X), proba)
    assert clf.loss_curve_[-1] < clf.loss_curve_[0]


def test_neural_regressor_fits_a_linear_map():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(200, 3))
    y = X @ np.array([1.0, -2.0, 0.5]) + 0.3
    reg = ms.NeuralRegressor(mlp, epochs=60, lr=1e-2, random_state=0, dtype="float64")
    assert reg.fit(X, y).score(X, y) > 0.98 and reg.predict(X).shape == (200,)
    two = ms.NeuralRegressor(mlp, epochs=5, random_state=0).fit(X, np.stack([y, -y], axis=1))
    assert two.predict(X).shape == (200, 2)


def test_routed_parameters_reach_the_module_and_the_optimizer():
    seen = {}

    def factory(n_features, n_outputs, hidden):
        seen.update(n_features=n_features, n_outputs=n_outputs, hidden=hidden)
        return mlp(n_features, n_outputs, hidden)

    X, y = separable(40)
    clf = ms.NeuralClassifier(factory, epochs=1, module__hidden=5, optimizer__weight_decay=0.1)
    assert clf.get_params()["module__hidden"] == 5
    clf.set_params(module__hidden=7).fit(X, y)
    assert seen == {"n_features": 4, "n_outputs": 2, "hidden": 7}
    assert clf.module_[0].weight.shape == (7, 4)
    cloned = ms.clone(clf)
    assert cloned.get_params() == clf.get_params() and not hasattr(cloned, "module_")


def test_a_factory_without_arguments_is_called_without_them():
    X, y = separable(40)
    clf = ms.NeuralClassifier(lambda: mlp(4, 2), epochs=1).fit(X, y)
    assert clf.predict(X).shape == (40,)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda X, y: ms.NeuralClassifier(mlp, hidden=3), "module__<name>"),
        (lambda X, y: ms.NeuralClassifier(mlp).fit(X[:, 0], y), "reshape"),
        (lambda X, y: ms.NeuralClassifier(mlp).fit(X, np.zeros(len(X))), "at least 2 classes"),
        (lambda X, y: ms.NeuralClassifier(mlp, epochs=1).fit(X, y).predict(X[:, :2]),
         "3 features|2 features"),
        (lambda X, y: ms.NeuralClassifier(lambda **k: 3, epochs=1).fit(X, y), "not an nn.Module"),
        (lambda X, y: ms.NeuralClassifier(mlp, module__width=3).fit(X, y), "no parameter 'width'"),
        (lambda X, y: ms.NeuralClassifier(mlp).predict(X), "not fitted"),
        (lambda X, y: ms.NeuralClassifier(mlp, epochs=0).fit(X, y), "epochs"),
        (lambda X, y: ms.NeuralRegressor(mlp).fit(X, y), "numeric y"),
        (lambda X, y: ms.NeuralClassifier(lambda n_features: mlp(n_features, 3)).fit(X, y),
         r"outputs of shape \(32, 2\)"),
    ],
)  # fmt: skip
def test_neural_estimator_errors_say_what_is_wrong(make, message):
    X, y = separable(40)
    with pytest.raises((ValueError, TypeError, RuntimeError), match=message):
        make(X, y)


def test_sklearn_accepts_minillm_estimators_and_minillm_accepts_sklearns(blobs):
    skm = sk("sklearn.model_selection")
    from sklearn.base import clone, is_classifier, is_regressor
    from sklearn.linear_model import LogisticRegression

    X, y = blobs
    clf = ms.NeuralClassifier(mlp, epochs=8, lr=3e-2, random_state=0)
    assert is_classifier(clf) and is_regressor(ms.NeuralRegressor(mlp))
    assert clone(clf).get_params() == clf.get_params()
    np.testing.assert_array_equal(
        skm.cross_val_score(clf, X, y, cv=3), ms.cross_val_score(clf, X, y, cv=3)
    )
    grid = {"module__hidden": [4, 12], "lr": [1e-2, 3e-2]}
    theirs = skm.GridSearchCV(clf, grid, cv=3).fit(X, y)
    ours = ms.GridSearchCV(clf, grid, cv=3).fit(X, y)
    np.testing.assert_allclose(ours.cv_results_["mean_test_score"],
                               theirs.cv_results_["mean_test_score"], atol=1e-12)  # fmt: skip
    assert ours.best_params_ == theirs.best_params_
    lr = ms.GridSearchCV(LogisticRegression(max_iter=300), {"C": [0.1, 1.0]}, cv=3).fit(X, y)
    assert lr.best_estimator_.C in (0.1, 1.0)


def test_n_jobs_gives_the_serial_result():
    X, y = separable(90)
    clf = ms.NeuralClassifier(mlp, epochs=5, random_state=0)
    serial = ms.cross_validate(clf, X, y, cv=3, return_estimator=True)
    forked = ms.cross_validate(clf, X, y, cv=3, n_jobs=2, return_estimator=True)
    np.testing.assert_array_equal(serial["test_score"], forked["test_score"])
    np.testing.assert_array_equal(serial["estimator"][1].predict_proba(X),
                                  forked["estimator"][1].predict_proba(X))  # fmt: skip
    search = ms.GridSearchCV(clf, {"lr": [1e-3, 1e-2]}, cv=3, n_jobs=2).fit(X, y)
    again = ms.GridSearchCV(clf, {"lr": [1e-3, 1e-2]}, cv=3).fit(X, y)
    np.testing.assert_array_equal(search.cv_results_["mean_test_score"],
                                  again.cv_results_["mean_test_score"])  # fmt: skip


class Fragile(ms.base.ClassifierMixin, ms.BaseEstimator):
    """Fails to fit when ``fail`` is set; otherwise predicts the majority class."""

    def __init__(self, fail=False):
        self.fail = fail

    def fit(self, X, y):
        if self.fail:
            raise RuntimeError("this candidate cannot be fitted")
        values, counts = np.unique(y, return_counts=True)
        self.classes_, self.majority_ = values, values[np.argmax(counts)]
        return self

    def predict(self, X):
        return np.full(len(X), self.majority_)


def test_failed_fits_score_error_score_with_a_warning():
    X, y = separable(30)
    with pytest.warns(ms.FitFailedWarning, match="cannot be fitted"):
        search = ms.GridSearchCV(Fragile(), {"fail": [False, True]}, cv=3).fit(X, y)
    assert np.isnan(search.cv_results_["mean_test_score"][1])
    assert search.cv_results_["rank_test_score"].tolist() == [1, 2]
    with pytest.raises(RuntimeError, match="cannot be fitted"):
        ms.cross_val_score(Fragile(fail=True), X, y, cv=3, error_score="raise")
    with pytest.raises(ValueError, match="all 3 fits failed"):
        ms.cross_val_score(Fragile(fail=True), X, y, cv=3)


def test_bad_search_arguments_say_what_is_wrong():
    X, y = separable(30)
    with pytest.raises(ValueError, match="invalid parameter 'nope'"):
        ms.GridSearchCV(Fragile(), {"nope": [1]}, cv=3).fit(X, y)
    with pytest.raises(TypeError, match="list of values"):
        ms.ParameterGrid({"a": 3})
    with pytest.raises(ValueError, match="not a valid scoring"):
        ms.cross_val_score(Fragile(), X, y, scoring="acuracy")
    with pytest.raises(ValueError, match="refit must be one of"):
        ms.GridSearchCV(Fragile(), {"fail": [False]}, scoring=["accuracy"], refit="f1").fit(X, y)


def test_bayes_search_cv_proposes_reproducibly_inside_the_space(blobs):
    from sklearn.linear_model import LogisticRegression

    X, y = blobs
    spaces = {"C": ms.Real(1e-3, 1e2, prior="log-uniform"), "fit_intercept": [True, False]}
    kw = dict(n_iter=8, cv=3, random_state=0, optimizer_kwargs={"n_initial_points": 4})
    search = ms.BayesSearchCV(LogisticRegression(max_iter=300), spaces, **kw).fit(X, y)
    again = ms.BayesSearchCV(LogisticRegression(max_iter=300), spaces, **kw).fit(X, y)
    params = search.cv_results_["params"]
    assert params == again.cv_results_["params"] and len(params) == 8
    assert all(1e-3 <= p["C"] <= 1e2 and p["fit_intercept"] in (True, False) for p in params)
    assert search.best_score_ == max(search.cv_results_["mean_test_score"])
    assert len(search.optimizer_.yi) == 8 and len(search.optimizer_.models) == 5
    np.testing.assert_allclose(search.optimizer_.yi, -search.cv_results_["mean_test_score"])
    batched = ms.BayesSearchCV(LogisticRegression(max_iter=300), spaces, n_points=3, n_iter=6,
                               cv=3, random_state=1).fit(X, y)  # fmt: skip
    values = [p["C"] for p in batched.cv_results_["params"]]
    assert len(set(values)) == 6  # each round's candidates differ, and rounds do not repeat


def test_bayes_search_cv_tunes_a_minillm_network():
    X, y = separable(90)
    clf = ms.NeuralClassifier(mlp, epochs=5, random_state=0)
    space = {"lr": ms.Real(1e-4, 1e-1, prior="log-uniform"), "module__hidden": ms.Integer(2, 16)}
    search = ms.BayesSearchCV(clf, space, n_iter=5, cv=3, random_state=0,
                              optimizer_kwargs={"n_initial_points": 3}).fit(X, y)  # fmt: skip
    assert isinstance(search.best_params_["module__hidden"], int)
    hidden = search.best_params_["module__hidden"]
    assert search.best_estimator_.module_[0].weight.shape[0] == hidden
    with pytest.raises(ValueError, match="non-empty dict"):
        ms.BayesSearchCV(clf, {}, n_iter=2).fit(X, y)


def test_curve_displays_draw_the_computed_curves(tmp_path, blobs):
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    from sklearn.linear_model import LogisticRegression

    X, y = blobs
    est = LogisticRegression(max_iter=300)
    shown = ms.LearningCurveDisplay.from_estimator(est, X, y, cv=3, train_sizes=[0.3, 0.6, 1.0])
    sizes, train, test = ms.learning_curve(est, X, y, cv=3, train_sizes=[0.3, 0.6, 1.0])
    np.testing.assert_array_equal(shown.train_sizes, sizes)
    np.testing.assert_array_equal(shown.train_scores, train)
    np.testing.assert_array_equal(shown.test_scores, test)
    np.testing.assert_allclose(shown.lines_[1].get_ydata(), test.mean(axis=1))
    assert len(shown.fill_between_) == 2 and shown.ax_.get_xlabel().startswith("Number")
    path = tmp_path / "learning.png"
    shown.figure_.savefig(path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    curve = ms.ValidationCurveDisplay.from_estimator(
        est, X, y, param_name="C", param_range=[1e-3, 1e-1, 10.0], cv=3, scoring="accuracy"
    )
    assert curve.ax_.get_xscale() == "log" and curve.ax_.get_ylabel() == "accuracy"
    np.testing.assert_allclose(curve.lines_[0].get_ydata(), curve.train_scores.mean(axis=1))
    with pytest.raises(ValueError, match="score_type"):
        curve.plot(score_type="validation")


def test_the_model_selection_example_runs():
    import runpy
    from pathlib import Path

    example = Path(__file__).parent.parent / "examples" / "08_model_selection.py"
    runpy.run_path(str(example), run_name="__main__")  # it asserts its own checks


def test_sample_weight_is_cut_to_each_training_split(blobs):
    skm = sk("sklearn.model_selection")
    from sklearn.linear_model import LogisticRegression

    X, y = blobs
    w = np.random.default_rng(0).uniform(0.1, 2.0, len(y))
    ours = ms.cross_validate(LogisticRegression(max_iter=300), X, y, cv=3,
                             params={"sample_weight": w})  # fmt: skip
    theirs = skm.cross_validate(LogisticRegression(max_iter=300), X, y, cv=3,
                                params={"sample_weight": w})  # fmt: skip
    np.testing.assert_allclose(ours["test_score"], theirs["test_score"], atol=1e-12)
    grid = {"C": [0.1, 1.0]}
    a = ms.GridSearchCV(LogisticRegression(max_iter=300), grid, cv=3).fit(X, y, sample_weight=w)
    b = skm.GridSearchCV(LogisticRegression(max_iter=300), grid, cv=3).fit(X, y, sample_weight=w)
    np.testing.assert_allclose(a.cv_results_["mean_test_score"], b.cv_results_["mean_test_score"])


def test_a_search_is_what_it_searches_and_passes_on_only_what_the_model_has(blobs):
    skm = sk("sklearn.model_selection")
    from sklearn.linear_model import LogisticRegression
    from sklearn.tree import DecisionTreeClassifier

    X, y = blobs
    ordered = np.sort(y)  # plain KFold would leave a class out of a training fold
    search = ms.GridSearchCV(LogisticRegression(max_iter=300), {"C": [0.1, 1.0]}, cv=3)
    assert ms.is_classifier(search)
    np.testing.assert_allclose(
        ms.cross_val_score(search, X, ordered, cv=4),
        skm.cross_val_score(skm.GridSearchCV(LogisticRegression(max_iter=300), {"C": [0.1, 1.0]},
                                             cv=3), X, ordered, cv=4),
    )  # fmt: skip
    binary = (y == 1).astype(int)
    tree = ms.GridSearchCV(DecisionTreeClassifier(random_state=0), {"max_depth": [2, 3]}, cv=3)
    assert not hasattr(tree, "decision_function") and hasattr(tree, "predict_proba")
    np.testing.assert_allclose(
        ms.cross_val_score(tree, X, binary, cv=3, scoring="roc_auc"),
        skm.cross_val_score(skm.GridSearchCV(DecisionTreeClassifier(random_state=0),
                                             {"max_depth": [2, 3]}, cv=3),
                            X, binary, cv=3, scoring="roc_auc"),
    )  # fmt: skip


def test_a_decision_score_is_turned_round_for_the_other_positive_label(blobs):
    metrics = sk("sklearn.metrics")
    from sklearn.linear_model import LogisticRegression

    X, y = blobs
    binary = (y == 1).astype(int)
    model = LogisticRegression(max_iter=300).fit(X, binary)
    for positive in (0, 1):
        kw = dict(response_method="decision_function", pos_label=positive)
        ours = ms.make_scorer(minillm.metrics.average_precision_score, **kw)(model, X, binary)
        theirs = metrics.make_scorer(metrics.average_precision_score, **kw)(model, X, binary)
        assert ours == pytest.approx(theirs, abs=1e-12)
    with pytest.raises(ValueError, match="pos_label=7 is not one of classes_"):
        ms.make_scorer(minillm.metrics.average_precision_score, response_method="predict_proba",
                       pos_label=7)(model, X, binary)  # fmt: skip


def test_a_scorer_that_fails_scores_error_score_with_a_warning():
    X, y = separable(30)  # string labels: "precision" has no positive label 1
    with pytest.warns(UserWarning, match="scoring 'score' failed"):
        scores = ms.cross_val_score(Fragile(), X, y, cv=3, scoring="precision")
    assert np.isnan(scores).all()
    with pytest.raises(ValueError, match="pos_label"):
        ms.cross_val_score(Fragile(), X, y, cv=3, scoring="precision", error_score="raise")


def test_small_things_scikit_learn_users_expect():
    X, y = separable(40)
    assert len(ms.train_test_split(X, test_size=np.float32(0.25), random_state=0)[1]) == 10
    assert isinstance(ms.check_cv(3, y.reshape(-1, 1), classifier=True), ms.StratifiedKFold)
    search = ms.GridSearchCV(Fragile(), {"fail": [False]}, cv=2).fit(X, y)
    assert search.cv_results_["param_fail"].dtype == bool
    with pytest.raises(ValueError, match="random_state must be"):
        ms.NeuralClassifier(mlp, random_state=np.random.RandomState(0)).fit(X, y)
    lam = ms.NeuralClassifier(lambda n_features, n_outputs: mlp(n_features, n_outputs), epochs=1)
    with pytest.raises(ValueError, match="does not pickle"):
        ms.cross_validate(lam, X, y, cv=2, n_jobs=2, return_estimator=True)
