"""The Tensor API (``minillm/tensor.py``) and the factories (``minillm/creation.py``): attributes,
conversions, dtypes, operators with Python scalars and NumPy arrays on either side, broadcasting as
NumPy, comparisons, seeding, and error messages that name the shapes and the op.
"""

from __future__ import annotations

import operator

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minillm as mi
from minillm.testing import broadcastable_shapes, tensors


# --------------------------------------------------------------------------------------------------
# Attributes and conversions
# --------------------------------------------------------------------------------------------------
def test_attributes() -> None:
    x = mi.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    assert x.shape == (2, 3) and x.ndim == 2 and x.dtype == np.float64
    assert x.size() == (2, 3) and x.size(1) == 3 and x.size(-2) == 2 and x.numel() == 6
    assert len(x) == 2
    assert x.T.shape == (3, 2)
    np.testing.assert_array_equal(x.T.data, x.data.T)
    assert x.requires_grad and x.is_leaf and x.grad is None and x.grad_fn is None
    y = x * 2
    assert not y.is_leaf and y.requires_grad and y.grad_fn.__name__ == "Mul"


def test_detach_shares_data_and_leaves_the_graph() -> None:
    x = mi.ones(3, requires_grad=True)
    y = (x * 2).detach()
    assert y.is_leaf and not y.requires_grad
    z = x.detach()
    z.data[0] = 5.0  # shared memory, as torch's detach
    assert x.data[0] == 5.0


def test_numpy_item_tolist_and_array_protocol() -> None:
    x = mi.tensor([[1.5, 2.5]], requires_grad=True)
    assert isinstance(x.numpy(), np.ndarray) and x.numpy() is x.data
    assert x.tolist() == [[1.5, 2.5]]
    assert mi.tensor([[7.0]]).item() == 7.0 and isinstance(mi.tensor([3]).item(), int)
    with pytest.raises(ValueError, match=r"\(1, 2\)"):
        x.item()
    arr = np.asarray(x)
    assert isinstance(arr, np.ndarray) and arr.dtype == np.float32
    np.testing.assert_array_equal(arr, [[1.5, 2.5]])
    assert np.asarray(x, dtype=np.float64).dtype == np.float64
    (x * x).sum().backward()
    np.testing.assert_array_equal(np.asarray(x.grad), [[3.0, 5.0]])


def test_scalar_results_convert_to_arrays() -> None:
    loss = (mi.ones(3, requires_grad=True) * 2).sum()
    arr = np.asarray(loss)
    assert isinstance(arr, np.ndarray) and arr.shape == () and arr == 6.0
    assert float(loss) == 6.0 and bool(loss)
    assert isinstance(loss.numpy(), np.ndarray)


def test_requires_grad_flag_and_retain_grad() -> None:
    x = mi.zeros(2)
    assert x.requires_grad_() is x and x.requires_grad
    x.requires_grad = False
    assert not x.requires_grad
    with pytest.raises(RuntimeError, match="does not require grad"):
        x.retain_grad()
    y = mi.ones(2, requires_grad=True) * 3
    with pytest.raises(RuntimeError, match="leaf"):
        y.requires_grad_(False)
    y.retain_grad()
    y.sum().backward()
    np.testing.assert_array_equal(y.grad.data, [1.0, 1.0])


def test_zero_fills_in_place_and_guards_graph_tensors() -> None:
    x = mi.ones(2, 2)
    buffer = x.data
    assert x.zero_() is x and (buffer == 0).all()
    p = mi.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="no_grad"):
        p.zero_()
    with mi.no_grad():
        p.zero_()
    assert (p.data == 0).all()


def test_astype_between_floats_is_differentiable() -> None:
    x = mi.tensor([1.0, 2.0], requires_grad=True)
    y = x.astype(np.float64)
    assert y.dtype == np.float64 and y.requires_grad
    (y * y).sum().backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad.data, [2.0, 4.0])
    i = x.astype(np.int64)
    assert i.dtype == np.int64 and not i.requires_grad
    assert x.double().dtype == np.float64 and x.long().dtype == np.int64


def test_repr_is_readable() -> None:
    x = mi.tensor([[1.0, 2.0]], requires_grad=True)
    assert repr(x) == "tensor([[1., 2.]], requires_grad=True)"
    assert repr(x * 2) == "tensor([[2., 4.]], grad_fn=<Mul>)"
    assert repr(mi.tensor(np.array([0.5]))) == "tensor([0.5], dtype=float64)"
    assert repr(mi.tensor([1, 2])) == "tensor([1, 2])"


# --------------------------------------------------------------------------------------------------
# Factories and dtypes
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("data", "dtype"),
    [
        ([1.0, 2.0], np.float32),  # Python floats default to float32
        (2.5, np.float32),
        (np.zeros(2), np.float64),  # a float64 array is kept
        (np.float64(1.0), np.float64),
        (np.zeros(2, np.float32), np.float32),
        ([1, 2], np.int64),  # Python ints become int64
        (7, np.int64),
        ([True, False], np.bool_),
    ],
)
def test_tensor_dtypes(data: object, dtype: type) -> None:
    assert mi.tensor(data).dtype == dtype


def test_tensor_copies_and_from_numpy_shares() -> None:
    a = np.zeros(3)
    t, s = mi.tensor(a), mi.from_numpy(a)
    a[0] = 1.0
    assert t.data[0] == 0.0 and s.data[0] == 1.0
    assert mi.tensor([1.0], dtype=np.float64).dtype == np.float64


def test_tensor_rejects_non_numeric_data() -> None:
    with pytest.raises(TypeError, match="dtype"):
        mi.tensor(["a", "b"])


def test_constant_factories() -> None:
    for make in (mi.zeros, mi.ones):
        assert make(2, 3).shape == make((2, 3)).shape == (2, 3)
        assert make(2).dtype == np.float32 and make(2, dtype=np.float64).dtype == np.float64
    assert (mi.zeros(2, 2).data == 0).all() and (mi.ones(3).data == 1).all()
    assert mi.ones(2, requires_grad=True).requires_grad
    full = mi.full((2, 2), 1.5)
    assert full.dtype == np.float32 and (full.data == 1.5).all()
    assert mi.full(3, 4).dtype == np.int64 and mi.full(3, True).dtype == np.bool_
    np.testing.assert_array_equal(mi.eye(2, 3).data, np.eye(2, 3))
    assert mi.eye(3).dtype == np.float32
    with pytest.raises(ValueError, match="negative"):
        mi.zeros(2, -1)


def test_like_factories_keep_shape_and_dtype() -> None:
    x = mi.tensor(np.ones((2, 3), np.float64))
    for make, value in ((mi.zeros_like, 0), (mi.ones_like, 1)):
        y = make(x)
        assert y.shape == (2, 3) and y.dtype == np.float64 and (y.data == value).all()
        assert make(mi.tensor([1, 2])).dtype == np.int64
        assert make(x, dtype=np.float32).dtype == np.float32


def test_arange() -> None:
    assert mi.arange(4).tolist() == [0, 1, 2, 3] and mi.arange(4).dtype == np.int64
    assert mi.arange(1, 7, 2).tolist() == [1, 3, 5]
    halves = mi.arange(0, 2, 0.5)
    assert halves.dtype == np.float32 and halves.tolist() == [0.0, 0.5, 1.0, 1.5]
    assert mi.arange(3, dtype=np.float64).dtype == np.float64


def test_random_factories() -> None:
    n = mi.randn(200, 3)
    assert n.shape == (200, 3) and n.dtype == np.float32
    assert abs(float(n.data.mean())) < 0.3 and 0.7 < float(n.data.std()) < 1.3
    u = mi.rand(2, 5, dtype=np.float64)
    assert u.dtype == np.float64 and ((u.data >= 0) & (u.data < 1)).all()
    r = mi.randint(3, 6, size=(50,))
    assert r.dtype == np.int64 and set(r.tolist()) <= {3, 4, 5}
    assert set(mi.randint(2, size=100).tolist()) == {0, 1}
    assert mi.randn(2, requires_grad=True).requires_grad
    with pytest.raises(ValueError, match="empty range"):
        mi.randint(3, 3)


def test_manual_seed_makes_draws_reproducible() -> None:
    def draws() -> list[np.ndarray]:
        return [mi.randn(3).data, mi.rand(2).data, mi.randint(0, 100, size=4).data]

    mi.manual_seed(123)
    first = draws()
    mi.manual_seed(123)
    for a, b in zip(first, draws()):
        np.testing.assert_array_equal(a, b)
    mi.manual_seed(124)
    assert not np.array_equal(first[0], mi.randn(3).data)
    state = mi.get_rng_state()
    again = mi.randn(4).data
    mi.set_rng_state(state)
    np.testing.assert_array_equal(mi.randn(4).data, again)


# --------------------------------------------------------------------------------------------------
# Operators
# --------------------------------------------------------------------------------------------------
ARITHMETIC = [operator.add, operator.sub, operator.mul, operator.truediv, operator.pow]


@given(
    shapes=broadcastable_shapes(2, max_dims=3, max_side=3),
    op=st.sampled_from(ARITHMETIC),
    data=st.data(),
)
def test_operators_with_numpy_arrays_on_either_side(shapes, op, data) -> None:  # type: ignore[no-untyped-def]
    sa, sb = shapes
    t = data.draw(tensors(sa, "positive"))
    arr = data.draw(tensors(sb, "positive")).data
    for result, expected in ((op(t, arr), op(t.data, arr)), (op(arr, t), op(arr, t.data))):
        assert isinstance(result, mi.Tensor)
        assert result.shape == np.broadcast_shapes(sa, sb) == np.shape(expected)
        np.testing.assert_allclose(result.data, expected, rtol=1e-14)
        result.sum().backward()
        assert t.grad.shape == sa
        t.grad = None


@given(
    op=st.sampled_from(ARITHMETIC),
    scalar=st.sampled_from([2, 0.5, 1.5, 3]),  # positive: a negative base has no real power
    x=tensors(st.just((2, 3)), "positive", dtype=np.float32),
)
def test_operators_with_python_scalars_on_either_side_keep_dtype(op, scalar, x) -> None:  # type: ignore[no-untyped-def]
    for result, expected in (
        (op(x, scalar), op(x.data, scalar)),
        (op(scalar, x), op(scalar, x.data)),
    ):
        assert result.dtype == np.float32  # a Python scalar does not promote float32
        np.testing.assert_allclose(result.data, expected, rtol=1e-6)
        result.sum().backward()
        assert x.grad.dtype == np.float32 and x.grad.shape == (2, 3)
        x.grad = None


def test_reflected_operators_compute_the_right_thing() -> None:
    t = mi.tensor([1.0, 2.0, 4.0], requires_grad=True)
    np.testing.assert_array_equal((2 - t).data, [1.0, 0.0, -2.0])
    np.testing.assert_array_equal((8 / t).data, [8.0, 4.0, 2.0])
    np.testing.assert_array_equal((2**t).data, [2.0, 4.0, 16.0])
    np.testing.assert_array_equal((np.array([1.0, 1.0, 1.0]) - t).data, [0.0, -1.0, -3.0])
    np.testing.assert_array_equal((-t).data, [-1.0, -2.0, -4.0])
    np.testing.assert_array_equal(abs(-t).data, [1.0, 2.0, 4.0])
    (2**t).sum().backward()
    np.testing.assert_allclose(t.grad.data, np.log(2) * 2.0**t.data, rtol=1e-6)


def test_matmul_with_numpy_arrays_on_either_side() -> None:
    t = mi.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    w = np.arange(12.0).reshape(3, 4)
    np.testing.assert_array_equal((t @ w).data, t.data @ w)
    np.testing.assert_array_equal((np.ones((5, 2)) @ t).data, np.ones((5, 2)) @ t.data)
    (t @ w).sum().backward()
    np.testing.assert_array_equal(t.grad.data, np.ones((2, 4)) @ w.T)


def test_method_forms_match_operators() -> None:
    a, b = mi.tensor([1.0, 2.0]), mi.tensor([3.0, 5.0])
    pairs = [(a.add(b), a + b), (a.sub(b), a - b), (a.mul(b), a * b), (a.div(b), a / b)]
    pairs += [(a.matmul(b), a @ b), (a.neg(), -a), (a.pow(2), a**2), (a.pow(b), a**b)]
    for method, op in pairs:
        np.testing.assert_array_equal(method.data, op.data)


# --------------------------------------------------------------------------------------------------
# Broadcasting, comparisons and errors
# --------------------------------------------------------------------------------------------------
@given(
    shapes=st.tuples(
        hnp.array_shapes(min_dims=0, max_side=3), hnp.array_shapes(min_dims=0, max_side=3)
    )
)
def test_broadcasting_exactly_as_numpy(shapes) -> None:  # type: ignore[no-untyped-def]
    sa, sb = shapes
    a, b = mi.ones(sa), mi.ones(sb)
    try:
        expected = np.broadcast_shapes(sa, sb)
    except ValueError:
        for name, op in (("add", operator.add), ("mul", operator.mul), ("less", operator.lt)):
            with pytest.raises(ValueError, match=rf"{name}.*{_re(sa)}.*{_re(sb)}"):
                op(a, b)
        return
    for op in (*ARITHMETIC, operator.lt, operator.eq, mi.maximum):
        assert op(a, b).shape == expected


def _re(shape: tuple[int, ...]) -> str:
    return str(shape).replace("(", r"\(").replace(")", r"\)")


@given(
    shapes=broadcastable_shapes(2, max_dims=3, max_side=3),
    op=st.sampled_from(
        [operator.lt, operator.le, operator.gt, operator.ge, operator.eq, operator.ne]
    ),
    data=st.data(),
)
def test_comparisons_give_bool_tensors_without_grad(shapes, op, data) -> None:  # type: ignore[no-untyped-def]
    grid = st.integers(-3, 3).map(float)  # a coarse grid, so ties (== and <=) do occur
    t = data.draw(tensors(shapes[0], grid))
    arr = data.draw(tensors(shapes[1], grid)).data
    for result, expected in ((op(t, arr), op(t.data, arr)), (op(arr, t), op(arr, t.data))):
        assert result.dtype == np.bool_ and not result.requires_grad
        np.testing.assert_array_equal(result.data, expected)
    np.testing.assert_array_equal(op(t, 1.0).data, op(t.data, 1.0))
    np.testing.assert_array_equal(op(1.0, t).data, op(1.0, t.data))


def test_tensors_hash_by_identity() -> None:
    a, b = mi.ones(2), mi.ones(2)
    assert len({a, b, a}) == 2


def test_matmul_mismatch_names_both_shapes_and_the_op() -> None:
    with pytest.raises(ValueError, match=r"matmul.*\(2, 3\).*\(4, 5\)"):
        mi.ones(2, 3) @ mi.ones(4, 5)
    with pytest.raises(ValueError, match=r"matmul.*\(2, 2, 3\).*\(3, 3, 1\)"):
        mi.ones(2, 2, 3) @ mi.ones(3, 3, 1)
    with pytest.raises(ValueError, match=r"matmul.*\(\).*\(3,\)"):
        mi.matmul(mi.tensor(1.0), mi.ones(3))


def test_reshape_mismatch_names_both_shapes_and_the_op() -> None:
    with pytest.raises(ValueError, match=r"reshape.*\(2, 3\).*\(4,\)"):
        mi.ones(2, 3).reshape(4)
    with pytest.raises(ValueError, match=r"reshape.*\(2, 3\).*\(4, -1\)"):
        mi.ones(2, 3).view(4, -1)


def test_cat_and_stack_mismatch_name_the_shapes_and_the_op() -> None:
    with pytest.raises(ValueError, match=r"cat.*\(2, 3\).*\(3, 2\)"):
        mi.cat([mi.ones(2, 3), mi.ones(3, 2)], axis=1)
    with pytest.raises(ValueError, match=r"stack.*\(2,\).*\(3,\)"):
        mi.stack([mi.ones(2), mi.ones(3)])


def test_expand_mismatch_names_both_shapes() -> None:
    with pytest.raises(ValueError, match=r"expand.*\(2, 3\).*\(4, 3\)"):
        mi.ones(2, 3).expand(4, 3)


def test_bad_axes_and_indices_are_reported() -> None:
    with pytest.raises(IndexError, match="axis 2 is out of range"):
        mi.ones(2, 3).sum(axis=2)
    with pytest.raises(IndexError, match=r"\(2, 3\)"):
        mi.ones(2, 3)[5]
    with pytest.raises(ValueError, match="permutation"):
        mi.ones(2, 3).permute(0, 0)


def test_pytorch_keyword_spellings() -> None:
    x = mi.tensor(np.arange(6.0).reshape(2, 3))
    assert x.sum(dim=1, keepdim=True).shape == (2, 1)
    np.testing.assert_array_equal(x.mean(dim=0).data, [1.5, 2.5, 3.5])
    np.testing.assert_array_equal(x.max(dim=-1).data, [2.0, 5.0])
    np.testing.assert_array_equal(x.argmax(dim=1).data, [2, 2])
    np.testing.assert_allclose(x.softmax(dim=0).data.sum(axis=0), np.ones(3))
    assert x.squeeze(dim=0).shape == (2, 3) and x.unsqueeze(dim=1).shape == (2, 1, 3)
    with pytest.raises(TypeError, match="unsqueeze"):
        x.unsqueeze()


def test_mean_of_integers_is_float32() -> None:
    m = mi.tensor([1, 2]).mean()
    assert m.dtype == np.float32 and m.item() == 1.5


def test_integer_tensors_promote_to_float32_like_pytorch():
    a = mi.arange(4)
    assert (a * 0.5).dtype == np.float32 and (2.5 - a).dtype == np.float32
    assert (a / 2).dtype == np.float32 and (1 / (a + 1)).dtype == np.float32
    assert (a + 1).dtype == np.int64 and (a * 2).dtype == np.int64
    np.testing.assert_allclose((a / 2).numpy(), [0.0, 0.5, 1.0, 1.5])


def test_numpy_scalars_are_weak_and_mixed_int_float_stays_float32():
    f, a = mi.ones(3), mi.arange(3)
    assert (f * np.int64(2)).dtype == np.float32
    assert (f ** np.float64(2)).dtype == np.float32
    assert f.clamp(min=np.float64(0)).dtype == np.float32
    assert (a * f).dtype == np.float32 and (f - a).dtype == np.float32
    assert (a**0.5).dtype == np.float32 and a.var().dtype == np.float32


def test_axis_errors_name_the_problem():
    with pytest.raises(ValueError, match="axis 5 is out of range"):
        mi.cat([mi.ones(2, 3), mi.ones(2, 3)], 5)
    with pytest.raises(ValueError, match="not a permutation"):
        mi.ones(2, 3).permute(0, 3)
    with pytest.raises(ValueError, match="chunks must be a positive integer"):
        mi.ones(4).chunk(0)
    with pytest.raises(ValueError, match="0-d tensor"):
        mi.tensor(1.0).split(1)
