"""Evaluation metrics with scikit-learn's names and results, and a language model's own.

Read in this order: ``classification.py`` (the confusion matrix, and precision, recall and F from
it), ``language.py`` (perplexity and bits per character or byte from a loss).
"""

from minillm.metrics.classification import (
    UndefinedMetricWarning,
    accuracy_score,
    confusion_matrix,
    f1_score,
    fbeta_score,
    precision_recall_fscore_support,
    precision_score,
    recall_score,
)
from minillm.metrics.language import bits_per_byte, bits_per_char, perplexity

__all__ = [
    "UndefinedMetricWarning",
    "accuracy_score",
    "bits_per_byte",
    "bits_per_char",
    "confusion_matrix",
    "f1_score",
    "fbeta_score",
    "perplexity",
    "precision_recall_fscore_support",
    "precision_score",
    "recall_score",
]
