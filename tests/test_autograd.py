"""Autograd semantics as properties: accumulation, reuse, deep graphs, grad modes, errors, anomaly
mode, the engine's broadcasting rule and custom Functions (``minillm/autograd.py``).
"""

from __future__ import annotations

import gc
import weakref
from typing import ClassVar

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minillm as mi
from minillm.autograd import AnomalyError, Function
from minillm.testing import broadcastable_shapes, tensors


@st.composite
def two_inputs(draw: st.DrawFn) -> tuple[mi.Tensor, mi.Tensor]:
    sx, sy = draw(broadcastable_shapes(2, max_dims=3, max_side=3))
    return draw(tensors(sx, "unit")), draw(tensors(sy, "unit"))


def program(x: mi.Tensor, y: mi.Tensor) -> mi.Tensor:
    """A small graph with broadcasting, reuse of x and a non-leaf feeding two consumers."""
    h = (x * y).exp()
    return (h + x.tanh() * y - h.sqrt()).sum()


def grads(*ts: mi.Tensor) -> list[np.ndarray]:
    return [t.grad.data.copy() for t in ts]


# --------------------------------------------------------------------------------------------------
# Accumulation and reuse
# --------------------------------------------------------------------------------------------------
@given(inputs=two_inputs())
def test_two_backward_calls_double_the_grads(inputs: tuple[mi.Tensor, mi.Tensor]) -> None:
    x, y = inputs
    out = program(x, y)
    out.backward(retain_graph=True)
    once = grads(x, y)
    out.backward()
    for g1, g2 in zip(once, grads(x, y)):
        np.testing.assert_allclose(g2, 2 * g1, rtol=1e-12)


@given(inputs=two_inputs())
def test_zero_then_backward_is_idempotent(inputs: tuple[mi.Tensor, mi.Tensor]) -> None:
    x, y = inputs
    program(x, y).backward()
    first = grads(x, y)
    for _ in range(2):
        x.grad.zero_()
        y.grad = None  # both ways of clearing a gradient
        program(x, y).backward()
        for g1, g2 in zip(first, grads(x, y)):
            np.testing.assert_array_equal(g2, g1)


@given(k=st.integers(1, 8), x=tensors((2, 3), "unit"))
def test_non_leaf_reused_k_times_gets_k_times_the_gradient(k: int, x: mi.Tensor) -> None:
    h = x.tanh()
    h.retain_grad()
    total = h
    for _ in range(k - 1):
        total = total + h
    total.sum().backward()
    np.testing.assert_allclose(h.grad.data, np.full((2, 3), float(k)))
    np.testing.assert_allclose(x.grad.data, k * (1 - np.tanh(x.data) ** 2), rtol=1e-12)


@given(depth=st.integers(1, 4), x=tensors((3,), "unit"))
def test_residual_branch_reaches_the_shared_node_before_it_backpropagates(
    depth: int, x: mi.Tensor
) -> None:
    """``h + f(h)``: h's gradient must collect the path through f before h passes it on.

    The branch is the *second* operand, the order in which a depth-first sort that marks nodes
    when it first sees them, not when it finishes them, places h too early.
    """
    h = x * 2.0
    branch = h
    for _ in range(depth):
        branch = branch * 3.0
    (h + branch).sum().backward()
    np.testing.assert_allclose(x.grad.data, np.full(3, 2.0 * (1 + 3.0**depth)))


def test_silu_shaped_reuse() -> None:
    """``h * sigmoid(h)`` with h a non-leaf: the product rule through a shared node."""
    x = mi.tensor(np.array([0.3, -1.2]), requires_grad=True)
    h = x * 1.0
    (h * h.sigmoid()).sum().backward()
    s = 1 / (1 + np.exp(-x.data))
    np.testing.assert_allclose(x.grad.data, s + x.data * s * (1 - s), rtol=1e-12)


def test_leaf_used_twice_in_one_op_gets_both_gradients() -> None:
    x = mi.tensor(np.array([3.0]), requires_grad=True)
    (x * x).backward()
    assert x.grad.item() == 6.0


def test_leaf_gradient_keeps_the_leaf_dtype_across_accumulations() -> None:
    """A float64 gradient reaching a float32 leaf (here via a float64 operand) stays float32."""
    x = mi.ones(2, requires_grad=True)
    w = mi.tensor(np.array([1.0, 2.0]))
    for _ in range(2):
        (x * w).sum().backward()
        assert x.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad.data, [2.0, 4.0])


def test_accumulated_scalar_gradient_is_an_array() -> None:
    x = mi.tensor(np.array(2.0), requires_grad=True)
    (x * x).backward()
    (x * x).backward()
    assert isinstance(x.grad.numpy(), np.ndarray) and x.grad.item() == 8.0
    x.grad.zero_()
    assert x.grad.item() == 0.0


# --------------------------------------------------------------------------------------------------
# Deep graphs
# --------------------------------------------------------------------------------------------------
def test_chain_of_100k_ops_backpropagates_and_is_collected() -> None:
    n = 100_000
    x = mi.tensor(np.array([1.0]), requires_grad=True)
    y = x
    for _ in range(n):
        y = y * 1.00001
    first = weakref.ref(y._ctx.parents[0])  # an interior node, deep in the chain
    y.backward(retain_graph=True)
    assert x.grad.item() == pytest.approx(1.00001**n, rel=1e-9)
    del y
    gc.collect()
    assert first() is None, "the chain is still alive after its last reference went away"


# --------------------------------------------------------------------------------------------------
# Grad modes
# --------------------------------------------------------------------------------------------------
def test_no_grad_context_records_nothing() -> None:
    x = mi.ones(3, requires_grad=True)
    with mi.no_grad():
        assert not mi.is_grad_enabled()
        y = (x * 2).exp().sum()
    assert mi.is_grad_enabled()
    assert not y.requires_grad and y.is_leaf and y.grad_fn is None


def test_no_grad_decorator_records_nothing_and_restores_mode() -> None:
    @mi.no_grad()
    def step(t: mi.Tensor) -> mi.Tensor:
        return t * 3

    x = mi.ones(2, requires_grad=True)
    assert not step(x).requires_grad
    assert mi.is_grad_enabled()
    assert (x * 3).requires_grad


def test_no_grad_restores_mode_after_an_exception() -> None:
    with pytest.raises(ZeroDivisionError), mi.no_grad():
        1 / 0
    assert mi.is_grad_enabled()


def test_enable_grad_inside_no_grad() -> None:
    x = mi.ones(2, requires_grad=True)
    with mi.no_grad():
        with mi.enable_grad():
            y = x * 2
        z = x * 2
    assert y.requires_grad and not z.requires_grad
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.data, [2.0, 2.0])


def test_set_grad_enabled_as_call_context_and_decorator() -> None:
    x = mi.ones(2, requires_grad=True)
    try:
        mi.set_grad_enabled(False)  # takes effect at the call, as torch's
        assert not (x * 2).requires_grad
    finally:
        mi.set_grad_enabled(True)
    assert (x * 2).requires_grad
    with mi.set_grad_enabled(False):
        assert not (x * 2).requires_grad
    assert mi.is_grad_enabled()
    with mi.no_grad(), mi.set_grad_enabled(True):
        assert (x * 2).requires_grad

    @mi.set_grad_enabled(False)
    def f(t: mi.Tensor) -> mi.Tensor:
        return t * 2

    assert not f(x).requires_grad
    assert mi.is_grad_enabled()


def test_no_input_requiring_grad_records_nothing() -> None:
    y = mi.ones(2) * mi.ones(2)
    assert not y.requires_grad and y.is_leaf


# --------------------------------------------------------------------------------------------------
# Graph lifetime and non-leaf grads
# --------------------------------------------------------------------------------------------------
def test_second_backward_through_freed_graph_raises() -> None:
    x = mi.ones(2, requires_grad=True)
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match=r"second time.*retain_graph=True"):
        y.backward()


def test_retain_graph_keeps_the_graph_for_another_backward() -> None:
    x = mi.tensor(np.array([2.0]), requires_grad=True)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    assert x.grad.item() == 8.0


def test_retain_grad_keeps_a_non_leaf_gradient() -> None:
    x = mi.tensor(np.array([1.0, 2.0]), requires_grad=True)
    h = x * 3.0
    h.retain_grad()
    (h * h).sum().backward()
    np.testing.assert_allclose(h.grad.data, 2 * h.data)
    np.testing.assert_allclose(x.grad.data, 18 * x.data)


def test_non_leaf_gradients_are_not_kept_otherwise() -> None:
    x = mi.ones(2, requires_grad=True)
    h = x * 3.0
    h.sum().backward()
    assert h.grad is None and not h.is_leaf
    assert x.grad is not None


# --------------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.bool_])
def test_integer_and_bool_tensors_cannot_require_grad(dtype: type) -> None:
    data = np.zeros(3, dtype=dtype)
    with pytest.raises(TypeError, match=f"floating.*{np.dtype(dtype)}"):
        mi.tensor(data, requires_grad=True)
    t = mi.tensor(data)
    with pytest.raises(TypeError, match="floating"):
        t.requires_grad_()
    with pytest.raises(TypeError, match="floating"):
        t.requires_grad = True
    assert not t.requires_grad


def test_backward_on_non_scalar_says_what_to_pass() -> None:
    y = mi.ones(2, 3, requires_grad=True) * 2
    with pytest.raises(RuntimeError, match=r"\(2, 3\).*gradient="):
        y.backward()
    y.backward(mi.ones_like(y))  # what the message suggests works


def test_backward_with_a_gradient_of_the_wrong_shape_names_both() -> None:
    y = mi.ones(2, 3, requires_grad=True) * 2
    with pytest.raises(ValueError, match=r"\(3,\).*\(2, 3\)"):
        y.backward(np.ones(3))


def test_backward_on_a_tensor_without_a_graph_raises() -> None:
    with pytest.raises(RuntimeError, match="does not require grad"):
        mi.ones(1).backward()


# --------------------------------------------------------------------------------------------------
# Anomaly mode
# --------------------------------------------------------------------------------------------------
def test_detect_anomaly_names_the_op_in_forward() -> None:
    x = mi.tensor(np.array([[1.0, -1.0]]), requires_grad=True)
    with mi.detect_anomaly(), pytest.raises(AnomalyError, match=r"Log forward.*\(1, 2\)"):
        x.log()
    with np.errstate(invalid="ignore"):
        assert np.isnan(x.log().data).any()  # outside anomaly mode a NaN passes silently


def test_detect_anomaly_names_the_op_in_backward() -> None:
    x = mi.tensor(np.array([0.0, 4.0]), requires_grad=True)
    with mi.detect_anomaly():
        y = x.sqrt().sum()  # finite forward: sqrt(0) = 0; its derivative is infinite
        with (
            pytest.raises(AnomalyError, match=r"Sqrt backward.*\(2,\)"),
            np.errstate(divide="ignore"),
        ):
            y.backward()


# --------------------------------------------------------------------------------------------------
# Custom Functions and the engine's broadcasting rule
# --------------------------------------------------------------------------------------------------
class BroadcastMul(Function):
    """y = a * b with broadcasting; backward returns *output*-shaped gradients on purpose."""

    seen: ClassVar[list[tuple[bool, ...]]] = []

    @staticmethod
    def forward(ctx, a, b):  # type: ignore[no-untyped-def]
        ctx.save_for_backward(a, b)
        return a * b

    @staticmethod
    def backward(ctx, g):  # type: ignore[no-untyped-def]
        BroadcastMul.seen.append(ctx.needs_input_grad)
        a, b = ctx.saved_tensors
        ga = g * b if ctx.needs_input_grad[0] else None
        gb = g * a if ctx.needs_input_grad[1] else None
        return ga, gb


@given(shapes=broadcastable_shapes(2, max_dims=3, max_side=3))
def test_engine_sums_gradients_back_to_broadcast_input_shapes(shapes) -> None:  # type: ignore[no-untyped-def]
    sa, sb = shapes
    a = mi.tensor(np.random.default_rng(0).standard_normal(sa), requires_grad=True)
    b = mi.tensor(np.random.default_rng(1).standard_normal(sb), requires_grad=True)
    BroadcastMul.apply(a, b).sum().backward()
    assert a.grad.shape == sa and b.grad.shape == sb
    ones = np.ones(np.broadcast_shapes(sa, sb))
    np.testing.assert_allclose(a.grad.data, _sum_to(ones * b.data, sa), rtol=1e-12)
    np.testing.assert_allclose(b.grad.data, _sum_to(ones * a.data, sb), rtol=1e-12)


def _sum_to(g: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Independent of ``unbroadcast``: sum by explicit loops over the broadcast axes."""
    while g.ndim > len(shape):
        g = g.sum(axis=0)
    for i, n in enumerate(shape):
        if n == 1 and g.shape[i] != 1:
            g = g.sum(axis=i, keepdims=True)
    return g


def test_custom_function_sees_needs_input_grad() -> None:
    BroadcastMul.seen.clear()
    a = mi.tensor(np.array([1.0, 2.0]), requires_grad=True)
    b = mi.tensor(np.array([3.0, 4.0]))
    BroadcastMul.apply(a, b).sum().backward()
    BroadcastMul.apply(b, a).sum().backward()
    assert BroadcastMul.seen == [(True, False), (False, True)]
    np.testing.assert_array_equal(a.grad.data, 2 * b.data)
    assert b.grad is None


def test_custom_function_records_nothing_without_grad() -> None:
    BroadcastMul.seen.clear()
    out = BroadcastMul.apply(mi.ones(2), mi.ones(2))
    assert not out.requires_grad
    x = mi.ones(2, requires_grad=True)
    with mi.no_grad():
        assert not BroadcastMul.apply(x, x).requires_grad
    assert BroadcastMul.seen == []
