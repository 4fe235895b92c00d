"""Learning a WordPiece vocabulary: byte-pair-style merges with ``##`` continuation pieces.

Google never published BERT's WordPiece trainer (it picks merges by how much they raise a language
model's likelihood). Hugging Face's ``WordPieceTrainer``, implemented here, learns the vocabulary
the way BPE does (Sennrich et al. 2016) and only marks the pieces inside a word with ``##``:

1. **Count words.** Normalize and pre-tokenize every text exactly as encoding will
   (``bert_text.py``) and count each distinct word.
2. **Start the vocabulary** with the special tokens, then the alphabet: every character seen,
   in code point order. With ``limit_alphabet``, only that many of the most frequent characters
   are kept; the others are left out of the words altogether.
3. **Split each word into characters**, the first as is, each later one with the ``##`` prefix
   (``low`` -> ``l ##o ##w``); each new ``##c`` joins the vocabulary.
4. **Merge, repeatedly**, the adjacent pair that occurs most often over all words (ties: the pair
   of smallest ids), into one new token: ``l`` + ``##o`` -> ``lo``, ``##o`` + ``##w`` -> ``##ow``
   (the second part loses its ``##``). Stop at ``vocab_size`` tokens, or when the best pair is
   rarer than ``min_frequency``, or when every word is a single token.

Pair counts are kept up to date instead of recounted: a merge only changes the words that
contain the pair (``where`` says which), so only their pairs are recounted. A heap yields the most
frequent pair; an entry whose count has changed since it was pushed is skipped (a fresh entry was
pushed when the count changed).

Every character of a training word (of the kept alphabet) is in the vocabulary, at its position
(first, or ``##`` inside), so every training word encodes without ``[UNK]``.

Read next: ``wordpiece.py`` (encoding with the vocabulary).
"""

from __future__ import annotations

import heapq
import itertools
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence

from minillm.tokenizers.bert_text import BertNormalizer, BertPreTokenizer

Pair = tuple[int, int]


def count_words(texts: Iterable[str], normalizer: BertNormalizer) -> Counter[str]:
    """Each distinct pre-tokenized word of ``texts`` and how often it occurs.

    >>> count_words(["Hi, hi!"], BertNormalizer())
    Counter({'hi': 2, ',': 1, '!': 1})
    """
    pre_tokenizer = BertPreTokenizer()
    counts: Counter[str] = Counter()
    for text in texts:
        normalized = normalizer.normalize_str(text)
        counts.update(normalized[a:b] for a, b in pre_tokenizer.spans(normalized))
    return counts


def _pairs(word: list[int]) -> Counter[Pair]:
    """The adjacent pairs of a word's token ids, with their counts.

    >>> _pairs([1, 2, 1, 2])
    Counter({(1, 2): 2, (2, 1): 1})
    """
    return Counter(itertools.pairwise(word))


def _merge(word: list[int], pair: Pair, new_id: int) -> list[int]:
    """Replace each occurrence of ``pair`` in ``word``, left to right, by ``new_id``.

    >>> _merge([1, 1, 1, 2], (1, 1), 9)
    [9, 1, 2]
    """
    out: list[int] = []
    i = 0
    while i < len(word):
        if i + 1 < len(word) and (word[i], word[i + 1]) == pair:
            out.append(new_id)
            i += 2
        else:
            out.append(word[i])
            i += 1
    return out


def train_wordpiece(
    texts: Iterable[str],
    vocab_size: int,
    normalizer: BertNormalizer | None = None,
    min_frequency: int = 0,
    limit_alphabet: int | None = None,
    special_tokens: Sequence[str] = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"),
    prefix: str = "##",
) -> list[str]:
    """Learn a WordPiece vocabulary from ``texts`` (the algorithm is in the module docstring).

    Args:
        texts: The training texts.
        vocab_size: The most tokens to learn (special tokens and alphabet included; the alphabet
            and ``##`` characters are always kept, so the result can be larger when ``vocab_size``
            is smaller than they are).
        normalizer: Applied before splitting into words; BERT's uncased default if None.
        min_frequency: Stop when the most frequent pair occurs fewer times than this.
        limit_alphabet: Keep at most this many characters (the most frequent); None keeps all.
        special_tokens: Tokens given the first ids, in this order.
        prefix: Marks a piece that continues a word.

    Returns:
        The vocabulary in id order.

    Raises:
        ValueError: ``vocab_size`` or ``min_frequency`` is negative, or a special token repeats.

    >>> train_wordpiece(["ab ab abc"], vocab_size=11, special_tokens=["[UNK]"])
    ['[UNK]', 'a', 'b', 'c', '##b', '##c', 'ab', 'abc']
    """
    if vocab_size < 0 or min_frequency < 0:
        raise ValueError(f"vocab_size={vocab_size} and min_frequency={min_frequency} must be >= 0")
    if len(set(special_tokens)) != len(special_tokens):
        raise ValueError(f"special_tokens {list(special_tokens)} lists a token twice")
    word_counts = count_words(texts, normalizer or BertNormalizer())

    # 1-2. Special tokens, then the alphabet (the most frequent characters, in code point order).
    vocab: list[str] = list(special_tokens)
    ids = {token: i for i, token in enumerate(vocab)}

    def add(token: str) -> int:
        if token not in ids:
            ids[token] = len(vocab)
            vocab.append(token)
        return ids[token]

    char_counts: Counter[str] = Counter()
    for word, count in word_counts.items():
        for ch in word:
            char_counts[ch] += count
    alphabet = sorted(char_counts, key=lambda ch: (-char_counts[ch], ch))[:limit_alphabet]
    for ch in sorted(alphabet):
        add(ch)
    kept = set(alphabet)

    # 3. Words as lists of ids: the first character plain, the others with the prefix. A character
    # outside the kept alphabet is dropped, but the prefix goes by its place in the whole word (as
    # Hugging Face's trainer does): the second letter stays a continuation if the first is dropped.
    words: list[list[int]] = []
    freqs: list[int] = []
    for word, count in word_counts.items():
        pieces = [add(ch if k == 0 else prefix + ch) for k, ch in enumerate(word) if ch in kept]
        if pieces:
            words.append(pieces)
            freqs.append(count)

    # 4. Merges, with pair counts kept up to date.
    pair_counts: Counter[Pair] = Counter()
    where: defaultdict[Pair, set[int]] = defaultdict(set)
    for w, word in enumerate(words):
        for pair, n in _pairs(word).items():
            pair_counts[pair] += n * freqs[w]
            where[pair].add(w)
    heap = [(-count, pair) for pair, count in pair_counts.items()]
    heapq.heapify(heap)
    while len(vocab) < vocab_size and heap:
        negative_count, pair = heapq.heappop(heap)
        if -negative_count != pair_counts[pair]:
            continue  # stale: the pair's count changed, and its current entry is in the heap
        if -negative_count < max(min_frequency, 1):
            break
        right = vocab[pair[1]]
        new_id = add(vocab[pair[0]] + (right[len(prefix) :] if right.startswith(prefix) else right))
        changed: set[Pair] = set()
        for w in sorted(where.pop(pair)):
            old, new = _pairs(words[w]), _pairs(_merge(words[w], pair, new_id))
            words[w] = _merge(words[w], pair, new_id)
            for p in old.keys() | new.keys():
                delta = (new[p] - old[p]) * freqs[w]
                if delta:
                    pair_counts[p] += delta
                    changed.add(p)
                if new[p]:
                    where[p].add(w)
        for p in changed:
            if pair_counts[p] > 0:
                heapq.heappush(heap, (-pair_counts[p], p))
    return vocab
