"""The checks of the five exercises (``docs/exercises.md``): ``python -m pytest -m exercise``.

They test the stubs you edit in ``exercises/``; with ``MINILLM_EXERCISE_SOLUTIONS=1`` they test
``exercises/solutions/`` instead (the project's own suite does that, in
``tests/test_exercises.py``, so the checks and the solutions stay true).
"""

from __future__ import annotations

import importlib
import os

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minillm
import minillm.inference
from minillm.testing import gradcheck

pytestmark = pytest.mark.exercise


def _load(name: str) -> object:
    package = "exercises.solutions" if os.environ.get("MINILLM_EXERCISE_SOLUTIONS") else "exercises"
    return importlib.import_module(f"{package}.{name}")


floats = st.floats(-30, 30, allow_nan=False)


# 1. Softplus: forward vs NumPy, gradient vs finite differences, PyTorch parity
@given(st.lists(floats, min_size=1, max_size=8))
def test_softplus_forward_equals_numpy(values):
    x = np.array(values)
    y = _load("softplus").softplus(minillm.tensor(x)).numpy()
    np.testing.assert_allclose(y, np.logaddexp(0, x), rtol=1e-12, atol=1e-12)


def test_softplus_gradient_passes_gradcheck():
    x = minillm.tensor([-40.0, -3.0, -0.5, 0.0, 0.7, 4.0, 40.0], dtype="float64",
                       requires_grad=True)  # fmt: skip
    assert gradcheck(_load("softplus").softplus, [x])


def test_softplus_equals_torch():
    torch = pytest.importorskip("torch")
    x = np.linspace(-20, 20, 41)
    ours = minillm.tensor(x, requires_grad=True)
    _load("softplus").softplus(ours).sum().backward()
    theirs = torch.tensor(x, requires_grad=True)
    torch.nn.functional.softplus(theirs).sum().backward()
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-12, atol=1e-12)


# 2. RoPE
def test_rope_rotates_pairs_and_sees_relative_positions():
    apply_rope = _load("rope").apply_rope
    rng = np.random.default_rng(0)
    q, k = rng.normal(size=(1, 8)), rng.normal(size=(1, 8))
    np.testing.assert_allclose(apply_rope(q, np.array([0])), q)  # position 0: identity
    moved = apply_rope(np.repeat(q, 5, 0), np.arange(5))
    np.testing.assert_allclose(np.linalg.norm(moved, axis=-1), np.linalg.norm(q))  # rotations
    scores = {}
    for t, s in [(3, 1), (7, 5), (12, 10)]:  # the same offset, 2, at different places
        qt = apply_rope(q, np.array([t]))
        ks = apply_rope(k, np.array([s]))
        scores[(t, s)] = (qt @ ks.T).item()
    assert np.allclose(list(scores.values()), scores[(3, 1)])
    far = (apply_rope(q, np.array([9])) @ apply_rope(k, np.array([1])).T).item()
    assert not np.isclose(far, scores[(3, 1)])


# 3. top-p
@given(st.lists(floats, min_size=2, max_size=12), st.floats(0.05, 1.0))
def test_top_p_equals_minillm_sampler(values, p):
    logits = np.array(values)
    ours = _load("top_p").top_p_probabilities(logits, p)
    theirs = minillm.inference.probabilities(logits[None], top_p=p)[0]
    np.testing.assert_allclose(ours, theirs, atol=1e-9)


def test_top_p_samples_only_the_nucleus():
    top_p = _load("top_p")
    logits = np.log(np.array([0.5, 0.3, 0.15, 0.05]))
    rng = np.random.default_rng(0)
    draws = {top_p.sample_top_p(logits, 0.75, rng) for _ in range(200)}
    assert draws == {0, 1}


# 4. LRU
def test_lru_evicts_the_least_recently_used():
    cache = _load("lru").LRUCache(2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # "a" is now the most recent
    cache.put("c", 3)  # evicts "b"
    assert cache.get("b") is None and cache.get("a") == 1 and cache.get("c") == 3
    cache.put("a", 10)  # an update, not a new key
    assert len(cache) == 2 and cache.get("a") == 10


# 5. cross-entropy's gradient by hand
@given(st.integers(1, 5), st.integers(2, 7), st.integers(0, 10_000))
def test_cross_entropy_grad_equals_autograd(n, v, seed):
    rng = np.random.default_rng(seed)
    logits, targets = rng.normal(size=(n, v)) * 3, rng.integers(0, v, size=n)
    z = minillm.tensor(logits, requires_grad=True)
    minillm.nn.functional.cross_entropy(z, minillm.tensor(targets)).backward()
    ours = _load("cross_entropy").cross_entropy_grad(logits, targets)
    np.testing.assert_allclose(ours, z.grad.numpy(), atol=1e-12)
