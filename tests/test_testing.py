"""``minillm.testing``: gradcheck accepts correct gradients and rejects wrong ones with a message
that names the input, the worst element and both values, in the full-Jacobian and the
random-projection regime; the Hypothesis strategies generate what they promise.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import find, given
from hypothesis import strategies as st

import minillm as mi
from minillm.autograd import Function
from minillm.testing import (
    DOMAINS,
    FULL_JACOBIAN_LIMIT,
    GradcheckError,
    broadcastable_shapes,
    gradcheck,
    gradgradcheck,
    shapes,
    tensors,
)


class WrongScale(Function):
    """y = x * w, whose backward gets dy/dw wrong by ``factor`` (and dy/dx right)."""

    factor = 1.5

    @staticmethod
    def forward(ctx, x, w):  # type: ignore[no-untyped-def]
        ctx.save_for_backward(x, w)
        return x * w

    @staticmethod
    def backward(ctx, g):  # type: ignore[no-untyped-def]
        x, w = ctx.saved_tensors
        return g * w, g * x * WrongScale.factor


class ForgetsAnInput(Function):
    """y = x * w, whose backward claims no gradient for w."""

    @staticmethod
    def forward(ctx, x, w):  # type: ignore[no-untyped-def]
        ctx.save_for_backward(w)
        return x * w

    @staticmethod
    def backward(ctx, g):  # type: ignore[no-untyped-def]
        (w,) = ctx.saved_tensors
        return g * w, None


def _values(message: str) -> tuple[float, float]:
    """The analytic and the numeric value a GradcheckError reports."""
    match = re.search(r"analytic (\S+) vs numeric (\S+)", message)
    assert match, message
    return float(match.group(1)), float(match.group(2))


# --------------------------------------------------------------------------------------------------
# gradcheck
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "fn",
    [
        lambda x, w: (x * w).exp().sum(axis=0),
        lambda x, w: (x @ w.T).softmax(axis=-1),
        lambda x, w: mi.cat([x.tanh(), w.sigmoid()], axis=1).max(axis=1),
    ],
    ids=["exp-sum", "matmul-softmax", "cat-max"],
)
@pytest.mark.parametrize("shape", [(3, 4), (40, 60)], ids=["full", "projections"])
def test_gradcheck_accepts_correct_gradients(fn, shape: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(0)
    x = mi.tensor(rng.standard_normal(shape), requires_grad=True)
    w = mi.tensor(rng.standard_normal(shape), requires_grad=True)
    assert gradcheck(fn, [x, w]) is True


def test_full_jacobian_failure_names_input_worst_element_and_values() -> None:
    x = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 10.0]])
    w = np.ones((2, 3))
    inputs = [mi.tensor(x, requires_grad=True), mi.tensor(w, requires_grad=True)]
    assert x.size * 2 * x.size <= FULL_JACOBIAN_LIMIT  # the whole Jacobian is built
    with pytest.raises(GradcheckError, match=r"input 1\b") as err:
        gradcheck(WrongScale.apply, inputs)
    message = str(err.value)
    # dy[1,2]/dw[1,2] = x[1,2] = 10 is the largest entry, so its error (15 vs 10) is the worst
    assert "d output[1, 2] / d input[1, 2]" in message
    analytic, numeric = _values(message)
    assert analytic == pytest.approx(15.0) and numeric == pytest.approx(10.0, rel=1e-6)


def test_projection_failure_names_input_and_values() -> None:
    rng = np.random.default_rng(1)
    x = mi.tensor(rng.standard_normal((50, 80)), requires_grad=True)
    w = mi.tensor(rng.standard_normal((50, 80)), requires_grad=True)
    assert x.numel() * 2 * x.numel() > FULL_JACOBIAN_LIMIT  # random projections are used
    with pytest.raises(
        GradcheckError, match=r"input 1: worst element projection \d <v, J u>"
    ) as err:
        gradcheck(WrongScale.apply, [x, w])
    analytic, numeric = _values(str(err.value))
    assert analytic == pytest.approx(1.5 * numeric, rel=1e-6)


@pytest.mark.parametrize("size", [3, 2000], ids=["full", "projections"])
def test_gradcheck_catches_a_missing_gradient(size: int) -> None:
    rng = np.random.default_rng(2)
    x = mi.tensor(rng.standard_normal(size), requires_grad=True)
    w = mi.tensor(rng.uniform(1.0, 2.0, size), requires_grad=True)
    with pytest.raises(GradcheckError, match=r"input 1\b") as err:
        gradcheck(ForgetsAnInput.apply, [x, w])
    analytic, numeric = _values(str(err.value))
    assert analytic == 0.0 and numeric != 0.0


@pytest.mark.parametrize("size", [4, 3000], ids=["full", "projections"])
def test_gradcheck_catches_a_small_relative_error(size: int) -> None:
    WrongScale.factor = 1.01
    try:
        rng = np.random.default_rng(3)
        inputs = [mi.tensor(rng.uniform(1, 2, size), requires_grad=True) for _ in range(2)]
        with pytest.raises(GradcheckError):
            gradcheck(WrongScale.apply, inputs)
    finally:
        WrongScale.factor = 1.5


def test_gradcheck_passes_non_differentiable_inputs_through() -> None:
    x = mi.tensor(np.arange(6.0).reshape(3, 2), requires_grad=True)
    index = mi.tensor([2, 0, 2])
    mask = mi.tensor([True, False])
    assert gradcheck(lambda t, i, m: t[i].masked_fill(m, 0.0), [x, index, mask])


def test_gradcheck_upcasts_float32_inputs() -> None:
    x = mi.tensor([0.5, 1.5], requires_grad=True)
    seen = []

    def fn(t: mi.Tensor) -> mi.Tensor:
        seen.append(t.dtype)
        return t.exp()

    assert gradcheck(fn, [x])
    assert set(seen) == {np.dtype(np.float64)}
    assert x.dtype == np.float32 and x.grad is None  # the caller's tensor is left alone


def test_gradcheck_input_errors() -> None:
    with pytest.raises(ValueError, match="requires_grad"):
        gradcheck(lambda t: t * 2, [mi.ones(2)])
    with pytest.raises(TypeError, match="Tensor"):
        gradcheck(lambda t: t.data, [mi.ones(2, requires_grad=True)])


# --------------------------------------------------------------------------------------------------
# Strategies
# --------------------------------------------------------------------------------------------------
@given(shape=shapes(min_dims=1, max_dims=3, min_side=2, max_side=4))
def test_shapes_respect_their_bounds(shape: tuple[int, ...]) -> None:
    assert 1 <= len(shape) <= 3 and all(2 <= n <= 4 for n in shape)


@given(st.integers(2, 4).flatmap(lambda n: broadcastable_shapes(n, max_dims=3, max_side=3)))
def test_broadcastable_shapes_broadcast(shape_tuple: tuple[tuple[int, ...], ...]) -> None:
    assert 2 <= len(shape_tuple) <= 4
    assert all(len(s) <= 3 and all(1 <= n <= 3 for n in s) for s in shape_tuple)
    np.broadcast_shapes(*shape_tuple)  # raises if they do not


def test_broadcastable_shapes_do_broadcast_nontrivially() -> None:
    """Not just equal shapes: some differ in rank, some stretch a size-1 axis."""
    find(broadcastable_shapes(2), lambda s: len(s[0]) < len(s[1]))
    find(broadcastable_shapes(2), lambda s: any(a == 1 < b for a, b in zip(s[0][::-1], s[1][::-1])))


@pytest.mark.parametrize("domain", sorted(DOMAINS))
@given(data=st.data())
def test_tensors_stay_in_their_domain(domain: str, data: st.DataObject) -> None:
    t = data.draw(tensors(shapes(max_dims=3, max_side=4), domain))
    assert isinstance(t, mi.Tensor) and t.dtype == np.float64 and t.requires_grad
    lo, hi = DOMAINS[domain]
    values = np.abs(t.data) if domain == "nonzero" else t.data
    assert ((values >= lo) & (values <= hi)).all()
    if domain in ("positive", "nonzero"):
        assert (t.data != 0).all()


def test_nonzero_domain_draws_both_signs() -> None:
    assert find(tensors((1,), "nonzero"), lambda t: t.data[0] < 0).data[0] <= -DOMAINS["nonzero"][0]
    assert find(tensors((1,), "nonzero"), lambda t: t.data[0] > 0).data[0] >= DOMAINS["nonzero"][0]


@given(t=tensors((3, 4), "real", unique=True))
def test_unique_tensors_have_no_ties(t: mi.Tensor) -> None:
    assert t.shape == (3, 4)
    assert len(np.unique(t.data)) == t.numel()


@given(t=tensors(st.just((2,)), st.sampled_from([7.0, 8.0]), dtype=np.float32, requires_grad=False))
def test_tensors_take_custom_elements_dtype_and_flag(t: mi.Tensor) -> None:
    assert t.shape == (2,) and t.dtype == np.float32 and not t.requires_grad
    assert set(t.data.tolist()) <= {7.0, 8.0}


def test_tensors_reject_an_unknown_domain() -> None:
    with pytest.raises(ValueError, match="unknown domain 'complex'"):
        tensors((2,), "complex")


class WrongSecondDerivative(Function):
    """y = x^3 with a correct first derivative 3x^2 but a backward_graph that claims 3x (so its
    derivative, the second derivative, is 3 instead of 6x)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x**3

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return (3 * x**2 * g,)

    @staticmethod
    def backward_graph(ctx, g, out):
        return (g * ctx.parents[0] * 3.0,)


def test_gradgradcheck_accepts_true_second_derivatives_and_rejects_wrong_ones():
    x = mi.tensor(np.array([0.5, -1.2, 2.0]), requires_grad=True)
    assert gradgradcheck(lambda t: (t * t * t).sin(), [x])
    with pytest.raises(GradcheckError, match="backward_graph does not match its backward"):
        gradgradcheck(lambda t: WrongSecondDerivative.apply(t), [x])
    with pytest.raises(ValueError, match="gradgradcheck: no input has requires_grad"):
        gradgradcheck(lambda t: t * 2, [mi.tensor([1.0])])
    with pytest.raises(ValueError, match=r"grad_outputs has shape \(2,\), expected \(3,\)"):
        gradgradcheck(lambda t: t * t, [x], grad_outputs=np.ones(2))
