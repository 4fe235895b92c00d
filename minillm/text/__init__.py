"""Text preprocessing: cleaning, tokens and sentences, features, augmentation, leak-free splits.

Read in this order: ``edits.py`` (every step as a list of edits, so offsets survive cleaning),
``markup.py`` and ``cleaning.py`` (the steps), ``tokenize.py`` (words and sentences with offsets),
``stopwords.py``, ``pipeline.py`` (``Pipeline`` and ``explain``), ``features.py``
(``CountVectorizer``, ``TfidfVectorizer``, equal to scikit-learn's), ``scalers.py``
(``StandardScaler``, ``MinMaxScaler``), ``augment.py`` and ``synonyms.py``
(``minillm.text.augment``: seeded EDA, typos, crops and span masks), ``splits.py`` (deduplicated,
stratified train/val/test) and ``docstrings.py`` (a labelled dataset built from the standard
library's own docstrings).

>>> Pipeline("html,lower,whitespace")("<p>Hello,   WORLD</p>")
'hello, world'
"""

from __future__ import annotations

from minillm.text.cleaning import (
    expand_contractions,
    lowercase,
    normalize_unicode,
    normalize_whitespace,
    remove_control,
    remove_punctuation,
    split_punctuation,
    strip_accents,
)
from minillm.text.docstrings import stdlib_docstrings
from minillm.text.edits import AlignedText, apply_edits
from minillm.text.features import CountVectorizer, TfidfTransformer, TfidfVectorizer
from minillm.text.markup import (
    PLACEHOLDER,
    replace_emails,
    replace_numbers,
    replace_urls,
    strip_html,
)
from minillm.text.pipeline import STEPS, Pipeline, Step, parse_steps
from minillm.text.scalers import MinMaxScaler, StandardScaler
from minillm.text.splits import (
    LeakError,
    TextSplits,
    check_no_leak,
    deduplicate,
    train_val_test_split,
)
from minillm.text.stopwords import (
    ENGLISH_STOP_WORDS,
    filter_stopwords,
    is_stopword,
    remove_stopwords,
)
from minillm.text.tokenize import Token, sentence_spans, split_sentences, word_tokens, words

__all__ = [
    "ENGLISH_STOP_WORDS",
    "PLACEHOLDER",
    "STEPS",
    "AlignedText",
    "CountVectorizer",
    "LeakError",
    "MinMaxScaler",
    "Pipeline",
    "StandardScaler",
    "Step",
    "TextSplits",
    "TfidfTransformer",
    "TfidfVectorizer",
    "Token",
    "apply_edits",
    "check_no_leak",
    "deduplicate",
    "expand_contractions",
    "filter_stopwords",
    "is_stopword",
    "lowercase",
    "normalize_unicode",
    "normalize_whitespace",
    "parse_steps",
    "remove_control",
    "remove_punctuation",
    "remove_stopwords",
    "replace_emails",
    "replace_numbers",
    "replace_urls",
    "sentence_spans",
    "split_punctuation",
    "split_sentences",
    "stdlib_docstrings",
    "strip_accents",
    "strip_html",
    "train_val_test_split",
    "word_tokens",
    "words",
]
