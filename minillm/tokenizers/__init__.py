"""Tokenizers: turning text into the integer ids a language model reads, and back.

- ``base.py``: the shared interface (``encode``, ``decode``, ``vocab_size``, ``save``/``load``) and
  JSON files written atomically; :func:`load_tokenizer` opens any saved tokenizer.
- ``char.py``: :class:`CharTokenizer`, one id per character of a training corpus.
- ``bpe.py``: :class:`ByteLevelBPETokenizer`, GPT-2-style byte-level byte-pair encoding, trained in
  seconds with incremental pair counts.

Read ``char.py`` first, then ``bpe.py``.

>>> tok = ByteLevelBPETokenizer.train("the cat sat on the mat", vocab_size=260)
>>> tok.decode(tok.encode("the hat")) == "the hat"
True
"""

from __future__ import annotations

from minillm.tokenizers.base import Tokenizer, TokenizerFileError, load_tokenizer
from minillm.tokenizers.bpe import SPLIT_PATTERN, ByteLevelBPETokenizer
from minillm.tokenizers.char import CharTokenizer

__all__ = [
    "SPLIT_PATTERN",
    "ByteLevelBPETokenizer",
    "CharTokenizer",
    "Tokenizer",
    "TokenizerFileError",
    "load_tokenizer",
]
