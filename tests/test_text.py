"""minillm.text cleaning: every step idempotent, offsets back to the original, stopwords, splits.

The properties run on drawn "messy" text: Unicode of every category mixed with HTML fragments,
entities, URLs, e-mail addresses, numbers, contractions and placeholders, so the regexes meet the
inputs they were written for.
"""

from __future__ import annotations

import itertools
import unicodedata

import numpy as np
import pytest
import regex
from hypothesis import given, settings
from hypothesis import strategies as st

from minillm.text import (
    ENGLISH_STOP_WORDS,
    STEPS,
    LeakError,
    Pipeline,
    check_no_leak,
    deduplicate,
    lowercase,
    normalize_unicode,
    remove_stopwords,
    sentence_spans,
    split_sentences,
    strip_accents,
    strip_html,
    train_val_test_split,
    word_tokens,
    words,
)
from minillm.text.stopwords import is_stopword

FRAGMENTS = ["<p>", "</p>", "<b>", "<br/>", "&amp;", "&lt;", "&gt;", "&eacute;", "&#233;",
             "&amp;lt;", "<!-- c -->", "https://x.org/a?b=1", "www.py.org.", "a.b@c.de", "3.14",
             "1,000", "don't", "It's", "WON'T", "[URL]", "[MASK]", "e\u0301", "\ufb01", "\u00c5",
             "ΣΑΣ", "\u200b", "\x00", "\t", "\n\n", "  ", ".", "!", "'", "’", "Dr.", "İ", "ß",
             "ｆｕｌｌ"]  # fmt: skip
messy = st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=6)), max_size=12).map(
    "".join
)


@settings(max_examples=40)
@given(messy, st.sampled_from(sorted(STEPS)))
def test_every_step_is_idempotent(text, name):
    step = STEPS[name]
    once = step(text)
    assert step(once) == once


@settings(max_examples=40)
@given(messy, st.sampled_from(["NFC", "NFD", "NFKC", "NFKD"]))
def test_piecewise_normalization_equals_unicodedata(text, form):
    assert normalize_unicode(text, form) == unicodedata.normalize(form, text)


@settings(max_examples=40)
@given(messy)
def test_lowercase_equals_str_lower_and_accents_leave_no_marks(text):
    assert lowercase(text) == text.lower()
    stripped = strip_accents(text)
    decomposed = unicodedata.normalize("NFD", stripped)
    assert all(unicodedata.category(c) != "Mn" for c in decomposed)


def test_html_runs_to_a_fixed_point_and_separates_blocks():
    assert strip_html("<script>var x = '<b>';</script>one<br>two &amp;amp; <i>x</i>") == (
        "one\ntwo & x"
    )
    assert strip_html("a < b and c > d") == "a < b and c > d"  # not a tag: no letter after <


@settings(max_examples=40)
@given(messy)
def test_stopword_removal_removes_only_stopwords(text):
    before = [w for w in words(text)]
    after = words(remove_stopwords(text))
    kept = [w for w in before if not is_stopword(w)]
    assert after == kept
    assert not any(is_stopword(w) for w in after)


def test_our_stopword_list_covers_most_of_scikit_learns():
    sklearn_text = pytest.importorskip("sklearn.feature_extraction.text")
    theirs = set(sklearn_text.ENGLISH_STOP_WORDS)
    covered = len(theirs & ENGLISH_STOP_WORDS) / len(theirs)
    assert covered > 0.75, sorted(theirs - ENGLISH_STOP_WORDS)
    # and ours holds no topic words that theirs would not either
    assert not {"computer", "system", "python", "function"} & ENGLISH_STOP_WORDS


@settings(max_examples=40)
@given(messy)
def test_word_tokens_point_into_the_text(text):
    tokens = word_tokens(text)
    assert all(text[t.start : t.end] == t.text for t in tokens)
    assert all(a.end <= b.start for a, b in itertools.pairwise(tokens))
    assert "".join(t.text for t in tokens) == regex.sub(r"\s", "", text)  # all but space


FULL = Pipeline(["html", "control", "nfkc", "lower", "urls", "emails", "numbers", "contractions",
                 "split_punctuation", "stopwords", "whitespace"])  # fmt: skip


@settings(max_examples=40)
@given(messy)
def test_cleaned_tokens_map_back_to_the_original(text):
    tokens = FULL.tokens(text)
    assert [t.text for t in tokens] == words(FULL(text))
    for t in tokens:
        assert 0 <= t.start <= t.end <= len(text)
        # casefold: a final sigma depends on what follows it, which a slice may cut off
        assert t.text.casefold() in FULL(text[t.start : t.end]).casefold() or t.start == t.end
    assert [t.start for t in tokens] == sorted(t.start for t in tokens)


def test_offsets_of_a_real_document():
    doc = "<p>Caf\u00e9 &amp; CRÈME at https://x.org!</p>"
    pipe = Pipeline("html,nfkc,lower,urls,split_punctuation,whitespace")
    assert pipe(doc) == "café & crème at [URL] !"
    spans = {t.text: doc[t.start : t.end] for t in pipe.tokens(doc)}
    assert spans == {"café": "Caf\u00e9", "&": "&amp;", "crème": "CRÈME", "at": "at",
                     "[URL]": "https://x.org", "!": "!"}  # fmt: skip


def test_pipeline_explain_names_every_stage_and_refuses_unknown_steps():
    pipe = Pipeline(["lower", str.strip])
    lines = pipe.explain("  HI ").splitlines()
    assert [line.split()[0] for line in lines] == ["input", "lower", "strip"]
    assert pipe("  HI ") == "hi"
    with pytest.raises(ValueError, match="unknown cleaning step 'nfkd2'"):
        Pipeline("nfc,nfkd2")


def test_sentences_respect_abbreviations_numbers_and_paragraphs():
    text = 'Mr. J. Smith paid 3.50 dollars. Then he left!  Did he? "Yes." He did.\n\nNew para'
    assert split_sentences(text) == ["Mr. J. Smith paid 3.50 dollars.", "Then he left!",
                                     "Did he?", '"Yes."', "He did.", "New para"]  # fmt: skip
    assert all(text[s.start : s.end] == s.text for s in sentence_spans(text))


def test_deduplicate_and_split_leave_no_leak():
    texts = ["The cat sat.", "the cat sat", "A dog ran.", "A DOG   ran!", "Birds fly."] * 3
    texts += [f"Sentence {i} about things." for i in range(40)]
    labels = [i % 2 for i in range(len(texts))]
    d = deduplicate(texts, labels)
    assert len(d.kept) == 43 and d.exact == 10 and d.normalized == 2 and d.conflicts > 0
    s = train_val_test_split(texts, labels, val_size=0.2, test_size=0.2, random_state=0)
    parts = [set(s.train), set(s.val), set(s.test)]
    assert not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])
    assert sum(map(len, parts)) == len(d.kept)
    check_no_leak([texts[i] for i in s.train], [texts[i] for i in s.test])
    with pytest.raises(LeakError, match="1 test texts"):
        check_no_leak(["The cat sat."], ["THE CAT SAT", "new"])
    shares = np.bincount(np.asarray(labels)[s.test]) / len(s.test)
    assert abs(shares[0] - 0.5) < 0.2


def test_example_07_runs(capsys):
    import runpy
    from pathlib import Path

    example = Path(__file__).parent.parent / "examples" / "09_text_pipeline.py"
    runpy.run_path(str(example), run_name="__main__")  # it asserts its own checks
    assert "[EMAIL]" in capsys.readouterr().out
