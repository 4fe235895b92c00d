"""Vectorizers and scalers equal scikit-learn's on drawn documents and settings (oracle tests)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from minillm.text import CountVectorizer, MinMaxScaler, StandardScaler, TfidfVectorizer

VOCAB = ["the", "cat", "Cat", "sat", "on", "mat", "café", "CAFÉ", "naïve", "a", "x1", "ﬁle", "dog",
         "run", "runs", "!", ",", "日本", "ß"]  # fmt: skip
documents = st.lists(
    st.lists(st.sampled_from(VOCAB), min_size=1, max_size=9).map(" ".join), min_size=1, max_size=8
)
count_settings = st.fixed_dictionaries(
    {
        "ngram_range": st.sampled_from([(1, 1), (1, 2), (2, 3), (1, 3)]),
        "analyzer": st.sampled_from(["word", "word", "char", "char_wb"]),
        "min_df": st.sampled_from([1, 2, 0.0, 0.3]),
        "max_df": st.sampled_from([1.0, 0.8, 5]),
        "lowercase": st.booleans(),
        "strip_accents": st.sampled_from([None, "unicode", "ascii"]),
        "binary": st.booleans(),
        "stop_words": st.sampled_from([None, ["the", "a", "on"]]),
        "max_features": st.sampled_from([None, None, 3]),
    }
)
tfidf_settings = st.fixed_dictionaries(
    {
        "norm": st.sampled_from(["l2", "l1", None]),
        "use_idf": st.booleans(),
        "smooth_idf": st.booleans(),
        "sublinear_tf": st.booleans(),
    }
)


def _fit_both(ours, theirs, docs, new_docs):
    """Fit both on docs (or both fail alike); return the two fit_transform and transform pairs."""
    try:
        expected = theirs.fit_transform(docs)
    except ValueError:
        with pytest.raises(ValueError):
            ours.fit_transform(docs)
        return None
    got = ours.fit_transform(docs)
    return (got, expected), (ours.transform(new_docs), theirs.transform(new_docs))


def _same_matrix(got, expected):
    assert sp.isspmatrix_csr(got) or (sp.issparse(got) and got.format == "csr")
    assert got.shape == expected.shape and got.dtype == expected.dtype
    np.testing.assert_allclose(got.toarray(), expected.toarray(), rtol=1e-12, atol=1e-12)


@settings(max_examples=30)
@given(documents, documents, count_settings)
def test_count_vectorizer_equals_scikit_learn(docs, new_docs, kw):
    text = pytest.importorskip("sklearn.feature_extraction.text")
    if kw["analyzer"] != "word":
        kw["stop_words"] = None  # scikit-learn ignores them there, and warns
    both = _fit_both(CountVectorizer(**kw), text.CountVectorizer(**kw), docs, new_docs)
    if both is None:
        return
    for got, expected in both:
        _same_matrix(got, expected)


@settings(max_examples=30)
@given(documents, documents, count_settings, tfidf_settings)
def test_tfidf_vectorizer_equals_scikit_learn(docs, new_docs, kw, tf_kw):
    text = pytest.importorskip("sklearn.feature_extraction.text")
    kw = {**kw, **tf_kw, "stop_words": kw["stop_words"] if kw["analyzer"] == "word" else None}
    ours, theirs = TfidfVectorizer(**kw), text.TfidfVectorizer(**kw)
    both = _fit_both(ours, theirs, docs, new_docs)
    if both is None:
        return
    for got, expected in both:
        _same_matrix(got, expected)
    assert ours.vocabulary_ == theirs.vocabulary_
    assert ours.get_feature_names_out().tolist() == theirs.get_feature_names_out().tolist()
    if kw["use_idf"]:
        np.testing.assert_allclose(ours.idf_, theirs.idf_, rtol=1e-12)


def test_vectorizer_errors_and_clone():
    with pytest.raises(ValueError, match="one string"):
        CountVectorizer().fit("just one document")
    with pytest.raises(ValueError, match="empty vocabulary"):
        CountVectorizer(stop_words=["a"]).fit(["a a", "a"])
    with pytest.raises(ValueError, match="no terms remain"):
        CountVectorizer(min_df=2).fit(["ab cd", "ef gh"])
    with pytest.raises(ValueError, match="max_df"):
        CountVectorizer(min_df=3, max_df=2).fit(["ab", "ab", "ab"])
    from minillm.model_selection import clone

    tv = clone(TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True))
    assert tv.get_params()["ngram_range"] == (1, 2) and tv.sublinear_tf


def test_english_stop_words_are_ours():
    cv = CountVectorizer(stop_words="english").fit(["the computer is on the table"])
    assert cv.get_feature_names_out().tolist() == ["computer", "table"]


matrices = hnp.arrays(
    np.float64,
    st.tuples(st.integers(1, 8), st.integers(1, 4)),
    elements=st.sampled_from([0.0, 1.0, -2.5, 3.0, 1e3, 7.25]),
)


@settings(max_examples=30)
@given(matrices, st.booleans(), st.booleans())
def test_standard_scaler_equals_scikit_learn(X, with_mean, with_std):
    pre = pytest.importorskip("sklearn.preprocessing")
    ours = StandardScaler(with_mean=with_mean, with_std=with_std).fit(X)
    theirs = pre.StandardScaler(with_mean=with_mean, with_std=with_std).fit(X)
    np.testing.assert_allclose(ours.transform(X), theirs.transform(X), atol=1e-9)
    if with_std:
        np.testing.assert_allclose(ours.scale_, theirs.scale_, rtol=1e-12)
    np.testing.assert_allclose(ours.inverse_transform(ours.transform(X)), X, atol=1e-9)


@settings(max_examples=30)
@given(matrices, st.sampled_from([(0, 1), (-1, 1), (2.5, 10)]), st.booleans())
def test_min_max_scaler_equals_scikit_learn(X, feature_range, clip):
    pre = pytest.importorskip("sklearn.preprocessing")
    ours = MinMaxScaler(feature_range, clip=clip).fit(X)
    theirs = pre.MinMaxScaler(feature_range=feature_range, clip=clip).fit(X)
    new = X[::-1] * 2.0 - 1.0
    np.testing.assert_allclose(ours.transform(new), theirs.transform(new), atol=1e-12)
    np.testing.assert_allclose(ours.inverse_transform(ours.transform(X)), X, atol=1e-9)


def test_scalers_keep_float32_and_check_widths():
    X = np.arange(6, dtype=np.float32).reshape(3, 2)
    assert StandardScaler().fit_transform(X).dtype == np.float32
    with pytest.raises(ValueError, match="2 features, but StandardScaler was fitted with 3"):
        StandardScaler().fit(np.ones((2, 3))).transform(np.ones((2, 2)))
