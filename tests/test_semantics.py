"""PyTorch's semantics where NumPy's differ: dtype promotion, 0-d reductions, index placement,
and the function forms agreeing with the operators. One regression test per case once wrong."""

from __future__ import annotations

import numpy as np
import pytest

import minillm as mi
from minillm.nn import functional as F


@pytest.mark.parametrize(
    "make",
    [
        lambda t: t.exp(),
        lambda t: t.log(),
        lambda t: t.sqrt(),
        lambda t: t.sigmoid(),
        lambda t: t.tanh(),
        lambda t: t.softmax(-1),
        lambda t: t.logsumexp(),
        lambda t: 0.7**t,
        lambda t: mi.maximum(t, 1.2),
        lambda t: t.maximum(1.2),
        lambda t: mi.where(t > 2, t, mi.tensor([0.5, 0.5, 0.5])),
        lambda t: mi.add(t, 0.5),
        lambda t: mi.div(t, 2),
        lambda t: mi.div(t, 0.5),
        lambda t: t / 2,
    ],
)
def test_float_valued_ops_on_integers_give_float32(make):
    out = make(mi.tensor([1, 2, 3]))
    assert out.dtype == np.float32


def test_function_forms_equal_the_operators():
    i = mi.tensor([1, 2, 3])
    for fn, op in [(mi.add, lambda a, b: a + b), (mi.sub, lambda a, b: a - b),
                   (mi.mul, lambda a, b: a * b), (mi.div, lambda a, b: a / b)]:  # fmt: skip
        for other in (0.5, 2, mi.tensor([0.5, 1.5, 2.5])):
            a, b = fn(i, other), op(i, other)
            assert a.dtype == b.dtype and np.array_equal(a.data, b.data)
            a, b = fn(other, i), op(other if not isinstance(other, int) else mi.tensor(other), i)
            assert a.dtype == b.dtype


@pytest.mark.parametrize("name", ["sum", "mean", "max", "min", "logsumexp"])
@pytest.mark.parametrize("dim", [0, -1])
def test_reductions_of_a_scalar_tensor_over_dim_0(name, dim):
    x = mi.tensor(2.5, requires_grad=True)
    y = getattr(x, name)(dim=dim)
    assert y.shape == () and y.item() == pytest.approx(2.5)
    y.backward()
    assert x.grad.item() == 1.0
    with pytest.raises(IndexError):
        getattr(x, name)(dim=1)


def test_var_of_a_scalar_tensor_is_nan_as_in_pytorch():
    with np.errstate(invalid="ignore", divide="ignore"):
        assert np.isnan(mi.tensor(2.5).var(dim=0).item())
        assert mi.tensor(2.5).var(dim=0, correction=0).item() == 0.0


def test_advanced_indexing_places_axes_as_pytorch():
    x = mi.tensor(np.arange(24.0).reshape(2, 3, 4), requires_grad=True)
    y = x[0, :, [1, 2]]
    assert y.shape == (3, 2)
    np.testing.assert_array_equal(y.data, x.data[0][:, [1, 2]])
    y.sum().backward()
    expected = np.zeros((2, 3, 4))
    expected[0][:, [1, 2]] = 1
    np.testing.assert_array_equal(x.grad.data, expected)
    assert x[:, 1, [0, 3]].shape == (2, 2) and x[1, [0, 2], 1:3].shape == (2, 2)
    assert x[[0, 1], [1, 2]].shape == (2, 4)  # arrays only: NumPy's rule is PyTorch's


def test_max_and_min_of_two_tensors_are_elementwise():
    a, b = mi.tensor([1.0, 5.0]), mi.tensor([3.0, 2.0])
    assert mi.max(a, b).tolist() == [3.0, 5.0] and mi.min(a, b).tolist() == [1.0, 2.0]


def test_argmax_without_axis_holds_a_0d_array():
    i = mi.tensor([1.0, 9.0, 3.0]).argmax()
    assert type(i.data) is np.ndarray and i.data.shape == () and i.item() == 1


def test_attention_mask_that_requires_grad_gets_its_gradient():
    rng = np.random.default_rng(0)
    q, k, v = (mi.tensor(rng.standard_normal((2, 4, 8)), requires_grad=True) for _ in range(3))
    bias = mi.tensor(rng.standard_normal((4, 4)), requires_grad=True)
    for causal in (False, True):
        bias.grad = None
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias, is_causal=causal)
        (out * out).sum().backward()
        scores = (q.data @ k.data.transpose(0, 2, 1)) / np.sqrt(8) + bias.data
        if causal:
            scores = np.where(np.tril(np.ones((4, 4), bool)), scores, -np.inf)
        p = np.exp(scores - scores.max(-1, keepdims=True))
        p /= p.sum(-1, keepdims=True)
        np.testing.assert_allclose(out.data, p @ v.data, atol=1e-12)
        dp = (2 * out.data) @ v.data.transpose(0, 2, 1)
        ds = p * (dp - (dp * p).sum(-1, keepdims=True))
        np.testing.assert_allclose(bias.grad.data, ds.sum(0), atol=1e-12)


_EXTREMES = np.array([-3e38, -1e30, -100.0, -1.0, 0.0, 1.0, 100.0, 1e30, 3e38, np.inf], np.float32)
_SILENT = {
    "exp": lambda t: t.exp(),
    "log": lambda t: t.log(),
    "sqrt": lambda t: t.sqrt(),
    "rsqrt": lambda t: t.rsqrt(),
    "reciprocal": lambda t: 1.0 / t,
    "div by 0": lambda t: t / 0.0,
    "pow": lambda t: t**0.5,
    "rpow": lambda t: 2.0**t,
    "floordiv": lambda t: t // 0.0,
    "remainder": lambda t: t % 0.0,
    "logsumexp": lambda t: t.logsumexp(0),
    "softmax": lambda t: t.softmax(0),
    "log_softmax": lambda t: t.log_softmax(0),
    "var": lambda t: t.var(),
    "prod": lambda t: t.prod(),
    "sigmoid": lambda t: t.sigmoid(),
    "tanh": lambda t: t.tanh(),
    "softplus": lambda t: F.softplus(t),
    "logsigmoid": lambda t: F.logsigmoid(t),
    "normalize": lambda t: F.normalize(t, dim=0),
    "rms_norm": lambda t: F.rms_norm(t, 10),
    "cosh": lambda t: t.cosh(),
}


@pytest.mark.parametrize("name", sorted(_SILENT))
def test_ieee_edge_cases_give_no_numpy_warnings(name):
    """log 0 = -inf, 1/0 = inf, e^1000 = inf, ... silently, as in PyTorch, forward and backward."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        x = mi.tensor(_EXTREMES.copy(), requires_grad=True)
        out = _SILENT[name](x)
        if out.requires_grad:  # floor division has no gradient, as in PyTorch
            out.backward(mi.ones_like(out))
            assert x.grad is not None


@pytest.mark.parametrize("unbiased", [True, False])
def test_std_and_var_take_unbiased_everywhere(unbiased):
    data = np.array([[1.0, 2.0, 4.0], [0.5, -1.0, 3.0]])
    x = mi.tensor(data)
    ddof = int(unbiased)
    np.testing.assert_allclose(x.var(1, unbiased=unbiased).data, data.var(1, ddof=ddof))
    np.testing.assert_allclose(x.std(1, unbiased=unbiased).data, data.std(1, ddof=ddof))
    np.testing.assert_allclose(mi.std(x, unbiased=unbiased).data, data.std(ddof=ddof))
    for pair, ref in ((x.var_mean(dim=0, unbiased=unbiased), data.var(0, ddof=ddof)),
                      (mi.std_mean(x, 0, unbiased=unbiased), data.std(0, ddof=ddof))):  # fmt: skip
        np.testing.assert_allclose(pair[0].data, ref)
        np.testing.assert_allclose(pair[1].data, data.mean(0))


def test_everyday_pytorch_methods():
    x = mi.tensor(np.arange(6.0).reshape(2, 3))
    assert x.t().shape == (3, 2) and x.swapaxes(0, 1).shape == (3, 2) and x.dim() == 2
    assert mi.ones(4).view_as(x[:, :2]).shape == (2, 2) and x.reshape_as(mi.ones(3, 2)).shape == (
        3,
        2,
    )
    assert x.type_as(mi.ones(1, dtype="float64")).dtype == np.float64
    assert x.new_zeros(2, 4).shape == (2, 4) and x.new_ones((3,)).dtype == x.dtype
    assert x.new_full((2,), 7).tolist() == [7.0, 7.0] and x.new_tensor([1, 2]).dtype == x.dtype
    assert x.clamp_min(2).tolist() == [[2, 2, 2], [3, 4, 5]] and x.clamp_max(1).max().item() == 1
    assert x.narrow(1, 1, 2).tolist() == [[1, 2], [4, 5]] and x.select(1, -1).tolist() == [2, 5]
    assert x.amax(1).tolist() == [2, 5] and mi.amin(x).item() == 0
    for bad in (lambda: x.mm(mi.ones(3)), lambda: mi.ones(2, 2, 2).bmm(mi.ones(3, 2, 2)),
                lambda: x.dot(x), lambda: mi.ones(2, 2, 2).t()):  # fmt: skip
        with pytest.raises(ValueError):
            bad()
    with pytest.raises(IndexError, match="narrow"):
        x.narrow(1, 2, 2)
    with pytest.raises(IndexError, match="select"):
        x.select(0, 2)
    with pytest.raises(ValueError, match="repeated"):
        mi.ones(2, 3, 4).movedim((0, 0), (1, 2))


def test_norm_matches_pytorch_including_inf_zero_and_the_zero_vector():
    torch = pytest.importorskip("torch")
    data = np.array([[3.0, -4.0, 0.0], [0.0, 0.0, 0.0]])
    for p in (2, 1, 3, np.inf, -np.inf, 0):
        ours = mi.tensor(data, requires_grad=True)
        theirs = torch.tensor(data, requires_grad=True)
        out, ref = ours.norm(p, dim=1), torch.linalg.vector_norm(theirs, p, dim=1)
        np.testing.assert_allclose(out.data, ref.detach().numpy())
        if p == 2:  # the zero row's gradient is 0, not NaN
            out.sum().backward()
            ref.sum().backward()
            np.testing.assert_allclose(ours.grad.data, theirs.grad.numpy())


def test_einsum_names_the_ellipsis_and_broadcasts_it():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((2, 1, 3, 4)), rng.standard_normal((5, 4, 2))
    ta, tb = mi.tensor(a, requires_grad=True), mi.tensor(b, requires_grad=True)
    out = mi.einsum("...ij,...jk->...ik", ta, tb)
    np.testing.assert_allclose(out.data, np.einsum("...ij,...jk->...ik", a, b))
    out.sum().backward()
    assert ta.grad.shape == a.shape and tb.grad.shape == b.shape
    np.testing.assert_allclose(mi.einsum("i...", ta).data, np.einsum("i...", a))  # implicit
    with pytest.raises(ValueError, match="more axes"):
        mi.einsum("...ijk", mi.ones(2, 2))


def test_dtype_and_keepdim_arguments_and_random_factories():
    x = mi.tensor([[1.0, 3.0], [4.0, 2.0]])
    assert x.argmax(dim=1, keepdim=True).tolist() == [[1], [0]]
    assert mi.argmin(x, dim=0, keepdim=True).shape == (1, 2)
    assert x.mean(dtype="float64").dtype == np.float64 and mi.tensor([1, 2]).mean().item() == 1.5
    assert F.softmax(x, dim=-1, dtype="float64").dtype == np.float64
    assert x.log_softmax(dim=0, dtype="float64").dtype == np.float64
    assert mi.trace(x).item() == 3.0
    assert mi.randn_like(x).shape == x.shape and mi.rand_like(x).dtype == x.dtype
    with pytest.raises(TypeError, match="floating"):
        mi.rand_like(mi.tensor([1, 2]))
    mi.manual_seed(0)
    draws = mi.multinomial(mi.tensor([[0.0, 1.0, 3.0], [1.0, 0.0, 0.0]]), 2, replacement=True)
    assert draws.shape == (2, 2) and draws.dtype == np.int64
    assert (draws.data[0] > 0).all() and (draws.data[1] == 0).all()
    assert sorted(mi.multinomial(mi.tensor([1.0, 1.0, 1.0]), 3).tolist()) == [0, 1, 2]
    with pytest.raises(ValueError, match="without replacement"):
        mi.multinomial(mi.tensor([1.0, 0.0]), 2)
    with pytest.raises(ValueError, match="non-negative"):
        mi.multinomial(mi.tensor([1.0, -1.0]), 1)


def test_new_losses_and_factories_refuse_bad_arguments():
    a, b = mi.tensor([0.2, 3.0]), mi.tensor([0.0, 0.0])
    with pytest.raises(ValueError, match="delta must be positive"):
        F.huber_loss(a, b, delta=0.0)
    with pytest.raises(ValueError, match="beta must be >= 0"):
        F.smooth_l1_loss(a, b, beta=-1.0)
    assert F.smooth_l1_loss(a, b, beta=0.0).item() == F.l1_loss(a, b).item()  # beta 0 is L1
    with pytest.raises(ValueError, match="norm: p must be a number or 'fro'"):
        a.norm("nuc")
    with pytest.raises(ValueError, match="a row of weights sums to 0"):
        mi.multinomial(mi.tensor([[1.0, 1.0], [0.0, 0.0]]), 1)
    with pytest.raises(ValueError, match="1-D or 2-D weights"):
        mi.multinomial(mi.ones(2, 2, 2), 1)
    with pytest.raises(ValueError, match="trace: expects a matrix"):
        mi.ones(3).trace()
