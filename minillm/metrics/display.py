"""Plots of the metrics, shaped like scikit-learn's displays: ``ConfusionMatrixDisplay`` here,
``RocCurveDisplay`` and ``PrecisionRecallDisplay`` in ``curve_display.py``.

A display is the computed values plus a way to draw them. Build it from what you have:

    Display.from_predictions(y_true, y_pred_or_score, ...)   labels and predictions or scores
    Display.from_estimator(estimator, X, y, ...)             a fitted model: its predict (for the
                                                             confusion matrix) or its
                                                             predict_proba / decision_function
    Display(values...).plot(ax=None, ...)                    numbers you computed yourself

Each keeps the numbers it drew as attributes (``confusion_matrix``; ``fpr``, ``tpr``,
``roc_auc``; ``precision``, ``recall``, ``average_precision``) and the matplotlib objects as
``figure_``, ``ax_`` and the artists (``im_`` and ``text_`` for the matrix, ``line_`` for a
curve), so ``disp.figure_.savefig("cm.png")`` saves it. matplotlib is imported only when a plot
is drawn; without it the error says how to install it.

Read next: ``minillm/metrics/curve_display.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import product
from typing import Any

import numpy as np

from minillm.metrics.confusion import confusion_matrix
from minillm.metrics.targets import check_targets


def pyplot(what: str) -> Any:
    """``matplotlib.pyplot``, or an ImportError naming ``what`` needed it and how to install it."""
    try:
        import matplotlib.pyplot as plt
    except ImportError as error:
        raise ImportError(
            f'{what} requires matplotlib. Install it with: pip install -e ".[plot]" '
            "(or pip install matplotlib)"
        ) from error
    return plt


def axes(ax: Any, what: str) -> tuple[Any, Any]:
    """(figure, axes): a new figure when ``ax`` is None, else ``ax`` and its figure."""
    plt = pyplot(what)
    if ax is None:
        figure, ax = plt.subplots()
        return figure, ax
    return ax.figure, ax


def _cell_text(value: Any, values_format: str | None, is_float: bool) -> str:
    """scikit-learn's cell text: ``values_format``, else the shorter of 2 significant digits
    and (for counts) the plain integer."""
    if values_format is not None:
        return format(value, values_format)
    text = format(value, ".2g")
    if not is_float and len(format(value, "d")) < len(text):
        text = format(value, "d")
    return text


class ConfusionMatrixDisplay:
    """A confusion matrix as an image: true labels down, predicted labels across, each cell
    written in a colour that shows on its background.

    >>> import matplotlib; matplotlib.use("Agg")
    >>> disp = ConfusionMatrixDisplay.from_predictions(["a", "b", "b"], ["a", "b", "a"])
    >>> disp.confusion_matrix.tolist(), disp.text_[1, 0].get_text()
    ([[1, 0], [1, 1]], '1')
    """

    def __init__(self, confusion_matrix: Any, *, display_labels: Any = None) -> None:
        self.confusion_matrix = confusion_matrix
        self.display_labels = display_labels

    def plot(
        self,
        *,
        include_values: bool = True,
        cmap: Any = "viridis",
        xticks_rotation: Any = "horizontal",
        values_format: str | None = None,
        ax: Any = None,
        colorbar: bool = True,
        im_kw: dict | None = None,
        text_kw: dict | None = None,
    ) -> ConfusionMatrixDisplay:
        """Draw the matrix (on ``ax``, or a new figure); returns self with ``figure_``, ``ax_``,
        ``im_`` and ``text_`` (an array of the cells' Text objects, or None)."""
        plt = pyplot("ConfusionMatrixDisplay.plot")
        figure, ax = axes(ax, "ConfusionMatrixDisplay.plot")
        cm = np.asarray(self.confusion_matrix)
        n = cm.shape[0]
        self.im_ = ax.imshow(cm, **{"interpolation": "nearest", "cmap": cmap, **(im_kw or {})})
        self.text_ = None
        if include_values:
            self.text_ = np.empty_like(cm, dtype=object)
            dark, light = self.im_.cmap(0), self.im_.cmap(1.0)
            middle = (cm.max() + cm.min()) / 2.0
            for i, j in product(range(n), range(n)):
                color = light if cm[i, j] < middle else dark  # light text on a dark cell
                text = _cell_text(cm[i, j], values_format, cm.dtype.kind == "f")
                kw = {"ha": "center", "va": "center", "color": color, **(text_kw or {})}
                self.text_[i, j] = ax.text(j, i, text, **kw)
        names = np.arange(n) if self.display_labels is None else self.display_labels
        if colorbar:
            figure.colorbar(self.im_, ax=ax)
        ax.set(xticks=np.arange(n), yticks=np.arange(n), xticklabels=names, yticklabels=names,
               ylabel="True label", xlabel="Predicted label")  # fmt: skip
        ax.set_ylim((n - 0.5, -0.5))  # row 0 at the top, as the matrix is printed
        plt.setp(ax.get_xticklabels(), rotation=xticks_rotation)
        self.figure_, self.ax_ = figure, ax
        return self

    @classmethod
    def from_predictions(
        cls,
        y_true: Any,
        y_pred: Any,
        *,
        labels: Sequence[Any] | None = None,
        sample_weight: Any = None,
        normalize: str | None = None,
        display_labels: Any = None,
        **plot_kw: Any,
    ) -> ConfusionMatrixDisplay:
        """``confusion_matrix(y_true, y_pred, ...)`` drawn; ``plot_kw`` go to ``plot``
        (include_values, cmap, xticks_rotation, values_format, ax, colorbar, im_kw, text_kw)."""
        pyplot(f"{cls.__name__}.from_predictions")
        if display_labels is None:
            display_labels = check_targets(y_true, y_pred)[1] if labels is None else labels
        cm = confusion_matrix(
            y_true, y_pred, labels=labels, sample_weight=sample_weight, normalize=normalize
        )
        return cls(cm, display_labels=display_labels).plot(**plot_kw)

    @classmethod
    def from_estimator(
        cls, estimator: Any, X: Any, y: Any, **kwargs: Any
    ) -> ConfusionMatrixDisplay:
        """The confusion matrix of ``estimator.predict(X)`` against ``y``; ``kwargs`` as for
        ``from_predictions``."""
        pyplot(f"{cls.__name__}.from_estimator")
        return cls.from_predictions(y, estimator.predict(X), **kwargs)
