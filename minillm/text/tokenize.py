"""Word tokens and sentences, each with its character offsets in the text it came from.

Words are found by one Unicode-aware regular expression (the ``regex`` package, whose ``\\w`` is
every letter, mark and digit of every script), tried in this order at each position:

    placeholder  [URL]  [NUM]  [MASK]           kept whole
    number       3.14  1,000  ٣٫٥               digits with inner . or , groups
    word         naïve  don't  Straße  日本語    letters/marks/digits, inner apostrophes allowed
    mark         ,  !  $  😀                      any other single non-space character

Every token is a ``Token(text, start, end)`` with ``text == source[start:end]``. After a cleaning
pipeline, ``Pipeline.tokens`` gives the same tokens with the spans of the *original* text.

Sentences end at ``.``, ``!``, ``?`` or ``…`` (with closing quotes and brackets), followed by
space and a capital letter, digit, quote or bracket, and also at a blank line. Not after a known
abbreviation (``e.g.``, ``Dr.``, ``etc.``), a single capital initial (``J. Smith``) or inside a
number (``3.14``). The rules are nltk's Punkt in spirit, without its learned statistics.

Read next: ``stopwords.py`` (removing the words that carry little meaning).
"""

from __future__ import annotations

import itertools
from typing import NamedTuple

import regex

from minillm.text.markup import PLACEHOLDER


class Token(NamedTuple):
    """A piece of text and the span ``[start, end)`` it occupies."""

    text: str
    start: int
    end: int


WORD_PATTERN = (
    rf"{PLACEHOLDER}"
    r"|\d+(?:[.,٫]\d+)+"
    r"|\w+(?:['’]\w+)*"
    r"|[^\w\s]"
)
_WORDS = regex.compile(WORD_PATTERN)


def word_tokens(text: str) -> list[Token]:
    """The words, numbers, placeholders and marks of ``text``, with their offsets.

    >>> [t.text for t in word_tokens("Don't panic: 42.5% of [URL]s!")]
    ["Don't", 'panic', ':', '42.5', '%', 'of', '[URL]', 's', '!']
    >>> word_tokens("naïve café")[1]
    Token(text='café', start=6, end=10)
    """
    return [Token(m.group(), m.start(), m.end()) for m in _WORDS.finditer(text)]


def words(text: str) -> list[str]:
    """The token strings alone: ``[t.text for t in word_tokens(text)]``."""
    return [m.group() for m in _WORDS.finditer(text)]


# Lower-case abbreviations (without their final period) after which a period does not end a
# sentence. Multi-period ones are matched on their last piece: "e.g" ends in "g".
_ABBREVIATIONS = """
mr mrs ms dr prof sr jr st vs etc e.g i.e cf al approx fig no vol ed eds inc ltd co corp jan
feb mar apr jun jul aug sep sept oct nov dec mt ft u.s u.k a.m p.m
"""
ABBREVIATIONS = frozenset(_ABBREVIATIONS.split())

_CANDIDATE = regex.compile(
    r"""(?P<end>[.!?…]+["'”’)\]]*)(?P<gap>\s+)(?=["'“‘(\[]*[\p{Lu}\p{N}\p{Lo}])"""
    r"|(?P<para>\n\s*\n)"
)
_LAST_WORD = regex.compile(r"(\S+)$")


def _is_abbreviation(before: str) -> bool:
    """Whether the word ending just before a period is an abbreviation or an initial."""
    m = _LAST_WORD.search(before)
    if m is None:
        return False
    word = m.group(1).lstrip("(\"'“‘[").lower()
    return word in ABBREVIATIONS or (len(word) == 1 and word.isalpha())


def sentence_spans(text: str) -> list[Token]:
    """The sentences of ``text``, stripped of surrounding space, with their offsets.

    >>> [s.text for s in sentence_spans("Dr. Smith paid $3.50. Was it e.g. fair? Yes!\\n\\nNext")]
    ['Dr. Smith paid $3.50.', 'Was it e.g. fair?', 'Yes!', 'Next']
    """
    cuts = [0]
    for m in _CANDIDATE.finditer(text):
        if m.group("para") is not None:
            cuts.append(m.end())
            continue
        end = m.group("end")
        one_period = end.startswith(".") and len(end.rstrip("\"'”’)]")) == 1
        if one_period and _is_abbreviation(text[: m.start()]):
            continue
        cuts.append(m.end("end"))
    cuts.append(len(text))
    spans = []
    for start, stop in itertools.pairwise(cuts):
        piece = text[start:stop]
        lead = len(piece) - len(piece.lstrip())
        body = piece.strip()
        if body:
            spans.append(Token(body, start + lead, start + lead + len(body)))
    return spans


def split_sentences(text: str) -> list[str]:
    """The sentence strings alone: ``[s.text for s in sentence_spans(text)]``."""
    return [s.text for s in sentence_spans(text)]
