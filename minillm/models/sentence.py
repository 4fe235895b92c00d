"""Sentence embeddings: a BERT encoder, mean pooling over real tokens, and L2 normalization.

This is what sentence-transformers does for all-MiniLM-L6-v2 (its modules.json: Transformer,
Pooling with ``pooling_mode_mean_tokens``, Normalize)::

    ids, mask = tokenize(sentences)                padded to the longest, at most max_seq_length
    h = BertModel(ids, mask).last_hidden_state     (N, T, C)
    e = sum_t mask[t] h[t] / sum_t mask[t]         the mean over real tokens only       (N, C)
    e = e / ||e||                                  unit length: a dot product is the cosine

Padding is why the mean needs the mask: padded positions still carry hidden states (they attend
to the real tokens), and averaging them in would change a sentence's vector with its batch.
``encode`` sorts sentences by length before batching, so that each batch pads little, and then
restores the caller's order. The encoder keeps its Linear weights column-major, a memory order
that makes batch 1's small products faster (``store_linear_weights_column_major``).

Read next: ``bert.py`` (the encoder) and ``minillm/tokenizers/`` (the WordPiece tokenizer).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

import minillm
from minillm import nn
from minillm.models.bert import BertModel
from minillm.models.pretrained import resolve_pretrained


def _read_json(path: Path) -> dict[str, Any]:
    d = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(d, dict):
        raise ValueError(f"{path}: expected a JSON object, got {type(d).__name__}")
    return d


def store_linear_weights_column_major(model: Any) -> None:
    """Keep every Linear weight W (out, in) in column-major (Fortran) order, in place.

    Nothing a user sees changes: the shapes, the names, the values and ``state_dict``. Only the
    memory order does, so that ``W^T`` in ``y = x W^T`` is a row-major (in, out) matrix. OpenBLAS
    multiplies a few rows by a row-major matrix up to twice as fast as by a transposed one: at
    batch 1 a sentence is 10..60 rows, and these products are most of the encoder's
    time. With many rows (big batches) both orders run at the same speed. ``load_state_dict``
    copies into the arrays in place, so a checkpoint loaded later keeps the order.
    """
    for module in model.modules():
        if isinstance(module, nn.Linear):
            module.weight.data = np.asfortranarray(module.weight.data)


class SentenceEncoder:
    """Text in, one unit vector per sentence out.

    Args:
        model: the BERT encoder.
        tokenizer: anything with ``encode_batch(texts, padding=, truncation=, max_length=)``
            returning encodings with ``.ids`` and ``.attention_mask`` (``WordPieceTokenizer``).
        max_seq_length: longer inputs are truncated to this many tokens ([CLS] and [SEP] included).
    """

    def __init__(self, model: BertModel, tokenizer: Any, max_seq_length: int = 256) -> None:
        limit = model.config.max_position_embeddings
        if isinstance(max_seq_length, bool) or not isinstance(max_seq_length, int) or \
                not 2 <= max_seq_length <= limit:  # fmt: skip
            raise ValueError(f"SentenceEncoder: max_seq_length must be a whole number in "
                             f"[2, {limit}] ([CLS] and [SEP] take two), got "
                             f"{max_seq_length!r}")  # fmt: skip
        vocab = getattr(tokenizer, "vocab_size", None)
        if isinstance(vocab, int) and vocab > model.config.vocab_size:
            raise ValueError(f"SentenceEncoder: the tokenizer has {vocab} tokens but the model's "
                             f"embedding table {model.config.vocab_size} rows")  # fmt: skip
        self.model = model.eval()
        store_linear_weights_column_major(self.model)
        self.tokenizer = tokenizer
        self.max_seq_length = int(max_seq_length)

    @property
    def dim(self) -> int:
        """The embedding width (384 for all-MiniLM-L6-v2)."""
        return self.model.config.hidden_size

    @classmethod
    def from_pretrained(cls, path_or_name: str | Path, dtype: Any = "float32") -> SentenceEncoder:
        """The encoder of a sentence-transformers folder, or a known name (``"all-MiniLM-L6-v2"``).

        Reads the BERT weights, the tokenizer, ``1_Pooling/config.json`` (only mean pooling is
        supported, and it is checked) and ``sentence_bert_config.json`` (``max_seq_length``);
        without those two files it pools by the mean over max_position_embeddings tokens.
        """
        from minillm.tokenizers.wordpiece import WordPieceTokenizer  # the tokenizer is optional

        folder = resolve_pretrained(path_or_name, needs=("config.json", "model.safetensors"))
        pooling = folder / "1_Pooling" / "config.json"
        if pooling.is_file():
            modes = {k: v for k, v in _read_json(pooling).items() if k.startswith("pooling_mode")}
            chosen = sorted(k for k, v in modes.items() if v)
            if chosen != ["pooling_mode_mean_tokens"]:
                raise ValueError(
                    f"{pooling}: SentenceEncoder supports mean pooling only "
                    f"(pooling_mode_mean_tokens), this model uses {chosen or 'none'}"
                )
        model = BertModel.from_pretrained(folder, dtype=dtype)
        max_len = model.config.max_position_embeddings
        settings = folder / "sentence_bert_config.json"
        if settings.is_file():
            max_len = _read_json(settings).get("max_seq_length", max_len)
        return cls(model, WordPieceTokenizer.from_pretrained(folder), max_seq_length=max_len)

    def encode(
        self, sentences: str | Sequence[str], batch_size: int = 32, normalize: bool = True
    ) -> np.ndarray:
        """Embed sentences: (N, C) for a list of N, (C,) for a single str.

        Sentences are batched longest first (each batch is padded to its longest member) and
        the rows are returned in the order given. ``normalize=False`` returns the raw means.
        """
        single = isinstance(sentences, str)
        texts = [sentences] if single else sentences
        if not isinstance(texts, Sequence):
            raise TypeError(
                f"SentenceEncoder.encode: expected a str or a list of str, got "
                f"{type(sentences).__name__}"
            )
        for i, s in enumerate(texts):
            if not isinstance(s, str):
                raise TypeError(
                    f"SentenceEncoder.encode: sentence {i} is a {type(s).__name__}, not a str"
                )
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(
                f"SentenceEncoder.encode: batch_size must be a positive int, got {batch_size!r}"
            )
        dtype = self.model.pooler.dense.weight.dtype
        out = np.empty((len(texts), self.dim), dtype=dtype)  # (N, C)
        order = np.argsort([-len(s) for s in texts], kind="stable")  # longest first
        with minillm.no_grad():
            for start in range(0, len(texts), batch_size):
                rows = order[start : start + batch_size]
                out[rows] = self._embed([texts[i] for i in rows])
        if normalize:
            out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
        return out[0] if single else out

    def _embed(self, texts: list[str]) -> np.ndarray:
        """Mean-pooled hidden states of one batch, (n, C)."""
        encodings = self.tokenizer.encode_batch(
            texts, padding="longest", truncation=True, max_length=self.max_seq_length
        )
        ids = np.array([e.ids for e in encodings], dtype=np.int64)  # (n, T)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)  # (n, T)
        h = self.model(ids, attention_mask=mask).last_hidden_state.data  # (n, T, C)
        weights = mask[:, :, None].astype(h.dtype)  # (n, T, 1)
        return (h * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)  # (n, C)
