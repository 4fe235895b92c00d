"""Documents as sparse matrices: ``CountVectorizer``, ``TfidfTransformer``, ``TfidfVectorizer``.

Same settings, same matrix as scikit-learn (the tests compare them entry by entry). A document
becomes a row of term counts in four steps, the *analyzer*:

    preprocess   lowercase, then strip accents ('unicode': NFKD and drop combining marks;
                 'ascii': NFKD and drop everything outside ASCII)
    tokenize     the token_pattern's matches (default: words of 2+ word characters)
    stop words   dropped (a list, or 'english': our own list, ``stopwords.py``)
    n-grams      for ngram_range (lo, hi): every run of lo..hi consecutive tokens, joined by a
                 space (analyzer 'word'); or runs of characters of the whole text ('char') or of
                 each space-padded word (' cat ', 'char_wb')

``fit`` gives every term seen a column, drops the terms in more than max_df or fewer than min_df
documents (a float is a fraction of the documents, an int a count), keeps the max_features most
frequent, and numbers the columns in sorted term order: ``vocabulary_`` maps term -> column.

TF-IDF (Sparck Jones 1972; Salton & Buckley 1988) weighs a count by how rare its term is:

    tf(t, d)  = count           or 1 + ln(count) with sublinear_tf
    idf(t)    = ln((1 + n) / (1 + df(t))) + 1    (smooth_idf: as if one more document held
                                                  every term once; without: ln(n / df) + 1)
    x(t, d)   = tf(t, d) * idf(t), then each row scaled to unit l2 (or l1) norm, or not (None)

The +1 keeps a term that is in every document from vanishing.

Read next: ``scalers.py`` (numeric features standardized).
"""

from __future__ import annotations

import numbers
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import regex
import scipy.sparse as sp

from minillm.model_selection.base import BaseEstimator, check_fitted
from minillm.text.stopwords import ENGLISH_STOP_WORDS

_RUNS_OF_SPACE = regex.compile(r"\s\s+")


def _strip_accents_unicode(text: str) -> str:
    if text.isascii():
        return text
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def _strip_accents_ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")


_ACCENTS = {None: None, "unicode": _strip_accents_unicode, "ascii": _strip_accents_ascii}


def word_ngrams(tokens: list[str], lo: int, hi: int) -> list[str]:
    """Every run of lo..hi consecutive tokens, joined by spaces, shortest first.

    >>> word_ngrams(["a", "b", "c"], 1, 2)
    ['a', 'b', 'c', 'a b', 'b c']
    """
    return [" ".join(tokens[i : i + n]) for n in range(lo, hi + 1)
            for i in range(len(tokens) - n + 1)]  # fmt: skip


def char_ngrams(text: str, lo: int, hi: int) -> list[str]:
    """Every run of lo..hi characters of the text (runs of 2+ whitespace become one space)."""
    text = _RUNS_OF_SPACE.sub(" ", text)
    return [text[i : i + n] for n in range(lo, hi + 1) for i in range(len(text) - n + 1)]


def char_wb_ngrams(text: str, lo: int, hi: int) -> list[str]:
    """Character n-grams inside each word padded with one space each side; a padded word
    shorter than n counts once, whole."""
    grams = []
    for word in _RUNS_OF_SPACE.sub(" ", text).split():
        padded = f" {word} "
        for n in range(lo, hi + 1):
            if len(padded) <= n:
                grams.append(padded)
                break
            grams += [padded[i : i + n] for i in range(len(padded) - n + 1)]
    return grams


class CountVectorizer(BaseEstimator):
    """Term counts: one row per document, one column per vocabulary term, a CSR matrix.

    >>> cv = CountVectorizer(ngram_range=(1, 2))
    >>> X = cv.fit_transform(["the cat sat", "the cat ran"])
    >>> cv.get_feature_names_out().tolist()
    ['cat', 'cat ran', 'cat sat', 'ran', 'sat', 'the', 'the cat']
    >>> X.toarray().tolist()
    [[1, 0, 1, 0, 1, 1, 1], [1, 1, 0, 1, 0, 1, 1]]
    """

    def __init__(
        self,
        *,
        lowercase: bool = True,
        preprocessor: Callable[[str], str] | None = None,
        tokenizer: Callable[[str], list[str]] | None = None,
        stop_words: str | Iterable[str] | None = None,
        token_pattern: str = r"(?u)\b\w\w+\b",
        ngram_range: tuple[int, int] = (1, 1),
        analyzer: str | Callable[[str], list[str]] = "word",
        max_df: float | int = 1.0,
        min_df: float | int = 1,
        max_features: int | None = None,
        binary: bool = False,
        dtype: Any = np.int64,
        strip_accents: str | None = None,
    ) -> None:
        self.lowercase, self.preprocessor, self.tokenizer = lowercase, preprocessor, tokenizer
        self.stop_words, self.token_pattern, self.ngram_range = (
            stop_words,
            token_pattern,
            ngram_range,
        )
        self.analyzer, self.max_df, self.min_df = analyzer, max_df, min_df
        self.max_features, self.binary, self.dtype = max_features, binary, dtype
        self.strip_accents = strip_accents

    # -- the analyzer ---------------------------------------------------------------------------
    def _preprocess(self, doc: str) -> str:
        if self.preprocessor is not None:
            return self.preprocessor(doc)
        if self.strip_accents not in _ACCENTS:
            raise ValueError(f"strip_accents must be None, 'unicode' or 'ascii', got "
                             f"{self.strip_accents!r}")  # fmt: skip
        doc = doc.lower() if self.lowercase else doc
        accents = _ACCENTS[self.strip_accents]
        return accents(doc) if accents else doc

    def _tokenize(self, doc: str) -> list[str]:
        if self.tokenizer is not None:
            return list(self.tokenizer(doc))
        pattern = re.compile(self.token_pattern)  # re, not regex: scikit-learn's \w
        if pattern.groups > 1:
            raise ValueError(f"token_pattern {self.token_pattern!r} has {pattern.groups} groups; "
                             "it may capture at most one")  # fmt: skip
        return pattern.findall(doc)

    def get_stop_words(self) -> frozenset[str] | None:
        """The stop-word set in use: ours for 'english', the given list, or None."""
        if self.stop_words is None:
            return None
        if isinstance(self.stop_words, str):
            if self.stop_words != "english":
                raise ValueError(f"stop_words must be 'english', a list or None, got "
                                 f"{self.stop_words!r}")  # fmt: skip
            return ENGLISH_STOP_WORDS
        return frozenset(self.stop_words)

    def _ngram_range(self) -> tuple[int, int]:
        lo, hi = self.ngram_range
        if not (
            isinstance(lo, numbers.Integral) and isinstance(hi, numbers.Integral) and 1 <= lo <= hi
        ):
            raise ValueError(f"ngram_range must be (lo, hi) with 1 <= lo <= hi, got "
                             f"{self.ngram_range!r}")  # fmt: skip
        return int(lo), int(hi)

    def build_analyzer(self) -> Callable[[str], list[str]]:
        """The function from a raw document to its list of terms."""
        if callable(self.analyzer):
            return self.analyzer
        lo, hi = self._ngram_range()
        if self.analyzer == "char":
            return lambda doc: char_ngrams(self._preprocess(doc), lo, hi)
        if self.analyzer == "char_wb":
            return lambda doc: char_wb_ngrams(self._preprocess(doc), lo, hi)
        if self.analyzer != "word":
            raise ValueError(f"analyzer must be 'word', 'char', 'char_wb' or a function, got "
                             f"{self.analyzer!r}")  # fmt: skip
        stop = self.get_stop_words()

        def analyze(doc: str) -> list[str]:
            tokens = self._tokenize(self._preprocess(doc))
            if stop is not None:
                tokens = [t for t in tokens if t not in stop]
            return word_ngrams(tokens, lo, hi)

        return analyze

    # -- counting -------------------------------------------------------------------------------
    @staticmethod
    def _documents(raw: Any) -> list[str]:
        if isinstance(raw, str):
            raise ValueError("expected a list of documents, got one string; wrap it: [text]")
        docs = list(raw)
        bad = next((d for d in docs if not isinstance(d, str)), None)
        if bad is not None:
            raise TypeError(f"documents must be str, got {type(bad).__name__}")
        return docs

    def _count(self, docs: list[str], vocabulary: dict[str, int] | None) -> tuple[dict, Any]:
        """The count matrix, growing the vocabulary (in first-seen order) when it is None."""
        analyze = self.build_analyzer()
        grow = vocabulary is None
        vocabulary = {} if grow else vocabulary
        indptr, indices, values = [0], [], []
        for doc in docs:
            counts: Counter[int] = Counter()
            for term in analyze(doc):
                if grow and term not in vocabulary:
                    vocabulary[term] = len(vocabulary)
                if term in vocabulary:
                    counts[vocabulary[term]] += 1
            indices += counts.keys()
            values += counts.values()
            indptr.append(len(indices))
        X = sp.csr_matrix(
            (np.asarray(values, dtype=self.dtype), np.asarray(indices, dtype=np.int64), indptr),
            shape=(len(docs), len(vocabulary)),
            dtype=self.dtype,
        )
        X.sort_indices()
        return vocabulary, X

    def _doc_count(self, value: float | int, n_docs: int, name: str) -> float:
        if isinstance(value, numbers.Integral) and not isinstance(value, bool):
            if value < 0:
                raise ValueError(f"{name} as a count must be >= 0, got {value}")
            return int(value)
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{name} as a fraction must be in [0, 1], got {value}")
        return value * n_docs

    def _prune(self, X: Any, vocabulary: dict[str, int]) -> tuple[dict, Any]:
        """Sort the terms, then drop those outside [min_df, max_df] and beyond max_features."""
        terms = sorted(vocabulary)
        X = X[:, [vocabulary[t] for t in terms]]
        high = self._doc_count(self.max_df, X.shape[0], "max_df")
        low = self._doc_count(self.min_df, X.shape[0], "min_df")
        if high < low:
            raise ValueError(f"max_df ({self.max_df}) allows fewer documents than min_df "
                             f"({self.min_df})")  # fmt: skip
        df = np.bincount(X.indices, minlength=X.shape[1])
        keep = (df <= high) & (df >= low)
        if self.max_features is not None and keep.sum() > self.max_features:
            totals = np.asarray(X.sum(axis=0)).ravel()
            # the same argsort as scikit-learn's, so ties among equal totals break alike
            best = np.flatnonzero(keep)[(-totals[keep]).argsort()[: self.max_features]]
            keep = np.zeros_like(keep)
            keep[best] = True
        if not keep.any():
            raise ValueError("after pruning by min_df/max_df no terms remain; lower min_df or "
                             "raise max_df")  # fmt: skip
        kept = np.flatnonzero(keep)
        X = X[:, kept]
        X.sort_indices()
        return {terms[j]: i for i, j in enumerate(kept)}, X

    def fit_transform(self, raw_documents: Iterable[str], y: Any = None) -> Any:
        """Learn the vocabulary and return the documents' count matrix."""
        if self.max_features is not None and (
            not isinstance(self.max_features, numbers.Integral) or self.max_features < 1
        ):
            raise ValueError(f"max_features must be a positive int or None, got "
                             f"{self.max_features!r}")  # fmt: skip
        vocabulary, X = self._count(self._documents(raw_documents), None)
        if not vocabulary:
            raise ValueError("empty vocabulary: the documents hold no terms (only stop words, "
                             "or nothing the token_pattern matches)")  # fmt: skip
        if self.binary:
            X.data.fill(1)
        self.vocabulary_, X = self._prune(X, vocabulary)
        return X

    def fit(self, raw_documents: Iterable[str], y: Any = None) -> CountVectorizer:
        self.fit_transform(raw_documents)
        return self

    def transform(self, raw_documents: Iterable[str]) -> Any:
        """Count the fitted vocabulary's terms in new documents (unseen terms are ignored)."""
        check_fitted(self, "vocabulary_")
        _, X = self._count(self._documents(raw_documents), self.vocabulary_)
        if self.binary:
            X.data.fill(1)
        return X

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """The terms in column order, as an object array (as scikit-learn returns them)."""
        check_fitted(self, "vocabulary_")
        names = sorted(self.vocabulary_, key=self.vocabulary_.__getitem__)
        return np.asarray(names, dtype=object)


class TfidfTransformer(BaseEstimator):
    """Count matrix -> TF-IDF matrix (the formulas in the module docstring)."""

    def __init__(self, *, norm: str | None = "l2", use_idf: bool = True, smooth_idf: bool = True,
                 sublinear_tf: bool = False) -> None:  # fmt: skip
        self.norm, self.use_idf, self.smooth_idf, self.sublinear_tf = (
            norm, use_idf, smooth_idf, sublinear_tf)  # fmt: skip

    def fit(self, X: Any, y: Any = None) -> TfidfTransformer:
        X = sp.csr_matrix(X)
        if self.use_idf:
            n, df = X.shape[0], np.bincount(X.indices, minlength=X.shape[1]).astype(np.float64)
            extra = int(self.smooth_idf)
            self.idf_ = np.log((n + extra) / (df + extra)) + 1.0
        self.n_features_in_ = X.shape[1]
        return self

    def transform(self, X: Any) -> Any:
        if self.norm not in (None, "l1", "l2"):
            raise ValueError(f"norm must be 'l1', 'l2' or None, got {self.norm!r}")
        X = sp.csr_matrix(X, dtype=np.float64, copy=True)
        if self.sublinear_tf:
            np.log(X.data, out=X.data)
            X.data += 1.0
        if self.use_idf:
            check_fitted(self, "idf_")
            X.data *= self.idf_[X.indices]
        if self.norm is not None:
            rows = np.repeat(np.arange(X.shape[0]), np.diff(X.indptr))
            size = np.abs(X.data) if self.norm == "l1" else X.data**2
            norms = np.bincount(rows, weights=size, minlength=X.shape[0])
            norms = norms if self.norm == "l1" else np.sqrt(norms)
            norms[norms == 0.0] = 1.0
            X.data /= norms[rows]
        return X

    def fit_transform(self, X: Any, y: Any = None) -> Any:
        return self.fit(X).transform(X)


class TfidfVectorizer(CountVectorizer):
    """``CountVectorizer`` followed by ``TfidfTransformer``: float64 TF-IDF rows.

    >>> tv = TfidfVectorizer()
    >>> X = tv.fit_transform(["the cat", "the dog"])
    >>> tv.idf_.round(4).tolist(), X.toarray().round(4).tolist()
    ([1.4055, 1.4055, 1.0], [[0.8148, 0.0, 0.5797], [0.0, 0.8148, 0.5797]])
    """

    def __init__(self, *, lowercase: bool = True, preprocessor: Any = None, tokenizer: Any = None,
                 stop_words: Any = None, token_pattern: str = r"(?u)\b\w\w+\b",
                 ngram_range: tuple[int, int] = (1, 1), analyzer: Any = "word",
                 max_df: float | int = 1.0, min_df: float | int = 1,
                 max_features: int | None = None,
                 binary: bool = False, dtype: Any = np.float64, strip_accents: str | None = None,
                 norm: str | None = "l2", use_idf: bool = True, smooth_idf: bool = True,
                 sublinear_tf: bool = False) -> None:  # fmt: skip
        super().__init__(
            lowercase=lowercase, preprocessor=preprocessor, tokenizer=tokenizer,
            stop_words=stop_words, token_pattern=token_pattern, ngram_range=ngram_range,
            analyzer=analyzer, max_df=max_df, min_df=min_df, max_features=max_features,
            binary=binary, dtype=dtype, strip_accents=strip_accents,
        )  # fmt: skip
        self.norm, self.use_idf, self.smooth_idf, self.sublinear_tf = (
            norm, use_idf, smooth_idf, sublinear_tf)  # fmt: skip

    def _transformer(self) -> TfidfTransformer:
        return TfidfTransformer(norm=self.norm, use_idf=self.use_idf, smooth_idf=self.smooth_idf,
                                sublinear_tf=self.sublinear_tf)  # fmt: skip

    def fit_transform(self, raw_documents: Iterable[str], y: Any = None) -> Any:
        counts = super().fit_transform(raw_documents)
        self._tfidf = self._transformer().fit(counts)
        if self.use_idf:
            self.idf_ = self._tfidf.idf_
        return self._tfidf.transform(counts).astype(self.dtype)

    def fit(self, raw_documents: Iterable[str], y: Any = None) -> TfidfVectorizer:
        self.fit_transform(raw_documents)
        return self

    def transform(self, raw_documents: Iterable[str]) -> Any:
        check_fitted(self, "_tfidf")
        self._tfidf.set_params(**self._transformer().get_params())
        return self._tfidf.transform(super().transform(raw_documents)).astype(self.dtype)
