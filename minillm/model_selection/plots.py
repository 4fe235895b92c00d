"""Pictures of the two curves: ``LearningCurveDisplay`` and ``ValidationCurveDisplay``.

Both draw the mean training and test score across the cross-validation splits, with a band of
one standard deviation, against the training-set size (is more data worth getting? a gap that
closes says yes) or against one parameter's values (where does the model start to over-fit? the
training score goes on rising while the test score falls). Shapes follow scikit-learn's displays:
``from_estimator`` computes the curve and plots it, ``plot(ax=None, ...)`` redraws, and ``ax_``,
``figure_``, ``lines_`` and ``fill_between_`` hold what was drawn. matplotlib is imported only
here, when a display is drawn (the ``plot`` extra).

Read next: ``minillm/model_selection/search.py``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from minillm.model_selection.validation import learning_curve, validation_curve


def _pyplot() -> Any:
    try:
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError('drawing a curve needs matplotlib: pip install -e ".[plot]"') from None
    return plt


class _CurveDisplay:
    x_label = ""
    log_x = False

    def __init__(self, x: Any, train_scores: Any, test_scores: Any, score_name: str | None):
        self.train_scores, self.test_scores = np.asarray(train_scores), np.asarray(test_scores)
        self.x, self.score_name = np.asarray(x), score_name

    def plot(self, ax: Any = None, *, negate_score: bool = False, score_name: str | None = None,
             score_type: str = "both", std_display_style: str | None = "fill_between",
             log_x: bool | None = None) -> _CurveDisplay:  # fmt: skip
        """Draw on ``ax`` (a new figure if None); ``negate_score`` shows a loss as positive."""
        if score_type not in ("train", "test", "both"):
            raise ValueError(f"score_type must be 'train', 'test' or 'both', got {score_type!r}")
        if std_display_style not in ("fill_between", "errorbar", None):
            raise ValueError(f"std_display_style must be 'fill_between', 'errorbar' or None, got "
                             f"{std_display_style!r}")  # fmt: skip
        plt = _pyplot()
        if ax is None:
            _, ax = plt.subplots()
        sign = -1.0 if negate_score else 1.0
        sides = {"train": self.train_scores, "test": self.test_scores}
        shown = ("train", "test") if score_type == "both" else (score_type,)
        self.lines_, self.fill_between_, self.errorbar_ = [], [], []
        for side in shown:
            scores = sign * sides[side]
            mean, std = scores.mean(axis=1), scores.std(axis=1)
            label = f"{side.capitalize()} score"
            if std_display_style == "errorbar":
                self.errorbar_.append(ax.errorbar(self.x, mean, yerr=std, label=label))
                continue
            (line,) = ax.plot(self.x, mean, marker="o", label=label)
            self.lines_.append(line)
            if std_display_style == "fill_between":
                self.fill_between_.append(
                    ax.fill_between(
                        self.x, mean - std, mean + std, alpha=0.3, color=line.get_color()
                    )
                )
        if log_x if log_x is not None else self.log_x:
            ax.set_xscale("log")
        name = score_name or self.score_name or "Score"
        ax.set(xlabel=self.x_label, ylabel=name)
        ax.legend()
        self.ax_, self.figure_ = ax, ax.figure
        return self


class LearningCurveDisplay(_CurveDisplay):
    """Score against the number of training samples."""

    x_label = "Number of samples in the training set"

    def __init__(self, *, train_sizes: Any, train_scores: Any, test_scores: Any,
                 score_name: str | None = None) -> None:  # fmt: skip
        super().__init__(train_sizes, train_scores, test_scores, score_name)
        self.train_sizes = self.x

    @classmethod
    def from_estimator(cls, estimator: Any, X: Any, y: Any, *, ax: Any = None,
                       negate_score: bool = False, score_name: str | None = None,
                       score_type: str = "both", std_display_style: str | None = "fill_between",
                       **kwargs: Any) -> LearningCurveDisplay:  # fmt: skip
        """``learning_curve(estimator, X, y, **kwargs)``, drawn."""
        sizes, train, test = learning_curve(estimator, X, y, **kwargs)[:3]
        name = score_name or (kwargs.get("scoring") if isinstance(kwargs.get("scoring"), str)
                              else None)  # fmt: skip
        display = cls(train_sizes=sizes, train_scores=train, test_scores=test, score_name=name)
        return display.plot(ax, negate_score=negate_score, score_type=score_type,
                            std_display_style=std_display_style)  # fmt: skip


class ValidationCurveDisplay(_CurveDisplay):
    """Score against the values of one parameter."""

    def __init__(self, *, param_name: str, param_range: Any, train_scores: Any, test_scores: Any,
                 score_name: str | None = None) -> None:  # fmt: skip
        super().__init__(param_range, train_scores, test_scores, score_name)
        self.param_name, self.param_range = param_name, self.x
        self.x_label = param_name
        values = self.x.astype(float) if self.x.dtype.kind in "iuf" else None
        self.log_x = values is not None and (values > 0).all() and values.max() / values.min() > 50

    @classmethod
    def from_estimator(cls, estimator: Any, X: Any, y: Any, *, param_name: str, param_range: Any,
                       ax: Any = None, negate_score: bool = False, score_name: str | None = None,
                       score_type: str = "both", std_display_style: str | None = "fill_between",
                       **kwargs: Any) -> ValidationCurveDisplay:  # fmt: skip
        """``validation_curve(estimator, X, y, param_name=, param_range=, **kwargs)``, drawn."""
        train, test = validation_curve(estimator, X, y, param_name=param_name,
                                       param_range=param_range, **kwargs)  # fmt: skip
        name = score_name or (kwargs.get("scoring") if isinstance(kwargs.get("scoring"), str)
                              else None)  # fmt: skip
        display = cls(param_name=param_name, param_range=list(param_range), train_scores=train,
                      test_scores=test, score_name=name)  # fmt: skip
        return display.plot(ax, negate_score=negate_score, score_type=score_type,
                            std_display_style=std_display_style)  # fmt: skip
