"""``Pipeline``: cleaning steps composed in order, able to show its work and keep offsets.

A step is a name and an edit function (``edits.py``); ``STEPS`` names every built-in one, so a
pipeline can be written as a string (``"html,nfkc,lower,whitespace"``, what
``minillm train --clean`` takes) or as a list of names, ``Step`` objects and plain ``str -> str``
functions:

    pipe = Pipeline(["html", "nfkc", "lower", "urls", "whitespace"])
    pipe(text)            the cleaned text
    pipe.explain(text)    the text after each stage, one stage a line (only stages that changed it
                          are marked)
    pipe.align(text)      an AlignedText: the cleaned text and each character's original span
    pipe.tokens(text)     the cleaned word tokens, each with the span of the original text it
                          came from

A step marked ``repeat`` (HTML) runs its edits until they change nothing.

Read next: ``features.py`` (cleaned text -> count and TF-IDF matrices).
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from minillm.text import cleaning, markup
from minillm.text.edits import AlignedText, EditFn, apply_edits
from minillm.text.stopwords import stopword_edits
from minillm.text.tokenize import Token, word_tokens


@dataclass(frozen=True)
class Step:
    """A named cleaning step: ``edits(text)`` says what to replace; ``repeat`` runs it to a fixed
    point."""

    name: str
    edits: EditFn
    repeat: bool = False

    def align(self, aligned: AlignedText) -> AlignedText:
        while True:
            edits = list(self.edits(aligned.text))
            if not edits:
                return aligned
            aligned = aligned.edit(edits)
            if not self.repeat:
                return aligned

    def __call__(self, text: str) -> str:
        while True:
            edits = list(self.edits(text))
            if not edits:
                return text
            text = apply_edits(text, edits)
            if not self.repeat:
                return text


STEPS: dict[str, Step] = {
    step.name: step
    for step in [
        *(
            Step(form.lower(), functools.partial(cleaning.normalization_edits, form=form))
            for form in cleaning.FORMS
        ),
        Step("html", markup.html_edits, repeat=True),
        Step("control", cleaning.control_edits),
        Step("accents", cleaning.accent_edits),
        Step("lower", cleaning.lower_edits),
        Step("urls", markup.url_edits),
        Step("emails", markup.email_edits),
        Step("numbers", markup.number_edits),
        Step("contractions", cleaning.contraction_edits),
        Step("punctuation", cleaning.punctuation_edits),
        Step("split_punctuation", cleaning.split_punctuation_edits),
        Step("stopwords", stopword_edits),
        Step("whitespace", cleaning.whitespace_edits),
    ]
}


def _function_step(fn: Callable[[str], str]) -> Step:
    """A plain function as a step: one edit replacing the whole text (offsets become coarse)."""

    def edits(text: str) -> list[tuple[int, int, str]]:
        out = fn(text)
        if not isinstance(out, str):
            raise TypeError(f"step {fn.__name__!r} returned {type(out).__name__}, not str")
        return [] if out == text else [(0, len(text), out)]

    return Step(getattr(fn, "__name__", "function"), edits)


def as_step(step: str | Step | Callable[[str], str]) -> Step:
    """A Step from a name in ``STEPS``, a Step, or a ``str -> str`` function."""
    if isinstance(step, Step):
        return step
    if isinstance(step, str):
        if step not in STEPS:
            raise ValueError(f"unknown cleaning step {step!r}; the steps are {', '.join(STEPS)}")
        return STEPS[step]
    if callable(step):
        return _function_step(step)
    raise TypeError(f"a step is a name, a Step or a function, got {type(step).__name__}")


def parse_steps(spec: str) -> list[str]:
    """The step names in a comma-separated spec, checked: ``"nfkc, lower"`` -> ['nfkc', 'lower'].

    >>> parse_steps("nfkc,lower")
    ['nfkc', 'lower']
    """
    names = [name.strip() for name in spec.split(",") if name.strip()]
    if not names:
        raise ValueError(f"no cleaning steps in {spec!r}; name some of: {', '.join(STEPS)}")
    for name in names:
        as_step(name)
    return names


class Pipeline:
    """Cleaning steps applied in order.

    >>> pipe = Pipeline("html,lower,urls,whitespace")
    >>> pipe("<p>Visit  HTTPS://Python.org</p>")
    'visit [URL]'
    >>> print(pipe.explain("<b>Hi</b> THERE "))
    input        '<b>Hi</b> THERE '
    html       * 'Hi THERE '
    lower      * 'hi there '
    urls         'hi there '
    whitespace * 'hi there'
    >>> [(t.text, t.start, t.end) for t in pipe.tokens("<i>Hé</i> WORLD")]
    [('hé', 3, 5), ('world', 10, 15)]
    """

    def __init__(self, steps: str | Sequence[str | Step | Callable[[str], str]]) -> None:
        if isinstance(steps, str):
            steps = parse_steps(steps)
        self.steps = [as_step(s) for s in steps]

    def __call__(self, text: str) -> str:
        for step in self.steps:
            text = step(text)
        return text

    def stages(self, text: str) -> list[tuple[str, str]]:
        """``[("input", text), (step name, text after it), ...]``."""
        out = [("input", text)]
        for step in self.steps:
            text = step(text)
            out.append((step.name, text))
        return out

    def explain(self, text: str) -> str:
        """The text after each stage, one line each; ``*`` marks the stages that changed it."""
        stages = self.stages(text)
        width = max(len(name) for name, _ in stages)
        lines = [f"{stages[0][0]:<{width}}   {stages[0][1]!r}"]
        for (_, before), (name, after) in itertools.pairwise(stages):
            mark = "*" if after != before else " "
            lines.append(f"{name:<{width}} {mark} {after!r}")
        return "\n".join(lines)

    def align(self, text: str) -> AlignedText:
        aligned = AlignedText.of(text)
        for step in self.steps:
            aligned = step.align(aligned)
        return aligned

    def tokens(self, text: str) -> list[Token]:
        """The word tokens of the cleaned text, each with its span in the *original* ``text``."""
        aligned = self.align(text)
        return [Token(t.text, *aligned.source_span(t.start, t.end)) for t in
                word_tokens(aligned.text)]  # fmt: skip

    def __repr__(self) -> str:
        return f"Pipeline({[s.name for s in self.steps]!r})"
