"""The character tokenizer: one token per Unicode character seen in a training corpus.

The vocabulary is the sorted set of distinct characters of the corpus, and a character's id is its
place in that sorted list. It is the simplest tokenizer a language model can use (Karpathy's
char-level nanoGPT on Shakespeare uses it): nothing to learn, a tiny vocabulary, but long sequences,
since every character costs a position. A character the corpus never contained has no id, so
encoding it raises an error naming the character and where it is in the text.

Read next: ``bpe.py``, which learns multi-character tokens and can encode any text at all.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence
from typing import Any, ClassVar

from minillm.tokenizers.base import Tokenizer, TokenizerFileError, check_ids, field


def _describe(ch: str) -> str:
    """Name a character unambiguously, even an invisible one.

    >>> _describe("\u00e9")
    "'é' (U+00E9 LATIN SMALL LETTER E WITH ACUTE)"
    """
    name = unicodedata.name(ch, "")
    return f"{ch!r} (U+{ord(ch):04X}{' ' + name if name else ''})"


class CharTokenizer(Tokenizer):
    """Maps each character of a fixed alphabet to its index in that alphabet.

    Args:
        chars: The alphabet, in id order; each entry one character, no repeats. ``from_text``
            builds it from a corpus.

    >>> tok = CharTokenizer.from_text("hello world")
    >>> tok.vocab_size, "".join(tok.chars)
    (8, ' dehlorw')
    >>> tok.encode("low")
    [4, 5, 7]
    >>> tok.decode([4, 5, 7])
    'low'
    """

    type_name: ClassVar[str] = "char"

    def __init__(self, chars: Sequence[str]) -> None:
        self._chars = list(chars)
        for i, ch in enumerate(self._chars):
            if not isinstance(ch, str) or len(ch) != 1:
                raise ValueError(f"alphabet entry {i} is {ch!r}: each entry must be one character")
        self._id_of = {ch: i for i, ch in enumerate(self._chars)}
        if len(self._id_of) != len(self._chars):
            repeated = next(ch for i, ch in enumerate(self._chars) if self._id_of[ch] != i)
            raise ValueError(f"alphabet lists the character {_describe(repeated)} twice")

    @classmethod
    def from_text(cls, text: str) -> CharTokenizer:
        """Build the tokenizer whose alphabet is the sorted set of characters in ``text``.

        Sorting (by code point) makes the ids independent of where characters first appear, so the
        same corpus always gives the same tokenizer.

        Args:
            text: The training corpus.

        >>> CharTokenizer.from_text("banana").chars
        ['a', 'b', 'n']
        """
        return cls(sorted(set(text)))

    @classmethod
    def train(cls, text: str) -> CharTokenizer:
        """Same as :meth:`from_text`, named like ``ByteLevelBPETokenizer.train``.

        >>> CharTokenizer.train("ab").vocab_size
        2
        """
        return cls.from_text(text)

    @property
    def chars(self) -> list[str]:
        """The alphabet in id order (a copy)."""
        return list(self._chars)

    @property
    def vocab_size(self) -> int:
        """The number of characters in the alphabet."""
        return len(self._chars)

    def encode(self, text: str) -> list[int]:
        """Turn each character of ``text`` into its id.

        Raises:
            ValueError: ``text`` holds a character outside the alphabet; the message names the
                character and its position (the index into ``text``).
        """
        id_of = self._id_of
        try:
            return [id_of[ch] for ch in text]
        except KeyError as e:
            ch = e.args[0]
            # The loop stops at the first unknown character, which is therefore the first
            # occurrence of that character: str.index finds its position without a second pass.
            raise ValueError(
                f"character {_describe(ch)} at position {text.index(ch)} is not in this "
                f"CharTokenizer's alphabet of {len(self._chars)} characters"
            ) from None

    def decode(self, ids: Iterable[int]) -> str:
        """Join the characters of ``ids``.

        Raises:
            ValueError: An id is outside ``range(vocab_size)`` (the message gives it and its
                position).
        """
        chars = self._chars
        return "".join([chars[i] for i in check_ids(ids, len(chars))])

    def to_dict(self) -> dict[str, Any]:
        """The alphabet, as a JSON list of one-character strings in id order."""
        return {"chars": list(self._chars)}

    @classmethod
    def _from_dict(cls, data: dict[str, Any], source: str) -> CharTokenizer:
        chars = field(data, "chars", list, source)
        try:
            return cls(chars)
        except ValueError as e:
            raise TokenizerFileError(f"{source}: field 'chars': {e}") from None

    def __repr__(self) -> str:
        return f"CharTokenizer(vocab_size={self.vocab_size})"
