"""Layers: forward, gradcheck (float64) and PyTorch parity with copied weights for every layer.

Parity runs each layer and its ``torch.nn`` twin on the same float64 input with the same weights
(copied with ``load_state_dict`` from the torch module's ``state_dict``, which also checks that the
parameter names match PyTorch's) and compares the output, the input gradient and every parameter
gradient for a random output cotangent.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minillm
from minillm import nn
from minillm.nn import functional as F
from minillm.testing import gradcheck

RTOL, ATOL = 1e-7, 1e-10


@pytest.fixture(scope="module")
def torch() -> Any:
    return pytest.importorskip("torch")


def assert_parity(torch: Any, ours: nn.Module, theirs: Any, x: np.ndarray, seed: int = 0) -> None:
    """Same weights, same float64 input: outputs and all gradients agree with PyTorch."""
    theirs = theirs.double()
    ours.double()
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    floating = x.dtype.kind == "f"
    xo = minillm.tensor(x, requires_grad=floating)
    xt = torch.tensor(x, requires_grad=floating)
    yo, yt = ours(xo), theirs(xt)
    np.testing.assert_allclose(yo.data, yt.detach().numpy(), rtol=RTOL, atol=ATOL)
    if not yo.requires_grad:
        return
    g = np.random.default_rng(seed).standard_normal(yo.shape)
    yo.backward(g)
    yt.backward(torch.tensor(g))
    if floating:
        np.testing.assert_allclose(xo.grad.data, xt.grad.numpy(), rtol=RTOL, atol=ATOL)
    theirs_params = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        np.testing.assert_allclose(
            p.grad.data, theirs_params[name].grad.numpy(), rtol=RTOL, atol=ATOL, err_msg=name
        )


def rand(rng: np.random.Generator, *shape: int) -> np.ndarray:
    return rng.standard_normal(shape)


batch_shapes = st.lists(st.integers(1, 3), min_size=0, max_size=2).map(tuple)


# --------------------------------------------------------------------------------------------------
# Linear, Identity, Flatten
# --------------------------------------------------------------------------------------------------
def test_linear_default_init_matches_pytorch_scheme() -> None:
    layer = nn.Linear(64, 300)
    bound = 1 / math.sqrt(64)
    w, b = layer.weight.data, layer.bias.data
    assert w.shape == (300, 64) and w.dtype == np.float32
    assert np.abs(w).max() <= bound and np.abs(b).max() <= bound
    assert abs(w.std() - bound / math.sqrt(3)) < 0.02 * bound  # U(-b, b) has std b / sqrt(3)
    assert abs(w.mean()) < 0.02 * bound
    minillm.manual_seed(1)
    again = nn.Linear(64, 300)
    minillm.manual_seed(1)
    np.testing.assert_array_equal(again.weight.data, nn.Linear(64, 300).weight.data)


@settings(max_examples=20)
@given(lead=batch_shapes, n_in=st.integers(1, 4), n_out=st.integers(1, 4), bias=st.booleans())
def test_linear_parity(torch: Any, lead: tuple, n_in: int, n_out: int, bias: bool) -> None:
    rng = np.random.default_rng(n_in * 10 + n_out)
    assert_parity(
        torch,
        nn.Linear(n_in, n_out, bias=bias),
        torch.nn.Linear(n_in, n_out, bias=bias),
        rand(rng, *lead, n_in),
    )


def test_linear_gradcheck_and_shape_error() -> None:
    x = minillm.randn(2, 3, 4, dtype=np.float64, requires_grad=True)
    w = minillm.randn(5, 4, dtype=np.float64, requires_grad=True)
    b = minillm.randn(5, dtype=np.float64, requires_grad=True)
    assert gradcheck(F.linear, [x, w, b])
    with pytest.raises(ValueError, match=r"last dimension 4 .* \(5, 4\)"):
        nn.Linear(4, 5)(minillm.ones(2, 3))


def test_identity_and_flatten_match_pytorch(torch: Any) -> None:
    x = np.random.default_rng(0).standard_normal((2, 3, 4, 5))
    assert_parity(torch, nn.Identity(54, unused=True), torch.nn.Identity(), x)
    assert_parity(torch, nn.Flatten(), torch.nn.Flatten(), x)
    assert_parity(torch, nn.Flatten(0, 2), torch.nn.Flatten(0, 2), x)
    assert nn.Flatten(1, 2)(minillm.tensor(x)).shape == (2, 12, 5)
    assert gradcheck(
        lambda t: nn.Flatten()(t) * 2.0, [minillm.tensor(x[:, :2, :2, :2], requires_grad=True)]
    )


# --------------------------------------------------------------------------------------------------
# Activations
# --------------------------------------------------------------------------------------------------
ACTIVATIONS = [
    ("ReLU", lambda: nn.ReLU(), lambda t: t.nn.ReLU()),
    ("GELU", lambda: nn.GELU(), lambda t: t.nn.GELU()),
    ("GELU-tanh", lambda: nn.GELU("tanh"), lambda t: t.nn.GELU(approximate="tanh")),
    ("Tanh", lambda: nn.Tanh(), lambda t: t.nn.Tanh()),
    ("Sigmoid", lambda: nn.Sigmoid(), lambda t: t.nn.Sigmoid()),
    ("Softmax", lambda: nn.Softmax(dim=1), lambda t: t.nn.Softmax(dim=1)),
    ("Softmax-last", lambda: nn.Softmax(), lambda t: t.nn.Softmax(dim=-1)),
    ("LogSoftmax", lambda: nn.LogSoftmax(dim=1), lambda t: t.nn.LogSoftmax(dim=1)),
]


@pytest.mark.parametrize(
    ("name", "make", "make_torch"), ACTIVATIONS, ids=[a[0] for a in ACTIVATIONS]
)
@settings(max_examples=10)
@given(shape=st.lists(st.integers(1, 4), min_size=2, max_size=3).map(tuple), seed=st.integers(0, 9))
def test_activation_parity(
    torch: Any, name: str, make: Any, make_torch: Any, shape: tuple, seed: int
) -> None:
    x = 3 * np.random.default_rng(seed).standard_normal(shape)
    assert_parity(torch, make(), make_torch(torch), x, seed)


@pytest.mark.parametrize(
    ("name", "make", "make_torch"), ACTIVATIONS, ids=[a[0] for a in ACTIVATIONS]
)
def test_activation_gradcheck(name: str, make: Any, make_torch: Any) -> None:
    # Values on a grid away from 0, so ReLU's kink never falls inside a finite difference.
    x = np.random.default_rng(1).choice([-1, 1], (3, 4)) * np.linspace(0.1, 2.0, 12).reshape(3, 4)
    layer = make()
    assert gradcheck(lambda t: layer(t), [minillm.tensor(x, requires_grad=True)])


def test_gelu_rejects_unknown_approximation() -> None:
    with pytest.raises(ValueError, match="'erf'"):
        nn.GELU(approximate="erf")


# --------------------------------------------------------------------------------------------------
# Dropout
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_dropout_statistics(p: float) -> None:
    n = 200_000
    y = nn.Dropout(p)(minillm.ones(n, dtype=np.float64)).data
    kept = y != 0
    # the dropped fraction is Binomial(n, p)/n: within 5 standard deviations
    assert abs((1 - kept.mean()) - p) < 5 * math.sqrt(p * (1 - p) / n)
    np.testing.assert_allclose(y[kept], 1 / (1 - p))  # inverted scaling of the survivors
    assert abs(y.mean() - 1.0) < 5 * math.sqrt(p / (1 - p) / n)  # expectation preserved


def test_dropout_is_identity_in_eval_and_for_p0_and_zero_for_p1() -> None:
    x = minillm.randn(4, 5)
    assert nn.Dropout(0.5).eval()(x) is x
    assert nn.Dropout(0.0)(x) is x
    assert not nn.Dropout(1.0)(x).data.any()
    assert F.dropout(x, 0.3, training=False) is x
    with pytest.raises(ValueError, match=r"\[0, 1\], got 1.5"):
        nn.Dropout(1.5)


def test_dropout_is_reproducible_with_manual_seed_and_backprops_through_the_mask() -> None:
    x = minillm.randn(50, 8, dtype=np.float64, requires_grad=True)
    minillm.manual_seed(42)
    a = nn.Dropout(0.3)(x)
    minillm.manual_seed(42)
    b = nn.Dropout(0.3)(x)
    np.testing.assert_array_equal(a.data, b.data)
    a.sum().backward()
    np.testing.assert_allclose(x.grad.data, a.data / x.data)  # grad = mask / (1 - p)

    def fixed_mask(t: minillm.Tensor) -> minillm.Tensor:
        minillm.manual_seed(7)  # the same mask on every evaluation of the finite differences
        return F.dropout(t, 0.4)

    assert gradcheck(fixed_mask, [minillm.randn(3, 4, dtype=np.float64, requires_grad=True)])


# --------------------------------------------------------------------------------------------------
# Embedding
# --------------------------------------------------------------------------------------------------
def test_embedding_init_is_standard_normal_with_zero_padding_row() -> None:
    emb = nn.Embedding(400, 100, padding_idx=-1)
    w = emb.weight.data
    assert emb.padding_idx == 399 and not w[399].any()
    assert abs(w[:399].mean()) < 0.02 and abs(w[:399].std() - 1) < 0.02
    with pytest.raises(ValueError, match="padding_idx 5"):
        nn.Embedding(5, 2, padding_idx=5)


@pytest.mark.parametrize("padding_idx", [None, 2])
def test_embedding_parity_with_repeated_indices(torch: Any, padding_idx: int | None) -> None:
    idx = np.array([[1, 2, 2, 0], [4, 1, 1, 2]])
    assert_parity(
        torch,
        nn.Embedding(6, 3, padding_idx=padding_idx),
        torch.nn.Embedding(6, 3, padding_idx=padding_idx),
        idx,
    )


def test_embedding_padding_row_gets_no_gradient_and_gradcheck() -> None:
    emb = nn.Embedding(5, 3, padding_idx=0)
    emb(minillm.tensor([0, 1, 0, 3])).sum().backward()
    g = emb.weight.grad.data
    assert not g[0].any() and g[1].tolist() == [1.0] * 3 and not g[2].any()
    idx = minillm.tensor([[0, 3], [3, 4]])
    w = minillm.randn(5, 2, dtype=np.float64, requires_grad=True)
    # (the padding row's zero gradient is by design, not the derivative, so it is not used here)
    assert gradcheck(lambda t: F.embedding(idx, t, padding_idx=1), [w])
    with pytest.raises(IndexError, match="out of range"):
        emb(minillm.tensor([5]))


def test_embedding_from_pretrained() -> None:
    table = minillm.arange(6.0).reshape(3, 2)
    emb = nn.Embedding.from_pretrained(table)
    assert not emb.weight.requires_grad and emb.weight.data is not table.data
    assert emb(minillm.tensor([2])).tolist() == [[4.0, 5.0]]
    assert nn.Embedding.from_pretrained(table, freeze=False).weight.requires_grad


# --------------------------------------------------------------------------------------------------
# LayerNorm
# --------------------------------------------------------------------------------------------------
@settings(max_examples=15)
@given(
    lead=batch_shapes,
    norm=st.lists(st.integers(1, 4), min_size=1, max_size=2).map(tuple),
    affine=st.sampled_from([(True, True), (True, False), (False, False)]),
    seed=st.integers(0, 9),
)
def test_layer_norm_parity(torch: Any, lead: tuple, norm: tuple, affine: tuple, seed: int) -> None:
    rng = np.random.default_rng(seed)
    elementwise_affine, bias = affine
    ours = nn.LayerNorm(norm, eps=1e-5, elementwise_affine=elementwise_affine, bias=bias)
    theirs = torch.nn.LayerNorm(norm, eps=1e-5, elementwise_affine=elementwise_affine, bias=bias)
    with torch.no_grad():  # non-trivial affine parameters, so their gradients are exercised
        for p in theirs.parameters():
            p.copy_(torch.tensor(rng.standard_normal(tuple(p.shape))))
    assert_parity(torch, ours, theirs, 2 + 3 * rng.standard_normal(lead + (2,) + norm), seed)


def test_layer_norm_gradcheck_over_two_trailing_dims() -> None:
    x = minillm.randn(2, 3, 4, dtype=np.float64, requires_grad=True)
    w = minillm.randn(3, 4, dtype=np.float64, requires_grad=True)
    b = minillm.randn(3, 4, dtype=np.float64, requires_grad=True)
    assert gradcheck(lambda x, w, b: F.layer_norm(x, (3, 4), w, b), [x, w, b])


def test_layer_norm_names_shape_errors_and_has_no_parameters_without_affine() -> None:
    with pytest.raises(ValueError, match=r"\(2, 5\) must end with normalized_shape \(4,\)"):
        nn.LayerNorm(4)(minillm.ones(2, 5))
    ln = nn.LayerNorm(4, elementwise_affine=False)
    assert ln.weight is None and ln.bias is None and list(ln.parameters()) == []
    assert list(nn.LayerNorm(4, bias=False).state_dict()) == ["weight"]
