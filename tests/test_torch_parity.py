"""PyTorch as an outside oracle: every row of ``tests/op_table.py`` gives the same forward values
and the same gradients as its ``torch`` twin, on the same float64 inputs, to 1e-10.

Gradients are compared as vector-Jacobian products with one random cotangent, which is what a
backward pass computes. Skipped where torch is not installed; CI installs it.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from op_table import BY_NAME, OPS, Op, draw_inputs, gelu_ref

import minillm as mi

torch = pytest.importorskip("torch")

TOL = {"rtol": 1e-10, "atol": 1e-10}
PARITY_EXAMPLES = max(10, settings().max_examples // 2)


def _ids(op: Op) -> str:
    return op.name


def _pair(op: Op, arrays: list[np.ndarray]) -> tuple[list[mi.Tensor], list[object]]:
    """The same inputs twice: minillm leaves and torch leaves (float64 ones requiring grad)."""
    ours, theirs = [], []
    for a, diff in zip(arrays, op.differentiable_inputs()):
        ours.append(mi.tensor(a, requires_grad=diff))
        t = torch.from_numpy(a.copy())
        theirs.append(t.requires_grad_() if diff else t)
    return ours, theirs


def _grad(t: object, like: np.ndarray) -> np.ndarray:
    g = t.grad
    if g is None:
        return np.zeros_like(like)
    return g.numpy() if hasattr(g, "numpy") else np.asarray(g)


def check_parity(op: Op, arrays: list[np.ndarray], params: dict, seed: int = 0) -> None:
    ours, theirs = _pair(op, arrays)
    out = op.fn(*ours, **params)
    ref = op.torch(torch, *theirs, **params)
    assert out.shape == tuple(ref.shape), f"{op.name}: {out.shape} vs torch {tuple(ref.shape)}"
    expected = ref.detach().numpy()
    if not op.grad:
        np.testing.assert_array_equal(out.data, expected)
        assert out.dtype == expected.dtype
        return
    assert out.dtype == np.float64
    tol = {"rtol": op.torch_tol, "atol": op.torch_tol}
    np.testing.assert_allclose(out.data, expected, **tol)
    v = np.random.default_rng(seed).standard_normal(out.shape)
    out.backward(v)
    if ref.requires_grad:
        ref.backward(torch.from_numpy(v))
    for k, (a, b, diff) in enumerate(zip(ours, theirs, op.differentiable_inputs())):
        if diff:
            np.testing.assert_allclose(
                _grad(a, a.data), _grad(b, a.data), **tol, err_msg=f"{op.name}: input {k}"
            )


@pytest.mark.parametrize("op", OPS, ids=_ids)
@settings(max_examples=PARITY_EXAMPLES)
@given(data=st.data())
def test_forward_and_gradients_equal_torch(op: Op, data: st.DataObject) -> None:
    arrays, params = data.draw(draw_inputs(op))
    check_parity(op, arrays, params)


# --------------------------------------------------------------------------------------------------
# Inputs the table's domains do not reach
# --------------------------------------------------------------------------------------------------
LARGE_LOGITS = np.array(
    [[1e4, 0.0, -1e4, 5.0], [-1e4, -1e4, -1e4 + 3.0, -1e4], [1e4, 1e4, 0.0, 1.0]]
)


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@pytest.mark.parametrize("axis", [-1, 0])
def test_softmax_at_logits_of_1e4_equals_torch(name: str, axis: int) -> None:
    check_parity(BY_NAME[name], [LARGE_LOGITS], {"axis": axis})
    assert np.isfinite(BY_NAME[name].fn(mi.tensor(LARGE_LOGITS), axis=axis).data).all()


@pytest.mark.parametrize("keepdims", [False, True])
def test_logsumexp_at_logits_of_1e4_equals_torch(keepdims: bool) -> None:
    check_parity(BY_NAME["logsumexp"], [LARGE_LOGITS], {"axis": 1, "keepdims": keepdims})


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_equals_torch_far_into_both_tails(approximate: str) -> None:
    x = np.linspace(-10.0, 10.0, 401)
    check_parity(BY_NAME["gelu"], [x], {"approximate": approximate})
    # and the table's NumPy reference agrees, so the reference itself is trustworthy
    np.testing.assert_allclose(
        gelu_ref(x, approximate), mi.gelu(mi.tensor(x), approximate).data, **TOL
    )


@pytest.mark.parametrize("correction", [0, 1, 2])
@pytest.mark.parametrize("name", ["var", "std"])
def test_var_and_std_with_correction_equal_torch(name: str, correction: int) -> None:
    x = np.random.default_rng(3).standard_normal((4, 5, 3))
    for axis in (None, 1, (0, 2)):
        for keepdims in (False, True):
            check_parity(
                BY_NAME[name], [x], {"axis": axis, "keepdims": keepdims, "correction": correction}
            )


def test_sigmoid_and_tanh_saturate_like_torch() -> None:
    x = np.array([-40.0, -20.0, -1e-3, 0.0, 1e-3, 20.0, 40.0])
    for name in ("sigmoid", "tanh", "exp"):
        check_parity(BY_NAME[name], [x], {})


def test_pow_with_zero_base_equals_torch() -> None:
    base = np.array([0.0, 0.0, 2.0])
    exponent = np.array([2.0, 0.0, 0.5])
    check_parity(BY_NAME["pow"], [base, exponent], {})
    assert not math.isnan(mi.pow(mi.tensor(base), mi.tensor(exponent)).data.sum())
