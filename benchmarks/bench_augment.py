"""Does EDA augmentation help a small-data text classifier? Accuracy at 10%, 30% and 100% of the
training data, with and without augmentation.

The task (``minillm/text/docstrings.py``): which of seven areas of the Python standard library
(text, numbers, time, files, network, concurrency, data formats) a docstring sentence comes
from; 240 sentences an area, drawn from this interpreter's own docstrings, so no download. The
sentences are deduplicated (exact and normalized copies) and split stratified into train /
validation / test (60 / 15 / 25), with a check that no test sentence is in the training set
(``minillm/text/splits.py``). The validation split is not used: every setting is fixed in
advance.

The model: ``nfkc,lower,numbers,whitespace`` cleaning, TF-IDF features (unigrams, sublinear tf,
fitted on the training texts of that run, augmented or not) and a softmax regression (one
``nn.Linear``) trained with Adam behind ``NeuralClassifier``. Augmentation: each training
sentence plus ``--num-aug`` EDA variants (``minillm.text.augment.eda``, alpha 0.1, our own
synonym list). Each cell is the mean and standard deviation of test accuracy over ``--seeds``
seeds (the seed picks the training subset, the EDA draws and the initial weights).

Run:  python benchmarks/bench_augment.py     (rewrites "Text augmentation" in RESULTS.md)
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _common import machine, markdown_table, update_results

from minillm import nn
from minillm.model_selection import NeuralClassifier, train_test_split
from minillm.text import Pipeline, TfidfVectorizer, stdlib_docstrings, train_val_test_split
from minillm.text.augment import eda

CLEAN = Pipeline("nfkc,lower,numbers,whitespace")


def softmax_regression(n_features: int, n_outputs: int) -> nn.Module:
    return nn.Linear(n_features, n_outputs)


def subset(texts: list[str], y: np.ndarray, fraction: float, seed: int) -> tuple[list, np.ndarray]:
    """A stratified ``fraction`` of the training data (all of it at 1.0)."""
    if fraction >= 1.0:
        return texts, y
    idx = np.arange(len(texts))
    chosen, _ = train_test_split(idx, train_size=fraction, stratify=y, random_state=seed)
    return [texts[i] for i in chosen], y[chosen]


def augmented(texts: list[str], y: np.ndarray, num_aug: int, seed: int) -> tuple[list, np.ndarray]:
    """Each text followed by ``num_aug`` EDA variants of it, all with its label."""
    rng = np.random.default_rng(seed)
    out_texts, out_y = [], []
    for text, label in zip(texts, y):
        variants = [text, *eda(text, num_aug, seed=rng)]
        out_texts += variants
        out_y += [label] * len(variants)
    return out_texts, np.asarray(out_y)


def accuracy(train: tuple[list, np.ndarray], test: tuple[list, np.ndarray], args, seed) -> float:
    vectorizer = TfidfVectorizer(sublinear_tf=True)
    X_train = vectorizer.fit_transform(train[0]).toarray().astype(np.float32)
    X_test = vectorizer.transform(test[0]).toarray().astype(np.float32)
    model = NeuralClassifier(softmax_regression, epochs=args.epochs, batch_size=32, lr=args.lr,
                             random_state=seed)  # fmt: skip
    model.fit(X_train, train[1])
    return float((model.predict(X_test) == test[1]).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--num-aug", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--lr", type=float, default=0.01)
    args = parser.parse_args()

    started = time.perf_counter()
    raw, labels, areas = stdlib_docstrings(per_class=240, seed=0)
    texts = [CLEAN(t) for t in raw]
    split = train_val_test_split(texts, labels, val_size=0.15, test_size=0.25, random_state=0)
    print(f"dataset: {len(raw)} sentences from the docstrings of Python "
          f"{platform.python_version()}, {len(areas)} areas; {split.dedup.summary()}")  # fmt: skip
    print(f"split: {len(split.train)} train / {len(split.val)} validation (unused) / "
          f"{len(split.test)} test")  # fmt: skip
    train_texts, train_y = [texts[i] for i in split.train], labels[split.train]
    test = ([texts[i] for i in split.test], labels[split.test])

    rows = []
    for fraction in (0.1, 0.3, 1.0):
        plain, aug, sizes = [], [], []
        for seed in range(args.seeds):
            part = subset(train_texts, train_y, fraction, seed)
            sizes.append(len(part[0]))
            plain.append(accuracy(part, test, args, seed))
            aug.append(accuracy(augmented(*part, args.num_aug, seed), test, args, seed))
        gain = [a - p for a, p in zip(aug, plain)]
        rows.append([f"{fraction:.0%}", f"{sizes[0]}", _mean_sd(plain), _mean_sd(aug),
                     f"{statistics.mean(gain) * 100:+.1f} pts ({sum(g > 0 for g in gain)}/"
                     f"{len(gain)} seeds better)"])  # fmt: skip
        print(" | ".join(rows[-1]), flush=True)

    minutes = (time.perf_counter() - started) / 60
    header = (
        f"Command: `python benchmarks/bench_augment.py` — machine: {machine()}; "
        f"{minutes:.1f} min. Task: which of {len(areas)} standard-library areas "
        f"({', '.join(areas)}) a docstring sentence of Python {platform.python_version()} comes "
        f"from; {len(raw)} sentences ({split.dedup.summary()}), split {len(split.train)} train / "
        f"{len(split.test)} test, stratified, with no test sentence in training. Model: TF-IDF "
        f"(sublinear tf) and softmax regression (`NeuralClassifier`, Adam, lr {args.lr}, "
        f"{args.epochs} epochs). Augmented: every training sentence plus {args.num_aug} EDA "
        f"variants (alpha 0.1, our synonym list). Test accuracy, mean ± sd over {args.seeds} seeds."
    )
    table = markdown_table(
        ["training data", "sentences", "no augmentation", f"EDA x{args.num_aug}", "gain"], rows
    )
    print(f"\n{header}\n\n{table}")
    update_results("Text augmentation", f"{header}\n\n{table}")


def _mean_sd(values: list[float]) -> str:
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.3f} ± {spread:.3f}"


if __name__ == "__main__":
    main()
