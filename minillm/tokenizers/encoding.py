"""What happens after the WordPiece model: the ``Encoding``, BERT's template, truncation, padding.

A tokenized text here is :data:`Pieces`: its ids, token strings and character offsets. The
post-processor (:class:`BertTemplate`) wraps one or two of them in ``[CLS] A [SEP] (B [SEP])``
and records, for each position, which text it belongs to (``type_ids``) and whether it was added
(``special_tokens_mask``). For a batch, :func:`truncate` cuts texts so the result fits a length
("longest first", as Hugging Face's ``tokenizers`` does) and :func:`pad` makes every encoding as
long as the longest, with ``attention_mask`` 0 on the padding.

**Why an Encoding is a sequence of ints.** The :class:`~minillm.tokenizers.base.Tokenizer`
interface promises that ``encode(text)`` gives token ids; users of ``tokenizers`` expect an
object with ``.ids``, ``.tokens``, ``.offsets``, ``.type_ids`` and ``.attention_mask``.
:class:`Encoding` is both: a read-only sequence of its ids (``len``, indexing, iteration,
``list(enc)``, ``np.array(enc)``), so code written for the interface works unchanged, with the
other fields alongside. It is not a ``list``: compare ``enc.ids`` with a list, not ``enc``.

Read next: ``wordpiece.py`` (the tokenizer that produces these).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import overload

# One tokenized text: ids, token strings and (start, end) character offsets, position by position.
Pieces = tuple[list[int], list[str], list[tuple[int, int]]]

PADDING_CHOICES = ("longest", "max_length", "do_not_pad")


@dataclass
class Encoding(Sequence[int]):
    """One encoded text (or pair of texts): token ids, and what each position is.

    As a sequence it is its ids: ``len(enc)``, ``enc[0]`` and ``list(enc)`` all see ``enc.ids``.

    Attributes:
        ids: Token ids.
        tokens: The token strings (``"[CLS]"``, ``"hello"``, ``"##s"``).
        type_ids: 0 for the first text (with its ``[CLS]`` and ``[SEP]``), 1 for the second.
        attention_mask: 1 for real tokens, 0 for padding.
        offsets: ``(start, end)`` of each token in the text it came from, as character indices
            (into the second text, for the second part); ``(0, 0)`` for added tokens.
        special_tokens_mask: 1 where the template or padding added a token.

    >>> enc = Encoding([101, 7592, 102], ["[CLS]", "hello", "[SEP]"], [0, 0, 0], [1, 1, 1],
    ...                [(0, 0), (0, 5), (0, 0)], [1, 0, 1])
    >>> len(enc), enc[1], list(enc)
    (3, 7592, [101, 7592, 102])
    """

    ids: list[int]
    tokens: list[str]
    type_ids: list[int]
    attention_mask: list[int]
    offsets: list[tuple[int, int]]
    special_tokens_mask: list[int] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.ids)

    @overload
    def __getitem__(self, i: int) -> int: ...
    @overload
    def __getitem__(self, i: slice) -> list[int]: ...
    def __getitem__(self, i: int | slice) -> int | list[int]:
        return self.ids[i]

    def __iter__(self) -> Iterator[int]:
        return iter(self.ids)


@dataclass(frozen=True)
class BertTemplate:
    """BERT's post-processor: ``[CLS] A [SEP]``, or ``[CLS] A [SEP] B [SEP]`` for a pair.

    Type id 0 covers ``[CLS] A [SEP]``, type id 1 covers ``B [SEP]``.

    Args:
        cls: The ``[CLS]`` token and its id.
        sep: The ``[SEP]`` token and its id.

    >>> template = BertTemplate(("[CLS]", 101), ("[SEP]", 102))
    >>> enc = template.apply(([7592], ["hi"], [(0, 2)]), ([2017], ["you"], [(0, 3)]))
    >>> enc.tokens, enc.type_ids, enc.special_tokens_mask
    (['[CLS]', 'hi', '[SEP]', 'you', '[SEP]'], [0, 0, 0, 1, 1], [1, 0, 1, 0, 1])
    """

    cls: tuple[str, int]
    sep: tuple[str, int]

    @staticmethod
    def added_tokens(is_pair: bool) -> int:
        """How many tokens the template adds: 2 for one text, 3 for a pair."""
        return 3 if is_pair else 2

    def apply(self, first: Pieces, second: Pieces | None = None) -> Encoding:
        """Wrap one or two tokenized texts in the template."""
        enc = Encoding([], [], [], [], [], [])

        def add(pieces: Pieces, type_id: int, special: int) -> None:
            ids, tokens, offsets = pieces
            enc.ids.extend(ids)
            enc.tokens.extend(tokens)
            enc.offsets.extend(offsets)
            enc.type_ids.extend([type_id] * len(ids))
            enc.special_tokens_mask.extend([special] * len(ids))

        cls = ([self.cls[1]], [self.cls[0]], [(0, 0)])
        sep = ([self.sep[1]], [self.sep[0]], [(0, 0)])
        add(cls, 0, 1)
        add(first, 0, 0)
        add(sep, 0, 1)
        if second is not None:
            add(second, 1, 0)
            add(sep, 1, 1)
        enc.attention_mask = [1] * len(enc.ids)
        return enc


def truncate_pair_lengths(n1: int, n2: int, budget: int) -> tuple[int, int]:
    """How many tokens each of two texts keeps when together they must fit in ``budget``.

    "Longest first": the shorter text is kept whole if the longer can give up enough tokens;
    otherwise each keeps half (the second, or the longer, gets the odd one).

    >>> truncate_pair_lengths(3, 20, 10), truncate_pair_lengths(8, 8, 9)
    ((3, 7), (4, 5))
    >>> truncate_pair_lengths(9, 7, 9)
    (5, 4)
    """
    if n1 + n2 <= budget:
        return n1, n2
    short, long_ = sorted((n1, n2))
    long_ = short if short > budget else max(short, budget - short)
    if short + long_ > budget:
        short, long_ = budget // 2, budget // 2 + budget % 2
    return (long_, short) if n1 > n2 else (short, long_)


def truncate(first: Pieces, second: Pieces | None, max_length: int) -> tuple[Pieces, Pieces | None]:
    """Cut the end off one or two tokenized texts so that, with BERT's template, they fit in
    ``max_length`` tokens.

    >>> first = ([1, 2, 3], ["a", "b", "c"], [(0, 1), (1, 2), (2, 3)])
    >>> truncate(first, None, 4)[0]
    ([1, 2], ['a', 'b'], [(0, 1), (1, 2)])
    """
    if second is None:
        n = max_length - BertTemplate.added_tokens(False)
        return (first[0][:n], first[1][:n], first[2][:n]), None
    n1, n2 = truncate_pair_lengths(
        len(first[0]), len(second[0]), max_length - BertTemplate.added_tokens(True)
    )
    return (first[0][:n1], first[1][:n1], first[2][:n1]), (
        second[0][:n2],
        second[1][:n2],
        second[2][:n2],
    )


def pad(encodings: list[Encoding], width: int, pad_token: str, pad_id: int) -> None:
    """Append padding to each encoding shorter than ``width`` (in place): the pad token, type id
    0, attention mask 0, offsets ``(0, 0)``.

    >>> enc = BertTemplate(("[CLS]", 2), ("[SEP]", 3)).apply(([5], ["a"], [(0, 1)]))
    >>> pad([enc], 5, "[PAD]", 0)
    >>> enc.ids, enc.attention_mask
    ([2, 5, 3, 0, 0], [1, 1, 1, 0, 0])
    """
    for enc in encodings:
        n = width - len(enc)
        if n > 0:
            enc.ids += [pad_id] * n
            enc.tokens += [pad_token] * n
            enc.type_ids += [0] * n
            enc.attention_mask += [0] * n
            enc.offsets += [(0, 0)] * n
            enc.special_tokens_mask += [1] * n


def check_batch_options(
    padding: bool | str, truncation: bool, max_length: int, has_pairs: bool
) -> str:
    """Validate ``encode_batch``'s options; return the padding as one of ``PADDING_CHOICES``.

    True means ``"longest"`` and False ``"do_not_pad"``, as in ``transformers``.

    Raises:
        ValueError: An unknown padding, or a ``max_length`` with no room for the template.

    >>> check_batch_options(True, True, 8, False)
    'longest'
    >>> check_batch_options("longest", True, 1, False)
    Traceback (most recent call last):
    ...
    ValueError: max_length=1: must be an int of at least 2, room for the [CLS] and [SEP] tokens
    """
    if padding is True:
        padding = "longest"
    elif padding is False:
        padding = "do_not_pad"
    if not isinstance(padding, str) or padding not in PADDING_CHOICES:
        raise ValueError(
            f"padding={padding!r}: expected 'longest' (or True), 'max_length' or "
            "'do_not_pad' (or False)"
        )
    if not isinstance(truncation, bool):
        raise ValueError(f"truncation={truncation!r}: expected True or False")
    least = BertTemplate.added_tokens(has_pairs)
    if (truncation or padding == "max_length") and (
        isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < least
    ):
        raise ValueError(
            f"max_length={max_length!r}: must be an int of at least {least}, room for the "
            "[CLS] and [SEP] tokens"
        )
    return padding
