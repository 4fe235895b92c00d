"""Language-model metrics from a mean cross-entropy loss in nats, so runs with different tokenizers
compare.

    perplexity    = exp(loss)                               the model is as unsure as a uniform
                                                            choice among this many tokens
    bits per char = loss / ln 2 / (characters per token)    what a compressor built on the model
    bits per byte = loss / ln 2 / (bytes per token)         would spend, per character or byte

A character-level model has one character per token; a BPE model's tokens average several, so its
per-token loss is larger for the same text, and only bits per character (or byte) is comparable.

Read next: ``minillm/metrics/display.py`` (the metrics as plots).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def _mean_loss(loss: Any) -> float:
    value = float(np.mean(np.asarray(getattr(loss, "data", loss), dtype=np.float64)))
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"a cross-entropy loss is a finite number >= 0 (nats), got {value}")
    return value


def _per_token(count: float, name: str) -> float:
    if not (count > 0 and math.isfinite(count)):
        raise ValueError(f"{name} must be a positive number, got {count}")
    return float(count)


def perplexity(loss: Any) -> float:
    """exp(mean loss): a loss of ln(V) (a uniform guess over V tokens) is perplexity V.

    >>> round(perplexity(math.log(256)), 6)
    256.0
    """
    value = _mean_loss(loss)
    return math.exp(value) if value < 709.0 else math.inf  # past exp's float64 range: inf


def bits_per_char(loss: Any, chars_per_token: float = 1.0) -> float:
    """Mean loss in bits per character: loss / ln 2 / chars_per_token."""
    return _mean_loss(loss) / math.log(2) / _per_token(chars_per_token, "chars_per_token")


def bits_per_byte(loss: Any, bytes_per_token: float = 1.0) -> float:
    """Mean loss in bits per byte of UTF-8 text: loss / ln 2 / bytes_per_token."""
    return _mean_loss(loss) / math.log(2) / _per_token(bytes_per_token, "bytes_per_token")
