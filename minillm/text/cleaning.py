"""Cleaning steps: Unicode normalization, case, accents, control characters, whitespace,
punctuation and contractions. Each is a function ``str -> str`` built from edits (``edits.py``),
and each is idempotent: running it twice gives what running it once did.

Unicode normalization (UAX #15). One visible character can be spelled several ways: ``é`` is
U+00E9, or ``e`` followed by the combining acute U+0301. The canonical forms pick one spelling:
NFD decomposes (``e`` + U+0301), NFC decomposes and then recomposes (U+00E9). The compatibility
forms NFKD/NFKC also fold characters that differ only in presentation: the ligature ``ﬁ`` -> ``fi``,
full-width ``Ａ`` -> ``A``, superscript ``²`` -> ``2``. Normalizing a string equals normalizing its
pieces, cut before any ASCII character that is not followed by a combining mark (an ASCII
character never changes and never joins the character before it), so each changed piece is one
edit and a cleaned character still points at its source.

Accent stripping: decompose (NFD), drop the nonspacing marks (category Mn), recompose (NFC):
``café`` -> ``cafe``, ``Ångström`` -> ``Angstrom``. Letters that are not a base plus a mark (``ø``,
``ß``, ``ł``) stay as they are.

Lowercasing runs per run of non-space characters, which gives ``str.lower`` of the whole text
(Greek final sigma included) with edits no wider than a word.

Read next: ``markup.py`` (HTML, URLs, e-mails, numbers), then ``pipeline.py``.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable

import regex

from minillm.text.edits import Edit, apply_edits, changed
from minillm.text.markup import PLACEHOLDER

FORMS = ("NFC", "NFD", "NFKC", "NFKD")

# A piece that normalization may change: an optional ASCII starter and the non-ASCII run after it.
_NON_ASCII_PIECE = regex.compile(r"[\x00-\x7f]?[^\x00-\x7f]+")


def _piece_edits(text: str, fn: Callable[[str], str]) -> list[Edit]:
    """``fn`` applied to each piece that may change; an unchanged leading ASCII starter is left
    out of the edit, so offsets stay as fine as they can."""
    edits = []
    for start, end, new in changed(text, ((m.start(), m.end(), fn(m.group())) for m in
                                          _NON_ASCII_PIECE.finditer(text))):  # fmt: skip
        if text[start].isascii() and new[:1] == text[start]:
            start, new = start + 1, new[1:]
        edits.append((start, end, new))
    return edits


def normalization_edits(text: str, form: str = "NFC") -> list[Edit]:
    if form not in FORMS:
        raise ValueError(f"unknown Unicode normalization form {form!r}; choose one of {FORMS}")
    return _piece_edits(text, lambda piece: unicodedata.normalize(form, piece))


def normalize_unicode(text: str, form: str = "NFC") -> str:
    """``unicodedata.normalize(form, text)``, one changed piece at a time.

    >>> normalize_unicode("cafe\\u0301") == "caf\\u00e9", normalize_unicode("ﬁ²", "NFKC")
    (True, 'fi2')
    """
    return apply_edits(text, normalization_edits(text, form))


def _strip_marks(piece: str) -> str:
    bare = "".join(
        c for c in unicodedata.normalize("NFD", piece) if unicodedata.category(c) != "Mn"
    )
    return unicodedata.normalize("NFC", bare)


def accent_edits(text: str) -> list[Edit]:
    return _piece_edits(text, _strip_marks)


def strip_accents(text: str) -> str:
    """Remove the nonspacing marks a letter decomposes into (NFD, drop Mn, NFC).

    >>> strip_accents("Crème brûlée, Ångström, Øre")
    'Creme brulee, Angstrom, Øre'
    """
    return apply_edits(text, accent_edits(text))


_WORD_RUN = regex.compile(r"\S+")


def lower_edits(text: str) -> list[Edit]:
    """One edit per changed character, or per word where lowercasing changes the length."""
    edits = []
    for m in _WORD_RUN.finditer(text):
        word, lower = m.group(), m.group().lower()
        if len(lower) != len(word):
            edits.append((m.start(), m.end(), lower))
        else:
            edits += [(m.start() + i, m.start() + i + 1, b)
                      for i, (a, b) in enumerate(zip(word, lower)) if a != b]  # fmt: skip
    return edits


def lowercase(text: str) -> str:
    """``text.lower()``, word by word.

    >>> lowercase("ΟΔΟΣ Straße İ") == "οδος straße i̇"
    True
    """
    return apply_edits(text, lower_edits(text))


# Control (Cc), format (Cf: zero-width spaces, BOM, bidi marks), private-use (Co) and surrogate (Cs)
# characters, except the whitespace controls (tab, newline, ...), which whitespace cleanup owns.
_CONTROL = regex.compile(r"[\p{Cc}\p{Cf}\p{Co}\p{Cs}--\s]+", regex.V1)


def control_edits(text: str) -> list[Edit]:
    return [(m.start(), m.end(), "") for m in _CONTROL.finditer(text)]


def remove_control(text: str) -> str:
    """Delete control, format, private-use and surrogate characters; keep whitespace.

    >>> remove_control("zero\\u200bwidth\\x00 and\\ttab\\ufeff")
    'zerowidth and\\ttab'
    """
    return apply_edits(text, control_edits(text))


_SPACES = regex.compile(r"\s+")


def whitespace_edits(text: str) -> list[Edit]:
    edits = []
    for m in _SPACES.finditer(text):
        at_edge = m.start() == 0 or m.end() == len(text)
        edits.append((m.start(), m.end(), "" if at_edge else " "))
    return changed(text, edits)


def normalize_whitespace(text: str) -> str:
    """Every run of whitespace (any Unicode space, tab, newline) becomes one space; the ends are
    trimmed.

    >>> normalize_whitespace("  two\\u00a0\\u00a0words\\n\\nand  more ")
    'two words and more'
    """
    return apply_edits(text, whitespace_edits(text))


# Chunks for the punctuation steps: a placeholder, one punctuation character, or anything else.
_PUNCT_CHUNK = regex.compile(rf"({PLACEHOLDER})|(\p{{P}})|\s+|[^\s\p{{P}}]+")


def punctuation_edits(text: str) -> list[Edit]:
    return [(m.start(), m.end(), " ") for m in _PUNCT_CHUNK.finditer(text) if m.group(2)]


def remove_punctuation(text: str) -> str:
    """Each punctuation character (Unicode category P) becomes a space; placeholders stay whole.

    Symbols (``$``, ``+``, ``<``, emoji) are not punctuation and stay.

    >>> remove_punctuation("Hello, [URL]! (really)")
    'Hello  [URL]   really '
    """
    return apply_edits(text, punctuation_edits(text))


def split_punctuation_edits(text: str) -> list[Edit]:
    """A space between a punctuation mark (or placeholder) and a touching non-space chunk."""
    edits, previous = [], None
    for m in _PUNCT_CHUNK.finditer(text):
        kind = "space" if m.group().isspace() else ("word" if m.lastindex is None else "mark")
        if previous is not None and "space" not in (kind, previous) and "mark" in (kind, previous):
            edits.append((m.start(), m.start(), " "))
        previous = kind
    return edits


def split_punctuation(text: str) -> str:
    """Put a space between each punctuation mark and a word or mark it touches.

    >>> split_punctuation('"Stop!" she said.[NUM]')
    '" Stop ! " she said . [NUM]'
    """
    return apply_edits(text, split_punctuation_edits(text))


# A word with exactly one apostrophe inside ("don't", "we’re"), not part of a longer one.
_CONTRACTION = regex.compile(r"(?<![\w'’])([^\W\d_]+)['’]([^\W\d_]+)(?![\w'’])")
_NOT_STEMS = {"can": "can not", "won": "will not", "shan": "shall not", "ain": "is not"}
_SUFFIXES = {"re": "are", "ve": "have", "ll": "will", "d": "would"}
_IS_STEMS = frozenset(
    ["it", "that", "what", "there", "here", "he", "she", "who", "where", "how", "when", "why"]
)


def _expansion(stem: str, suffix: str) -> str | None:
    """The expansion of stem'suffix in lower case, or None to leave it (possessives)."""
    if suffix == "t" and stem.endswith("n") and len(stem) > 1:
        return _NOT_STEMS.get(stem, stem[:-1] + " not")
    if suffix in _SUFFIXES:
        return f"{stem} {_SUFFIXES[suffix]}"
    if suffix == "m" and stem == "i":
        return "i am"
    if suffix == "s" and stem in _IS_STEMS:
        return f"{stem} is"
    if suffix == "s" and stem == "let":
        return "let us"
    return None


def _in_case_of(word: str, expansion: str) -> str:
    if word.isupper() and len(word) > 2:
        return expansion.upper()
    return expansion[0].upper() + expansion[1:] if word[0].isupper() else expansion


def contraction_edits(text: str) -> list[Edit]:
    edits = []
    for m in _CONTRACTION.finditer(text):
        expansion = _expansion(m.group(1).lower(), m.group(2).lower())
        if expansion is not None:
            edits.append((m.start(), m.end(), _in_case_of(m.group(), expansion)))
    return edits


def expand_contractions(text: str) -> str:
    """Spell out English contractions: ``don't`` -> ``do not``, ``we're`` -> ``we are``.

    ``'s`` is expanded only after pronouns (``it's`` -> ``it is``; ``Guido's`` is a possessive),
    and ``'d`` always reads as ``would`` (it may have been ``had``).

    >>> expand_contractions("I'm sure it's fine, but Don't touch Guido's WON'T")
    "I am sure it is fine, but Do not touch Guido's WILL NOT"
    """
    return apply_edits(text, contraction_edits(text))
