"""Stopwords: the English words that carry grammar rather than topic, and removing them.

A bag-of-words model counts words; "the", "of" and "is" are in nearly every document, so they
weigh a lot and say little (TF-IDF down-weights them; a stopword list removes them outright).
Our list is written by word class: pronouns, determiners and quantifiers, question words,
prepositions, conjunctions and connectives, auxiliary and modal verbs, common adverbs, the
indefinite pronouns, number words, and the contracted forms our word tokenizer keeps whole
("don't"). It leaves out words that carry meaning in some texts even when common lists have them
("computer", "system", "fire", "bill" are in scikit-learn's list; "show", "find", "call" are
verbs a documentation corpus needs). The tests compare its coverage with scikit-learn's
``ENGLISH_STOP_WORDS``.

Removal works on word tokens, so it never takes part of a word ("theme" keeps its "the") and
never removes a word that is not on the list; a removed word takes the space after it along.

Read next: ``pipeline.py`` (composing the steps).
"""

from __future__ import annotations

from collections.abc import Iterable

import regex

from minillm.text.edits import Edit, apply_edits
from minillm.text.tokenize import Token, word_tokens

_BY_CLASS = {
    "pronouns": "i me my myself mine we us our ours ourselves you your yours yourself "
    "yourselves he him his himself she her hers herself it its itself they them their theirs "
    "themselves one oneself",
    "determiners": "a an the this that these those some any no none each every either neither "
    "all both few many much more most less least several such other others another own same "
    "enough",
    "questions": "what which who whom whose when where why how whatever whichever whoever "
    "whomever whenever wherever however whether whither whence",
    "prepositions": "about above across after against along amid among amongst around as at "
    "before behind below beneath beside besides between beyond by despite down during except "
    "for from in inside into near of off on onto out outside over past per since than through "
    "throughout thru till to toward towards under underneath unlike until up upon via with "
    "within without",
    "conjunctions": "and but or nor so yet because although though while whilst whereas unless "
    "if once lest then thus therefore hence moreover furthermore meanwhile otherwise "
    "nevertheless nonetheless also",
    "auxiliaries": "am is are was were be been being have has had having do does did doing "
    "will would shall should can cannot could may might must ought",
    "adverbs": "not very too just only even still already again ever never always often "
    "sometimes here there now soon else almost quite rather perhaps indeed mostly namely "
    "afterwards beforehand hereafter hereby herein hereupon thereafter thereby therein "
    "thereupon whereafter whereby wherein whereupon formerly latterly former latter further "
    "anyhow anyway seldom",
    "indefinites": "everything anything something nothing everyone anyone someone nobody "
    "everybody anybody somebody everywhere anywhere somewhere nowhere elsewhere",
    "numbers": "two three four five six seven eight nine ten eleven twelve fifteen twenty "
    "forty fifty sixty hundred first second third last next",
    "contractions": "don't doesn't didn't isn't aren't wasn't weren't haven't hasn't hadn't "
    "won't wouldn't can't couldn't shouldn't mustn't i'm you're we're they're it's that's "
    "let's i've we've you've they've i'll you'll we'll they'll he'll she'll i'd you'd he'd "
    "she'd we'd they'd",
}

ENGLISH_STOP_WORDS: frozenset[str] = frozenset(w for ws in _BY_CLASS.values() for w in ws.split())


def _key(word: str) -> str:
    return word.lower().replace("’", "'")


def is_stopword(word: str, stopwords: Iterable[str] = ENGLISH_STOP_WORDS) -> bool:
    """Whether ``word`` (any case, either apostrophe) is on the list.

    >>> is_stopword("The"), is_stopword("don’t"), is_stopword("theme")
    (True, True, False)
    """
    words = stopwords if isinstance(stopwords, (set, frozenset)) else set(stopwords)
    return _key(word) in words


def filter_stopwords(tokens: Iterable[str], stopwords: Iterable[str] = ENGLISH_STOP_WORDS) -> list:
    """The tokens that are not stopwords, in order.

    >>> filter_stopwords(["The", "cat", "is", "on", "the", "mat"])
    ['cat', 'mat']
    """
    words = set(stopwords)
    return [t for t in tokens if _key(t) not in words]


def stopword_edits(text: str, stopwords: Iterable[str] = ENGLISH_STOP_WORDS) -> list[Edit]:
    words = set(stopwords)
    edits, tokens = [], word_tokens(text)
    for token in tokens:
        if _key(token.text) in words:
            edits.append((token.start, _end_with_space(text, token), ""))
    return edits


_SPACE_RUN = regex.compile(r"\s*")  # regex's \s, as the tokenizer's (str.isspace differs)


def _end_with_space(text: str, token: Token) -> int:
    return _SPACE_RUN.match(text, token.end).end()


def remove_stopwords(text: str, stopwords: Iterable[str] = ENGLISH_STOP_WORDS) -> str:
    """Delete each stopword token and the whitespace after it.

    >>> remove_stopwords("The theme of this talk is: don't panic")
    'theme talk : panic'
    """
    return apply_edits(text, stopword_edits(text, stopwords))
