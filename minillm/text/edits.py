"""Text rewrites as lists of edits, so cleaned text can always point back to where it came from.

Every cleaning step in this package is written the same way: a function that reads the text and
returns the *edits* it wants, each ``(start, end, replacement)`` (replace ``text[start:end]``),
sorted and non-overlapping. Applying them is one join:

    "Caf\u00e9 &amp; more"   edits [(5, 10, "&")]   ->   "Caf\u00e9 & more"

Because the step says *which* characters it replaced, the result can carry an alignment: for every
character of the cleaned text, the span ``[start, end)`` of the original text it came from. An
untouched character keeps its own one-character span; every character of a replacement gets the
whole span it replaced; an insertion (``start == end``) gets an empty span at that position.
Composing steps composes the alignments (a replacement of cleaned characters i..j maps to the
union of their original spans), so after a whole pipeline a token at cleaned ``[a, b)`` came from
``original[starts[a]:ends[b - 1]]``.

A step that is not written as edits (any plain ``str -> str`` function) still composes: it is one
edit that replaces the whole text, so its characters all point to the whole original.

Read next: ``cleaning.py`` (the steps written as edits).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

Edit = tuple[int, int, str]
EditFn = Callable[[str], Iterable[Edit]]


def apply_edits(text: str, edits: Iterable[Edit]) -> str:
    """``text`` with each ``(start, end, replacement)`` applied; edits must be sorted and disjoint.

    >>> apply_edits("a cat", [(2, 5, "dog"), (5, 5, "!")])
    'a dog!'
    """
    parts, at = [], 0
    for start, end, replacement in edits:
        if start < at or end < start:
            raise ValueError(f"edits must be sorted and disjoint; ({start}, {end}) after {at}")
        parts.append(text[at:start])
        parts.append(replacement)
        at = end
    parts.append(text[at:])
    return "".join(parts)


def changed(text: str, edits: Iterable[Edit]) -> list[Edit]:
    """The edits that change something (a replacement equal to what it replaces is dropped)."""
    return [(s, e, r) for s, e, r in edits if text[s:e] != r]


@dataclass
class AlignedText:
    """Cleaned text with, per character, the span of the original it came from.

    ``starts[i]``, ``ends[i]``: the original span of cleaned character i; ``original`` is the text
    before any step ran.
    """

    text: str
    original: str
    starts: list[int]
    ends: list[int]

    @classmethod
    def of(cls, text: str) -> AlignedText:
        """The identity alignment: nothing cleaned yet."""
        return cls(text, text, list(range(len(text))), list(range(1, len(text) + 1)))

    def source_span(self, start: int, end: int) -> tuple[int, int]:
        """The original span that cleaned ``text[start:end]`` came from.

        An empty or inserted range maps to an empty span at its position.
        """
        if not 0 <= start <= end <= len(self.text):
            raise IndexError(f"span ({start}, {end}) outside a text of {len(self.text)} chars")
        if start == end:
            at = self._position(start)
            return at, at
        return self.starts[start], max(self.ends[start:end])

    def _position(self, i: int) -> int:
        """The original position just before cleaned character i (its end, at the end)."""
        if i < len(self.text):
            return self.starts[i]
        return self.ends[-1] if self.ends else len(self.original)

    def edit(self, edits: Iterable[Edit]) -> AlignedText:
        """Apply edits to the cleaned text and carry the alignment through them."""
        edits = list(edits)
        text, starts, ends = self.text, self.starts, self.ends
        out_starts: list[int] = []
        out_ends: list[int] = []
        at = 0
        for start, end, replacement in edits:
            out_starts += starts[at:start]
            out_ends += ends[at:start]
            span = self.source_span(start, end)
            out_starts += [span[0]] * len(replacement)
            out_ends += [span[1]] * len(replacement)
            at = end
        out_starts += starts[at:]
        out_ends += ends[at:]
        return AlignedText(apply_edits(text, edits), self.original, out_starts, out_ends)
