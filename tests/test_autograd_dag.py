"""Backward over arbitrary DAGs: every intermediate value may be reused by later ops at any depth.

The topological sort must place a node after *all* of its consumers, however long the paths between
them. Random programs (each step combines two earlier values) are checked against finite
differences.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

import minillm
from minillm.testing import gradcheck

UNARY = [lambda a: a.tanh(), lambda a: a * 0.5, lambda a: a.sigmoid(), lambda a: -a]
BINARY = [lambda a, b: a + b, lambda a, b: a * b, lambda a, b: a - b]


@st.composite
def programs(draw):
    steps = []
    for i in range(draw(st.integers(2, 12))):
        # operand indices refer to earlier values (0 is the input)
        a = draw(st.integers(0, i))
        b = draw(st.integers(0, i))
        steps.append((draw(st.integers(0, len(UNARY) - 1)), draw(st.integers(0, 2)), a, b))
    return steps


def run(program, x):
    values = [x]
    for unary, binary, a, b in program:
        values.append(BINARY[binary](UNARY[unary](values[a]), values[b]))
    return (values[-1] * values[-1]).sum() + values[len(values) // 2].sum()


@given(programs())
def test_random_dag_gradients_match_finite_differences(program):
    x = minillm.randn(3, dtype="float64", requires_grad=True)
    assert gradcheck(lambda t: run(program, t), [x])


def test_diamond_with_unequal_path_lengths():
    # y feeds the output directly and through tanh: y's gradient needs both paths before it moves on
    x = minillm.tensor([0.3, -0.7], dtype="float64", requires_grad=True)
    y = x * 1.0
    z = y + y.tanh()
    z.sum().backward()
    expected = 1.0 + (1.0 - x.tanh().data ** 2)
    assert abs(x.grad.data - expected).max() < 1e-12


def test_grad_mode_decorators_restore_state_through_recursion_and_nesting():
    @minillm.no_grad()
    def countdown(n):
        assert not minillm.is_grad_enabled()
        return 0 if n == 0 else countdown(n - 1)

    countdown(3)
    assert minillm.is_grad_enabled()

    @minillm.set_grad_enabled(False)
    def inside():
        return minillm.is_grad_enabled()

    assert minillm.is_grad_enabled()  # decorating switched nothing
    assert inside() is False and minillm.is_grad_enabled()
    with minillm.no_grad():
        inside()
        assert not minillm.is_grad_enabled()  # restored to the caller's mode, not the decorator's
    with minillm.set_grad_enabled(False):
        assert not minillm.is_grad_enabled()
    assert minillm.is_grad_enabled()
