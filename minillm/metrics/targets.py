"""What kind of target an array is, and the checks every classification metric runs on its inputs.

scikit-learn names the kinds, and so do we:

    "binary"                 1-D, at most two distinct labels          [0, 1, 1], ["no", "yes"]
    "multiclass"             1-D, more than two labels                 [0, 2, 1], ["a", "b", "c"]
    "multilabel-indicator"   2-D of 0/1 (or two values): column j says [[1, 0, 1], [0, 0, 1]]
                             whether the sample has label j
    "continuous"             floats that are not whole numbers         [0.5, 1.0]
    "...-multioutput"        2-D with several columns of the above     [[0, 2], [1, 3]]

A column vector (n, 1) counts as 1-D. A classification metric takes "binary", "multiclass" and
"multilabel-indicator" targets; ``check_targets`` refuses the rest, a mix of multilabel and
single-label targets, labels of different types, different lengths and empty inputs, with
scikit-learn's messages.

Read next: ``minillm/metrics/confusion.py`` (the counts every classification score is read from).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from minillm.metrics._validation import check_lengths, check_sample_weight

MULTILABEL = "multilabel-indicator"


def _is_whole(values: np.ndarray) -> bool:
    """True for ints and bools, and for floats that are all finite whole numbers."""
    if values.dtype.kind in "iub":
        return True
    return values.dtype.kind == "f" and bool(
        np.isfinite(values).all() and (values == np.round(values)).all()
    )


def type_of_target(y: Any) -> str:
    """The kind of target ``y`` is, by scikit-learn's names (see the module docstring).

    >>> type_of_target([1, 0, 1]), type_of_target([[1, 0], [1, 1]]), type_of_target([0.5, 2])
    ('binary', 'multilabel-indicator', 'continuous')
    """
    y = np.asarray(y)
    if y.ndim > 2 or (y.ndim == 2 and y.shape[1] == 0):
        return "unknown"
    if y.dtype.kind == "O" and y.size and not isinstance(y.flat[0], str):
        return "unknown"
    several = y.ndim == 2 and y.shape[1] > 1
    if several and len(np.unique(y)) < 3 and _is_whole(y):
        return MULTILABEL
    suffix = "-multioutput" if several else ""
    if y.dtype.kind == "f" and not _is_whole(y):
        return "continuous" + suffix
    if several or len(np.unique(y)) > 2:
        return "multiclass" + suffix
    return "binary"


def check_targets(
    y_true: Any, y_pred: Any, sample_weight: Any = None
) -> tuple[str, np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """(kind, labels, y_true, y_pred, sample_weight) as arrays, or a ValueError naming what is
    wrong. ``labels`` are the sorted labels present in either array; for multilabel indicators
    they are the column numbers 0 .. n_labels - 1."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    check_lengths(y_true, y_pred)
    if len(y_true) == 0:
        raise ValueError(
            "Found empty input array (e.g., `y_true` or `y_pred`) while a minimum of 1 sample "
            "is required."
        )
    sample_weight = check_sample_weight(sample_weight, len(y_true))
    kind_true, kind_pred = type_of_target(y_true), type_of_target(y_pred)
    kinds = {kind_true, kind_pred}
    if kinds == {"binary", "multiclass"}:
        kinds = {"multiclass"}
    if len(kinds) > 1:
        raise ValueError(
            f"Classification metrics can't handle a mix of {kind_true} and {kind_pred} targets"
        )
    kind = kinds.pop()
    if kind not in ("binary", "multiclass", MULTILABEL):
        raise ValueError(f"{kind} is not supported")
    if kind == MULTILABEL:
        if y_true.shape[1] != y_pred.shape[1]:
            raise ValueError("Multi-label binary indicator input with different numbers of labels")
        labels = np.arange(y_true.shape[1])
    else:
        y_true, y_pred = y_true.reshape(len(y_true)), y_pred.reshape(len(y_pred))
        strings = [y.dtype.kind in "USO" for y in (y_true, y_pred)]
        if any(strings) and not all(strings):
            raise ValueError("Mix of label input types (string and number)")
        labels = np.unique(np.concatenate([y_true, y_pred]))
        if kind == "binary" and len(labels) > 2:
            kind = "multiclass"
    if sample_weight is not None and not np.any(sample_weight):
        raise ValueError("Sample weights must contain at least one non-zero number.")
    return kind, labels, y_true, y_pred, sample_weight
