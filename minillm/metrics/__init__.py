"""Evaluation metrics with scikit-learn's names and results, a language model's own, and plots.

Read in this order: ``targets.py`` (what kind of target an array is: binary, multiclass,
multilabel), ``confusion.py`` (the confusion matrix and one 2 x 2 table per label: the core),
``classification.py`` (accuracy, precision, recall and F from the tables), ``report.py`` (those
scores as scikit-learn's text table), ``ranking.py`` (ROC and precision-recall curves from sorted
scores, and their areas for one binary problem), ``areas.py`` (ROC AUC and average precision of
multilabel and multiclass targets: one-vs-rest, one-vs-one), ``regression.py`` (mean squared
error and R^2), ``probabilistic.py`` (log loss and Brier score), ``language.py`` (perplexity and
bits per character or byte from a loss), ``display.py`` and ``curve_display.py`` (confusion
matrix, ROC and precision-recall plots, when matplotlib is installed).
"""

from minillm.metrics.areas import average_precision_score, roc_auc_score
from minillm.metrics.classification import (
    UndefinedMetricWarning,
    accuracy_score,
    f1_score,
    fbeta_score,
    matthews_corrcoef,
    precision_recall_fscore_support,
    precision_score,
    recall_score,
)
from minillm.metrics.confusion import confusion_matrix, multilabel_confusion_matrix
from minillm.metrics.curve_display import PrecisionRecallDisplay, RocCurveDisplay
from minillm.metrics.display import ConfusionMatrixDisplay
from minillm.metrics.language import bits_per_byte, bits_per_char, perplexity
from minillm.metrics.probabilistic import brier_score_loss, log_loss
from minillm.metrics.ranking import (
    auc,
    precision_recall_curve,
    roc_curve,
    threshold_counts,
    top_k_accuracy_score,
)
from minillm.metrics.regression import mean_squared_error, r2_score
from minillm.metrics.report import classification_report

__all__ = [
    "ConfusionMatrixDisplay",
    "PrecisionRecallDisplay",
    "RocCurveDisplay",
    "UndefinedMetricWarning",
    "accuracy_score",
    "auc",
    "average_precision_score",
    "bits_per_byte",
    "bits_per_char",
    "brier_score_loss",
    "classification_report",
    "confusion_matrix",
    "f1_score",
    "fbeta_score",
    "log_loss",
    "matthews_corrcoef",
    "mean_squared_error",
    "multilabel_confusion_matrix",
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
