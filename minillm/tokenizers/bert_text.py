"""BERT's text pipeline before WordPiece: the normalizer and the pre-tokenizer, with offsets.

Hugging Face's ``tokenizers`` runs BERT text through four stages; this module owns the first two
(``wordpiece.py`` owns the model and the post-processor):

1. **Normalizer** (:class:`BertNormalizer`), one step after another:
   *clean* (drop NUL, U+FFFD and control characters; every whitespace character becomes a space),
   *Chinese* (a space either side of each CJK ideograph, so each becomes its own word),
   *strip accents* (NFD, then drop the nonspacing marks, category Mn: ``é`` -> ``e``) and
   *lowercase*. Accents go before lowercasing: ``İ`` decomposes to ``I`` + a dot, the dot is
   dropped, and ``I`` lowercases to ``i``.
2. **Pre-tokenizer** (:class:`BertPreTokenizer`): split on whitespace, and make every punctuation
   character a piece of its own (``"don't"`` -> ``don`` ``'`` ``t``).

**Offsets.** A user wants to know which characters of the *original* text a token came from, so
every normalized character remembers the index of the original character it came from
(:class:`Normalized`). A character that expands (``é`` -> ``e`` + accent, ``İ`` lowercased to two
characters) gives each piece the same origin; a dropped character leaves no trace.

**Character classes, the Rust way.** The reference implementation is Rust, and its character
classes are not Python's ``str`` methods. Whitespace is Unicode's White_Space property (which
``str.isspace`` is not: it also counts U+001C-U+001F). Control means categories Cc, Cf and Co,
except tab, newline and carriage return. Punctuation is ASCII punctuation or category P*.
Categories come from the Rust crate ``unicode_categories``, whose tables are older than the
Unicode 14.0 of Python 3.11's :mod:`unicodedata`; the characters whose category changed in
between are listed below, so that this module answers exactly as ``tokenizers`` 0.23 does.
Lowercasing is Rust's ``char::to_lowercase``: Python's per-character ``str.lower``, plus the
letters Unicode 16 added (again listed below). On another Python version (another Unicode
version), the newest characters may be classified differently.

Read next: ``wordpiece.py`` (the WordPiece model, the post-processor and the tokenizer class).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

# Unicode's White_Space property: what Rust's char::is_whitespace tests. It never changes.
WHITESPACE = frozenset(
    "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009"
    "\u200a\u2028\u2029\u202f\u205f\u3000"
)

# The CJK Unified Ideograph blocks (and their extensions and compatibility forms). Hangul,
# Hiragana and Katakana are not here: those scripts separate words with spaces.
CJK_RANGES = (
    (0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F),
    (0x2B740, 0x2B81F), (0x2B920, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F),
)  # fmt: skip


def _chars(ranges: tuple[tuple[int, int], ...]) -> frozenset[str]:
    """The characters of inclusive code point ranges.

    >>> sorted(_chars(((0x61, 0x63),)))
    ['a', 'b', 'c']
    """
    return frozenset(chr(c) for lo, hi in ranges for c in range(lo, hi + 1))


# Where the Rust crate's older category tables disagree with Unicode 14.0. These characters are
# nonspacing marks (Mn) in Unicode 14 but unknown to the crate, so accents stripping keeps them.
_MN_UNKNOWN_TO_CRATE = (
    (0x07FD, 0x07FD), (0x0898, 0x089F), (0x08CA, 0x08E1), (0x09FE, 0x09FE), (0x0AFA, 0x0AFF),
    (0x0B55, 0x0B55), (0x0C04, 0x0C04), (0x0C3C, 0x0C3C), (0x0D00, 0x0D00), (0x0D3B, 0x0D3C),
    (0x0D81, 0x0D81), (0x0EBA, 0x0EBA), (0x180F, 0x180F), (0x1885, 0x1886), (0x1ABF, 0x1ACE),
    (0x1DF6, 0x1DFB), (0xA82C, 0xA82C), (0xA8C5, 0xA8C5), (0xA8FF, 0xA8FF), (0xA9BD, 0xA9BD),
    (0x10D24, 0x10D27), (0x10EAB, 0x10EAC), (0x10F46, 0x10F50), (0x10F82, 0x10F85),
    (0x11070, 0x11070), (0x11073, 0x11074), (0x110C2, 0x110C2), (0x111C9, 0x111C9),
    (0x111CF, 0x111CF), (0x1123E, 0x1123E), (0x1133B, 0x1133B), (0x11438, 0x1143F),
    (0x11442, 0x11444), (0x11446, 0x11446), (0x1145E, 0x1145E), (0x1182F, 0x11837),
    (0x11839, 0x1183A), (0x1193B, 0x1193C), (0x1193E, 0x1193E), (0x11943, 0x11943),
    (0x119D4, 0x119D7), (0x119DA, 0x119DB), (0x119E0, 0x119E0), (0x11A01, 0x11A0A),
    (0x11A33, 0x11A38), (0x11A3B, 0x11A3E), (0x11A47, 0x11A47), (0x11A51, 0x11A56),
    (0x11A59, 0x11A5B), (0x11A8A, 0x11A96), (0x11A98, 0x11A99), (0x11C30, 0x11C36),
    (0x11C38, 0x11C3D), (0x11C3F, 0x11C3F), (0x11C92, 0x11CA7), (0x11CAA, 0x11CB0),
    (0x11CB2, 0x11CB3), (0x11CB5, 0x11CB6), (0x11D31, 0x11D36), (0x11D3A, 0x11D3A),
    (0x11D3C, 0x11D3D), (0x11D3F, 0x11D45), (0x11D47, 0x11D47), (0x11D90, 0x11D91),
    (0x11D95, 0x11D95), (0x11D97, 0x11D97), (0x11EF3, 0x11EF4), (0x16F4F, 0x16F4F),
    (0x16FE4, 0x16FE4), (0x1CF00, 0x1CF2D), (0x1CF30, 0x1CF46), (0x1E000, 0x1E006),
    (0x1E008, 0x1E018), (0x1E01B, 0x1E021), (0x1E023, 0x1E024), (0x1E026, 0x1E02A),
    (0x1E130, 0x1E136), (0x1E2AE, 0x1E2AE), (0x1E2EC, 0x1E2EF), (0x1E944, 0x1E94A),
)  # fmt: skip
_CF_UNKNOWN_TO_CRATE = (
    (0x0890, 0x0891), (0x08E2, 0x08E2), (0x110CD, 0x110CD), (0x13430, 0x13438),
)  # fmt: skip
_P_UNKNOWN_TO_CRATE = (
    (0x061D, 0x061D), (0x09FD, 0x09FD), (0x0A76, 0x0A76), (0x0C77, 0x0C77), (0x0C84, 0x0C84),
    (0x1B7D, 0x1B7E), (0x2E43, 0x2E4F), (0x2E52, 0x2E5D), (0x10EAD, 0x10EAD), (0x10F55, 0x10F59),
    (0x10F86, 0x10F89), (0x1144B, 0x1144F), (0x1145A, 0x1145B), (0x1145D, 0x1145D),
    (0x11660, 0x1166C), (0x116B9, 0x116B9), (0x1183B, 0x1183B), (0x11944, 0x11946),
    (0x119E2, 0x119E2), (0x11A3F, 0x11A46), (0x11A9A, 0x11A9C), (0x11A9E, 0x11AA2),
    (0x11C41, 0x11C45), (0x11C70, 0x11C71), (0x11EF7, 0x11EF8), (0x11FFF, 0x11FFF),
    (0x12FF1, 0x12FF2), (0x16E97, 0x16E9A), (0x16FE2, 0x16FE2), (0x1E95E, 0x1E95F),
)  # fmt: skip
# Combining marks the crate's normalization tables do not know: for canonical ordering (NFD
# sorts each run of marks by combining class) they count as class 0, so they never move.
_CCC_UNKNOWN_TO_CRATE = (
    (0x07FD, 0x07FD), (0x0898, 0x089F), (0x08CA, 0x08D3), (0x09FE, 0x09FE), (0x0C3C, 0x0C3C),
    (0x0D3B, 0x0D3C), (0x0EBA, 0x0EBA), (0x1715, 0x1715), (0x1ABF, 0x1ACE), (0x1DF6, 0x1DFA),
    (0xA82C, 0xA82C), (0x10D24, 0x10D27), (0x10EAB, 0x10EAC), (0x10F46, 0x10F50),
    (0x10F82, 0x10F85), (0x11070, 0x11070), (0x1133B, 0x1133B), (0x1145E, 0x1145E),
    (0x11839, 0x1183A), (0x1193D, 0x1193E), (0x11943, 0x11943), (0x119E0, 0x119E0),
    (0x11A34, 0x11A34), (0x11A47, 0x11A47), (0x11A99, 0x11A99), (0x11D42, 0x11D42),
    (0x11D44, 0x11D45), (0x11D97, 0x11D97), (0x16FF0, 0x16FF1), (0x1E130, 0x1E136),
    (0x1E2AE, 0x1E2AE), (0x1E2EC, 0x1E2EF),
)  # fmt: skip
_MN_EXTRA = frozenset("\u1734")  # Mn for the crate; a spacing mark (Mc) since Unicode 14
_PUNCT_EXTRA = frozenset("\u166d\U000111c9")  # punctuation (Po) for the crate, not since
_MN_SKIP = _chars(_MN_UNKNOWN_TO_CRATE)
_CONTROL_SKIP = _chars(_CF_UNKNOWN_TO_CRATE)
_PUNCT_SKIP = _chars(_P_UNKNOWN_TO_CRATE)
# Decomposes in Unicode 14, not in the crate's normalization tables.
_NO_DECOMPOSITION = frozenset("\U00011938")
_CCC_SKIP = _chars(_CCC_UNKNOWN_TO_CRATE)
# Lowercase letters Unicode 16 added, which Rust knows and Python 3.11 does not: runs of
# (first upper, last upper, first lower), mapped in order.
_LOWER_RUNS = (
    (0x1C89, 0x1C89, 0x1C8A), (0xA7CB, 0xA7CB, 0x0264), (0xA7CC, 0xA7CC, 0xA7CD),
    (0xA7CE, 0xA7CE, 0xA7CF), (0xA7D2, 0xA7D2, 0xA7D3), (0xA7D4, 0xA7D4, 0xA7D5),
    (0xA7DA, 0xA7DA, 0xA7DB), (0xA7DC, 0xA7DC, 0x019B), (0x10D50, 0x10D65, 0x10D70),
    (0x16EA0, 0x16EB8, 0x16EBB),
)  # fmt: skip
_LOWER_EXTRA = {
    chr(c): chr(lower + c - lo) for lo, hi, lower in _LOWER_RUNS for c in range(lo, hi + 1)
}


def is_whitespace(ch: str) -> bool:
    """Whether ``ch`` is whitespace: Unicode's White_Space property (tab, newline, ``\\r``...).

    >>> is_whitespace("\\u00a0"), is_whitespace("\\u2028"), is_whitespace("\\x1f")
    (True, True, False)
    """
    return ch in WHITESPACE


def is_control(ch: str) -> bool:
    """Whether ``ch`` is a control character that cleaning drops: Cc, Cf or Co, but not tab,
    newline or carriage return (those are whitespace).

    >>> is_control("\\x07"), is_control("\\u200b"), is_control("\\n"), is_control("a")
    (True, True, False, False)
    """
    if ch in "\t\n\r" or ch in _CONTROL_SKIP:
        return False
    return unicodedata.category(ch) in ("Cc", "Cf", "Co")


def is_punctuation(ch: str) -> bool:
    """Whether ``ch`` is punctuation: ASCII punctuation (which includes ``$ + < = > ^ ` | ~``,
    symbols to Unicode) or any character of category P*.

    >>> is_punctuation("$"), is_punctuation("\\u00bf"), is_punctuation("\\u20ac")
    (True, True, False)
    """
    if ch.isascii():
        return ch in "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"
    if ch in _PUNCT_EXTRA:
        return True
    return unicodedata.category(ch)[0] == "P" and ch not in _PUNCT_SKIP


def is_chinese_char(ch: str) -> bool:
    """Whether ``ch`` is a CJK ideograph (see ``CJK_RANGES``); Japanese kana is not.

    >>> is_chinese_char("\\u4e2d"), is_chinese_char("\\u3042")
    (True, False)
    """
    c = ord(ch)
    return any(lo <= c <= hi for lo, hi in CJK_RANGES)


def is_nonspacing_mark(ch: str) -> bool:
    """Whether ``ch`` is a nonspacing mark (Mn), such as the combining acute accent.

    >>> is_nonspacing_mark("\\u0301"), is_nonspacing_mark("e")
    (True, False)
    """
    if ch in _MN_EXTRA:
        return True
    return unicodedata.category(ch) == "Mn" and ch not in _MN_SKIP


def lowercase_char(ch: str) -> str:
    """``ch`` lowercased on its own, as Rust's ``char::to_lowercase`` does; may be 2 characters.

    No context is used, so a capital sigma is always ``σ``, never the final ``ς``.

    >>> lowercase_char("A"), lowercase_char("\\u03a3"), len(lowercase_char("\\u0130"))
    ('a', 'σ', 2)
    """
    return _LOWER_EXTRA.get(ch) or ch.lower()


@dataclass
class Normalized:
    """Normalized text, and for each of its characters the index of the original one it came from.

    Attributes:
        text: The normalized text.
        origins: ``origins[k]`` is the index, in the original text, of the character that produced
            ``text[k]``; ``len(origins) == len(text)``.
    """

    text: str
    origins: list[int]

    def original_span(self, start: int, end: int) -> tuple[int, int]:
        """The span of original characters that ``text[start:end]`` (not empty) came from.

        >>> BertNormalizer().normalize("\\x00Héllo").original_span(0, 5)
        (1, 6)
        """
        return self.origins[start], self.origins[end - 1] + 1


def _each_char(norm: Normalized, step: Callable[[str], str]) -> Normalized:
    """Replace each character by ``step(char)`` (0, 1 or more characters), keeping origins."""
    chars: list[str] = []
    origins: list[int] = []
    for ch, origin in zip(norm.text, norm.origins):
        out = step(ch)
        chars.append(out)
        origins.extend([origin] * len(out))
    return Normalized("".join(chars), origins)


def _clean_char(ch: str) -> str:
    if ch == "\0" or ch == "\ufffd" or is_control(ch):
        return ""
    return " " if is_whitespace(ch) else ch


def _pad_chinese_char(ch: str) -> str:
    return f" {ch} " if is_chinese_char(ch) else ch


def combining_class(ch: str) -> int:
    """The canonical combining class NFD sorts marks by; 0 for a character that is not a mark.

    >>> combining_class("\\u0301"), combining_class("\\u0316"), combining_class("a")
    (230, 220, 0)
    """
    return 0 if ch in _CCC_SKIP else unicodedata.combining(ch)


def _decompose(norm: Normalized) -> Normalized:
    """Unicode NFD: decompose each character, then put each run of combining marks in canonical
    order (a stable sort by combining class).

    Origins follow the reference implementation's bookkeeping, which records for each output
    character whether it *replaces* the next input character or is *added* after the previous
    one. The first character of a decomposition replaces, the rest are added, and these flags
    travel with the characters when the marks are sorted. Then, in output order, a replacing
    character takes the origin of the next unused input character and an added one the origin of
    the last used one.

    >>> _decompose(Normalized("\\u00e8\\U0001d165", [0, 1])).origins  # è + a musical mark
    [0, 1, 1]
    """
    pieces: list[tuple[str, bool]] = []  # (character, added rather than replacing)
    for ch in norm.text:
        parts = ch if ch in _NO_DECOMPOSITION else unicodedata.normalize("NFD", ch)
        pieces.extend((part, k > 0) for k, part in enumerate(parts))
    i = 0
    while i < len(pieces):
        if combining_class(pieces[i][0]) == 0:
            i += 1
            continue
        j = i
        while j < len(pieces) and combining_class(pieces[j][0]) != 0:
            j += 1
        pieces[i:j] = sorted(pieces[i:j], key=lambda piece: combining_class(piece[0]))
        i = j
    origins: list[int] = []
    used = 0  # input characters consumed so far
    for _, added in pieces:
        if added:
            origins.append(norm.origins[max(used - 1, 0)])
        else:
            origins.append(norm.origins[used])
            used += 1
    return Normalized("".join(ch for ch, _ in pieces), origins)


class BertNormalizer:
    """BERT's normalizer, with the options and defaults of ``tokenizers.normalizers``.

    Args:
        clean_text: Drop NUL, U+FFFD and control characters; turn whitespace into spaces.
        handle_chinese_chars: Put a space either side of each CJK ideograph.
        strip_accents: Decompose (NFD) and drop nonspacing marks; None means "as ``lowercase``",
            which is what BERT's uncased models do.
        lowercase: Lowercase each character.

    >>> BertNormalizer().normalize_str("Héllo\\tWörld\\u4e2d!")
    'hello world 中 !'
    >>> BertNormalizer(lowercase=False).normalize_str("Héllo")
    'Héllo'
    """

    def __init__(
        self,
        clean_text: bool = True,
        handle_chinese_chars: bool = True,
        strip_accents: bool | None = None,
        lowercase: bool = True,
    ) -> None:
        self.clean_text = clean_text
        self.handle_chinese_chars = handle_chinese_chars
        self.strip_accents = strip_accents
        self.lowercase = lowercase

    def normalize(self, text: str) -> Normalized:
        """Run the enabled stages in order, keeping each character's origin.

        >>> n = BertNormalizer().normalize("É\\x00t\\u00e9")
        >>> n.text, n.origins
        ('ete', [0, 2, 3])
        """
        norm = Normalized(text, list(range(len(text))))
        if self.clean_text:
            norm = _each_char(norm, _clean_char)
        if self.handle_chinese_chars:
            norm = _each_char(norm, _pad_chinese_char)
        strip = self.lowercase if self.strip_accents is None else self.strip_accents
        if strip:
            norm = _decompose(norm)
            norm = _each_char(norm, lambda ch: "" if is_nonspacing_mark(ch) else ch)
        if self.lowercase:
            norm = _each_char(norm, lowercase_char)
        return norm

    def normalize_str(self, text: str) -> str:
        """The normalized text alone (``tokenizers``' ``normalize_str``)."""
        return self.normalize(text).text

    def to_dict(self) -> dict[str, bool | None]:
        """The options, as JSON-ready data (the same keys as ``tokenizer.json``)."""
        return {
            "clean_text": self.clean_text,
            "handle_chinese_chars": self.handle_chinese_chars,
            "strip_accents": self.strip_accents,
            "lowercase": self.lowercase,
        }


class BertPreTokenizer:
    """Split text into words: whitespace separates (and is dropped), each punctuation character
    is a word of its own.

    >>> BertPreTokenizer().pre_tokenize_str("Hi, you!  ok")
    [('Hi', (0, 2)), (',', (2, 3)), ('you', (4, 7)), ('!', (7, 8)), ('ok', (10, 12))]
    """

    def spans(self, text: str) -> list[tuple[int, int]]:
        """The ``(start, end)`` of each word in ``text``.

        >>> BertPreTokenizer().spans("a.b")
        [(0, 1), (1, 2), (2, 3)]
        """
        spans: list[tuple[int, int]] = []
        start = None  # where the current word began, or None between words
        for i, ch in enumerate(text):
            if is_whitespace(ch) or is_punctuation(ch):
                if start is not None:
                    spans.append((start, i))
                    start = None
                if not is_whitespace(ch):
                    spans.append((i, i + 1))
            elif start is None:
                start = i
        if start is not None:
            spans.append((start, len(text)))
        return spans

    def pre_tokenize_str(self, text: str) -> list[tuple[str, tuple[int, int]]]:
        """Each word with its span, as ``tokenizers``' ``pre_tokenize_str`` returns them."""
        return [(text[a:b], (a, b)) for a, b in self.spans(text)]
