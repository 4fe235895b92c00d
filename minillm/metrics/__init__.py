"""Evaluation metrics with scikit-learn's names and results, and a language model's own.

Read in this order: ``classification.py`` (the confusion matrix, and precision, recall and F from
it), ``ranking.py`` (ROC and precision-recall curves from sorted scores, and their areas),
``regression.py`` (mean squared error and R^2), ``probabilistic.py`` (log loss),
``language.py`` (perplexity and bits per character or byte from a loss).
"""

from minillm.metrics.classification import (
    UndefinedMetricWarning,
    accuracy_score,
    confusion_matrix,
    f1_score,
    fbeta_score,
    matthews_corrcoef,
    precision_recall_fscore_support,
    precision_score,
    recall_score,
)
from minillm.metrics.language import bits_per_byte, bits_per_char, perplexity
from minillm.metrics.probabilistic import log_loss
from minillm.metrics.ranking import (
    auc,
    average_precision_score,
    precision_recall_curve,
    roc_auc_score,
    roc_curve,
    threshold_counts,
    top_k_accuracy_score,
)
from minillm.metrics.regression import mean_squared_error, r2_score

__all__ = [
    "UndefinedMetricWarning",
    "accuracy_score",
    "auc",
    "average_precision_score",
    "bits_per_byte",
    "bits_per_char",
    "confusion_matrix",
    "f1_score",
    "fbeta_score",
    "log_loss",
    "matthews_corrcoef",
    "mean_squared_error",
    "perplexity",
    "precision_recall_curve",
    "precision_recall_fscore_support",
    "precision_score",
    "r2_score",
    "recall_score",
    "roc_auc_score",
    "roc_curve",
    "threshold_counts",
    "top_k_accuracy_score",
]
