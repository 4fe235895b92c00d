"""Choosing a network's settings honestly: held-out test data, cross-validation, then a search.

The data are two interleaved half-moons with noise: a small MLP can separate them, but how wide
should it be, and how fast should it learn? The rules of the game, as scikit-learn plays it:

1. split off a test set first (``train_test_split``, stratified) and do not look at it again
   until the very end;
2. estimate how good a setting is by k-fold cross-validation on the training part only: the mean
   of k held-out scores, and their spread;
3. a validation curve (one setting varied) shows under- and over-fitting; a search (grid, then a
   Gaussian-process Bayesian search over a log-scaled learning rate) picks the best setting;
4. refit the winner on all the training data, and report it once on the test set.

The network is a minillm ``nn.Module`` behind ``NeuralClassifier``, so every tool here (and
scikit-learn's own, were it installed) treats it like any other estimator.

Run:  python examples/08_model_selection.py
"""

from __future__ import annotations

import numpy as np

from minillm import metrics, nn
from minillm.model_selection import (
    BayesSearchCV,
    GridSearchCV,
    Integer,
    NeuralClassifier,
    Real,
    StratifiedKFold,
    cross_val_score,
    train_test_split,
    validation_curve,
)


def moons(n: int, noise: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaved half circles, n points in all, with Gaussian noise."""
    rng = np.random.default_rng(seed)
    t = rng.uniform(0, np.pi, n)
    label = rng.integers(0, 2, n)
    x = np.where(label == 0, np.cos(t), 1 - np.cos(t))
    y = np.where(label == 0, np.sin(t), 0.5 - np.sin(t))
    return np.stack([x, y], axis=1) + rng.normal(0, noise, (n, 2)), label


def mlp(n_features: int, n_outputs: int, hidden: int = 16) -> nn.Module:
    return nn.Sequential(nn.Linear(n_features, hidden), nn.Tanh(), nn.Linear(hidden, n_outputs))


def main() -> None:
    X, y = moons(400, noise=0.2, seed=0)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, stratify=y, random_state=0
    )
    print(f"{len(X_train)} training and {len(X_test)} test samples")

    net = NeuralClassifier(mlp, epochs=40, batch_size=32, lr=1e-2, random_state=0)
    cv = StratifiedKFold(5, shuffle=True, random_state=0)
    scores = cross_val_score(net, X_train, y_train, cv=cv)
    print(f"5-fold accuracy of the default net: {scores.mean():.3f} +- {scores.std():.3f}")

    widths = [1, 2, 4, 16]
    train, test = validation_curve(net, X_train, y_train, param_name="module__hidden",
                                   param_range=widths, cv=cv)  # fmt: skip
    print("hidden width   train acc   cv acc")
    for width, tr, te in zip(widths, train.mean(axis=1), test.mean(axis=1)):
        print(f"{width:>12}   {tr:9.3f}   {te:6.3f}")
    assert test.mean(axis=1)[-1] > test.mean(axis=1)[0], "a wider net should do better here"

    grid = GridSearchCV(net, {"module__hidden": [4, 16], "lr": [1e-3, 1e-2, 3e-2]}, cv=cv)
    grid.fit(X_train, y_train)
    print(f"grid search:  best {grid.best_params_}  cv accuracy {grid.best_score_:.3f}")

    space = {"lr": Real(1e-4, 1e-1, prior="log-uniform"), "module__hidden": Integer(2, 32)}
    bayes = BayesSearchCV(net, space, n_iter=10, cv=cv, random_state=0,
                          optimizer_kwargs={"n_initial_points": 5})  # fmt: skip
    bayes.fit(X_train, y_train)
    best = {k: round(v, 4) if isinstance(v, float) else v for k, v in bayes.best_params_.items()}
    print(f"bayes search: best {best}  cv accuracy {bayes.best_score_:.3f}")

    winner = max((grid, bayes), key=lambda s: s.best_score_)
    predicted = winner.predict(X_test)
    accuracy = metrics.accuracy_score(y_test, predicted)
    print(f"the winner on the untouched test set: accuracy {accuracy:.3f}")
    print("confusion matrix (rows: true class, columns: predicted):")
    print(metrics.confusion_matrix(y_test, predicted))
    assert accuracy > 0.9, accuracy


if __name__ == "__main__":
    main()
