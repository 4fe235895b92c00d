"""Multilabel and multiclass metrics against scikit-learn on Hypothesis-drawn inputs: the
per-label and per-sample tables, every average (with "samples"), subset accuracy, the
classification report (text character for character), one-vs-rest and one-vs-one ROC AUC,
multilabel average precision and the Brier score, and scikit-learn's errors for bad input."""

from __future__ import annotations

import warnings
from itertools import combinations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minillm import metrics

sk = pytest.importorskip("sklearn.metrics")

ZERO = ["warn", 0.0, 1.0, np.nan]


def same(a, b) -> None:
    if a is None or b is None:
        assert a is None and b is None
        return
    np.testing.assert_allclose(np.asarray(a, dtype=float), np.asarray(b, dtype=float), atol=1e-12,
                               rtol=0, equal_nan=True)  # fmt: skip


def agree(name: str, *args, **kw) -> None:
    """minillm's and scikit-learn's ``name`` give the same value, or refuse the input with the
    same kind of error."""
    ours, theirs = getattr(metrics, name), getattr(sk, name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            expected = theirs(*args, **kw)
        except (ValueError, NotImplementedError) as error:
            with pytest.raises(type(error)):
                ours(*args, **kw)
            return
        got = ours(*args, **kw)
    if isinstance(expected, tuple):
        for a, b in zip(got, expected):
            same(a, b)
    else:
        same(got, expected)


def weights_for(draw, n: int):
    if not draw(st.booleans()):
        return None
    w = np.array(draw(st.lists(st.sampled_from([0.0, 0.5, 1.0, 3.0]), min_size=n, max_size=n)))
    w[draw(st.integers(0, n - 1))] = 1.0  # all-zero weights are an error of their own
    return w


@st.composite
def indicators(draw, max_n: int = 12):
    """y_true, y_pred indicator matrices of ints, bools or floats (empty rows and columns likely),
    and maybe weights."""
    n, k = draw(st.integers(1, max_n)), draw(st.integers(2, 4))
    cells = st.lists(st.integers(0, 1), min_size=n * k, max_size=n * k)
    dtype = draw(st.sampled_from([np.int64, np.bool_, np.float64]))
    y_true = np.array(draw(cells), dtype).reshape(n, k)
    y_pred = np.array(draw(cells), dtype).reshape(n, k)
    return y_true, y_pred, weights_for(draw, n)


@st.composite
def labels_1d(draw, max_n: int = 15):
    n, k = draw(st.integers(1, max_n)), draw(st.integers(1, 4))
    y_true = np.array(draw(st.lists(st.integers(0, k - 1), min_size=n, max_size=n)))
    y_pred = np.array(draw(st.lists(st.integers(0, k - 1), min_size=n, max_size=n)))
    if draw(st.booleans()):
        names = np.array(["ant", "bee", "cat", "dog"])
        y_true, y_pred = names[y_true], names[y_pred]
    return y_true, y_pred, weights_for(draw, n)


@settings(max_examples=50)
@given(data=indicators(), average=st.sampled_from([None, "micro", "macro", "weighted", "samples"]),
       zero=st.sampled_from(ZERO), beta=st.sampled_from([0.0, 0.5, 1.0, 2.0]),
       subset=st.booleans())  # fmt: skip
def test_multilabel_precision_recall_f_equal_sklearn(data, average, zero, beta, subset):
    y_true, y_pred, w = data
    labels = [1, 0] if subset else None
    kw = dict(beta=beta, average=average, labels=labels, sample_weight=w, zero_division=zero)
    agree("precision_recall_fscore_support", y_true, y_pred, **kw)
    for name in ("precision_score", "recall_score", "f1_score"):
        agree(name, y_true, y_pred, average=average, sample_weight=w, zero_division=zero)


@settings(max_examples=40)
@given(data=indicators(), single=labels_1d(), samplewise=st.booleans(), subset=st.booleans())
def test_multilabel_confusion_matrix_and_subset_accuracy_equal_sklearn(
    data, single, samplewise, subset
):
    for y_true, y_pred, w in (data, single):
        labels = list(np.unique(y_true)[::-1]) if subset and y_true.ndim == 1 else None
        kw = dict(sample_weight=w, labels=labels, samplewise=samplewise and y_true.ndim == 2)
        agree("multilabel_confusion_matrix", y_true, y_pred, **kw)
        for normalize in (True, False):
            kw = dict(normalize=normalize, sample_weight=w)
            same(metrics.accuracy_score(y_true, y_pred, **kw),
                 sk.accuracy_score(y_true, y_pred, **kw))  # fmt: skip


@given(data=indicators())
def test_samples_average_is_the_mean_of_each_samples_scores(data):
    y_true, y_pred, _ = data
    tp, pred = ((y_true != 0) & (y_pred != 0)).sum(axis=1), (y_pred != 0).sum(axis=1)
    by_hand = np.where(pred > 0, tp / np.maximum(pred, 1), 1.0).mean()  # zero_division=1
    ours = metrics.precision_score(y_true, y_pred, average="samples", zero_division=1.0)
    assert ours == pytest.approx(by_hand, abs=1e-12)
    tables = metrics.multilabel_confusion_matrix(y_true, y_pred, samplewise=True)
    np.testing.assert_array_equal(tables[:, 1, 1], tp)
    np.testing.assert_array_equal(tables.sum(axis=(1, 2)), y_true.shape[1])


@settings(max_examples=40)
@given(single=labels_1d(), multi=indicators(), digits=st.integers(0, 4),
       zero=st.sampled_from(ZERO), named=st.booleans(), subset=st.booleans())  # fmt: skip
def test_classification_report_equals_sklearn(single, multi, digits, zero, named, subset):
    for y_true, y_pred, w in (single, multi):
        present = np.unique(y_true) if y_true.ndim == 1 else np.arange(y_true.shape[1])
        labels = list(present[:-1] if len(present) > 1 else present) if subset else None
        n_names = len(present) if labels is None else len(labels)
        names = [f"class number {i}" for i in range(n_names)] if named else None
        kw = dict(labels=labels, target_names=names, sample_weight=w, digits=digits,
                  zero_division=zero)  # fmt: skip
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                expected = sk.classification_report(y_true, y_pred, **kw)
            except ValueError:
                with pytest.raises(ValueError):
                    metrics.classification_report(y_true, y_pred, **kw)
                continue
            assert metrics.classification_report(y_true, y_pred, **kw) == expected
            ours = metrics.classification_report(y_true, y_pred, output_dict=True, **kw)
            theirs = sk.classification_report(y_true, y_pred, output_dict=True, **kw)
        assert list(ours) == list(theirs)
        for key in theirs:
            if isinstance(theirs[key], dict):
                assert list(ours[key]) == list(theirs[key])
                same(list(ours[key].values()), list(theirs[key].values()))
            else:
                same(ours[key], theirs[key])


@st.composite
def probabilities(draw, max_n: int = 16):
    """Multiclass labels and probability rows on a coarse grid (many ties), maybe weights."""
    n, k = draw(st.integers(2, max_n)), draw(st.integers(3, 4))
    y = np.array(draw(st.lists(st.integers(0, k - 1), min_size=n, max_size=n)))
    raw = np.array(draw(st.lists(st.integers(0, 3), min_size=n * k, max_size=n * k)), float)
    raw = raw.reshape(n, k)
    raw[raw.sum(axis=1) == 0] = 1.0
    return y, raw / raw.sum(axis=1, keepdims=True), weights_for(draw, n)


@settings(max_examples=50)
@given(data=probabilities(), average=st.sampled_from([None, "micro", "macro", "weighted"]),
       multi_class=st.sampled_from(["ovr", "ovo"]), given_labels=st.booleans())  # fmt: skip
def test_multiclass_roc_auc_equals_sklearn(data, average, multi_class, given_labels):
    y, p, w = data
    labels = list(range(p.shape[1])) if given_labels else None
    w = None if multi_class == "ovo" and w is not None and given_labels else w
    kw = dict(average=average, multi_class=multi_class, labels=labels, sample_weight=w)
    agree("roc_auc_score", y, p, **kw)
    if len(np.unique(y)) == p.shape[1]:  # every class present: AP is defined too
        agree("average_precision_score", y, p, average=average, sample_weight=w)


@settings(max_examples=50)
@given(data=indicators(max_n=15), average=st.sampled_from([None, "micro", "macro", "weighted",
       "samples"]), seed=st.integers(0, 2**31))  # fmt: skip
def test_multilabel_roc_auc_and_average_precision_equal_sklearn(data, average, seed):
    y, _, w = data
    score = np.random.default_rng(seed).integers(0, 4, y.shape) / 3.0  # many ties
    kw = dict(average=average, sample_weight=w)
    agree("roc_auc_score", y, score, **kw)
    agree("average_precision_score", y, score, **kw)


@given(data=probabilities())
def test_one_vs_one_is_hand_and_till(data):
    """The mean over class pairs of the two Mann-Whitney AUCs on the pair's samples."""
    y, p, _ = data
    present = np.unique(y)
    if len(present) < 2:
        return

    def mann_whitney(pos, neg):
        return (pos[:, None] > neg).mean() + 0.5 * (pos[:, None] == neg).mean()

    pairs = [(mann_whitney(p[y == a, a], p[y == b, a]) + mann_whitney(p[y == b, b], p[y == a, b]))
             / 2 for a, b in combinations(present, 2)]  # fmt: skip
    labels = list(range(p.shape[1]))
    ours = metrics.roc_auc_score(y, p, multi_class="ovo", labels=labels)
    assert ours == pytest.approx(np.mean(pairs), abs=1e-12)


@settings(max_examples=40)
@given(n=st.integers(2, 15), k=st.integers(2, 4), weighted=st.booleans(), strings=st.booleans(),
       half=st.sampled_from(["auto", True, False]), seed=st.integers(0, 2**31))  # fmt: skip
def test_brier_score_equals_sklearn(n, k, weighted, strings, half, seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    p = rng.integers(0, 4, (n, k)).astype(float) + 1e-3
    p /= p.sum(axis=1, keepdims=True)
    w = rng.choice([0.5, 1.0, 2.0], n) if weighted else None
    names = np.array(["eggs", "ham", "jam", "spam"])
    y_named = names[y] if strings else y
    labels = list(names[:k]) if strings else list(range(k))
    kw = dict(sample_weight=w, scale_by_half=half)
    agree("brier_score_loss", y_named, p, labels=labels, **kw)
    binary, pos = y % 2, p[:, 0]  # a 1-D probability of the positive class
    for pos_label in (None, 0, 1):
        agree("brier_score_loss", binary, pos, pos_label=pos_label, **kw)
    agree("brier_score_loss", binary + 1, pos, **kw)  # labels {1, 2}: the larger is positive
    agree("brier_score_loss", names[binary], pos, pos_label="eggs", **kw)


def test_bad_input_is_refused_like_sklearn():
    p3 = np.array([[0.2, 0.3, 0.5], [0.6, 0.2, 0.2], [0.1, 0.8, 0.1]])
    y3 = [0, 1, 2]
    Y = np.array([[1, 0], [0, 1], [1, 1]])
    cases = [
        (metrics.roc_auc_score, (y3, p3), {}, "multi_class must be in"),
        (metrics.roc_auc_score, (y3, p3), dict(multi_class="ova"), "multi_class"),
        (metrics.roc_auc_score, (y3, p3), dict(multi_class="ovr", average="mean"), "average"),
        (metrics.roc_auc_score, (y3, p3 * 2), dict(multi_class="ovr"), "sum up to 1.0"),
        (metrics.roc_auc_score, (y3, np.full((3, 4), 0.25)), dict(multi_class="ovr"), "Number of"),
        (metrics.roc_auc_score, (y3, p3), dict(multi_class="ovo", average="micro"), "average"),
        (
            metrics.roc_auc_score,
            (y3, p3),
            dict(multi_class="ovo", sample_weight=[1, 2, 3]),
            "sample_weight is not supported",
        ),
        (metrics.roc_auc_score, (y3, p3), dict(multi_class="ovr", max_fpr=0.5), "Partial AUC"),
        (metrics.roc_auc_score, (y3, p3), dict(multi_class="ovr", labels=[2, 1, 0]), "ordered"),
        (metrics.roc_auc_score, (y3, p3[:2]), dict(multi_class="ovr"), "inconsistent numbers"),
        (metrics.roc_auc_score, ([0.5, 1.5, 2.5], [0.1, 0.2, 0.3]), {}, "continuous"),
        (metrics.average_precision_score, (Y, Y), dict(pos_label=0), "fixed to 1"),
        (metrics.f1_score, (Y, Y), {}, "Target is multilabel-indicator but average='binary'"),
        (metrics.f1_score, (y3, y3), dict(average="samples"), "Samplewise metrics"),
        (metrics.f1_score, (Y, Y), dict(average="macro", labels=[0, 2]), "All labels must be in"),
        (metrics.f1_score, (Y, [0, 1, 1]), dict(average="macro"), "mix of multilabel"),
        (metrics.f1_score, (Y, Y[:, :1]), dict(average="macro"), "mix of"),
        (metrics.accuracy_score, ([[0, 2], [3, 1]], [[0, 2], [3, 1]]), {}, "multioutput"),
        (metrics.confusion_matrix, (Y, Y), {}, "multilabel-indicator is not supported"),
        (metrics.classification_report, (y3, y3), dict(target_names=["a"]), "target_names"),
        (metrics.brier_score_loss, ([0, 1, 2], [0.1, 0.2, 0.3]), {}, "should be binary"),
        (metrics.brier_score_loss, (["a", "b"], [0.1, 0.2]), {}, "pos_label is not specified"),
        (metrics.brier_score_loss, ([0, 1], [0.1, 1.2]), {}, "greater than 1"),
        (metrics.brier_score_loss, ([0, 1, 2], p3), dict(labels=[0, 1]), "not belonging"),
        (metrics.brier_score_loss, ([0, 1], [0.1]), {}, "inconsistent numbers"),
    ]
    for function, args, kw, message in cases:
        with pytest.raises(ValueError, match=message), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            function(*args, **kw)
        with pytest.raises(ValueError), warnings.catch_warnings():  # and so does scikit-learn
            warnings.simplefilter("ignore")
            getattr(sk, function.__name__)(*args, **kw)
    with pytest.raises(NotImplementedError):
        metrics.roc_auc_score(y3, p3, multi_class="ovo", average=None)


def test_zero_division_warnings_name_labels_or_samples():
    Y = np.array([[1, 0], [0, 0]])
    with pytest.warns(metrics.UndefinedMetricWarning, match="in samples with no predicted labels"):
        metrics.precision_score(Y, Y, average="samples")
    with pytest.warns(metrics.UndefinedMetricWarning, match="in labels with no true samples"):
        metrics.recall_score(Y, Y, average="macro")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert metrics.recall_score(Y, Y, average="macro", zero_division=1.0) == 1.0
