"""Model selection with scikit-learn's names and results: splits, cross-validation and search.

Read in this order: ``base.py`` (what an estimator is: get_params, set_params, clone),
``scoring.py`` (a metric as a score of a fitted model), ``splits.py`` (train/test indices),
``jobs.py`` (tasks in forked processes), ``validation.py`` (cross-validation and the learning and
validation curves), ``search.py`` (grid and random search), ``neural.py`` (minillm networks as
estimators).
"""

from minillm.model_selection.base import BaseEstimator, clone, is_classifier, is_regressor
from minillm.model_selection.neural import NeuralClassifier, NeuralRegressor
from minillm.model_selection.scoring import check_scoring, get_scorer, get_scorer_names, make_scorer
from minillm.model_selection.search import (
    GridSearchCV,
    ParameterGrid,
    ParameterSampler,
    RandomizedSearchCV,
)
from minillm.model_selection.splits import (
    GroupKFold,
    KFold,
    ShuffleSplit,
    StratifiedKFold,
    StratifiedShuffleSplit,
    TimeSeriesSplit,
    check_cv,
    train_test_split,
)
from minillm.model_selection.validation import (
    FitFailedWarning,
    cross_val_score,
    cross_validate,
    learning_curve,
    validation_curve,
)

__all__ = [
    "BaseEstimator",
    "FitFailedWarning",
    "GridSearchCV",
    "GroupKFold",
    "KFold",
    "NeuralClassifier",
    "NeuralRegressor",
    "ParameterGrid",
    "ParameterSampler",
    "RandomizedSearchCV",
    "ShuffleSplit",
    "StratifiedKFold",
    "StratifiedShuffleSplit",
    "TimeSeriesSplit",
    "check_cv",
    "check_scoring",
    "clone",
    "cross_val_score",
    "cross_validate",
    "get_scorer",
    "get_scorer_names",
    "is_classifier",
    "is_regressor",
    "learning_curve",
    "make_scorer",
    "train_test_split",
    "validation_curve",
]
