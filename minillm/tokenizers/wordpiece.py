"""BERT's WordPiece tokenizer: the vocabulary model, the ``[CLS] ... [SEP]`` template, batches.

:class:`WordPieceTokenizer` runs the four stages of Hugging Face's ``tokenizers`` for BERT and
gives the same ids, tokens, type ids and offsets:

1. **Special tokens** written in the text (``[SEP]``, ``[MASK]``...) are found first, in the raw
   text, and kept whole; the text between them goes through the rest.
2. **Normalize and pre-tokenize** (``bert_text.py``): clean, lowercase, strip accents, then split
   into words on whitespace and punctuation. Plain ASCII text, where these steps move no
   character, takes a fast road of two regular expressions to the same words (``_ASCII_WORD``).
3. **WordPiece** (:func:`wordpiece_split`): each word becomes the longest vocabulary entry that
   starts it, then the longest ``##``-prefixed entry that continues it, and so on (greedy longest
   match first: ``unaffable`` -> ``un ##aff ##able``). A word with a part no entry matches, or
   longer than ``max_input_chars_per_word`` characters, becomes one ``[UNK]``. Each word's
   split is remembered (``WordPieceTokenizer._split``).
4. **Post-process**: ``[CLS] A [SEP]``, or ``[CLS] A [SEP] B [SEP]`` for a pair, with type id 0
   for the first part and 1 for the second.

**Encoding and the ``Tokenizer`` interface.** ``encode`` returns an :class:`Encoding`
(``encoding.py``), which is a read-only sequence of its ids, so it keeps the base interface's
promise (``decode(tok.encode(text))`` works) and carries ``.tokens``, ``.offsets``,
``.type_ids`` and ``.attention_mask`` as ``tokenizers`` users expect.

**Batches** follow sentence-transformers' defaults: truncate to 256 tokens (the last one kept a
``[SEP]``) and pad with ``[PAD]`` to the longest text of the batch, with attention mask 0 there.

Read next: ``encoding.py`` (the template, truncation, padding), ``wordpiece_files.py`` (reading
a model folder), ``wordpiece_train.py`` (learning a vocabulary).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, ClassVar

from minillm.tokenizers.base import Tokenizer, TokenizerFileError, check_ids
from minillm.tokenizers.base import field as json_field
from minillm.tokenizers.bert_text import BertNormalizer, BertPreTokenizer
from minillm.tokenizers.encoding import (
    BertTemplate,
    Encoding,
    Pieces,
    check_batch_options,
    pad,
    truncate,
)

# The roles BERT's special tokens play, and their usual spellings.
SPECIAL_ROLES = ("unk_token", "sep_token", "pad_token", "cls_token", "mask_token")
DEFAULT_SPECIALS = {
    "unk_token": "[UNK]",
    "sep_token": "[SEP]",
    "pad_token": "[PAD]",
    "cls_token": "[CLS]",
    "mask_token": "[MASK]",
}

# The fast road of ``_add_words``. ASCII text without control characters (other than tab, newline
# and carriage return) normalizes character for character: cleaning turns those three into spaces,
# lowercasing is ASCII's, and no ASCII character has an accent or is a CJK ideograph. Its words,
# as BertPreTokenizer splits them, are the runs of characters that are neither whitespace nor
# punctuation, and each punctuation character alone (ASCII punctuation is ! to /, : to @, [ to `
# and { to ~). Any other text takes the general road, character by character (``bert_text.py``).
_ASCII_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_ASCII_WORD = re.compile(r"[^ \t\n\r!-/:-@\[-`{-~]+|[!-/:-@\[-`{-~]")
_CHUNK = re.compile(r"[^ ]+")
WORD_CACHE_SIZE = 100_000  # words remembered by WordPieceTokenizer._split


def _plain_ascii(text: str) -> bool:
    """Whether ``text`` can take the fast road: ASCII with no control character but tab, newline
    and carriage return."""
    return text.isascii() and not _ASCII_CONTROL.search(text)


def wordpiece_split(
    word: str, vocab: dict[str, int], prefix: str = "##", max_chars: int = 100
) -> list[tuple[str, int, int]] | None:
    """Split one word into vocabulary entries, greedy longest match first.

    Args:
        word: A pre-tokenized word (normalized already).
        vocab: Token -> id.
        prefix: Marks an entry that continues a word rather than starting one.
        max_chars: Longer words are not split at all.

    Returns:
        ``(token, start, end)`` for each piece, ``start:end`` its characters in ``word``; or None
        when the word cannot be split (the caller substitutes ``[UNK]``).

    >>> vocab = {"un": 0, "##aff": 1, "##able": 2, "a": 3, "##ff": 4}
    >>> wordpiece_split("unaffable", vocab)
    [('un', 0, 2), ('##aff', 2, 5), ('##able', 5, 9)]
    >>> print(wordpiece_split("unx", vocab))
    None
    """
    if len(word) > max_chars:
        return None
    pieces: list[tuple[str, int, int]] = []
    start = 0
    while start < len(word):
        # Try the longest candidate first and shorten it one character at a time.
        for end in range(len(word), start, -1):
            piece = word[start:end] if start == 0 else prefix + word[start:end]
            if piece in vocab:
                pieces.append((piece, start, end))
                start = end
                break
        else:
            return None
    return pieces


class WordPieceTokenizer(Tokenizer):
    """BERT's tokenizer: normalizer, pre-tokenizer, WordPiece and the ``[CLS]``/``[SEP]`` template.

    Args:
        vocab: The vocabulary in id order (``vocab[i]`` is the token with id ``i``).
        lowercase: Lowercase the text (an "uncased" model).
        strip_accents: Drop accents; None means "when lowercasing".
        handle_chinese_chars: Make each CJK ideograph a word of its own.
        clean_text: Drop control characters and turn whitespace into spaces.
        continuing_subword_prefix: Marks a token that continues a word.
        max_input_chars_per_word: Longer words become ``[UNK]``.
        special_tokens: The spelling of each role in ``SPECIAL_ROLES`` (defaults ``[UNK]``...).

    >>> tok = WordPieceTokenizer(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hi", "##s", "!"])
    >>> enc = tok.encode("His!")
    >>> enc.tokens, enc.ids
    (['[CLS]', 'hi', '##s', '!', '[SEP]'], [2, 5, 6, 7, 3])
    >>> enc.offsets
    [(0, 0), (0, 2), (2, 3), (3, 4), (0, 0)]
    >>> tok.decode(enc)
    'his!'
    """

    type_name: ClassVar[str] = "wordpiece"

    def __init__(
        self,
        vocab: Sequence[str],
        lowercase: bool = True,
        strip_accents: bool | None = None,
        handle_chinese_chars: bool = True,
        clean_text: bool = True,
        continuing_subword_prefix: str = "##",
        max_input_chars_per_word: int = 100,
        special_tokens: dict[str, str] | None = None,
    ) -> None:
        self._vocab = list(vocab)
        self._ids: dict[str, int] = {}
        for i, token in enumerate(self._vocab):
            if not isinstance(token, str) or not token:
                raise ValueError(f"vocabulary entry {i} is {token!r}: expected a non-empty string")
            if token in self._ids:
                raise ValueError(
                    f"vocabulary entry {i} ({token!r}) repeats entry {self._ids[token]}"
                )
            self._ids[token] = i
        unknown_roles = set(special_tokens or {}) - set(SPECIAL_ROLES)
        if unknown_roles:
            raise ValueError(f"unknown special token roles {sorted(unknown_roles)}")
        self.special_tokens = {**DEFAULT_SPECIALS, **(special_tokens or {})}
        for role, token in self.special_tokens.items():
            if token not in self._ids:
                raise ValueError(f"the {role} {token!r} is not in the vocabulary")
        self.normalizer = BertNormalizer(clean_text, handle_chinese_chars, strip_accents, lowercase)
        self.pre_tokenizer = BertPreTokenizer()
        self.continuing_subword_prefix = continuing_subword_prefix
        self.max_input_chars_per_word = max_input_chars_per_word
        specials = sorted(set(self.special_tokens.values()), key=len, reverse=True)
        # Longest first: at each position the longest special token that matches wins.
        self._special_re = re.compile("|".join(re.escape(s) for s in specials))
        self._special_ids = {self._ids[s] for s in specials}
        cls, sep = self.special_tokens["cls_token"], self.special_tokens["sep_token"]
        self.template = BertTemplate((cls, self._ids[cls]), (sep, self._ids[sep]))
        self._word_cache: dict[str, list[tuple[str, int, int, int]]] = {}  # see _split
        self._cache_settings = (continuing_subword_prefix, max_input_chars_per_word)

    # ----- loading ------------------------------------------------------------------------------

    @classmethod
    def from_pretrained(cls, path_or_name: str | Path) -> WordPieceTokenizer:
        """Load a BERT tokenizer from a model folder (``vocab.txt`` and ``tokenizer_config.json``)
        or a known model name such as ``"all-MiniLM-L6-v2"``.

        Raises:
            PretrainedNotFoundError: No such folder or name, or no ``vocab.txt``.
            TokenizerFileError: A bad vocab file (with the line) or config file.
        """
        from minillm.tokenizers.wordpiece_files import read_pretrained

        vocab, options, vocab_path = read_pretrained(path_or_name, SPECIAL_ROLES)
        try:
            return cls(vocab, **options)
        except ValueError as e:
            raise TokenizerFileError(f"{vocab_path}: {e}") from None

    # ----- vocabulary ---------------------------------------------------------------------------

    @property
    def vocab_size(self) -> int:
        """The number of tokens in the vocabulary."""
        return len(self._vocab)

    def get_vocab(self) -> dict[str, int]:
        """Token -> id, for every token (a copy)."""
        return dict(self._ids)

    def token_to_id(self, token: str) -> int | None:
        """The id of ``token``, or None if it is not in the vocabulary."""
        return self._ids.get(token)

    def id_to_token(self, token_id: int) -> str | None:
        """The token with id ``token_id``, or None if there is none."""
        return self._vocab[token_id] if 0 <= token_id < len(self._vocab) else None

    # ----- encoding -----------------------------------------------------------------------------

    def _tokenize(self, text: str) -> Pieces:
        """Stages 1-3 for one text: ids, tokens and offsets, without ``[CLS]``/``[SEP]``."""
        pieces: Pieces = ([], [], [])
        ids, tokens, offsets = pieces
        settings = (self.continuing_subword_prefix, self.max_input_chars_per_word)
        if settings != self._cache_settings:  # the splits depend on both: start afresh
            self._word_cache.clear()
            self._cache_settings = settings
        position = 0
        # The text between special tokens, then the special token itself (the last is "").
        for match in [*self._special_re.finditer(text), None]:
            end = match.start() if match else len(text)
            self._add_words(text[position:end], position, pieces)
            if match:
                ids.append(self._ids[match.group()])
                tokens.append(match.group())
                offsets.append(match.span())
                position = match.end()
        return pieces

    def _add_words(self, segment: str, position: int, pieces: Pieces) -> None:
        """Stages 2-3 for text without special tokens, appended to ``pieces``; ``position`` is
        where ``segment`` starts in the whole text (offsets are into the whole text)."""
        if _plain_ascii(segment):
            self._add_ascii_words(segment, position, pieces)
            return
        # A space separates words before and after normalizing, and no normalizing step looks
        # across one (NFD reorders runs of accents, which a space ends), so each chunk between
        # spaces can take its own road: most chunks of a mostly-English text are plain ASCII.
        for chunk in _CHUNK.finditer(segment):
            text, start = chunk.group(), position + chunk.start()
            if _plain_ascii(text):
                self._add_ascii_words(text, start, pieces)
                continue
            norm = self.normalizer.normalize(text)
            for a, b in self.pre_tokenizer.spans(norm.text):
                for token, token_id, lo, hi in self._split(norm.text[a:b]):
                    lo, hi = norm.original_span(a + lo, a + hi)
                    pieces[0].append(token_id)
                    pieces[1].append(token)
                    pieces[2].append((start + lo, start + hi))

    def _add_ascii_words(self, text: str, position: int, pieces: Pieces) -> None:
        """The fast road for plain ASCII (see ``_ASCII_WORD``): normalizing moves no character,
        so a piece's offsets are its own span in ``text``."""
        ids, tokens, offsets = pieces
        if self.normalizer.lowercase:
            text = text.lower()
        for word in _ASCII_WORD.finditer(text):
            a = position + word.start()
            for token, token_id, start, stop in self._split(word.group()):
                ids.append(token_id)
                tokens.append(token)
                offsets.append((a + start, a + stop))

    def _split(self, word: str) -> list[tuple[str, int, int, int]]:
        """``(token, id, start, end)`` of each piece of a normalized word; ``[UNK]`` for the whole
        word when it cannot be split. Remembered per word: text repeats its words, and a lookup
        costs far less than the greedy search (the memory is emptied when it grows large)."""
        pieces = self._word_cache.get(word)
        if pieces is None:
            split = wordpiece_split(
                word, self._ids, self.continuing_subword_prefix, self.max_input_chars_per_word
            )
            unk = self.special_tokens["unk_token"]
            pieces = [(t, self._ids[t], a, b) for t, a, b in split or [(unk, 0, len(word))]]
            if len(self._word_cache) >= WORD_CACHE_SIZE:
                self._word_cache.clear()
            self._word_cache[word] = pieces
        return pieces

    def encode(self, text: str, pair: str | None = None) -> Encoding:  # type: ignore[override]
        """Encode ``text`` (and ``pair``, the second text of a pair), without truncation.

        ``pair=""`` is an empty second text (``[CLS] A [SEP] [SEP]``), not "no pair".

        >>> tok = WordPieceTokenizer(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "b"])
        >>> enc = tok.encode("a", "b a")
        >>> enc.tokens, enc.type_ids
        (['[CLS]', 'a', '[SEP]', 'b', 'a', '[SEP]'], [0, 0, 0, 1, 1, 1])
        """
        first = self._tokenize(text)
        return self.template.apply(first, None if pair is None else self._tokenize(pair))

    def encode_batch(
        self,
        texts: Sequence[str | tuple[str, str]],
        padding: bool | str = "longest",
        truncation: bool = True,
        max_length: int = 256,
    ) -> list[Encoding]:
        """Encode many texts (or ``(first, second)`` pairs) into equally long encodings.

        Args:
            texts: Strings, or pairs of strings.
            padding: ``"longest"`` (or True) pads to the longest encoding of the batch,
                ``"max_length"`` to ``max_length``, ``"do_not_pad"`` (or False) not at all.
            truncation: Cut each encoding to ``max_length`` tokens, keeping ``[CLS]`` and
                ``[SEP]`` (a pair loses tokens from its longer text first).
            max_length: The length truncation and ``"max_length"`` padding aim for.

        Raises:
            ValueError: An unknown ``padding``, or a ``max_length`` too small for the specials.

        >>> tok = WordPieceTokenizer(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a"])
        >>> [e.ids for e in tok.encode_batch(["a a a", "a"], max_length=4)]
        [[2, 5, 5, 3], [2, 5, 3, 0]]
        >>> tok.encode_batch(["a"], padding="max_length", max_length=4)[0].attention_mask
        [1, 1, 1, 0]
        """
        if isinstance(texts, str):
            raise TypeError("encode_batch takes a list of texts; for one text use encode")
        pairs = [isinstance(item, tuple) for item in texts]
        padding = check_batch_options(padding, truncation, max_length, any(pairs))
        encodings = []
        for item, is_pair in zip(texts, pairs):
            if is_pair and (len(item) != 2 or not all(isinstance(t, str) for t in item)):
                raise ValueError(f"a pair must be two strings, got {item!r}")
            if not is_pair and not isinstance(item, str):
                raise TypeError(f"expected a string or a pair of strings, got {item!r}")
            first = self._tokenize(item[0] if is_pair else item)
            second = self._tokenize(item[1]) if is_pair else None
            if truncation:
                first, second = truncate(first, second, max_length)
            encodings.append(self.template.apply(first, second))
        if padding != "do_not_pad" and encodings:
            width = max(map(len, encodings)) if padding == "longest" else max_length
            pad_token = self.special_tokens["pad_token"]
            pad(encodings, width, pad_token, self._ids[pad_token])
        return encodings

    def decode(self, ids: Iterable[int], skip_special_tokens: bool = True) -> str:
        """Turn ids back into text, as ``tokenizers``' WordPiece decoder does.

        Tokens are joined with spaces, a ``##`` token is glued to the one before it, and the space
        before a ``.``, ``?``, ``!`` or ``,`` token is removed. (``tokenizers`` cleans each token
        with its leading space separately, so its longer rules, such as `` 's`` -> ``'s``, never
        apply to WordPiece output; neither do they here.) Lowercasing and stripped accents cannot
        be undone.

        >>> tok = WordPieceTokenizer(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hi", "##s"])
        >>> tok.decode([2, 5, 6, 3]), tok.decode([2, 5, 3], skip_special_tokens=False)
        ('his', '[CLS] hi [SEP]')
        """
        ids = check_ids(ids, len(self._vocab))
        if skip_special_tokens:
            ids = [i for i in ids if i not in self._special_ids]
        prefix = self.continuing_subword_prefix
        out = []
        for k, token in enumerate(self._vocab[i] for i in ids):
            if k > 0:
                token = token[len(prefix) :] if token.startswith(prefix) else " " + token
            out.append(_cleanup(token))
        return "".join(out)

    # ----- training and files -------------------------------------------------------------------

    @classmethod
    def train(
        cls,
        texts: Iterable[str],
        vocab_size: int = 30000,
        min_frequency: int = 2,
        limit_alphabet: int | None = 1000,
        special_tokens: Sequence[str] = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"),
        lowercase: bool = True,
    ) -> WordPieceTokenizer:
        """Learn a vocabulary from ``texts``; see ``wordpiece_train.py`` for the algorithm.

        The defaults are those of ``tokenizers.BertWordPieceTokenizer.train``; ``special_tokens``
        take the first ids and are, in order, ``[PAD] [UNK] [CLS] [SEP] [MASK]`` unless given.

        >>> tok = WordPieceTokenizer.train(["low lower lowest"] * 3, vocab_size=40)
        >>> tok.encode("lowest").tokens
        ['[CLS]', 'lowest', '[SEP]']
        """
        from minillm.tokenizers.wordpiece_train import train_wordpiece

        normalizer = BertNormalizer(lowercase=lowercase)
        vocab = train_wordpiece(
            texts,
            vocab_size,
            normalizer,
            min_frequency=min_frequency,
            limit_alphabet=limit_alphabet,
            special_tokens=special_tokens,
        )
        return cls(vocab, lowercase=lowercase)  # the special tokens must include BERT's five

    def to_dict(self) -> dict[str, Any]:
        """The vocabulary (in id order) and every option, as JSON-ready data."""
        return {
            "vocab": list(self._vocab),
            "normalizer": self.normalizer.to_dict(),
            "continuing_subword_prefix": self.continuing_subword_prefix,
            "max_input_chars_per_word": self.max_input_chars_per_word,
            "special_tokens": dict(self.special_tokens),
        }

    @classmethod
    def _from_dict(cls, data: dict[str, Any], source: str) -> WordPieceTokenizer:
        norm = json_field(data, "normalizer", dict, source)
        try:
            return cls(
                json_field(data, "vocab", list, source),
                lowercase=norm["lowercase"],
                strip_accents=norm["strip_accents"],
                handle_chinese_chars=norm["handle_chinese_chars"],
                clean_text=norm["clean_text"],
                continuing_subword_prefix=json_field(
                    data, "continuing_subword_prefix", str, source
                ),
                max_input_chars_per_word=json_field(data, "max_input_chars_per_word", int, source),
                special_tokens=json_field(data, "special_tokens", dict, source),
            )
        except KeyError as e:
            raise TokenizerFileError(f"{source}: field 'normalizer' lacks {e}") from None
        except ValueError as e:
            raise TokenizerFileError(f"{source}: {e}") from None

    def __repr__(self) -> str:
        return f"WordPieceTokenizer(vocab_size={self.vocab_size})"


def _cleanup(token: str) -> str:
    """``tokenizers``' decoder cleanup, applied to one token (with its leading space) at a time,
    which is why only the one-character rules ever fire.

    >>> _cleanup(" ."), _cleanup(" ,"), _cleanup(" '")
    ('.', ',', " '")
    """
    for dirty, clean in _CLEANUPS:
        token = token.replace(dirty, clean)
    return token


_CLEANUPS = (
    (" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"),
    (" 'm", "'m"), (" do not", " don't"), (" 's", "'s"), (" 've", "'ve"), (" 're", "'re"),
)  # fmt: skip
