"""Metrics of predicted probabilities, with scikit-learn's names and results: the log loss.

    log_loss = -(1/sum w) sum_i w_i log p_i[y_i]

the mean negative log-likelihood of the true labels: the cross-entropy a classifier is trained on
(``nn.functional.cross_entropy`` of the logits gives the same number). The columns of ``y_proba``
are the labels in sorted order (or ``labels``); a 1-D ``y_proba`` is the probability of the
second label. Probabilities are clipped to [eps, 1 - eps] of their dtype, so a confident mistake
costs a large but finite loss; rows that do not sum to one are used as given, with a warning.

Read next: ``minillm/metrics/language.py``.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from minillm.metrics._validation import check_lengths, check_sample_weight


def log_loss(
    y_true: Any,
    y_proba: Any,
    *,
    normalize: bool = True,
    sample_weight: Any = None,
    labels: Sequence[Any] | None = None,
) -> float:
    """The mean (or with ``normalize=False`` the summed) negative log-probability of the true
    labels.

    >>> round(log_loss(["spam", "ham", "ham", "spam"], [[0.1, 0.9], [0.9, 0.1], [0.8, 0.2],
    ...                                                 [0.35, 0.65]]), 6)
    0.216162
    """
    y_true = np.asarray(y_true)
    p = np.asarray(y_proba)
    p = p.astype(np.float64) if p.dtype.kind not in "f" else p
    if y_true.ndim != 1:
        raise ValueError(f"y_true must be 1-D, got shape {y_true.shape}")
    check_lengths(y_true, p)
    sample_weight = check_sample_weight(sample_weight, len(y_true))
    if p.max() > 1:
        raise ValueError(f"y_prob contains values greater than 1: {p.max()}")
    if p.min() < 0:
        raise ValueError(f"y_prob contains values lower than 0: {p.min()}")
    if labels is not None:
        classes = np.unique(np.asarray(labels))
        unknown = set(y_true.tolist()) - set(np.asarray(labels).tolist())
        if unknown:
            raise ValueError(
                f"y_true contains values {unknown} not belonging to the passed labels {labels}."
            )
    else:
        classes = np.unique(y_true)
    if len(classes) == 1:
        raise ValueError(
            f"y_true contains only one label ({classes[0]}). Please provide the list of all "
            "expected class labels explicitly through the labels argument."
            if labels is None
            else f"The labels array needs to contain at least two labels, got {classes}."
        )
    p = p[:, None] if p.ndim == 1 else p
    if p.shape[1] == 1:  # the probability of the second label
        p = np.concatenate([1 - p, p], axis=1)
    if not np.allclose(p.sum(axis=1), 1.0, rtol=np.sqrt(np.finfo(p.dtype).eps), atol=0):
        warnings.warn(
            "The y_prob values do not sum to one. Make sure to pass probabilities.",
            UserWarning,
            stacklevel=2,
        )
    if p.shape[1] != len(classes):
        raise ValueError(
            f"y_true and y_prob contain different number of classes: {len(classes)} vs "
            f"{p.shape[1]}. Please provide the true labels explicitly through the labels "
            f"argument. Classes found in y_true: {classes}"
            if labels is None
            else "The number of classes in labels is different from that in y_prob. Classes "
            f"found in labels: {classes}"
        )
    eps = np.finfo(p.dtype).eps
    p = np.clip(p, eps, 1 - eps)
    column = np.searchsorted(classes, y_true)
    losses = -np.log(p[np.arange(len(p)), column]).astype(np.float64)
    if not normalize:
        return float(np.sum(losses if sample_weight is None else losses * sample_weight))
    return float(np.average(losses, weights=sample_weight))
