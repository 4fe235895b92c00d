"""Data augmentation for text: more training examples from the ones there are, seeded.

EDA ("Easy Data Augmentation", Wei & Zou 2019) makes new sentences with four word operations,
each changing about ``alpha * len(words)`` words (at least one):

    synonym replacement   n words that are not stopwords each replaced by a random synonym
    random insertion      n times, a synonym of a random word inserted at a random position
    random swap           n times, two random words swap places
    random deletion       each word deleted with probability p

For character noise, ``keyboard_typos`` swaps a letter for a QWERTY neighbour, drops it, doubles
in a neighbour or transposes it with the next one. For language-model data, ``random_crop`` takes
a random window of token ids and ``span_mask`` hides random spans (SpanBERT's geometric span
lengths, mean 3, at most 10) behind a mask id until about ``ratio`` of the tokens are hidden.

Back-off rules, which the tests check:
* special tokens (placeholders like ``[URL]`` or ``[MASK]``, and ``<eos>``-style tags, or the
  ``special_ids`` of a mask) are never replaced, moved, deleted, misspelled or masked;
* random deletion never deletes every word: if every candidate drew "delete", one stays;
* an operation with nothing to work on (no word with a synonym, fewer than two words to swap)
  returns the words unchanged and says so in ``explain``;
* a typo never empties a word.

Every function takes ``seed``: an int (the same int, the same output), a NumPy Generator, or None
(minillm's generator, so ``minillm.manual_seed`` makes a run reproducible). Words in, words out:
a string is split on whitespace and joined back with single spaces; a list stays a list.
``explain(text, seed)`` runs each operation once and shows what it changed.

Read next: ``splits.py`` (splitting text without leaks).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import regex

from minillm.random import generator
from minillm.text.markup import PLACEHOLDER
from minillm.text.stopwords import ENGLISH_STOP_WORDS
from minillm.text.synonyms import synonyms as builtin_synonyms

SPECIAL = regex.compile(rf"{PLACEHOLDER}|<\|?[\w-]+\|?>|</?[a-z]+>")
Synonyms = Callable[[str], Sequence[str]]


def is_special(word: str) -> bool:
    """``[MASK]``, ``[URL]``, ``<eos>``, ``<|endoftext|>``: never touched by an augmenter."""
    return SPECIAL.fullmatch(word) is not None


def rng_of(seed: int | np.random.Generator | None) -> np.random.Generator:
    if seed is None:
        return generator()
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
        return np.random.default_rng(int(seed))
    raise TypeError(f"seed must be an int, a numpy Generator or None, got {seed!r}")


@dataclass
class Augmented:
    """The words after an operation, and a line for each change it made."""

    words: list[str]
    changes: list[str] = field(default_factory=list)


def _count(alpha: float, n_words: int) -> int:
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    return max(1, int(alpha * n_words)) if alpha > 0 else 0


def _free(words: list[str]) -> list[int]:
    return [i for i, w in enumerate(words) if not is_special(w)]


def _content(words: list[str], stopwords: Iterable[str], lookup: Synonyms) -> list[int]:
    stop = set(stopwords)
    return [i for i in _free(words) if words[i].lower() not in stop and lookup(words[i])]


def _synonym_replacement(words: list[str], n: int, rng: np.random.Generator,
                         lookup: Synonyms, stopwords: Iterable[str]) -> Augmented:  # fmt: skip
    candidates = _content(words, stopwords, lookup)
    if not candidates:
        return Augmented(list(words), ["no word has a synonym: unchanged"])
    out, changes = list(words), []
    for i in rng.permutation(candidates)[:n]:
        options = lookup(words[i])
        new = options[rng.integers(len(options))]
        out[i] = new
        changes.append(f"word {i}: {words[i]!r} -> {new!r}")
    return Augmented(out, changes)


def _random_insertion(words: list[str], n: int, rng: np.random.Generator,
                      lookup: Synonyms, stopwords: Iterable[str]) -> Augmented:  # fmt: skip
    out, changes = list(words), []
    for _ in range(n):
        candidates = _content(out, stopwords, lookup)
        if not candidates:
            return Augmented(out, changes or ["no word has a synonym: unchanged"])
        source = out[candidates[rng.integers(len(candidates))]]
        options = lookup(source)
        new, at = options[rng.integers(len(options))], int(rng.integers(len(out) + 1))
        out.insert(at, new)
        changes.append(f"inserted {new!r} (a synonym of {source!r}) at {at}")
    return Augmented(out, changes)


def _random_swap(words: list[str], n: int, rng: np.random.Generator) -> Augmented:
    free = _free(words)
    if len(free) < 2:
        return Augmented(list(words), ["fewer than two words to swap: unchanged"])
    out, changes = list(words), []
    for _ in range(n):
        i, j = rng.choice(free, size=2, replace=False)
        out[i], out[j] = out[j], out[i]
        changes.append(f"swapped words {min(i, j)} and {max(i, j)}")
    return Augmented(out, changes)


def _random_deletion(words: list[str], p: float, rng: np.random.Generator) -> Augmented:
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p must be in [0, 1], got {p}")
    free = _free(words)
    if len(free) <= 1:
        return Augmented(list(words), ["one word or none to delete from: unchanged"])
    drop = {i for i, d in zip(free, rng.random(len(free)) < p) if d}
    if len(drop) == len(free):  # never delete every word
        drop.discard(free[rng.integers(len(free))])
    changes = [f"deleted word {i}: {words[i]!r}" for i in sorted(drop)]
    return Augmented([w for i, w in enumerate(words) if i not in drop], changes)


_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")


def _neighbours() -> dict[str, str]:
    """Each letter's neighbours on a QWERTY keyboard (left, right, and the rows above/below)."""
    where = {c: (r, k) for r, row in enumerate(_ROWS) for k, c in enumerate(row)}
    out = {}
    for c, (r, k) in where.items():
        near = [d for d, (r2, k2) in where.items()
                if d != c and abs(r2 - r) <= 1 and abs(k2 - k) <= 1]  # fmt: skip
        out[c] = "".join(sorted(near))
    return out


NEIGHBOURS = _neighbours()


def _neighbour(c: str, rng: np.random.Generator) -> str:
    near = NEIGHBOURS[c.lower()]
    new = near[rng.integers(len(near))]
    return new.upper() if c.isupper() else new


def _typo_word(word: str, p: float, rng: np.random.Generator) -> str:
    chars, i = list(word), 0
    while i < len(chars):
        c = chars[i]
        if c.lower() in NEIGHBOURS and rng.random() < p:
            kind = rng.integers(4)
            if kind == 0:
                chars[i] = _neighbour(c, rng)
            elif kind == 1 and len(chars) > 1:  # never empty a word
                del chars[i]
                continue
            elif kind == 2:
                chars.insert(i + 1, _neighbour(c, rng))
                i += 1
            elif kind == 3 and i + 1 < len(chars):
                chars[i], chars[i + 1] = chars[i + 1], chars[i]
                i += 1
        i += 1
    return "".join(chars)


def _keyboard_typos(words: list[str], p: float, rng: np.random.Generator) -> Augmented:
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p must be in [0, 1], got {p}")
    out = [w if is_special(w) else _typo_word(w, p, rng) for w in words]
    changes = [f"word {i}: {a!r} -> {b!r}" for i, (a, b) in enumerate(zip(words, out)) if a != b]
    return Augmented(out, changes)


# -- the public forms: words (a list, or a string split on whitespace) in, the same kind out --
def _words_of(text: str | Sequence[str]) -> list[str]:
    return text.split() if isinstance(text, str) else list(text)


def _like(text: str | Sequence[str], words: list[str]) -> Any:
    return " ".join(words) if isinstance(text, str) else words


def synonym_replacement(text: Any, alpha: float = 0.1, seed: Any = None, *,
                        synonyms: Synonyms = builtin_synonyms,
                        stopwords: Iterable[str] = ENGLISH_STOP_WORDS) -> Any:  # fmt: skip
    """Replace ``max(1, alpha * len)`` non-stopwords by a random synonym each.

    >>> synonym_replacement("a quick test of the big idea", alpha=0.3, seed=0)
    'a fast test of the huge idea'
    """
    words = _words_of(text)
    n = _count(alpha, len(words))
    return _like(text, _synonym_replacement(words, n, rng_of(seed), synonyms, stopwords).words)


def random_insertion(text: Any, alpha: float = 0.1, seed: Any = None, *,
                     synonyms: Synonyms = builtin_synonyms,
                     stopwords: Iterable[str] = ENGLISH_STOP_WORDS) -> Any:  # fmt: skip
    """Insert a synonym of a random word at a random position, ``max(1, alpha * len)`` times.

    >>> random_insertion("a quick test", seed=0)
    'a quick inspect test'
    """
    words = _words_of(text)
    n = _count(alpha, len(words))
    return _like(text, _random_insertion(words, n, rng_of(seed), synonyms, stopwords).words)


def random_swap(text: Any, alpha: float = 0.1, seed: Any = None) -> Any:
    """Swap two random words, ``max(1, alpha * len)`` times; special tokens stay in place.

    >>> random_swap("one two [MASK] three", seed=1)
    'two one [MASK] three'
    """
    words = _words_of(text)
    return _like(text, _random_swap(words, _count(alpha, len(words)), rng_of(seed)).words)


def random_deletion(text: Any, p: float = 0.1, seed: Any = None) -> Any:
    """Delete each word with probability ``p``, never a special token and never every word.

    >>> random_deletion("every word may go", p=1.0, seed=0)
    'every'
    """
    return _like(text, _random_deletion(_words_of(text), p, rng_of(seed)).words)


def keyboard_typos(text: Any, p: float = 0.05, seed: Any = None) -> Any:
    """Misspell letters with probability ``p`` each, as a hurried typist would.

    >>> keyboard_typos("the quick brown fox", p=0.2, seed=0)
    'thd quick brnw fpx'
    """
    return _like(text, _keyboard_typos(_words_of(text), p, rng_of(seed)).words)


def eda(text: str | Sequence[str], num_aug: int = 4, *, alpha_sr: float = 0.1,
        alpha_ri: float = 0.1, alpha_rs: float = 0.1, p_rd: float = 0.1, seed: Any = None,
        synonyms: Synonyms = builtin_synonyms) -> list[Any]:  # fmt: skip
    """``num_aug`` new versions of ``text``, each made by one of EDA's four operations (taking
    turns in a shuffled order); the original is not among them.

    >>> eda("the quick test shows a big change", num_aug=2, seed=0)
    ['the quick test shows a huge change', 'fast the quick test shows a big change']
    """
    if num_aug < 0:
        raise ValueError(f"num_aug must be >= 0, got {num_aug}")
    rng, words = rng_of(seed), _words_of(text)
    stop, n = ENGLISH_STOP_WORDS, len(words)
    ops = [
        lambda: _synonym_replacement(words, _count(alpha_sr, n), rng, synonyms, stop),
        lambda: _random_insertion(words, _count(alpha_ri, n), rng, synonyms, stop),
        lambda: _random_swap(words, _count(alpha_rs, n), rng),
        lambda: _random_deletion(words, p_rd, rng),
    ]
    order = [int(k) for k in rng.permutation(np.arange(num_aug) % len(ops))]
    return [_like(text, ops[k]().words) for k in order]


def explain(text: str, seed: Any = 0, *, alpha: float = 0.2, p_delete: float = 0.2,
            p_typo: float = 0.05) -> str:  # fmt: skip
    """Each operation run once on ``text`` (one seed for all), with the changes it made.

    >>> print(explain("keep [URL] but change the big idea", seed=3))
    input                'keep [URL] but change the big idea'
    synonym_replacement  'keep [URL] but change the big concept'
                           word 6: 'idea' -> 'concept'
    random_insertion     'keep [URL] but change notion the big idea'
                           inserted 'notion' (a synonym of 'idea') at 4
    random_swap          'idea [URL] but change the big keep'
                           swapped words 0 and 6
    random_deletion      'keep [URL] change big idea'
                           deleted word 2: 'but'
                           deleted word 4: 'the'
    keyboard_typos       'keep [URL] but cange the ig idea'
                           word 3: 'change' -> 'cange'
                           word 5: 'big' -> 'ig'
    """
    rng, words = rng_of(seed), _words_of(text)
    n, stop = _count(alpha, len(words)), ENGLISH_STOP_WORDS
    results = {
        "synonym_replacement": _synonym_replacement(words, n, rng, builtin_synonyms, stop),
        "random_insertion": _random_insertion(words, n, rng, builtin_synonyms, stop),
        "random_swap": _random_swap(words, n, rng),
        "random_deletion": _random_deletion(words, p_delete, rng),
        "keyboard_typos": _keyboard_typos(words, p_typo, rng),
    }
    width = max(map(len, results)) + 2
    lines = [f"{'input':<{width}}{' '.join(words)!r}"]
    for name, result in results.items():
        lines.append(f"{name:<{width}}{' '.join(result.words)!r}")
        lines += [" " * (width + 2) + change for change in result.changes]
    return "\n".join(lines)


def random_crop(ids: Sequence[int] | np.ndarray, length: int, seed: Any = None) -> np.ndarray:
    """A random window of ``length`` consecutive ids (all of them when there are fewer).

    >>> random_crop(np.arange(10), 4, seed=0).tolist()
    [5, 6, 7, 8]
    """
    if length < 1:
        raise ValueError(f"length must be at least 1, got {length}")
    ids = np.asarray(ids)
    if len(ids) <= length:
        return ids.copy()
    start = int(rng_of(seed).integers(len(ids) - length + 1))
    return ids[start : start + length].copy()


def span_mask(ids: Sequence[int] | np.ndarray, mask_id: int, ratio: float = 0.15, seed: Any = None,
              *, mean_span: float = 3.0, max_span: int = 10,
              special_ids: Iterable[int] = ()) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Hide random spans of ``ids`` behind ``mask_id`` until ``ceil(ratio * maskable)`` ids are
    hidden; returns ``(masked ids, mask)``, ``mask`` True where an id was hidden (the targets).

    Span lengths are geometric with mean ``mean_span``, cut at ``max_span``; ``special_ids`` are
    never hidden.

    >>> masked, mask = span_mask(np.arange(10), mask_id=-1, ratio=0.3, seed=0, special_ids=[0])
    >>> masked.tolist(), int(mask.sum())
    ([0, -1, 2, 3, 4, 5, -1, 7, -1, 9], 3)
    """
    if not 0.0 <= ratio < 1.0:
        raise ValueError(f"ratio must be in [0, 1), got {ratio}")
    if mean_span < 1 or max_span < 1:
        raise ValueError(f"mean_span and max_span must be >= 1, got {mean_span}, {max_span}")
    ids = np.asarray(ids)
    maskable = ~np.isin(ids, list(special_ids))
    target = int(np.ceil(ratio * maskable.sum()))
    rng, mask = rng_of(seed), np.zeros(len(ids), dtype=bool)
    while mask.sum() < target:
        open_ = np.flatnonzero(maskable & ~mask)
        start = int(open_[rng.integers(len(open_))])
        length = min(int(rng.geometric(1.0 / mean_span)), max_span, target - int(mask.sum()))
        span = np.arange(start, min(start + length, len(ids)))
        mask[span[maskable[span]]] = True
    masked = ids.copy()
    masked[mask] = mask_id
    return masked, mask
