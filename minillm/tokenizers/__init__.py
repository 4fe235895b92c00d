"""Tokenizers: turning text into the integer ids a language model reads, and back.

- ``base.py``: the shared interface (``encode``, ``decode``, ``vocab_size``, ``save``/``load``) and
  JSON files written atomically; :func:`load_tokenizer` opens any saved tokenizer.
- ``char.py``: :class:`CharTokenizer`, one id per character of a training corpus.
- ``bpe.py``: :class:`ByteLevelBPETokenizer`, GPT-2-style byte-level byte-pair encoding, trained in
  seconds with incremental pair counts.
- ``bert_text.py``: BERT's normalizer and pre-tokenizer (cleaning, accents, lowercase, punctuation
  splits), with each character's offset in the original text.
- ``encoding.py``: :class:`Encoding` (ids, tokens, offsets, type ids, attention mask), BERT's
  ``[CLS] A [SEP] B [SEP]`` template, truncation and padding.
- ``wordpiece.py``: :class:`WordPieceTokenizer`, BERT's tokenizer (``from_pretrained``, ``encode``
  to an :class:`Encoding`, ``encode_batch`` with padding and truncation, ``decode``), equal to
  Hugging Face ``tokenizers``' ids and offsets.
- ``wordpiece_train.py``: learning a WordPiece vocabulary (BPE-style merges, ``##`` pieces).

Read ``char.py`` first, then ``bpe.py``; then ``bert_text.py``, ``wordpiece.py``, ``encoding.py``.

>>> tok = ByteLevelBPETokenizer.train("the cat sat on the mat", vocab_size=260)
>>> tok.decode(tok.encode("the hat")) == "the hat"
True
"""

from __future__ import annotations

from minillm.tokenizers.base import Tokenizer, TokenizerFileError, load_tokenizer
from minillm.tokenizers.bpe import SPLIT_PATTERN, ByteLevelBPETokenizer
from minillm.tokenizers.char import CharTokenizer
from minillm.tokenizers.encoding import Encoding
from minillm.tokenizers.wordpiece import WordPieceTokenizer

__all__ = [
    "SPLIT_PATTERN",
    "ByteLevelBPETokenizer",
    "CharTokenizer",
    "Encoding",
    "Tokenizer",
    "TokenizerFileError",
    "WordPieceTokenizer",
    "load_tokenizer",
]
