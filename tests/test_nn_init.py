"""``minillm.nn.init`` distributions and ``minillm.nn.utils`` gradient clipping.

Initializers are checked statistically on large tensors (mean and std within a few standard errors
of the theory), for bounds, dtype, in-place writing and reproducibility under ``manual_seed``;
``calculate_gain`` and the clipping functions are compared with PyTorch.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

import minillm
from minillm import nn
from minillm.nn import init
from minillm.nn.utils import clip_grad_norm_, clip_grad_value_

SHAPE = (300, 200)  # 60,000 draws: the sample std is within ~0.6% of the true one (2 sigma)
FAN_IN, FAN_OUT = 200, 300


@pytest.fixture(scope="module")
def torch() -> Any:
    return pytest.importorskip("torch")


def stats_close(t: minillm.Tensor, mean: float, std: float) -> None:
    data = t.data.astype(np.float64)
    n = data.size
    assert abs(data.mean() - mean) < 5 * std / math.sqrt(n) + 1e-12, data.mean()
    assert abs(data.std() - std) < 0.02 * std, (data.std(), std)


def trunc_normal_std(std: float, a: float, b: float) -> float:
    """Standard deviation of N(0, std^2) truncated to [a, b] (the textbook formula)."""
    al, be = a / std, b / std
    pdf = lambda z: math.exp(-z * z / 2) / math.sqrt(2 * math.pi)  # noqa: E731
    cdf = lambda z: 0.5 * (1 + math.erf(z / math.sqrt(2)))  # noqa: E731
    z = cdf(be) - cdf(al)
    var = 1 + (al * pdf(al) - be * pdf(be)) / z - ((pdf(al) - pdf(be)) / z) ** 2
    return std * math.sqrt(var)


CASES = [
    ("uniform_", {"a": -2.0, "b": 4.0}, 1.0, 6 / math.sqrt(12)),
    ("normal_", {"mean": 0.5, "std": 0.2}, 0.5, 0.2),
    ("xavier_uniform_", {"gain": 2.0}, 0.0, 2.0 * math.sqrt(2 / (FAN_IN + FAN_OUT))),
    ("xavier_normal_", {}, 0.0, math.sqrt(2 / (FAN_IN + FAN_OUT))),
    ("kaiming_uniform_", {"nonlinearity": "relu"}, 0.0, math.sqrt(2 / FAN_IN)),
    ("kaiming_uniform_", {"a": math.sqrt(5)}, 0.0, 1 / math.sqrt(3 * FAN_IN)),
    ("kaiming_normal_", {"mode": "fan_out", "nonlinearity": "relu"}, 0.0, math.sqrt(2 / FAN_OUT)),
    ("trunc_normal_", {"std": 1.0, "a": -1.5, "b": 1.5}, 0.0, trunc_normal_std(1.0, -1.5, 1.5)),
    ("trunc_normal_", {"std": 0.02}, 0.0, 0.02),  # bounds at +-2 are 100 sigma away: no effect
]


@pytest.mark.parametrize(("name", "kwargs", "mean", "std"), CASES, ids=[c[0] for c in CASES])
def test_initializer_distribution(name: str, kwargs: dict, mean: float, std: float) -> None:
    t = minillm.zeros(*SHAPE)
    array = t.data
    out = getattr(init, name)(t, **kwargs)
    assert out is t and t.data is array and t.dtype == np.float32  # in place, dtype kept
    stats_close(t, mean, std)


def test_bounds_of_bounded_initializers() -> None:
    bound = math.sqrt(6 / (FAN_IN + FAN_OUT))
    assert np.abs(init.xavier_uniform_(minillm.zeros(*SHAPE)).data).max() <= bound
    # a=0 with leaky_relu is a slope of 0, i.e. the ReLU gain sqrt(2): b = sqrt(6 / fan_in)
    assert np.abs(init.kaiming_uniform_(minillm.zeros(*SHAPE)).data).max() <= math.sqrt(6 / FAN_IN)
    t = init.trunc_normal_(minillm.zeros(10_000, dtype=np.float64), mean=1.0, std=2.0, a=0.0, b=1.5)
    assert t.data.min() >= 0.0 and t.data.max() <= 1.5
    u = init.uniform_(minillm.zeros(10_000), -0.1, 0.1)
    assert u.data.min() >= -0.1 and u.data.max() <= 0.1


def test_constant_initializers_and_parameters_requiring_grad() -> None:
    p = nn.Parameter(minillm.randn(3, 2))
    assert init.zeros_(p) is p and not p.data.any()  # works on a Parameter without no_grad
    assert init.ones_(p).data.tolist() == [[1.0, 1.0]] * 3
    assert init.constant_(p, -0.25).data.tolist() == [[-0.25, -0.25]] * 3
    assert init.normal_(minillm.zeros(4, dtype=np.float64)).dtype == np.float64


def test_initializers_are_reproducible_with_manual_seed() -> None:
    minillm.manual_seed(5)
    a = init.xavier_normal_(minillm.zeros(4, 4)).data.copy()
    minillm.manual_seed(5)
    np.testing.assert_array_equal(a, init.xavier_normal_(minillm.zeros(4, 4)).data)


def test_fans_gain_and_errors(torch: Any) -> None:
    assert init.calculate_fan_in_and_fan_out(minillm.zeros(8, 4, 3, 3)) == (36, 72)
    for nl, param in [
        ("linear", None),
        ("sigmoid", None),
        ("tanh", None),
        ("relu", None),
        ("leaky_relu", None),
        ("leaky_relu", 0.2),
        ("selu", None),
    ]:
        assert init.calculate_gain(nl, param) == pytest.approx(
            torch.nn.init.calculate_gain(nl, param), rel=1e-12
        )
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        init.xavier_uniform_(minillm.zeros(5))
    with pytest.raises(ValueError, match="unsupported nonlinearity 'swish'"):
        init.calculate_gain("swish")
    with pytest.raises(ValueError, match="mode must be"):
        init.kaiming_normal_(minillm.zeros(2, 2), mode="fan_avg")
    with pytest.raises(ValueError, match="a < b"):
        init.trunc_normal_(minillm.zeros(2), a=1.0, b=1.0)


# --------------------------------------------------------------------------------------------------
# Gradient clipping
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, math.inf])
@pytest.mark.parametrize("max_norm", [0.5, 1e3])
def test_clip_grad_norm_matches_pytorch(torch: Any, norm_type: float, max_norm: float) -> None:
    rng = np.random.default_rng(0)
    grads = [rng.standard_normal(s) for s in [(3, 4), (4,), (2, 2, 2)]]
    ours = [minillm.zeros(*g.shape, dtype=np.float64, requires_grad=True) for g in grads]
    theirs = [torch.zeros(g.shape, dtype=torch.float64, requires_grad=True) for g in grads]
    for o, t, g in zip(ours, theirs, grads):
        o.grad = minillm.tensor(g)
        t.grad = torch.tensor(g)
    ours.append(minillm.zeros(2, requires_grad=True))  # a parameter with no grad is skipped
    total = clip_grad_norm_(ours, max_norm, norm_type)
    expected = torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type)
    assert float(total) == pytest.approx(float(expected), rel=1e-12)
    for o, t in zip(ours, theirs):
        np.testing.assert_allclose(o.grad.data, t.grad.numpy(), rtol=1e-12)


def test_clip_grad_norm_nonfinite_and_empty() -> None:
    w = minillm.zeros(2, requires_grad=True)
    w.grad = minillm.tensor([np.inf, 1.0])
    with pytest.raises(RuntimeError, match="inf"):
        clip_grad_norm_(w, 1.0, error_if_nonfinite=True)
    assert float(clip_grad_norm_([minillm.zeros(2, requires_grad=True)], 1.0)) == 0.0


def test_clip_grad_value_matches_pytorch(torch: Any) -> None:
    g = np.random.default_rng(1).standard_normal((5, 3))
    o = minillm.zeros(5, 3, dtype=np.float64, requires_grad=True)
    o.grad = minillm.tensor(g)
    t = torch.zeros(5, 3, dtype=torch.float64, requires_grad=True)
    t.grad = torch.tensor(g)
    clip_grad_value_(o, 0.5)
    torch.nn.utils.clip_grad_value_(t, 0.5)
    np.testing.assert_array_equal(o.grad.data, t.grad.numpy())


def test_clip_grad_norm_clips_parameters_given_as_a_generator():
    """model.parameters() is a generator: read once, it must still be clipped."""
    w = minillm.tensor([3.0, 4.0], requires_grad=True)
    (w * w).sum().backward()
    model_parameters = (p for p in [w])
    assert float(nn.utils.clip_grad_norm_(model_parameters, 1.0)) == 10.0
    assert abs(float((w.grad * w.grad).sum().sqrt()) - 1.0) < 1e-5
