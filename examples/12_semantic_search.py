"""Semantic search over the Python docs: sentence embeddings and cosine similarity, beside TF-IDF.

The documents are paragraphs of the built-in corpus (the Python language reference that ships
with CPython, ``minillm.data.corpus``): prose paragraphs of 150-450 characters, 300 of them
spread evenly over the text so that the example runs in about 20 seconds on 2 cores. Each is
embedded once with ``SentenceEncoder`` (all-MiniLM-L6-v2: BERT, mean pooling, unit length, so a
dot product *is* the cosine similarity):

    E = encoder.encode(paragraphs)        (N, 384), every row of length 1
    q = encoder.encode(query)             (384,)
    scores = E @ q                        (N,) cosine similarities; the top k are the answer

For a few questions worded the way a user asks them (not the way the docs word the answer) we
print the top 3 paragraphs with their similarity. For the first question, the top 3 by TF-IDF
(``minillm.text.TfidfVectorizer``: word counts weighted by rarity, English stop words dropped,
the same cosine) are printed beside them: "exit the loop right away" shares no word with the
paragraph about ``break`` ("terminates the loop"), so TF-IDF can only match "loop" and ranks
paragraphs about for-loop variables first, while the embeddings put the paragraphs about
``break`` and ``continue`` on top. TF-IDF is not always worse: when a query contains a rare
word of the docs ("nonlocal", "lambda"), matching it is hard to beat, and it needs no model.

``MINILLM_SMOKE=1`` embeds 60 paragraphs instead of 300 (a few seconds). The same embeddings
come from the command line: ``minillm embed paragraphs.txt --out emb.npy`` (one per line).

Run:  python examples/12_semantic_search.py
"""

from __future__ import annotations

import os
import re
import time

import numpy as np

from minillm.data.corpus import builtin_corpus
from minillm.models import SentenceEncoder
from minillm.text import TfidfVectorizer

SMOKE = os.environ.get("MINILLM_SMOKE") == "1"
N_DOCS = 60 if SMOKE else 300
TOP_K = 3
QUERIES = [
    "exit the loop right away",
    "how do I catch an error and handle it",
    "make instances of my class callable like functions",
    "small anonymous function in one expression",
]


def paragraphs(n: int) -> list[str]:
    """``n`` prose paragraphs of the Python docs, evenly spread, whitespace collapsed."""
    found = []
    for block in re.split(r"\n\s*\n", builtin_corpus()):
        p = " ".join(block.split())
        letters = sum(c.isalpha() or c == " " for c in p)
        # prose only: no code samples or tables (few symbols), not too short or too long
        if 150 <= len(p) <= 450 and letters > 0.9 * len(p) and not p.startswith((">>>", "...")):
            found.append(p)
    found = list(dict.fromkeys(found))  # the reference repeats a few paragraphs
    keep = np.linspace(0, len(found) - 1, min(n, len(found))).round().astype(int)
    return [found[i] for i in keep]


def show(score: float, text: str) -> str:
    return f"  {score:.3f}  {text if len(text) <= 96 else text[:93] + '...'}"


def main() -> None:
    docs = paragraphs(N_DOCS)
    encoder = SentenceEncoder.from_pretrained("all-MiniLM-L6-v2")
    start = time.perf_counter()
    E = encoder.encode(docs)  # (N, 384), unit rows
    took = time.perf_counter() - start
    print(f"{len(docs)} paragraphs of the Python docs embedded in {took:.1f} s: {E.shape} "
          f"{E.dtype}, row norms {np.linalg.norm(E, axis=1).min():.4f}.."
          f"{np.linalg.norm(E, axis=1).max():.4f}")  # fmt: skip

    Q = encoder.encode(QUERIES)  # (len(QUERIES), 384)
    scores = Q @ E.T  # (len(QUERIES), N): cosine similarities, as every row has length 1
    for query, row in zip(QUERIES, scores):
        print(f'\n"{query}"  (embeddings, cosine)')
        for i in np.argsort(-row)[:TOP_K]:
            print(show(row[i], docs[i]))

    tfidf = TfidfVectorizer(stop_words="english")
    X = tfidf.fit_transform(docs)  # (N, vocabulary) sparse, unit rows
    query = QUERIES[0]
    lexical = np.asarray((X @ tfidf.transform([query]).T).toarray()).ravel()  # (N,)
    print(f'\n"{query}"  (TF-IDF, cosine; {X.shape[1]} terms)')
    for i in np.argsort(-lexical)[:TOP_K]:
        print(show(lexical[i], docs[i]))
    ranks = [int((lexical > lexical[i]).sum()) + 1 for i in np.argsort(-scores[0])[:TOP_K]]
    print(f"the embeddings' top {TOP_K} rank {', '.join(map(str, ranks))} of {len(docs)} by TF-IDF")


if __name__ == "__main__":
    main()
