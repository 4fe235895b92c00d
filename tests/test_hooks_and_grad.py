"""``Tensor.register_hook`` and ``minillm.autograd.grad``: gradients seen, changed and returned
without touching ``.grad``, as PyTorch's."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minillm as mi
from minillm.autograd import grad
from minillm.testing import shapes


def test_a_leaf_hook_sees_the_whole_gradient_once_and_may_replace_it():
    x = mi.tensor([1.0, 2.0], requires_grad=True)
    seen = []
    handle = x.register_hook(lambda g: seen.append(g.tolist()) or g * 2)
    (x * x + x * 3).sum().backward()  # x reaches the loss along two paths
    assert seen == [[5.0, 7.0]] and x.grad.tolist() == [10.0, 14.0]
    handle.remove()
    x.grad = None
    (x * 3).sum().backward()
    assert seen == [[5.0, 7.0]] and x.grad.tolist() == [3.0, 3.0]


def test_a_non_leaf_hook_changes_what_flows_further_back():
    x = mi.tensor([1.0, -1.0], requires_grad=True)
    y = x * 2
    y.register_hook(lambda g: g.clamp(min=0.5))
    (y * mi.tensor([0.1, 3.0])).sum().backward()
    assert x.grad.tolist() == [1.0, 6.0]  # (0.1 -> 0.5, 3.0) times dy/dx = 2


@given(shape=shapes(min_dims=1, max_dims=2, max_side=3))
def test_grad_equals_backward_and_touches_no_grad(shape):
    rng = np.random.default_rng(0)
    a = mi.tensor(rng.standard_normal(shape), requires_grad=True)
    b = mi.tensor(rng.standard_normal(shape), requires_grad=True)

    def loss():
        h = (a * b).tanh()
        return (h * h + a.exp()).sum(), h

    out, h = loss()
    ga, gb, gh = grad(out, [a, b, h], retain_graph=True)
    assert a.grad is None and b.grad is None
    out.backward()
    np.testing.assert_allclose(ga.data, a.grad.data)
    np.testing.assert_allclose(gb.data, b.grad.data)
    np.testing.assert_allclose(gh.data, 2 * h.data)


def test_grad_with_several_outputs_and_grad_outputs():
    x = mi.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y1, y2 = x * 2, x * x
    (g,) = grad([y1, y2], x, grad_outputs=[mi.ones(3), mi.tensor([1.0, 0.0, 1.0])])
    assert g.tolist() == [4.0, 2.0, 8.0]


def test_grad_refuses_what_it_cannot_do():
    x = mi.tensor([1.0], requires_grad=True)
    z = mi.tensor([1.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="not used"):
        grad((x * 2).sum(), [x, z])
    assert grad((x * 2).sum(), [x, z], allow_unused=True)[1] is None
    with pytest.raises(RuntimeError, match="pass grad_outputs"):
        grad(mi.ones(2, requires_grad=True) * 2, x)
    with pytest.raises(NotImplementedError, match="create_graph"):
        grad((x * x).sum(), x, create_graph=True)


def test_hooks_and_grad_match_pytorch():
    torch = pytest.importorskip("torch")
    data = np.array([0.5, -1.5, 2.0])
    x, tx = mi.tensor(data, requires_grad=True), torch.tensor(data, requires_grad=True)
    for t in (x, tx):
        t.register_hook(lambda g: g * g)
    ((x * x).sin().sum()).backward()
    ((tx * tx).sin().sum()).backward()
    np.testing.assert_allclose(x.grad.data, tx.grad.numpy())
    (ours,) = grad((x.exp() * x).sum(), x)
    (theirs,) = torch.autograd.grad((tx.exp() * tx).sum(), tx)
    np.testing.assert_allclose(ours.data, theirs.numpy())


@st.composite
def _gqa(draw):
    hkv = draw(st.integers(1, 2))
    return draw(st.integers(1, 3)) * hkv, hkv


@given(heads=_gqa(), causal=st.booleans())
def test_grouped_query_attention_matches_pytorch(heads, causal):
    torch = pytest.importorskip("torch")
    hq, hkv = heads
    rng = np.random.default_rng(hq * 10 + hkv)
    q = rng.standard_normal((2, hq, 4, 8))
    k, v = rng.standard_normal((2, hkv, 4, 8)), rng.standard_normal((2, hkv, 4, 8))
    ours = [mi.tensor(a, requires_grad=True) for a in (q, k, v)]
    theirs = [torch.tensor(a, requires_grad=True) for a in (q, k, v)]
    out = mi.nn.functional.scaled_dot_product_attention(*ours, is_causal=causal, enable_gqa=True)
    ref = torch.nn.functional.scaled_dot_product_attention(*theirs, is_causal=causal,
                                                           enable_gqa=True)  # fmt: skip
    np.testing.assert_allclose(out.data, ref.detach().numpy(), atol=1e-12)
    out.sum().backward()
    ref.sum().backward()
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a.grad.data, b.grad.numpy(), atol=1e-12)


def test_creation_and_selection_helpers():
    torch = pytest.importorskip("torch")
    np.testing.assert_allclose(mi.linspace(-1, 2, 7).data, torch.linspace(-1, 2, 7).numpy())
    a, b = mi.meshgrid(mi.arange(3.0), mi.arange(2.0))
    ta, tb = torch.meshgrid(torch.arange(3.0), torch.arange(2.0), indexing="ij")
    assert np.array_equal(a.data, ta.numpy()) and np.array_equal(b.data, tb.numpy())
    x = mi.tensor([[0.0, 1.5], [2.0, 0.0]])
    assert mi.nonzero(x).tolist() == [[0, 1], [1, 0]]
    assert mi.masked_select(x, x > 1).tolist() == [1.5, 2.0]
    assert mi.full_like(x, 7).tolist() == [[7.0, 7.0], [7.0, 7.0]]
    assert mi.empty(2, 3).shape == (2, 3)
