"""``loss.backward_steps()``: the backward pass one node at a time, the same pass as ``backward()``.

The property: on small random graphs (a few ops composed over broadcasting leaves, with hooks,
retained gradients and shared nodes) and on a random-shaped MLP, exhausting the steps leaves
exactly the ``.grad``s of ``backward()`` in float64 — bit for bit, since both run the engine's one
generator. The steps themselves: each node once, consumers before producers, the gradients sent
summed to each input's shape, and the formula taken from the op's docstring.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minillm as mi
from minillm.autograd import queue_callback
from minillm.backward_steps import BackwardStep, formula

UNARY = {
    "tanh": lambda x: x.tanh(),
    "exp_tanh": lambda x: x.tanh().exp(),
    "square": lambda x: x * x,
    "sum_last": lambda x: x.sum(axis=-1, keepdims=True),
    "neg": lambda x: -x,
    "relu": lambda x: x.relu(),
    "scale": lambda x: x * 0.5,
}
BINARY = {
    "add": lambda a, b: a + b,
    "mul": lambda a, b: a * b,
    "sub": lambda a, b: a - b,
}


@st.composite
def programs(draw: st.DrawFn) -> dict:
    """A recipe for a graph: leaf shapes (each broadcasting to (m, n)), a list of ops on earlier
    nodes, which nodes get a hook or retain_grad, and the seed of the leaves' values."""
    m, n = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    leaf_shapes = draw(
        st.lists(st.sampled_from([(m, n), (n,), (1, n), (m, 1), ()]), min_size=1, max_size=3)
    )
    ops = []
    for i in range(draw(st.integers(1, 8))):
        count = len(leaf_shapes) + i
        if draw(st.booleans()):
            ops.append(("u", draw(st.sampled_from(sorted(UNARY))), draw(st.integers(0, count - 1))))
        else:
            a, b = draw(st.integers(0, count - 1)), draw(st.integers(0, count - 1))
            ops.append(("b", draw(st.sampled_from(sorted(BINARY))), a, b))
    total = len(leaf_shapes) + len(ops)
    marks = draw(
        st.lists(st.sampled_from(["hook", "retain", None]), min_size=total, max_size=total)
    )
    return {"shapes": leaf_shapes, "ops": ops, "marks": marks, "seed": draw(st.integers(0, 99))}


def build(recipe: dict) -> tuple[mi.Tensor, list[mi.Tensor]]:
    """The graph of ``recipe``: its loss (a sum over every node, so all take part) and its nodes."""
    rng = np.random.default_rng(recipe["seed"])
    nodes = [mi.tensor(rng.standard_normal(s), requires_grad=True) for s in recipe["shapes"]]
    for op in recipe["ops"]:
        if op[0] == "u":
            nodes.append(UNARY[op[1]](nodes[op[2]]))
        else:
            nodes.append(BINARY[op[1]](nodes[op[2]], nodes[op[3]]))
    for node, mark in zip(nodes, recipe["marks"]):
        if mark == "hook":
            node.register_hook(lambda g: g * 1.5)
        elif mark == "retain":
            node.retain_grad()
    loss = nodes[-1].sum()
    for k, node in enumerate(nodes[:-1]):
        loss = loss + node.sum() * (0.1 * (k + 1))
    return loss, nodes


def grads_of(nodes: list[mi.Tensor]) -> list[np.ndarray | None]:
    return [None if t.grad is None else t.grad.data.copy() for t in nodes]


@settings(max_examples=60, deadline=None)
@given(programs())
def test_exhausting_the_steps_leaves_the_grads_of_backward(recipe):
    loss_a, nodes_a = build(recipe)
    loss_a.backward()
    loss_b, nodes_b = build(recipe)
    steps = list(loss_b.backward_steps())
    for ga, gb in zip(grads_of(nodes_a), grads_of(nodes_b)):
        assert (ga is None) == (gb is None)
        if ga is not None:
            assert ga.dtype == gb.dtype == np.float64
            np.testing.assert_array_equal(ga, gb)  # the same pass: bit for bit
    # each node once, each consumer before what it consumes
    ids = [id(s.tensor) for s in steps]
    assert len(ids) == len(set(ids))
    place = {i: k for k, i in enumerate(ids)}
    for s in steps:
        assert all(place[id(x)] > s.index for x in s.inputs if id(x) in place)
        for x, g in zip(s.inputs, s.grad_inputs):
            assert g is None or g.shape == x.shape


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 5), st.lists(st.integers(1, 6), min_size=2, max_size=4), st.integers(0, 99))
def test_an_mlp_with_random_shapes_gets_the_grads_of_backward(batch, widths, seed):
    def run(step_by_step: bool) -> list[np.ndarray]:
        mi.manual_seed(seed)
        layers = []
        for a, b in itertools.pairwise(widths):
            layers += [mi.nn.Linear(a, b), mi.nn.Tanh()]
        model = mi.nn.Sequential(*layers).to(np.float64)
        x = mi.randn(batch, widths[0], dtype=np.float64)
        target = mi.randn(batch, widths[-1], dtype=np.float64)
        loss = mi.nn.functional.mse_loss(model(x), target)
        if step_by_step:
            for _ in loss.backward_steps():
                pass
        else:
            loss.backward()
        return [p.grad.data.copy() for p in model.parameters()]

    for a, b in zip(run(False), run(True)):
        np.testing.assert_array_equal(a, b)


def test_a_step_states_the_derivative_and_the_gradients_sent():
    a = mi.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    b = mi.tensor([10.0, 20.0], requires_grad=True)  # broadcast over the rows
    steps = list((a * b).sum().backward_steps())
    assert [s.op for s in steps] == ["Sum", "Mul", "AccumulateGrad", "AccumulateGrad"]
    mul = steps[1]
    assert isinstance(mul, BackwardStep) and mul.formula == "y = a * b;  dy/da = b, dy/db = a."
    assert mul.shape == (2, 2) and mul.grad_out.tolist() == [[1.0, 1.0], [1.0, 1.0]]
    assert mul.grad_inputs[0].tolist() == [[10.0, 20.0], [10.0, 20.0]]
    assert mul.grad_inputs[1].tolist() == [4.0, 6.0]  # summed to b's shape (unbroadcast)
    assert not mul.grad_out.flags.writeable
    assert "Mul (2, 2)" in str(mul) and "|grad_out|" in str(mul)
    assert b.grad.tolist() == [4.0, 6.0]


def test_retain_graph_and_the_freed_graph_error_are_backwards():
    x = mi.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    list(y.backward_steps(retain_graph=True))
    list(y.backward_steps())
    assert x.grad.tolist() == [4.0, 8.0]  # accumulated twice
    with pytest.raises(RuntimeError, match="second time"):
        list(y.backward_steps())


def test_callbacks_run_once_the_steps_are_exhausted():
    x = mi.tensor([3.0], requires_grad=True)
    seen = []
    queue_callback(lambda: seen.append(x.grad.tolist()))
    steps = (x * x).sum().backward_steps()
    next(steps)
    assert seen == [] and x.grad is None  # half-way: leaves accumulate at the end
    list(steps)
    assert seen == [[6.0]]


def test_an_explicit_gradient_and_the_checks():
    x = mi.tensor([1.0, 2.0], requires_grad=True)
    list((x * 3).backward_steps(gradient=mi.tensor([1.0, 0.5])))
    assert x.grad.tolist() == [3.0, 1.5]
    with pytest.raises(RuntimeError, match="one-element"):
        (x * 3).backward_steps()
    with pytest.raises(ValueError, match="shape"):
        (x * 3).backward_steps(gradient=[1.0])
    with pytest.raises(RuntimeError, match="does not require grad"):
        mi.tensor([1.0]).backward_steps()


def test_formula_falls_back_to_the_first_line():
    class Plain(mi.Function):
        """Some op.

        Nothing about its derivative here."""

    assert formula(Plain) == "Some op."
