"""Markup and identifiers in text: HTML tags and entities, and URLs, e-mails and numbers.

``strip_html`` removes tags, comments and ``<script>``/``<style>`` blocks and decodes character
references (``&amp;`` -> ``&``, ``&#233;`` -> ``é``). Block-level tags (``<p>``, ``<br>``,
``<li>``, ...) become a newline, so paragraphs stay apart; inline tags (``<b>``) vanish. It runs to
a fixed point: ``&lt;b&gt;`` decodes to ``<b>``, which is a tag, so it goes too. That is what makes
the step idempotent (``strip_html(strip_html(x)) == strip_html(x)``): its output holds no tag and
no reference left to decode. The loop ends, because every change makes the text shorter.

``replace_urls``, ``replace_emails`` and ``replace_numbers`` put a placeholder token in place of
each match: ``[URL]``, ``[EMAIL]``, ``[NUM]``. A placeholder is an upper-case word in square
brackets, like BERT's ``[MASK]``; ``PLACEHOLDER`` matches one, and the punctuation steps, the word
tokenizer and the augmenters keep it whole. Run them in that order (a URL may hold an address and
digits; an address may hold digits), and lowercase *before* them, or the placeholders become
``[url]``.

Read next: ``cleaning.py`` (Unicode, case, whitespace, punctuation, contractions).
"""

from __future__ import annotations

import html
import re

from minillm.text.edits import Edit, apply_edits, changed

PLACEHOLDER = r"\[[A-Z]+\]"

# Tags whose start or end separates blocks of text: they become a newline.
_BLOCK_TAG_NAMES = """
address article aside blockquote br dd div dl dt figcaption figure footer form h1 h2 h3 h4
h5 h6 header hr li main nav ol p pre section table td th tr ul
"""
BLOCK_TAGS = frozenset(_BLOCK_TAG_NAMES.split())

# Order matters: a script block or a comment may contain what looks like tags.
_MARKUP = re.compile(
    r"<(script|style)\b[^>]*>.*?</\1\s*>"  # a whole script or style block, contents included
    r"|<!--.*?-->"  # a comment
    r"|<![^<>]*>|<\?[^<>]*>"  # <!DOCTYPE ...>, <?xml ...?>
    r"|</?([A-Za-z][A-Za-z0-9-]*)\b[^<>]*>",  # a start or end tag, attributes included
    re.S | re.I,
)
# A character reference as HTML5 reads one: &#233; &#xE9; &eacute; (the ';' is optional for some).
_REFERENCE = re.compile(r"&(?:#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?)")


def _markup_edits(text: str) -> list[Edit]:
    edits = []
    for m in _MARKUP.finditer(text):
        tag = (m.group(2) or "").lower()
        edits.append((m.start(), m.end(), "\n" if tag in BLOCK_TAGS else ""))
    return edits


def _reference_edits(text: str) -> list[Edit]:
    return changed(text, ((m.start(), m.end(), html.unescape(m.group())) for m in
                          _REFERENCE.finditer(text)))  # fmt: skip


def html_edits(text: str) -> list[Edit]:
    """One pass: the tags if there are any, else the character references.

    Tags go first so that ``&lt;`` inside an attribute is never decoded into a new tag boundary;
    the caller repeats passes until nothing changes.
    """
    return _markup_edits(text) or _reference_edits(text)


def strip_html(text: str) -> str:
    """Remove tags, comments, scripts and styles; decode character references; to a fixed point.

    >>> strip_html("<p>Caf&eacute; &amp; <b>bar</b></p>")
    '\\nCafé & bar\\n'
    >>> strip_html("&amp;lt;i&amp;gt;")  # escaped markup is markup too
    ''
    """
    while edits := html_edits(text):
        text = apply_edits(text, edits)
    return text


# A URL: a scheme or "www.", then no whitespace or quote; it may not end in sentence punctuation.
_URL = re.compile(r"\b(?:[a-zA-Z][a-zA-Z0-9+.-]*://|www\.)[^\s<>\"]*[^\s<>\".,;:!?)\]}'*]")
_EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")


def url_edits(text: str) -> list[Edit]:
    return [(m.start(), m.end(), "[URL]") for m in _URL.finditer(text)]


def email_edits(text: str) -> list[Edit]:
    return [(m.start(), m.end(), "[EMAIL]") for m in _EMAIL.finditer(text)]


def number_edits(text: str) -> list[Edit]:
    return [(m.start(), m.end(), "[NUM]") for m in _NUMBER.finditer(text)]


def replace_urls(text: str) -> str:
    """Each URL (``https://...``, ``ftp://...``, ``www....``) becomes ``[URL]``.

    >>> replace_urls("see https://docs.python.org/3/, or www.python.org.")
    'see [URL], or [URL].'
    """
    return apply_edits(text, url_edits(text))


def replace_emails(text: str) -> str:
    """Each e-mail address becomes ``[EMAIL]``.

    >>> replace_emails("write to guido@python.org today")
    'write to [EMAIL] today'
    """
    return apply_edits(text, email_edits(text))


def replace_numbers(text: str) -> str:
    """Each number (digits of any script, with ``.`` or ``,`` between groups) becomes ``[NUM]``.

    >>> replace_numbers("3.14 is not 1,000 or ٣")
    '[NUM] is not [NUM] or [NUM]'
    """
    return apply_edits(text, number_edits(text))
