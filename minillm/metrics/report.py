"""The classification report: precision, recall, F1 and support of every label, and their
averages, as scikit-learn's text table (character for character) or as a dict.

Each row is ``precision_recall_fscore_support`` with ``average=None``; each closing line is the
same call with one ``average`` ("micro", "macro", "weighted", and "samples" for multilabel
targets). When the labels cover every class present in single-label data, micro precision,
recall and F1 all equal the accuracy, so that line is printed once as "accuracy".

Read next: ``minillm/metrics/ranking.py`` (curves over a score's thresholds).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from minillm.metrics.classification import precision_recall_fscore_support
from minillm.metrics.targets import MULTILABEL, check_targets

HEADERS = ["precision", "recall", "f1-score", "support"]


def _line(name: str, cells: Sequence[Any], width: int, digits: int) -> str:
    """One row: the name right-aligned in ``width``, then 9-wide columns; floats get ``digits``
    decimals, the support (last) is printed as it is, an empty string leaves a blank."""
    out = f"{name:>{width}} "
    for cell in cells[:-1]:
        out += f" {cell:>9}" if isinstance(cell, str) else f" {cell:>9.{digits}f}"
    return out + f" {cells[-1]:>9}\n"


def classification_report(
    y_true: Any,
    y_pred: Any,
    *,
    labels: Sequence[Any] | None = None,
    target_names: Sequence[str] | None = None,
    sample_weight: Any = None,
    digits: int = 2,
    output_dict: bool = False,
    zero_division: Any = "warn",
) -> str | dict[str, Any]:
    """A table of the per-label scores and their averages (``target_names`` name the rows;
    ``digits`` decimals), or with ``output_dict`` the same numbers as a dict of dicts.

    >>> print(classification_report([0, 1, 1, 2], [0, 1, 2, 2]))
                  precision    recall  f1-score   support
    <BLANKLINE>
               0       1.00      1.00      1.00         1
               1       1.00      0.50      0.67         2
               2       0.50      1.00      0.67         1
    <BLANKLINE>
        accuracy                           0.75         4
       macro avg       0.83      0.83      0.78         4
    weighted avg       0.88      0.75      0.75         4
    <BLANKLINE>
    """
    kind, present, y_true, y_pred, sample_weight = check_targets(y_true, y_pred, sample_weight)
    given = labels is not None
    labels = np.asarray(labels) if given else present
    micro_is_accuracy = kind != MULTILABEL and (not given or set(labels) >= set(present))
    if target_names is not None and len(labels) != len(target_names):
        if not given:
            raise ValueError(
                f"Number of classes, {len(labels)}, does not match size of target_names, "
                f"{len(target_names)}. Try specifying the labels parameter"
            )
        warnings.warn(
            f"labels size, {len(labels)}, does not match size of target_names, {len(target_names)}",
            UserWarning,
            stacklevel=2,
        )
    names = [str(label) for label in labels] if target_names is None else list(target_names)
    kw = dict(labels=labels, sample_weight=sample_weight, zero_division=zero_division)
    p, r, f1, support = precision_recall_fscore_support(y_true, y_pred, average=None, **kw)
    rows = list(zip(names, p, r, f1, support))  # zip: extra names or labels are dropped
    averages = ["micro", "macro", "weighted"] + (["samples"] * (kind == MULTILABEL))
    closing = {}
    for average in averages:
        scores = precision_recall_fscore_support(y_true, y_pred, average=average, **kw)[:3]
        name = "accuracy" if average == "micro" and micro_is_accuracy else f"{average} avg"
        closing[name] = [*scores, np.sum(support)]
    if output_dict:
        report: dict[str, Any] = {row[0]: dict(zip(HEADERS, map(float, row[1:]))) for row in rows}
        for name, cells in closing.items():
            report[name] = (
                float(cells[0]) if name == "accuracy" else dict(zip(HEADERS, map(float, cells)))
            )
        return report
    width = max(max(len(name) for name in names), len("weighted avg"), digits)
    text = f"{'':>{width}} " + "".join(f" {h:>9}" for h in HEADERS) + "\n\n"
    text += "".join(_line(row[0], row[1:], width, digits) for row in rows) + "\n"
    for name, cells in closing.items():
        cells = ["", "", *cells[2:]] if name == "accuracy" else cells  # accuracy: F1 column only
        text += _line(name, cells, width, digits)
    return text
