"""The metric displays: each draws a PNG with matplotlib's Agg backend, keeps the numbers it drew
equal to scikit-learn's display of the same input, takes a fitted model (its predict,
predict_proba or decision_function), and without matplotlib says how to install it."""

from __future__ import annotations

import sys
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minillm import metrics

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
plt = pytest.importorskip("matplotlib.pyplot")
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def saved_png(display, path) -> None:
    display.figure_.savefig(path)
    assert path.read_bytes()[:8] == PNG


@settings(max_examples=10)
@given(seed=st.integers(0, 2**31), normalize=st.sampled_from([None, "true", "pred", "all"]),
       strings=st.booleans())  # fmt: skip
def test_confusion_matrix_display_equals_sklearn(seed, normalize, strings):
    sk = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(seed)
    y_true, y_pred = rng.integers(0, 3, 12), rng.integers(0, 3, 12)
    if strings:
        y_true, y_pred = (
            np.array(["ant", "bee", "cat"])[y_true],
            np.array(["ant", "bee", "cat"])[y_pred],
        )
    ours = metrics.ConfusionMatrixDisplay.from_predictions(y_true, y_pred, normalize=normalize)
    theirs = sk.ConfusionMatrixDisplay.from_predictions(y_true, y_pred, normalize=normalize)
    np.testing.assert_allclose(ours.confusion_matrix, theirs.confusion_matrix, atol=1e-12)
    np.testing.assert_array_equal(ours.display_labels, theirs.display_labels)
    texts = [[t.get_text() for t in row] for row in ours.text_]
    assert texts == [[t.get_text() for t in row] for row in theirs.text_]
    assert [t.get_text() for t in ours.ax_.get_xticklabels()] == [
        t.get_text() for t in theirs.ax_.get_xticklabels()
    ]
    assert ours.ax_.get_xlabel() == "Predicted label" and ours.ax_.get_ylabel() == "True label"


def test_confusion_matrix_display_draws_and_saves(tmp_path):
    disp = metrics.ConfusionMatrixDisplay(np.array([[5, 1], [2, 7]]), display_labels=["no", "yes"])
    fig, ax = plt.subplots()
    assert disp.plot(ax=ax, values_format="d", colorbar=False, cmap="Blues") is disp
    assert disp.ax_ is ax and disp.figure_ is fig and disp.im_ is not None
    assert disp.text_.shape == (2, 2) and disp.text_[1, 1].get_text() == "7"
    saved_png(disp, tmp_path / "cm.png")
    assert metrics.ConfusionMatrixDisplay(np.eye(2)).plot(include_values=False).text_ is None


@settings(max_examples=10)
@given(seed=st.integers(0, 2**31), weighted=st.booleans(), drop=st.booleans())
def test_curve_displays_equal_sklearn(seed, weighted, drop):
    sk = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, 20)
    y[:2] = [0, 1]  # both classes
    score = rng.integers(0, 5, 20) / 4.0  # ties
    w = rng.choice([0.5, 1.0, 2.0], 20) if weighted else None
    kw = dict(sample_weight=w, drop_intermediate=drop)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours = metrics.RocCurveDisplay.from_predictions(y, score, **kw)
        theirs = sk.RocCurveDisplay.from_predictions(y, score, **kw)
        for name in ("fpr", "tpr", "roc_auc"):
            np.testing.assert_allclose(getattr(ours, name), getattr(theirs, name), atol=1e-12)
        assert ours.line_.get_label() == theirs.line_.get_label()
        ours = metrics.PrecisionRecallDisplay.from_predictions(y, score, **kw)
        theirs = sk.PrecisionRecallDisplay.from_predictions(y, score, **kw)
        for name in ("precision", "recall", "average_precision", "prevalence_pos_label"):
            np.testing.assert_allclose(getattr(ours, name), getattr(theirs, name), atol=1e-12)
        assert ours.line_.get_label() == theirs.line_.get_label()
        assert ours.ax_.get_xlabel() == theirs.ax_.get_xlabel()


class Scorer:
    """A stand-in fitted binary classifier: scores are the first feature."""

    classes_ = np.array(["cat", "dog"])

    def predict(self, X):
        return self.classes_[(np.asarray(X)[:, 0] > 0).astype(int)]

    def decision_function(self, X):
        return np.asarray(X)[:, 0]


class ProbaScorer(Scorer):
    def predict_proba(self, X):
        p = 1 / (1 + np.exp(-np.asarray(X)[:, 0]))
        return np.stack([1 - p, p], axis=1)


def test_from_estimator_uses_predict_proba_or_decision_function(tmp_path):
    sk = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    X = rng.standard_normal((30, 2))
    y = np.where(X[:, 0] + rng.standard_normal(30) > 0, "dog", "cat")
    for model in (Scorer(), ProbaScorer()):
        for pos_label in (None, "cat"):
            roc = metrics.RocCurveDisplay.from_estimator(model, X, y, pos_label=pos_label)
            positive = pos_label or "dog"
            if hasattr(model, "predict_proba"):
                column = list(model.classes_).index(positive)
                score = model.predict_proba(X)[:, column]
            else:
                score = model.decision_function(X) * (1 if positive == "dog" else -1)
            fpr, tpr, _ = sk.roc_curve(y, score, pos_label=positive)
            np.testing.assert_allclose(roc.fpr, fpr)
            np.testing.assert_allclose(roc.tpr, tpr)
            assert roc.line_.get_label().startswith(type(model).__name__)
            assert roc.ax_.get_xlabel() == f"False Positive Rate (Positive label: {positive})"
            pr = metrics.PrecisionRecallDisplay.from_estimator(
                model, X, y, pos_label=pos_label, plot_chance_level=True, despine=True
            )
            ap = sk.average_precision_score(y, score, pos_label=positive)
            assert pr.average_precision == pytest.approx(ap, abs=1e-12)
            assert pr.chance_level_.get_ydata()[0] == pytest.approx(np.mean(y == positive))
    saved_png(roc, tmp_path / "roc.png")
    saved_png(pr, tmp_path / "pr.png")
    cm = metrics.ConfusionMatrixDisplay.from_estimator(ProbaScorer(), X, y)
    np.testing.assert_array_equal(cm.confusion_matrix,
                                  sk.confusion_matrix(y, ProbaScorer().predict(X)))  # fmt: skip
    saved_png(cm, tmp_path / "cm.png")
    with pytest.raises(ValueError, match="pos_label=bird is not a valid label"):
        metrics.RocCurveDisplay.from_estimator(Scorer(), X, y, pos_label="bird")
    with pytest.raises(AttributeError, match="predict_proba"):
        metrics.RocCurveDisplay.from_estimator(Scorer(), X, y, response_method="predict_proba")


def test_curve_display_errors_and_direct_use(tmp_path):
    with pytest.raises(ValueError, match="not binary"):
        metrics.RocCurveDisplay.from_predictions([0, 1, 2], [0.1, 0.5, 0.9])
    with pytest.raises(ValueError, match="pos_label is not specified"):
        metrics.PrecisionRecallDisplay.from_predictions(["a", "b"], [0.1, 0.9])
    with pytest.raises(ValueError, match="inconsistent numbers"):
        metrics.RocCurveDisplay.from_predictions([0, 1], [0.1, 0.5, 0.9])
    with pytest.raises(ValueError, match="prevalence_pos_label"):
        metrics.PrecisionRecallDisplay([1.0, 0.5], [0.0, 1.0]).plot(plot_chance_level=True)
    roc = metrics.RocCurveDisplay(fpr=[0, 0.5, 1], tpr=[0, 0.8, 1], roc_auc=0.65)
    roc.plot(plot_chance_level=True, curve_kwargs={"color": "red"})
    assert roc.line_.get_label() == "AUC = 0.65" and roc.line_.get_color() == "red"
    assert roc.chance_level_.get_label() == "Chance level (AUC = 0.5)"
    saved_png(roc, tmp_path / "direct.png")


def test_without_matplotlib_the_error_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # an import of it now fails
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match=r'pip install -e "\.\[plot\]"'):
        metrics.RocCurveDisplay.from_predictions([0, 1], [0.2, 0.7])
    with pytest.raises(ImportError, match="ConfusionMatrixDisplay"):
        metrics.ConfusionMatrixDisplay(np.eye(2)).plot()
