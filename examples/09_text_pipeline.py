"""A messy web page through the text pipeline, one stage at a time, and what comes after it.

The document below is what scraped text looks like: HTML tags and a script, character references
(``&amp;``, ``&eacute;``), a zero-width space and a byte-order mark, a ligature and full-width
letters that NFKC folds, an accent written as a combining mark, URLs, an e-mail address, numbers
and contractions. The pipeline cleans it step by step (``explain`` prints the text after each
stage), then:

1. every cleaned token is traced back to the characters of the original it came from;
2. the cleaned text is cut into sentences and turned into TF-IDF rows;
3. the augmenters make seeded variants of one sentence (``augment.explain``).

Run:  python examples/09_text_pipeline.py
"""

from __future__ import annotations

from minillm.text import Pipeline, TfidfVectorizer, augment, split_sentences, strip_html

DOCUMENT = (
    "<html><head><script>track('visit');</script><style>p {color: red}</style></head>\n"
    "<body><h1>Caf&eacute; Opening&nbsp;Times</h1>\n"
    "<p>We&#8217;re open from 9 to 17.30 &amp; we don't close on Sundays!\u200b "
    "Find the ﬁnal menu at <a href='https://cafe.example.org/menu'>https://cafe.example.org/menu</a>"
    " or write to info@cafe.example.org.</p>\n"
    "<p>The cre\u0300me br\u00fbl\u00e9e costs \uff14 euros.\ufeff It's the BEST in town.</p>"
    "</body></html>"
)

PIPE = Pipeline(["html", "control", "nfkc", "lower", "urls", "emails", "numbers", "contractions",
                 "split_punctuation", "whitespace"])  # fmt: skip


def main() -> None:
    print("1. the stages\n")
    print(PIPE.explain(DOCUMENT))
    cleaned = PIPE(DOCUMENT)
    assert "<" not in cleaned and "&amp;" not in cleaned and "\u200b" not in cleaned
    assert "[URL]" in cleaned and "[EMAIL]" in cleaned and "do not" in cleaned

    print("\n2. cleaned tokens and the original text they came from\n")
    for token in PIPE.tokens(DOCUMENT):
        source = DOCUMENT[token.start : token.end]
        if source != token.text:  # only the tokens that cleaning changed
            print(f"  {token.text!r:12} <- {source!r} at {token.start}")
        assert token.text in PIPE(source)

    print("\n3. sentences and TF-IDF\n")
    sentences = split_sentences(Pipeline(["html", "control", "nfkc"])(DOCUMENT))  # keeps paragraphs
    for s in sentences:
        print("  -", s)
    tfidf = TfidfVectorizer(stop_words="english")
    X = tfidf.fit_transform([PIPE(s) for s in sentences])
    terms = tfidf.get_feature_names_out()
    for row, sentence in zip(X, sentences):
        top = terms[row.indices[row.data.argsort()[::-1][:3]]]
        print(f"  top terms of {sentence[:30]!r}...: {', '.join(top)}")
    assert X.shape[0] == len(sentences) == 5

    print("\n4. augmentation of one sentence (seed 0)\n")
    sentence = PIPE(strip_html("<p>The quick check shows a big change in the file.</p>"))
    print(augment.explain(sentence, seed=0))
    assert augment.eda(sentence, 4, seed=0) == augment.eda(sentence, 4, seed=0)


if __name__ == "__main__":
    main()
