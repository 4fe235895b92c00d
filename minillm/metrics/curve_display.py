"""Curve plots of a binary classifier, shaped like scikit-learn's: ``RocCurveDisplay`` (true
against false positive rate, with the AUC in the legend) and ``PrecisionRecallDisplay``
(precision against recall as a step function, with the average precision).

Both share how a fitted model becomes scores (``from_estimator``): the model's
``predict_proba`` column of the positive class, or else its ``decision_function`` (negated when
the positive class is the first of ``classes_``); ``response_method`` picks one. The positive
class is ``pos_label``, by default the last of ``classes_`` (from an estimator) or 1 (from
predictions with labels in {0, 1} or {-1, 1}; other labels must name it).

Read next: ``minillm/model_selection/`` (splits, cross-validation and searches scored by these
metrics).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from minillm.metrics._validation import check_lengths
from minillm.metrics.areas import average_precision_score
from minillm.metrics.display import axes, pyplot
from minillm.metrics.ranking import auc, precision_recall_curve, roc_curve
from minillm.metrics.targets import type_of_target


def binary_response(estimator: Any, X: Any, response_method: Any, pos_label: Any) -> tuple:
    """(scores of the positive class, pos_label) from a fitted binary classifier."""
    classes = np.asarray(estimator.classes_)
    if len(classes) != 2:
        raise ValueError(
            f"Expected 'estimator' to be a binary classifier. Got {len(classes)} classes instead."
        )
    if pos_label is not None and pos_label not in classes.tolist():
        raise ValueError(
            f"pos_label={pos_label} is not a valid label: It should be one of {classes}"
        )
    pos_label = classes[-1] if pos_label is None else pos_label
    if response_method == "auto":
        response_method = ["predict_proba", "decision_function"]
    names = [response_method] if isinstance(response_method, str) else list(response_method)
    found = [name for name in names if hasattr(estimator, name)]
    if not found:
        raise AttributeError(
            f"{type(estimator).__name__} has none of the following attributes: {', '.join(names)}."
        )
    scores = np.asarray(getattr(estimator, found[0])(X))
    if found[0] in ("predict_proba", "predict_log_proba"):
        return scores[:, np.flatnonzero(classes == pos_label)[0]], pos_label
    if found[0] == "decision_function" and pos_label == classes[0]:
        scores = -scores  # the decision function points toward classes_[1]
    return scores, pos_label


def _checked_pos_label(y_true: Any, y_score: Any, sample_weight: Any, pos_label: Any) -> Any:
    """Binary targets of matching length, and the positive class (1 when ``pos_label`` is None
    and the labels are {0, 1} or {-1, 1}; any other labels must name it)."""
    kind = type_of_target(y_true)
    if kind != "binary":
        raise ValueError(f"The target y is not binary. Got {kind} type of target.")
    check_lengths(*[a for a in (y_true, y_score, sample_weight) if a is not None])
    if pos_label is not None:
        return pos_label
    y = np.asarray(y_true)
    classes = np.unique(y)
    if y.dtype.kind in "OUS" or set(classes.tolist()) not in ({0, 1}, {-1, 1}, {0}, {-1}, {1}):
        raise ValueError(
            f"y_true takes value in {{{', '.join(repr(c) for c in classes.tolist())}}} and "
            "pos_label is not specified: either make y_true take value in {0, 1} or {-1, 1} or "
            "pass pos_label explicitly."
        )
    return 1


class _CurveDisplay:
    """What both curve displays share: the legend label and the finished axes."""

    metric_name = ""
    axis_names = ("", "")
    legend_at = ""
    curve_defaults: ClassVar[dict] = {}
    name: str | None
    pos_label: Any

    @classmethod
    def from_estimator(
        cls,
        estimator: Any,
        X: Any,
        y: Any,
        *,
        response_method: Any = "auto",
        pos_label: Any = None,
        name: str | None = None,
        **kwargs: Any,
    ) -> Any:
        """The curve of a fitted binary classifier's scores on X against y: its
        ``decision_function`` or positive-class ``predict_proba``, then ``from_predictions``."""
        pyplot(f"{cls.__name__}.from_estimator")
        score, pos_label = binary_response(estimator, X, response_method, pos_label)
        name = type(estimator).__name__ if name is None else name
        return cls.from_predictions(y, score, pos_label=pos_label, name=name, **kwargs)

    def _label(self, value: float | None, name: str | None) -> str | None:
        if value is not None and name is not None:
            return f"{name} ({self.metric_name} = {value:0.2f})"
        if value is not None:
            return f"{self.metric_name} = {value:0.2f}"
        return name

    def _draw(self, ax: Any, name: str | None, x: Any, y: Any, value: Any, curve_kw: Any) -> Any:
        """Draw the curve; set ``figure_``, ``ax_`` and ``line_``; returns the line's kwargs."""
        self.figure_, self.ax_ = axes(ax, f"{type(self).__name__}.plot")
        name = self.name if name is None else name
        kw = {"label": self._label(value, name), **self.curve_defaults, **(curve_kw or {})}
        (self.line_,) = self.ax_.plot(x, y, **kw)
        suffix = f" (Positive label: {self.pos_label})" if self.pos_label is not None else ""
        self.ax_.set(
            xlabel=self.axis_names[0] + suffix,
            xlim=(-0.01, 1.01),
            ylabel=self.axis_names[1] + suffix,
            ylim=(-0.01, 1.01),
            aspect="equal",
        )
        return kw

    def _finish(self, kw: dict, despine: bool, chance_label: str | None) -> None:
        if despine:
            for side in ("top", "right"):
                self.ax_.spines[side].set_visible(False)
            for side in ("bottom", "left"):
                self.ax_.spines[side].set_bounds(0, 1)
        if kw.get("label") is not None or chance_label is not None:
            self.ax_.legend(loc=self.legend_at)


class RocCurveDisplay(_CurveDisplay):
    """The ROC curve (``fpr``, ``tpr``) and its area ``roc_auc``.

    >>> import matplotlib; matplotlib.use("Agg")
    >>> disp = RocCurveDisplay.from_predictions([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    >>> disp.roc_auc, disp.line_.get_label()
    (0.75, 'Classifier (AUC = 0.75)')
    """

    metric_name, legend_at = "AUC", "lower right"
    axis_names = ("False Positive Rate", "True Positive Rate")

    def __init__(
        self,
        *,
        fpr: Any,
        tpr: Any,
        roc_auc: float | None = None,
        name: str | None = None,
        pos_label: Any = None,
    ) -> None:
        self.fpr, self.tpr, self.roc_auc = fpr, tpr, roc_auc
        self.name, self.pos_label = name, pos_label

    def plot(
        self,
        ax: Any = None,
        *,
        name: str | None = None,
        curve_kwargs: dict | None = None,
        plot_chance_level: bool = False,
        chance_level_kw: dict | None = None,
        despine: bool = False,
    ) -> RocCurveDisplay:
        """Draw the curve (and with ``plot_chance_level`` the diagonal of a random score)."""
        kw = self._draw(ax, name, self.fpr, self.tpr, self.roc_auc, curve_kwargs)
        self.chance_level_ = None
        chance = {
            "label": "Chance level (AUC = 0.5)",
            "color": "k",
            "linestyle": "--",
            **(chance_level_kw or {}),
        }
        if plot_chance_level:
            (self.chance_level_,) = self.ax_.plot((0, 1), (0, 1), **chance)
        self._finish(kw, despine, chance.get("label") if plot_chance_level else None)
        return self

    @classmethod
    def from_predictions(
        cls,
        y_true: Any,
        y_score: Any = None,
        *,
        sample_weight: Any = None,
        drop_intermediate: bool = True,
        pos_label: Any = None,
        name: str | None = None,
        **plot_kw: Any,
    ) -> RocCurveDisplay:
        """``roc_curve(y_true, y_score, ...)`` and its ``auc``, drawn; ``plot_kw`` go to
        ``plot`` (ax, curve_kwargs, plot_chance_level, chance_level_kw, despine)."""
        pyplot(f"{cls.__name__}.from_predictions")
        positive = _checked_pos_label(y_true, y_score, sample_weight, pos_label)
        fpr, tpr, _ = roc_curve(
            y_true,
            y_score,
            pos_label=pos_label,
            sample_weight=sample_weight,
            drop_intermediate=drop_intermediate,
        )
        display = cls(
            fpr=fpr, tpr=tpr, roc_auc=auc(fpr, tpr), name=name or "Classifier", pos_label=positive
        )
        return display.plot(**plot_kw)


class PrecisionRecallDisplay(_CurveDisplay):
    """The precision-recall curve (``precision``, ``recall``) and ``average_precision``;
    ``prevalence_pos_label`` (the share of positives) is the chance level.

    >>> import matplotlib; matplotlib.use("Agg")
    >>> disp = PrecisionRecallDisplay.from_predictions([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    >>> round(disp.average_precision, 4), disp.prevalence_pos_label
    (0.8333, 0.5)
    """

    metric_name, axis_names, legend_at = "AP", ("Recall", "Precision"), "lower left"
    curve_defaults: ClassVar[dict] = {
        "drawstyle": "steps-post"
    }  # AP is the area under this step function

    def __init__(
        self,
        precision: Any,
        recall: Any,
        *,
        average_precision: float | None = None,
        name: str | None = None,
        pos_label: Any = None,
        prevalence_pos_label: float | None = None,
    ) -> None:
        self.precision, self.recall, self.average_precision = precision, recall, average_precision
        self.name, self.pos_label, self.prevalence_pos_label = name, pos_label, prevalence_pos_label

    def plot(
        self,
        ax: Any = None,
        *,
        name: str | None = None,
        curve_kwargs: dict | None = None,
        plot_chance_level: bool = False,
        chance_level_kw: dict | None = None,
        despine: bool = False,
    ) -> PrecisionRecallDisplay:
        """Draw the curve (and with ``plot_chance_level`` the precision of a random score: the
        prevalence of the positive class)."""
        kw = self._draw(ax, name, self.recall, self.precision, self.average_precision, curve_kwargs)
        self.chance_level_ = None
        label = None
        if plot_chance_level:
            if self.prevalence_pos_label is None:
                raise ValueError(
                    "You must provide prevalence_pos_label when constructing the "
                    "PrecisionRecallDisplay object in order to plot the chance level line. "
                    "Alternatively, you may use PrecisionRecallDisplay.from_estimator or "
                    "PrecisionRecallDisplay.from_predictions to automatically set "
                    "prevalence_pos_label"
                )
            prevalence = self.prevalence_pos_label
            label = f"Chance level (AP = {prevalence:0.2f})"
            chance = {"label": label, "color": "k", "linestyle": "--", **(chance_level_kw or {})}
            (self.chance_level_,) = self.ax_.plot((0, 1), (prevalence, prevalence), **chance)
            label = chance.get("label")
        self._finish(kw, despine, label)
        return self

    @classmethod
    def from_predictions(
        cls,
        y_true: Any,
        y_score: Any = None,
        *,
        sample_weight: Any = None,
        drop_intermediate: bool = False,
        pos_label: Any = None,
        name: str | None = None,
        **plot_kw: Any,
    ) -> PrecisionRecallDisplay:
        """``precision_recall_curve`` and ``average_precision_score`` of the scores, drawn;
        ``plot_kw`` go to ``plot``."""
        pyplot(f"{cls.__name__}.from_predictions")
        pos_label = _checked_pos_label(y_true, y_score, sample_weight, pos_label)
        kw = dict(pos_label=pos_label, sample_weight=sample_weight)
        precision, recall, _ = precision_recall_curve(
            y_true, y_score, drop_intermediate=drop_intermediate, **kw
        )
        ap = average_precision_score(y_true, y_score, **kw)
        prevalence = float(np.mean(np.asarray(y_true) == pos_label))
        display = cls(
            precision,
            recall,
            average_precision=ap,
            name=name or "Classifier",
            pos_label=pos_label,
            prevalence_pos_label=prevalence,
        )
        return display.plot(**plot_kw)
