"""Classification and language-model metrics: scikit-learn's results on Hypothesis-drawn labels
(ties to every zero_division case: a class never predicted, one never true, one class present),
the identities they are built from, and scikit-learn's errors for bad input."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minillm
from minillm import metrics

AVERAGES = [None, "micro", "macro", "weighted"]
ZERO = ["warn", 0.0, 1.0, np.nan]


@st.composite
def label_pairs(draw, max_classes: int = 4, max_n: int = 20):
    """y_true, y_pred over a few classes (ints or strings), and maybe float sample weights."""
    n = draw(st.integers(1, max_n))
    k = draw(st.integers(1, max_classes))
    y_true = np.array(draw(st.lists(st.integers(0, k - 1), min_size=n, max_size=n)))
    y_pred = np.array(draw(st.lists(st.integers(0, k - 1), min_size=n, max_size=n)))
    if draw(st.booleans()):
        names = np.array(["ant", "bee", "cat", "dog", "eel"])
        y_true, y_pred = names[y_true], names[y_pred]
    weights = None
    if draw(st.booleans()):
        weights = np.array(
            draw(st.lists(st.sampled_from([0.0, 0.5, 1.0, 3.0]), min_size=n, max_size=n))
        )
        weights[draw(st.integers(0, n - 1))] = 1.0  # all-zero weights are an error (tested)
    return y_true, y_pred, weights


def same(a, b) -> None:
    if a is None or b is None:
        assert a is None and b is None
        return
    np.testing.assert_allclose(np.asarray(a, dtype=float), np.asarray(b, dtype=float), atol=1e-12,
                               rtol=0, equal_nan=True)  # fmt: skip


@settings(max_examples=60)
@given(data=label_pairs(), average=st.sampled_from(AVERAGES), zero=st.sampled_from(ZERO),
       beta=st.sampled_from([0.0, 0.5, 1.0, 2.0]), subset=st.booleans())  # fmt: skip
def test_precision_recall_f_equal_sklearn(data, average, zero, beta, subset):
    sk = pytest.importorskip("sklearn.metrics")
    y_true, y_pred, w = data
    present = np.unique(np.concatenate([y_true, y_pred]))
    labels = list(present[::-1][: max(1, len(present) - 1)]) if subset else None
    if subset and y_true.dtype.kind == "U":
        labels = labels + ["zebra"]  # a label nobody has: support 0, zero_division applies
    kw = dict(beta=beta, average=average, labels=labels, sample_weight=w, zero_division=zero)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours = metrics.precision_recall_fscore_support(y_true, y_pred, **kw)
        theirs = sk.precision_recall_fscore_support(y_true, y_pred, **kw)
    for a, b in zip(ours, theirs):
        same(a, b)


@settings(max_examples=40)
@given(data=label_pairs(max_classes=2), zero=st.sampled_from(ZERO))
def test_binary_scores_and_pos_label_equal_sklearn(data, zero):
    sk = pytest.importorskip("sklearn.metrics")
    y_true, y_pred, w = data
    present = np.unique(np.concatenate([y_true, y_pred]))
    pos = present[-1]
    kw = dict(pos_label=pos, sample_weight=w, zero_division=zero)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in ("precision_score", "recall_score", "f1_score"):
            same(
                getattr(metrics, name)(y_true, y_pred, **kw),
                getattr(sk, name)(y_true, y_pred, **kw),
            )
        same(metrics.fbeta_score(y_true, y_pred, beta=0.5, **kw),
             sk.fbeta_score(y_true, y_pred, beta=0.5, **kw))  # fmt: skip


@settings(max_examples=40)
@given(data=label_pairs(), normalize=st.sampled_from([None, "true", "pred", "all"]))
def test_confusion_matrix_and_accuracy_equal_sklearn(data, normalize):
    sk = pytest.importorskip("sklearn.metrics")
    warnings.filterwarnings("ignore", message="A single label was found")  # sklearn's advice
    y_true, y_pred, w = data
    same(metrics.confusion_matrix(y_true, y_pred, sample_weight=w, normalize=normalize),
         sk.confusion_matrix(y_true, y_pred, sample_weight=w, normalize=normalize))  # fmt: skip
    labels = list(np.unique(y_true))[::-1]
    same(metrics.confusion_matrix(y_true, y_pred, labels=labels),
         sk.confusion_matrix(y_true, y_pred, labels=labels))  # fmt: skip
    for normalize_acc in (True, False):
        kw = dict(normalize=normalize_acc, sample_weight=w)
        same(metrics.accuracy_score(y_true, y_pred, **kw), sk.accuracy_score(y_true, y_pred, **kw))


@given(data=label_pairs())
def test_the_scores_are_built_from_the_confusion_matrix(data):
    y_true, y_pred, _ = data
    cm = metrics.confusion_matrix(y_true, y_pred)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p, r, f, support = metrics.precision_recall_fscore_support(
            y_true, y_pred, zero_division=np.nan
        )
    np.testing.assert_array_equal(support, cm.sum(axis=1))
    defined = ~np.isnan(f) & (p + r > 0)
    with np.errstate(invalid="ignore"):
        harmonic = 2 * p * r / (p + r)
    np.testing.assert_allclose(f[defined], harmonic[defined])  # F1: the harmonic mean of P and R
    micro = metrics.precision_recall_fscore_support(y_true, y_pred, average="micro")[0]
    assert (
        micro
        == pytest.approx(np.trace(cm) / cm.sum())
        == pytest.approx(metrics.accuracy_score(y_true, y_pred))
    )


def test_zero_division_warns_only_when_left_to_warn():
    with pytest.warns(metrics.UndefinedMetricWarning, match="zero_division"):
        assert metrics.precision_score([0, 1, 1], [0, 0, 0]) == 0.0  # nothing predicted as 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert metrics.precision_score([0, 1, 1], [0, 0, 0], zero_division=1.0) == 1.0


def test_bad_input_is_a_clear_error():
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        metrics.accuracy_score([0, 1], [0])
    with pytest.raises(ValueError, match="continuous"):
        metrics.f1_score([0.5, 1.0], [0, 1])
    with pytest.raises(ValueError, match="average has to be one of"):
        metrics.f1_score([0, 1], [0, 1], average="mean")
    with pytest.raises(ValueError, match="Target is multiclass but average='binary'"):
        metrics.f1_score([0, 1, 2], [0, 1, 2])
    with pytest.raises(ValueError, match="pos_label=2 is not a valid label"):
        metrics.recall_score([0, 1], [1, 1], pos_label=2)
    with pytest.raises(ValueError, match="string and number"):
        metrics.accuracy_score(["a", "b"], [0, 1])
    with pytest.raises(ValueError, match="empty"):
        metrics.accuracy_score([], [])
    with pytest.raises(ValueError, match="At least one label specified must be in y_true"):
        metrics.confusion_matrix([0, 1], [0, 1], labels=[5])
    with pytest.raises(ValueError, match="zero_division"):
        metrics.f1_score([0, 1], [0, 1], zero_division=2)
    with pytest.raises(ValueError, match="at least one non-zero"):
        metrics.f1_score([0, 1], [0, 1], sample_weight=[0.0, 0.0])


def test_language_model_metrics():
    assert metrics.perplexity(math.log(256)) == pytest.approx(256.0)
    assert metrics.bits_per_char(math.log(2)) == pytest.approx(1.0)
    loss = np.array([1.0, 2.0, 3.0])  # the mean is taken
    assert metrics.perplexity(loss) == pytest.approx(math.exp(2.0))
    # a BPE token of 4 bytes at loss 4 ln 2 costs 4 bits, i.e. 1 bit per byte
    assert metrics.bits_per_byte(4 * math.log(2), bytes_per_token=4.0) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="finite"):
        metrics.perplexity(float("nan"))
    with pytest.raises(ValueError, match="chars_per_token"):
        metrics.bits_per_char(1.0, chars_per_token=0)


@st.composite
def scored(draw, max_n: int = 25):
    """Binary labels and scores with many ties (scores on a coarse grid), maybe weights."""
    n = draw(st.integers(2, max_n))
    y = np.array(draw(st.lists(st.integers(0, 1), min_size=n, max_size=n)))
    score = np.array(draw(st.lists(st.integers(0, 6), min_size=n, max_size=n))) / 6.0
    w = None
    if draw(st.booleans()):
        w = np.array(draw(st.lists(st.sampled_from([0.0, 0.5, 2.0]), min_size=n, max_size=n)))
        w[draw(st.integers(0, n - 1))] = 1.0
    return y, score, w


@settings(max_examples=60)
@given(data=scored(), drop=st.booleans())
def test_curves_and_areas_equal_sklearn(data, drop):
    sk = pytest.importorskip("sklearn.metrics")
    y, score, w = data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        kw = dict(sample_weight=w, drop_intermediate=drop)
        for a, b in zip(metrics.roc_curve(y, score, **kw), sk.roc_curve(y, score, **kw)):
            same(a, b)
        for a, b in zip(
            metrics.precision_recall_curve(y, score, sample_weight=w, drop_intermediate=drop),
            sk.precision_recall_curve(y, score, sample_weight=w, drop_intermediate=drop),
        ):
            same(a, b)
        same(metrics.average_precision_score(y, score, sample_weight=w),
             sk.average_precision_score(y, score, sample_weight=w))  # fmt: skip
        weighted = np.ones(len(y)) if w is None else w
        if weighted[y == 1].sum() > 0 and weighted[y == 0].sum() > 0:  # both classes count
            for max_fpr in (None, 0.3, 1.0):
                same(metrics.roc_auc_score(y, score, sample_weight=w, max_fpr=max_fpr),
                     sk.roc_auc_score(y, score, sample_weight=w, max_fpr=max_fpr))  # fmt: skip


@given(data=scored())
def test_roc_auc_is_the_chance_a_positive_outranks_a_negative(data):
    y, score, _ = data
    pos, neg = score[y == 1], score[y == 0]
    if len(pos) == 0 or len(neg) == 0:
        return
    wins = (pos[:, None] > neg[None, :]).mean() + 0.5 * (pos[:, None] == neg[None, :]).mean()
    assert metrics.roc_auc_score(y, score) == pytest.approx(wins, abs=1e-12)  # Mann-Whitney U


@given(data=scored())
def test_average_precision_is_recall_steps_times_precision(data):
    y, score, _ = data
    if y.sum() == 0:
        return
    thresholds = np.unique(score)[::-1]
    recall_before, ap = 0.0, 0.0
    for t in thresholds:  # the definition, one threshold at a time
        predicted = score >= t
        tp = (predicted & (y == 1)).sum()
        recall = tp / y.sum()
        ap += (recall - recall_before) * tp / predicted.sum()
        recall_before = recall
    assert metrics.average_precision_score(y, score) == pytest.approx(ap, abs=1e-12)


def test_curve_inputs_are_checked():
    with pytest.raises(ValueError, match="pos_label is not specified"):
        metrics.roc_curve(["a", "b"], [0.1, 0.9])
    with pytest.raises(ValueError, match="multiclass"):
        metrics.roc_curve([0, 1, 2], [0.1, 0.5, 0.9])
    with pytest.raises(ValueError, match="neither increasing nor decreasing"):
        metrics.auc([0, 2, 1], [0, 1, 1])
    with pytest.raises(ValueError, match="max_fpr"):
        metrics.roc_auc_score([0, 1], [0.2, 0.8], max_fpr=0.0)
    with pytest.warns(metrics.UndefinedMetricWarning, match="Only one class"):
        assert math.isnan(metrics.roc_auc_score([1, 1], [0.2, 0.8]))
    fpr, tpr, _ = metrics.roc_curve(["no", "yes", "yes"], [0.1, 0.9, 0.4], pos_label="yes")
    assert metrics.auc(fpr, tpr) == 1.0


@settings(max_examples=40)
@given(data=label_pairs())
def test_matthews_corrcoef_equals_sklearn(data):
    sk = pytest.importorskip("sklearn.metrics")
    y_true, y_pred, w = data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        same(metrics.matthews_corrcoef(y_true, y_pred, sample_weight=w),
             sk.matthews_corrcoef(y_true, y_pred, sample_weight=w))  # fmt: skip
    assert metrics.matthews_corrcoef(y_true, y_true) in (0.0, pytest.approx(1.0))


@settings(max_examples=60)
@given(
    n=st.integers(1, 12),
    outputs=st.integers(1, 3),
    constant=st.booleans(),
    weighted=st.booleans(),
    seed=st.integers(0, 2**31),
)
def test_mean_squared_error_and_r2_equal_sklearn(n, outputs, constant, weighted, seed):
    sk = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(seed)
    y = np.round(rng.standard_normal((n, outputs)), 1)
    if constant:
        y[:, 0] = 2.0  # a constant target: R^2's denominator is 0
    f = y + np.round(rng.standard_normal((n, outputs)), 1) * rng.integers(0, 2, (n, outputs))
    w = rng.choice([0.5, 1.0, 2.0], n) if weighted else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        custom = [[1.0 + i for i in range(outputs)]] if outputs > 1 else []
        for mo in ("uniform_average", "raw_values", *custom):
            same(metrics.mean_squared_error(y, f, sample_weight=w, multioutput=mo),
                 sk.mean_squared_error(y, f, sample_weight=w, multioutput=mo))  # fmt: skip
        for mo in ("uniform_average", "raw_values", "variance_weighted"):
            for finite in (True, False):
                kw = dict(sample_weight=w, multioutput=mo, force_finite=finite)
                same(metrics.r2_score(y, f, **kw), sk.r2_score(y, f, **kw))


@settings(max_examples=40)
@given(
    n=st.integers(2, 15),
    k=st.integers(2, 4),
    weighted=st.booleans(),
    one_d=st.booleans(),
    seed=st.integers(0, 2**31),
)
def test_log_loss_equals_sklearn_and_cross_entropy(n, k, weighted, one_d, seed):
    sk = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(seed)
    n = max(n, k + 1)
    y = rng.integers(0, k, n)
    y[1 : k + 1] = np.arange(k)  # every class present, also without the first sample
    logits = rng.standard_normal((n, k)) * 3
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    p[0] = np.eye(k)[(y[0] + 1) % k]  # a confident mistake: clipped, not infinite
    w = rng.choice([0.5, 1.0, 2.0], n) if weighted else None
    if one_d:
        y, p = (y > 0).astype(int), p[:, 1]
    for normalize in (True, False):
        kw = dict(normalize=normalize, sample_weight=w)
        same(metrics.log_loss(y, p, **kw), sk.log_loss(y, p, **kw))
    if not one_d and w is None:  # the loss a classifier trains on
        from minillm.nn import functional as F

        ce = F.cross_entropy(minillm.tensor(logits[1:]), minillm.tensor(y[1:])).item()
        assert metrics.log_loss(y[1:], p[1:], labels=list(range(k))) == pytest.approx(ce)


def test_log_loss_errors():
    with pytest.raises(ValueError, match="only one label"):
        metrics.log_loss([1, 1], [0.2, 0.9])
    with pytest.raises(ValueError, match="greater than 1"):
        metrics.log_loss([0, 1], [0.2, 1.5])
    with pytest.raises(ValueError, match="different number of classes"):
        metrics.log_loss([0, 1], [[0.2, 0.3, 0.5], [0.1, 0.1, 0.8]])
    with pytest.warns(UserWarning, match="do not sum to one"):
        metrics.log_loss([0, 1], [[0.2, 0.3], [0.1, 0.1]])


@settings(max_examples=40)
@given(
    n=st.integers(3, 15),
    k_classes=st.integers(2, 5),
    k=st.integers(1, 4),
    weighted=st.booleans(),
    seed=st.integers(0, 2**31),
)
def test_top_k_accuracy_equals_sklearn(n, k_classes, k, weighted, seed):
    sk = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k_classes, n)
    labels = list(range(k_classes))
    score = rng.integers(0, 3, (n, k_classes)) / 2.0  # many ties
    w = rng.choice([0.5, 1.0, 2.0], n) if weighted else None
    if k_classes == 2:
        score = score[:, 1]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for normalize in (True, False):
            kw = dict(k=k, normalize=normalize, sample_weight=w, labels=labels)
            same(
                metrics.top_k_accuracy_score(y, score, **kw),
                sk.top_k_accuracy_score(y, score, **kw),
            )
