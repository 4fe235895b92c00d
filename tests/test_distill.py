"""``F.kl_div`` against PyTorch and the distillation loss: its value, gradients and edge cases."""

from __future__ import annotations

import numpy as np
import pytest

import minillm
from minillm.nn import functional as F
from minillm.testing import gradcheck


@pytest.mark.filterwarnings("ignore:reduction")  # torch's note that 'mean' will change
@pytest.mark.parametrize("reduction", ["none", "sum", "mean", "batchmean"])
@pytest.mark.parametrize("log_target", [False, True])
def test_kl_div_matches_torch(reduction, log_target):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    x = np.log(rng.dirichlet(np.ones(5), 4))
    t = rng.dirichlet(np.ones(5), 4)
    if log_target:
        t = np.log(t)
    else:
        t[0, 1] = 0.0  # 0 log 0 = 0
    ours = F.kl_div(
        minillm.tensor(x), minillm.tensor(t), reduction=reduction, log_target=log_target
    )
    theirs = torch.nn.functional.kl_div(torch.from_numpy(x), torch.from_numpy(t),
                                        reduction=reduction, log_target=log_target)  # fmt: skip
    np.testing.assert_allclose(ours.data, theirs.numpy(), rtol=1e-12, atol=1e-12)


def test_distillation_loss_value_against_torch():
    torch = pytest.importorskip("torch")
    tf = torch.nn.functional
    rng = np.random.default_rng(1)
    s, t = rng.standard_normal((6, 7)), rng.standard_normal((6, 7))
    y = rng.integers(0, 7, 6)
    T, alpha = 3.0, 0.7
    ours = F.distillation_loss(minillm.tensor(s), minillm.tensor(t), minillm.tensor(y), T, alpha)
    ts, tt = torch.from_numpy(s), torch.from_numpy(t)
    soft = tf.kl_div(tf.log_softmax(ts / T, -1), tf.log_softmax(tt / T, -1), reduction="batchmean",
                     log_target=True)  # fmt: skip
    expected = alpha * T**2 * soft + (1 - alpha) * tf.cross_entropy(ts, torch.from_numpy(y))
    assert float(ours) == pytest.approx(float(expected), rel=1e-12)


@pytest.mark.parametrize("temperature,alpha", [(1.0, 0.5), (2.0, 0.9), (4.0, 0.0)])
def test_distillation_loss_gradcheck(temperature, alpha):
    rng = np.random.default_rng(2)
    s = minillm.tensor(rng.standard_normal((2, 3, 5)), dtype="float64", requires_grad=True)
    t = minillm.tensor(rng.standard_normal((2, 3, 5)), dtype="float64")
    y = minillm.tensor(rng.integers(0, 5, 6))
    assert gradcheck(lambda a: F.distillation_loss(a, t, y, temperature, alpha), [s])
    x = minillm.tensor(np.log(rng.dirichlet(np.ones(4), 3)), dtype="float64", requires_grad=True)
    p = minillm.tensor(rng.dirichlet(np.ones(4), 3), dtype="float64")
    assert gradcheck(lambda a: F.kl_div(a, p, reduction="batchmean"), [x])


def test_distillation_loss_checks_and_teacher_is_constant():
    s = minillm.tensor([[1.0, 2.0]], requires_grad=True)
    t = minillm.tensor([[0.0, 1.0]], requires_grad=True)
    F.distillation_loss(s, t, minillm.tensor([1])).backward()
    assert t.grad is None and s.grad is not None
    with pytest.raises(ValueError, match="differ"):
        F.distillation_loss(s, minillm.tensor([[1.0, 2.0, 3.0]]), minillm.tensor([0]))
    with pytest.raises(ValueError, match="temperature"):
        F.distillation_loss(s, t, minillm.tensor([0]), temperature=0.0)
    with pytest.raises(ValueError, match="alpha"):
        F.distillation_loss(s, t, minillm.tensor([0]), alpha=1.5)
    from minillm.compress import distillation_loss

    assert distillation_loss is F.distillation_loss
