"""Model selection with scikit-learn's names and results: splits, cross-validation and search.

Read in this order: ``base.py`` (what an estimator is: get_params, set_params, clone),
``scoring.py`` (a metric as a score of a fitted model), ``splits.py`` and ``shuffle.py``
(train/test indices), ``jobs.py`` (tasks in forked processes), ``validation.py``
(cross-validation and the learning and validation curves), ``search.py`` (grid and random
search), ``space.py``, ``gp.py`` and
``bayes.py`` (search spaces, a Gaussian process, and the optimizer built on them),
``bayes_search.py`` (the search that uses it), ``neural.py`` (minillm networks as estimators),
``plots.py`` (the learning and validation curves drawn).
"""

from minillm.model_selection.base import BaseEstimator, clone, is_classifier, is_regressor
from minillm.model_selection.bayes import Optimizer, dummy_minimize, gp_minimize
from minillm.model_selection.bayes_search import BayesSearchCV
from minillm.model_selection.neural import NeuralClassifier, NeuralRegressor
from minillm.model_selection.plots import LearningCurveDisplay, ValidationCurveDisplay
from minillm.model_selection.scoring import check_scoring, get_scorer, get_scorer_names, make_scorer
from minillm.model_selection.search import (
    GridSearchCV,
    ParameterGrid,
    ParameterSampler,
    RandomizedSearchCV,
)
from minillm.model_selection.shuffle import ShuffleSplit, StratifiedShuffleSplit, train_test_split
from minillm.model_selection.space import Categorical, Integer, Real, Space
from minillm.model_selection.splits import (
    GroupKFold,
    KFold,
    StratifiedKFold,
    TimeSeriesSplit,
    check_cv,
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
    "BayesSearchCV",
    "Categorical",
    "FitFailedWarning",
    "GridSearchCV",
    "GroupKFold",
    "Integer",
    "KFold",
    "LearningCurveDisplay",
    "NeuralClassifier",
    "NeuralRegressor",
    "Optimizer",
    "ParameterGrid",
    "ParameterSampler",
    "RandomizedSearchCV",
    "Real",
    "ShuffleSplit",
    "Space",
    "StratifiedKFold",
    "StratifiedShuffleSplit",
    "TimeSeriesSplit",
    "ValidationCurveDisplay",
    "check_cv",
    "check_scoring",
    "clone",
    "cross_val_score",
    "cross_validate",
    "dummy_minimize",
    "get_scorer",
    "get_scorer_names",
    "gp_minimize",
    "is_classifier",
    "is_regressor",
    "learning_curve",
    "make_scorer",
    "train_test_split",
    "validation_curve",
]
