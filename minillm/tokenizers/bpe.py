"""Byte-level byte-pair encoding (BPE), the tokenizer of GPT-2 and its successors.

The algorithm (Sennrich et al. 2016, "Neural Machine Translation of Rare Words with Subword Units";
byte-level as in GPT-2, Radford et al. 2019):

1. **Bytes.** Text is UTF-8 encoded, and the 256 byte values are the starting vocabulary (ids
   0-255). Any string at all can be encoded, so there is no "unknown token": an emoji is simply
   4 bytes.
2. **Pre-split.** A regular expression first cuts the text into chunks: contractions (``'s``),
   words with their leading space (`` world``), numbers of up to three digits, punctuation runs and
   whitespace runs. Merges never cross a chunk boundary, so a token never glues the end of one word
   to the start of the next (``"dog."`` and ``"dog!"`` share the token ``"dog"``).
3. **Training** repeats: find the adjacent pair of tokens that occurs most often in the corpus,
   give it a new id ``256 + k`` (the k-th merge) and replace it everywhere. ``vocab_size - 256``
   merges (less the special tokens) give the final vocabulary.
4. **Encoding** replays the merges on new text: within each chunk, apply the earliest-learned merge
   that is present, then the next, until no learned pair is left. **Decoding** concatenates each
   token's bytes and decodes UTF-8 (``errors="replace"``: a cut through a multi-byte character
   shows as U+FFFD instead of failing).

**Why training takes seconds, not minutes.** Recounting every pair after every merge costs
(corpus length x merges). Instead: (a) the corpus is reduced to its *distinct* chunks with their
frequencies (0.5 MB of prose is about 100,000 chunks but only ~7,000 distinct ones); (b) pair counts
are kept up to date incrementally: an index ``pair -> chunks containing it`` says which few chunks a
merge touches, and only their pairs' counts change; (c) a heap with lazy deletion yields the most
frequent pair without scanning all counts. Ties go to the most frequent pair, then the smallest
``(left id, right id)``, so training is deterministic.

**Special tokens** (``<|endoftext|>``) get the ids after the merges. Like tiktoken, ``encode``
refuses text containing a special token unless told it is allowed: text from users must not be
able to inject a document boundary by typing one.

Read next: ``minillm/data/`` turns a tokenized corpus into training windows.
"""

from __future__ import annotations

import heapq
import itertools
from collections import Counter, defaultdict
from collections.abc import Collection, Iterable, Sequence
from typing import Any, ClassVar

import regex

from minillm.tokenizers.base import Tokenizer, TokenizerFileError, check_ids, field

# The pre-split pattern, one alternative per kind of chunk, tried left to right at each position.
# It follows the shape of GPT-4's pattern. \p{L} is any letter, \p{N} any digit, in any script.
# The possessive forms (?+, ++) never give back what they matched, which keeps matching linear.
_CHUNK_KINDS = (
    r"'(?i:[sdmt]|ll|ve|re)",  # an English contraction: 's 'd 'm 't 'll 've 're
    r"[^\r\n\p{L}\p{N}]?+\p{L}+",  # a word, with the one space/symbol before it (" world")
    r"\p{N}{1,3}",  # a number, at most three digits at a time ("2024" -> "202" "4")
    r" ?[^\s\p{L}\p{N}]++[\r\n]*",  # a punctuation run, with a space before and newlines after
    r"\s*[\r\n]",  # whitespace that ends in a line break
    r"\s+(?!\S)",  # a whitespace run, leaving its last space to prefix the next word
    r"\s+",  # any other whitespace (at the end of the text)
)
SPLIT_PATTERN = "|".join(_CHUNK_KINDS)

Pair = tuple[int, int]

# Encoding caches each distinct chunk's ids; past this many entries the cache starts afresh, so
# encoding an endless stream of distinct chunks cannot grow memory without bound.
_CACHE_LIMIT = 1 << 16


def _merge(ids: list[int], pair: Pair, new_id: int) -> list[int]:
    """Replace each occurrence of ``pair`` in ``ids``, left to right, by ``new_id``.

    >>> _merge([1, 1, 1, 2, 1, 1], (1, 1), 9)  # an overlapping run merges from the left
    [9, 1, 2, 9]
    """
    a, b = pair
    out: list[int] = []
    i, n = 0, len(ids)
    while i < n:
        if ids[i] == a and i + 1 < n and ids[i + 1] == b:
            out.append(new_id)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out


def _pop_most_frequent(heap: list[tuple[int, Pair]], counts: dict[Pair, int]) -> tuple[Pair, int]:
    """Pop the most frequent pair (ties: the smallest pair) from a lazily updated heap.

    Each time a pair's count changes, a fresh ``(-count, pair)`` entry is pushed and the old one is
    left behind: it is recognized as stale here, when its count no longer matches, and dropped.
    Returns ``((-1, -1), 0)`` when no pair is left.
    """
    while heap:
        negative_count, pair = heapq.heappop(heap)
        if counts.get(pair, 0) == -negative_count:
            return pair, -negative_count
    return (-1, -1), 0


def _learn_merges(chunk_counts: Counter[str], num_merges: int, verbose: bool) -> list[Pair]:
    """Learn up to ``num_merges`` merges from distinct chunks and their frequencies.

    Args:
        chunk_counts: Each distinct pre-split chunk and how often it occurs.
        num_merges: How many merges to learn; fewer if the chunks run out of pairs.
        verbose: Print each merge as it is learned.

    Returns:
        The merges in the order learned; merge ``k`` creates token ``256 + k``.
    """
    # A "word" is one distinct chunk as a list of token ids; words[w] occurs freqs[w] times.
    words = [list(chunk.encode("utf-8")) for chunk in chunk_counts]
    freqs = list(chunk_counts.values())
    counts: dict[Pair, int] = defaultdict(int)  # pair -> occurrences in the whole corpus
    where: dict[Pair, set[int]] = defaultdict(set)  # pair -> the words that contain it
    for w, word in enumerate(words):
        for pair in itertools.pairwise(word):
            counts[pair] += freqs[w]
            where[pair].add(w)
    heap = [(-count, pair) for pair, count in counts.items()]
    heapq.heapify(heap)
    token_bytes = [bytes([b]) for b in range(256)]  # only for the verbose printout

    merges: list[Pair] = []
    while len(merges) < num_merges:
        pair, count = _pop_most_frequent(heap, counts)
        if count == 0:
            break  # every chunk is a single token: nothing is left to merge
        new_id = 256 + len(merges)
        merges.append(pair)
        token_bytes.append(token_bytes[pair[0]] + token_bytes[pair[1]])
        if verbose:
            shown = token_bytes[-1]
            print(f"merge {len(merges)}/{num_merges}: {pair} -> {new_id} {shown!r} x{count}")

        # Rewrite only the words that contain the pair. Each one's old pairs stop counting and its
        # new pairs start: e.g. merging (a, b) -> Z in "x a b y" removes (x, a), (a, b), (b, y)
        # and adds (x, Z), (Z, y). Pairs far from the merge cancel out in `change`.
        change: Counter[Pair] = Counter()
        for w in where.pop(pair):
            old, f = words[w], freqs[w]
            new = words[w] = _merge(old, pair, new_id)
            old_pairs, new_pairs = list(itertools.pairwise(old)), list(itertools.pairwise(new))
            for p in old_pairs:
                change[p] -= f
            for p in new_pairs:
                change[p] += f
            # Keep the index exact. (A stale entry would be harmless, since merging a word that
            # lacks the pair changes nothing, but it would cost time in a later merge.)
            for p in set(old_pairs).difference(new_pairs):
                if p in where:  # the merged pair's own entry is already gone
                    where[p].discard(w)
            for p in set(new_pairs).difference(old_pairs):
                where[p].add(w)
        for p, delta in change.items():
            if delta == 0:
                continue
            new_count = counts.get(p, 0) + delta
            if new_count > 0:
                counts[p] = new_count
                heapq.heappush(heap, (-new_count, p))
            else:  # no occurrence left (the merged pair itself always ends here)
                del counts[p]
                where.pop(p, None)
    return merges


class ByteLevelBPETokenizer(Tokenizer):
    """Byte-level BPE with a regex pre-split and tiktoken-style special tokens.

    Args:
        merges: The learned merges in order; merge ``k`` joins the pair of ids into id ``256 + k``.
        special_tokens: Strings that get one id each, after the merges, in the given order.
        pattern: The pre-split regular expression (``regex`` module syntax).

    >>> tok = ByteLevelBPETokenizer.train("aaabdaaabac", vocab_size=256 + 3)
    >>> tok.merges  # "aa" -> 256, then "ab" -> 257, then (256, 257) "aaab" -> 258
    [(97, 97), (97, 98), (256, 257)]
    >>> tok.encode("aaabdaaabac")  # "XdXac" in the Wikipedia example
    [258, 100, 258, 97, 99]
    >>> tok.decode([258, 100])
    'aaabd'
    """

    type_name: ClassVar[str] = "byte_level_bpe"

    def __init__(
        self,
        merges: Sequence[Sequence[int]] = (),
        special_tokens: Sequence[str] = (),
        pattern: str = SPLIT_PATTERN,
    ) -> None:
        self._merges: list[Pair] = []
        self._token_bytes = [bytes([b]) for b in range(256)]  # id -> the bytes it stands for
        for k, merge in enumerate(merges):
            new_id = 256 + k
            if (
                len(merge) != 2
                or not all(isinstance(i, int) and not isinstance(i, bool) for i in merge)
                or not all(0 <= i < new_id for i in merge)
            ):
                raise ValueError(
                    f"merge {k} is {list(merge)!r}: it must be two ids, each an existing token "
                    f"(0 to {new_id - 1})"
                )
            a, b = merge
            self._merges.append((a, b))
            self._token_bytes.append(self._token_bytes[a] + self._token_bytes[b])
        # Earlier merges have smaller new ids, so the new id doubles as the merge's rank.
        self._new_id = {pair: 256 + k for k, pair in enumerate(self._merges)}

        self._special: dict[str, int] = {}
        for s in special_tokens:
            if not isinstance(s, str) or not s:
                raise ValueError(f"special token {s!r} must be a non-empty string")
            if s in self._special:
                raise ValueError(f"special token {s!r} is listed twice")
            self._special[s] = len(self._token_bytes)
            self._token_bytes.append(s.encode("utf-8"))

        self._pattern = pattern
        self._splitter = regex.compile(pattern)
        self._cache: dict[str, tuple[int, ...]] = {}

    # ----------------------------------------------------------------------------------- training
    @classmethod
    def train(
        cls,
        text: str,
        vocab_size: int,
        special_tokens: Sequence[str] = (),
        verbose: bool = False,
        pattern: str = SPLIT_PATTERN,
    ) -> ByteLevelBPETokenizer:
        """Learn merges from ``text`` until the vocabulary has ``vocab_size`` tokens.

        A classmethod: it returns a new tokenizer (``tok = ByteLevelBPETokenizer.train(...)``).

        Special tokens found in ``text`` are cut out before counting, so no merge is learned across
        or from them. If the text runs out of pairs first, training stops early and ``vocab_size``
        of the result is smaller than asked.

        Args:
            text: The training corpus.
            vocab_size: The total vocabulary: 256 bytes + merges + special tokens.
            special_tokens: Strings such as ``"<|endoftext|>"`` that get one id each.
            verbose: Print each merge as it is learned.
            pattern: The pre-split regular expression.

        Returns:
            The trained tokenizer.

        >>> tok = ByteLevelBPETokenizer.train("low lower lowest", 260, special_tokens=["<|eot|>"])
        >>> [tok.decode([i]) for i in range(256, tok.vocab_size)]
        ['lo', 'low', ' low', '<|eot|>']
        """
        num_merges = vocab_size - 256 - len(special_tokens)
        if num_merges < 0:
            raise ValueError(
                f"vocab_size={vocab_size} is too small: it must hold the 256 byte tokens and "
                f"{len(special_tokens)} special tokens"
            )
        splitter = regex.compile(pattern)
        chunk_counts: Counter[str] = Counter()
        for piece in _split_off_specials(text, special_tokens):
            chunk_counts.update(_split(splitter, piece))
        merges = _learn_merges(chunk_counts, num_merges, verbose)
        if verbose and len(merges) < num_merges:
            print(f"stopped after {len(merges)} merges: no pair occurs in the text any more")
        return cls(merges, special_tokens, pattern)

    # ----------------------------------------------------------------------------------- encoding
    def encode(self, text: str, allowed_special: str | Collection[str] = "none_raise") -> list[int]:
        """Encode ``text`` to token ids.

        Args:
            text: Any string (lone surrogates excepted: they have no UTF-8 form).
            allowed_special: Which special tokens in ``text`` become their ids. ``"none_raise"``
                (the default): none, and finding one is an error. ``"all"``: every one. A set of
                tokens: those, and finding any other is an error. ``"none"``: none; special tokens
                are encoded as the ordinary text they are.

        Returns:
            The ids, each below ``vocab_size``.

        Raises:
            ValueError: A special token that is not allowed appears (the message names it and its
                position), or ``text`` holds a lone surrogate.

        >>> tok = ByteLevelBPETokenizer(special_tokens=["<|end|>"])
        >>> tok.encode("hi<|end|>", allowed_special="all")
        [104, 105, 256]
        """
        allowed = self._allowed_specials(allowed_special)
        if allowed_special != "none":
            # Report the first forbidden special token in the text, whichever it is.
            found = [(text.find(s), s) for s in self._special if s not in allowed and s in text]
            if found:
                position, s = min(found)
                raise ValueError(
                    f"special token {s!r} appears at position {position} of the text but is "
                    "not allowed: pass allowed_special='all' (or a set naming it) to encode it "
                    f"as id {self._special[s]}, or allowed_special='none' to encode it as text"
                )
        ids: list[int] = []
        for piece in _split_off_specials(text, allowed, keep_specials=True):
            if piece in allowed:
                ids.append(self._special[piece])
            else:
                ids.extend(self.encode_ordinary(piece))
        return ids

    def encode_ordinary(self, text: str) -> list[int]:
        """Encode ``text`` with no special-token handling at all (they are just text).

        >>> ByteLevelBPETokenizer().encode_ordinary("hi!")
        [104, 105, 33]
        """
        cache = self._cache
        ids: list[int] = []
        for chunk in _split(self._splitter, text):
            chunk_ids = cache.get(chunk)
            if chunk_ids is None:
                if len(cache) >= _CACHE_LIMIT:
                    cache.clear()
                chunk_ids = cache[chunk] = tuple(self._encode_chunk(chunk))
            ids.extend(chunk_ids)
        return ids

    def _encode_chunk(self, chunk: str) -> list[int]:
        """Apply the learned merges to one pre-split chunk, earliest-learned first."""
        try:
            ids = list(chunk.encode("utf-8"))
        except UnicodeEncodeError as e:
            raise ValueError(
                f"the text holds the lone surrogate {chunk[e.start]!r}, which has no UTF-8 form "
                f"(it is character {e.start} of the chunk {chunk!r})"
            ) from None
        new_id = self._new_id
        while len(ids) >= 2:
            # The pair learned earliest is applied first, exactly as in training: any merge that
            # training applied before it would have been found here first. Unknown pairs rank last.
            pair = min(itertools.pairwise(ids), key=lambda p: new_id.get(p, 1 << 62))
            if pair not in new_id:
                break  # no adjacent pair was ever merged: the chunk is fully encoded
            ids = _merge(ids, pair, new_id[pair])
        return ids

    def _allowed_specials(self, allowed_special: str | Collection[str]) -> set[str]:
        if allowed_special == "all":
            return set(self._special)
        if allowed_special in ("none", "none_raise"):
            return set()
        if isinstance(allowed_special, str):
            raise ValueError(
                f"allowed_special={allowed_special!r}: expected 'all', 'none', 'none_raise' or a "
                "set of special tokens"
            )
        unknown = set(allowed_special) - self._special.keys()
        if unknown:
            raise ValueError(
                f"allowed_special names tokens that are not special: {sorted(unknown)}"
            )
        return set(allowed_special)

    # ----------------------------------------------------------------------------------- decoding
    def decode(self, ids: Iterable[int]) -> str:
        """Join the bytes of ``ids`` and decode them as UTF-8 (invalid sequences become U+FFFD).

        Raises:
            ValueError: An id is outside ``range(vocab_size)`` (the message gives it and its
                position).

        >>> ByteLevelBPETokenizer().decode([104, 105, 240, 159])  # half an emoji
        'hi�'
        """
        table = self._token_bytes
        return b"".join([table[i] for i in check_ids(ids, len(table))]).decode(
            "utf-8", errors="replace"
        )

    # ----------------------------------------------------------------------------- introspection
    @property
    def vocab_size(self) -> int:
        """256 byte tokens + one per merge + one per special token."""
        return len(self._token_bytes)

    @property
    def merges(self) -> list[Pair]:
        """The merges in the order learned (a copy); merge ``k`` creates id ``256 + k``."""
        return list(self._merges)

    @property
    def special_tokens(self) -> dict[str, int]:
        """Each special token and its id (a copy)."""
        return dict(self._special)

    @property
    def pattern(self) -> str:
        """The pre-split regular expression."""
        return self._pattern

    def token_bytes(self, token_id: int) -> bytes:
        """The bytes that ``token_id`` stands for.

        >>> ByteLevelBPETokenizer().token_bytes(65)
        b'A'
        """
        return self._token_bytes[check_ids([token_id], self.vocab_size)[0]]

    def __repr__(self) -> str:
        return (
            f"ByteLevelBPETokenizer(vocab_size={self.vocab_size}, merges={len(self._merges)}, "
            f"special_tokens={list(self._special)})"
        )

    # --------------------------------------------------------------------------------- save/load
    def to_dict(self) -> dict[str, Any]:
        """The merges as ordered ``[left, right]`` pairs, special tokens with ids, the pattern."""
        return {
            "pattern": self._pattern,
            "merges": [list(pair) for pair in self._merges],
            "special_tokens": dict(self._special),
        }

    @classmethod
    def _from_dict(cls, data: dict[str, Any], source: str) -> ByteLevelBPETokenizer:
        pattern = field(data, "pattern", str, source)
        merges = field(data, "merges", list, source)
        special = field(data, "special_tokens", dict, source)
        try:
            regex.compile(pattern)
        except regex.error as e:
            raise TokenizerFileError(f"{source}: field 'pattern' is not a regex: {e}") from None
        # Special ids follow the merges in order; anything else means the file was edited by hand
        # inconsistently, and silently renumbering would change what a trained model's ids mean.
        first = 256 + len(merges)
        for k, (s, token_id) in enumerate(sorted(special.items(), key=lambda item: item[1])):
            if token_id != first + k:
                raise TokenizerFileError(
                    f"{source}: special token {s!r} has id {token_id!r}, expected {first + k} "
                    "(special ids follow the merges: 256 + number of merges, then up by one)"
                )
        try:
            return cls(merges, sorted(special, key=special.__getitem__), pattern)
        except (ValueError, TypeError) as e:
            raise TokenizerFileError(f"{source}: {e}") from None


def _split(splitter: regex.Pattern[str], text: str) -> list[str]:
    """Pre-split ``text`` into chunks, checking that the pattern left no character out.

    A pattern that skips characters would make ``decode(encode(s)) != s``; the default pattern
    covers everything (its last alternatives take any whitespace; the others letters, digits and
    all the rest), but a custom one might not.
    """
    chunks = splitter.findall(text)
    if sum(map(len, chunks)) != len(text):
        raise ValueError(
            f"the pre-split pattern {splitter.pattern!r} does not cover every character of the "
            "text (or has capturing groups); BPE needs every character in some chunk"
        )
    return chunks


def _split_off_specials(
    text: str, specials: Collection[str], keep_specials: bool = False
) -> list[str]:
    """Cut ``text`` at occurrences of the special tokens.

    Returns the pieces between them, and (with ``keep_specials``) the tokens themselves in place.
    Longer tokens are tried first, so ``<|end|>`` wins over a special ``<|e``.

    >>> _split_off_specials("a<s>b<s>", ["<s>"], keep_specials=True)
    ['a', '<s>', 'b', '<s>']
    """
    if not specials:
        return [text] if text else []
    alternatives = "|".join(regex.escape(s) for s in sorted(specials, key=len, reverse=True))
    # A capturing group makes split() keep the separators, at the odd positions of the result.
    pieces = regex.split(f"({alternatives})", text)
    if not keep_specials:
        pieces = pieces[::2]
    return [p for p in pieces if p]
