"""``Tensor.register_hook`` and ``minillm.autograd.grad``: gradients seen, changed and returned
without touching ``.grad``, as PyTorch's; and gradients of gradients (``create_graph=True``).

Every op's second derivative is checked by ``gradgradcheck`` in ``tests/test_ops.py``; here are the
ways a user reaches it: a Hessian-vector product through a small network (against finite
differences of the gradient, and against PyTorch), ``backward(create_graph=True)``, and the clear
error of an op that cannot do it."""

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
    with pytest.raises(ValueError, match=r"grad_outputs\[0\] has shape"):
        grad(x * 2, x, grad_outputs=mi.ones(3))


def _mlp(seed: int, dtype: str = "float64") -> tuple[mi.nn.Module, mi.Tensor, mi.Tensor]:
    """A small classifier using the fused ops too (Linear, LayerNorm, GELU, cross-entropy)."""
    mi.manual_seed(seed)
    net = mi.nn.Sequential(
        mi.nn.Linear(4, 6), mi.nn.LayerNorm(6), mi.nn.GELU(), mi.nn.Linear(6, 3), mi.nn.Tanh()
    ).to(dtype)
    rng = np.random.default_rng(seed)
    x = mi.tensor(rng.standard_normal((5, 4)).astype(dtype))
    y = mi.tensor(rng.integers(0, 3, size=5))
    return net, x, y


def _hvp(net: mi.nn.Module, x: mi.Tensor, y: mi.Tensor, v: list[np.ndarray]) -> list[np.ndarray]:
    """H v for the loss's Hessian in the parameters: grad of <grad, v>."""
    params = list(net.parameters())
    loss = mi.nn.functional.cross_entropy(net(x), y, label_smoothing=0.1)
    gs = grad(loss, params, create_graph=True)
    assert all(g.requires_grad for g in gs)
    return [h.data for h in grad(list(gs), params, grad_outputs=[mi.tensor(a) for a in v])]


@given(seed=st.integers(0, 2**16))
def test_hessian_vector_product_equals_finite_differences_of_the_gradient(seed):
    net, x, y = _mlp(seed)
    params = list(net.parameters())
    rng = np.random.default_rng(seed + 1)
    v = [rng.standard_normal(p.shape) for p in params]
    hv = _hvp(net, x, y, v)

    def gradient_at(step: float) -> list[np.ndarray]:
        with mi.no_grad():
            for p, d in zip(params, v):
                p.data += step * d
        out = grad(mi.nn.functional.cross_entropy(net(x), y, label_smoothing=0.1), params)
        with mi.no_grad():
            for p, d in zip(params, v):
                p.data -= step * d
        return [g.data for g in out]

    eps = 1e-5
    plus, minus = gradient_at(eps), gradient_at(-eps)
    for h, a, b in zip(hv, plus, minus):
        np.testing.assert_allclose(h, (a - b) / (2 * eps), rtol=1e-4, atol=1e-7)


def test_backward_with_create_graph_leaves_differentiable_grads():
    x = mi.tensor([0.5, -1.0, 2.0], dtype="float64", requires_grad=True)
    (x**3).sum().backward(create_graph=True)
    first = x.grad
    assert first.requires_grad and first.grad_fn is not None
    np.testing.assert_allclose(first.data, 3 * x.data**2)
    (second,) = grad(first.sum(), x)  # d/dx of sum 3x^2 = 6x
    np.testing.assert_allclose(second.data, 6 * x.data)
    (x**2).sum().backward(create_graph=True)  # accumulates, keeping the graph
    np.testing.assert_allclose(x.grad.data, 3 * x.data**2 + 2 * x.data)
    assert x.grad.requires_grad


def test_hooks_run_on_the_recorded_gradient():
    x = mi.tensor([1.0, 2.0], dtype="float64", requires_grad=True)
    x.register_hook(lambda g: g * x)  # a hook may itself depend on x
    (g,) = grad((x * x).sum(), x, create_graph=True)  # 2x * x
    np.testing.assert_allclose(g.data, 2 * x.data**2)
    (h,) = grad(g.sum(), x)  # d/dx 2x^2 = 4x, and the hook runs again: 4x * x
    np.testing.assert_allclose(h.data, 4 * x.data**2)


def test_numpy_ufuncs_on_a_tensor_are_recorded_ops():
    x = mi.tensor([0.3, 0.7], dtype="float64", requires_grad=True)
    y = np.cos(x) + np.exp(x)
    assert isinstance(y, mi.Tensor) and y.requires_grad
    y.sum().backward()
    np.testing.assert_allclose(x.grad.data, -np.sin(x.data) + np.exp(x.data))


def test_an_op_without_a_second_derivative_says_so():
    q = mi.randn(1, 2, 4, 8, dtype="float64", requires_grad=True)
    out = mi.nn.functional.scaled_dot_product_attention(q, q, q).sum()
    with pytest.raises(NotImplementedError, match=r"create_graph=True: Attention has no"):
        grad(out, q, create_graph=True)


def test_hessian_vector_product_matches_pytorch():
    torch = pytest.importorskip("torch")
    net, x, y = _mlp(3)
    params = list(net.parameters())
    rng = np.random.default_rng(4)
    v = [rng.standard_normal(p.shape) for p in params]
    ours = _hvp(net, x, y, v)
    tp = [torch.tensor(p.data.copy(), requires_grad=True) for p in params]
    h = torch.tensor(x.data) @ tp[0].T + tp[1]
    h = torch.nn.functional.layer_norm(h, (6,), tp[2], tp[3])
    h = torch.nn.functional.gelu(h)
    h = torch.tanh(h @ tp[4].T + tp[5])
    loss = torch.nn.functional.cross_entropy(h, torch.tensor(y.data), label_smoothing=0.1)
    gs = torch.autograd.grad(loss, tp, create_graph=True)
    theirs = torch.autograd.grad(gs, tp, grad_outputs=[torch.tensor(a) for a in v])
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b.numpy(), rtol=1e-9, atol=1e-12)


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


def test_the_hessian_example_runs():
    import runpy
    from pathlib import Path

    example = Path(__file__).parent.parent / "examples" / "07_hessian_vector_product.py"
    runpy.run_path(str(example), run_name="__main__")  # it asserts its own checks
