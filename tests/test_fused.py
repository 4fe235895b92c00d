"""Fused ops: gradcheck, equality with the same math composed from primitives, and PyTorch oracles.

Covers ``minillm.ops.fused`` (cross_entropy, layer_norm, embedding, scaled_dot_product_attention)
and the kernel-backed ``Softmax``/``LogSoftmax`` primitives, in both dispatcher modes (Numba and
``MINILLM_NUMBA=0``).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minillm
from minillm.nn import functional as F
from minillm.nn.attention_functions import scaled_dot_product_attention
from minillm.nn.functional import embedding as _embedding
from minillm.nn.functional import layer_norm as _layer_norm
from minillm.nn.losses import cross_entropy, cross_entropy_reference
from minillm.tensor import Tensor
from minillm.testing import gradcheck, shapes, tensors

SEEDS = st.integers(0, 2**32 - 1)


def layer_norm(x, weight, bias, eps: float = 1e-5):
    """F.layer_norm over the last axis, the form the fused op computes."""
    return _layer_norm(x, x.shape[-1], weight, bias, eps)


def embedding(weight, indices, padding_idx=None):
    """F.embedding with the table first, as the fused op takes it."""
    return _embedding(indices, weight, padding_idx)


def leaf(a: np.ndarray) -> Tensor:
    return Tensor(np.array(a), requires_grad=True)


def close(a, b, tol: float = 1e-10) -> None:
    a = a.data if isinstance(a, Tensor) else np.asarray(a)
    b = b.data if isinstance(b, Tensor) else np.asarray(b)
    np.testing.assert_allclose(a, b, rtol=tol, atol=tol)


def grads(fn, inputs: list[Tensor], seed: int = 0) -> tuple[np.ndarray, list[np.ndarray]]:
    """fn's output and the gradients of <out, r> (r random) for every input requiring grad."""
    for t in inputs:
        t.grad = None
    out = fn(*inputs)
    r = np.random.default_rng(seed).standard_normal(out.shape)
    out.backward(r.astype(out.dtype))
    return out.data.copy(), [t.grad.data.copy() for t in inputs if t.requires_grad]


# --------------------------------------------------------------------------------------------------
# Softmax / LogSoftmax primitives (kernel-backed)
# --------------------------------------------------------------------------------------------------
@given(x=tensors(shapes(min_dims=1, max_dims=3)), data=st.data())
@pytest.mark.parametrize("which", ["softmax", "log_softmax"])
def test_softmax_primitives_gradcheck_over_axes(which: str, x: Tensor, data) -> None:
    axis = data.draw(st.integers(-x.ndim, x.ndim - 1))
    assert gradcheck(lambda t: getattr(t, which)(axis), [x])
    shifted = x.data - x.data.max(axis=axis, keepdims=True)
    expected = shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))
    close(getattr(x, which)(axis), np.exp(expected) if which == "softmax" else expected)


def test_softmax_primitives_edge_cases() -> None:
    assert minillm.tensor(3.0).softmax().item() == 1.0
    assert minillm.zeros(0, 3).softmax().shape == (0, 3)
    y = minillm.tensor([[1e4, -1e4, 0.0]]).log_softmax()
    close(y, [[0.0, -2e4, -1e4]])
    assert minillm.tensor([[1, 2]]).softmax().dtype == np.float32  # integer logits


# --------------------------------------------------------------------------------------------------
# cross_entropy
# --------------------------------------------------------------------------------------------------
@given(
    N=st.integers(1, 6),
    C=st.integers(1, 7),
    eps=st.sampled_from([0.0, 0.2]),
    reduction=st.sampled_from(["mean", "sum", "none"]),
    seed=SEEDS,
)
def test_cross_entropy_gradcheck_and_composed(
    N: int, C: int, eps: float, reduction: str, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    x = leaf(rng.standard_normal((N, C)))
    t = rng.integers(0, C, N)
    t[rng.random(N) < 0.3] = -100
    if reduction == "mean" and (t == -100).all():
        t[0] = 0
    target = Tensor(t)

    def fused(z: Tensor) -> Tensor:
        return cross_entropy(z, target, label_smoothing=eps, reduction=reduction)

    assert gradcheck(fused, [x])
    out, (g,) = grads(fused, [x])
    out2, (g2,) = grads(lambda z: cross_entropy_reference(z, t, -100, eps, reduction), [x])
    close(out, out2)
    close(g, g2)


def test_cross_entropy_matches_torch() -> None:
    torch = pytest.importorskip("torch")
    TF = torch.nn.functional
    rng = np.random.default_rng(1)
    x_np = rng.standard_normal((9, 5)) * 3
    x_np[0] = [1e4, -1e4, 0, 5e3, -5e3]  # extreme logits stay finite
    t_np = rng.integers(0, 5, 9)
    t_np[[2, 5]] = 3  # ignore_index = 3 here
    for eps in (0.0, 0.1):
        for reduction in ("mean", "sum", "none"):
            x, tx = leaf(x_np), torch.tensor(x_np, requires_grad=True)
            ours = cross_entropy(x, Tensor(t_np), ignore_index=3, label_smoothing=eps,
                                 reduction=reduction)  # fmt: skip
            theirs = TF.cross_entropy(
                tx, torch.tensor(t_np), ignore_index=3, label_smoothing=eps, reduction=reduction
            )
            close(ours, theirs.detach().numpy())
            ours.backward(np.ones(ours.shape))
            theirs.backward(torch.ones(theirs.shape, dtype=theirs.dtype))
            close(x.grad, tx.grad.numpy())


def test_cross_entropy_float32_and_edge_cases() -> None:
    x = minillm.tensor([[0.0, 0.0], [10.0, -10.0]])
    loss = cross_entropy(x, minillm.tensor([1, 0]))
    assert loss.dtype == np.float32
    assert math.isnan(cross_entropy(x, minillm.tensor([-100, -100])).item())  # as PyTorch
    with pytest.raises(IndexError, match="target 7 is out of range for 2 classes"):
        cross_entropy(x, minillm.tensor([0, 7]))
    with pytest.raises(IndexError, match="target -3"):
        cross_entropy(x, minillm.tensor([-3, 0]))
    with pytest.raises(ValueError, match="reduction"):
        cross_entropy(x, minillm.tensor([0, 1]), reduction="avg")
    with pytest.raises(ValueError, match=r"needs class-index targets of shape \(2, 2\)"):
        cross_entropy(minillm.zeros(2, 2, 2), minillm.tensor([0, 1]))


# --------------------------------------------------------------------------------------------------
# layer_norm
# --------------------------------------------------------------------------------------------------
@given(shape=shapes(min_dims=1, max_dims=3, max_side=6), affine=st.booleans(), seed=SEEDS)
def test_layer_norm_gradcheck_and_composed(shape: tuple, affine: bool, seed: int) -> None:
    rng = np.random.default_rng(seed)
    C = shape[-1]
    x = leaf(rng.standard_normal(shape) + 2.0)
    w, b = (leaf(rng.standard_normal(C)), leaf(rng.standard_normal(C))) if affine else (None, None)
    inputs = [x, w, b] if affine else [x]

    def fused(*ts: Tensor) -> Tensor:
        return layer_norm(ts[0], *(ts[1:] if affine else (None, None)), eps=1e-5)

    def composed(*ts: Tensor) -> Tensor:
        return F.layer_norm_reference(ts[0], C, *(ts[1:] if affine else (None, None)), eps=1e-5)

    if C > 1:  # a single column normalizes to 0 whatever x is: a valid but degenerate Jacobian
        assert gradcheck(fused, inputs)
    out, g = grads(fused, inputs)
    out2, g2 = grads(composed, inputs)
    close(out, out2)
    for a, b_ in zip(g, g2):
        close(a, b_, 1e-8)


def test_layer_norm_matches_torch() -> None:
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    x_np = (rng.standard_normal((3, 4, 10)) + 1e3).astype(np.float32)  # a large offset
    w_np, b_np = (
        rng.standard_normal(10).astype(np.float32),
        rng.standard_normal(10).astype(np.float32),
    )
    x, w, b = leaf(x_np), leaf(w_np), leaf(b_np)
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x_np, w_np, b_np))
    ours = layer_norm(x, w, b)
    theirs = torch.nn.functional.layer_norm(tx, (10,), tw, tb)
    np.testing.assert_allclose(ours.data, theirs.detach().numpy(), rtol=1e-3, atol=1e-3)
    g = rng.standard_normal(ours.shape).astype(np.float32)
    ours.backward(g)
    theirs.backward(torch.tensor(g))
    for a, t in ((x, tx), (w, tw), (b, tb)):
        np.testing.assert_allclose(a.grad.data, t.grad.numpy(), rtol=1e-3, atol=1e-3)


def test_layer_norm_checks_parameter_shapes() -> None:
    with pytest.raises(ValueError, match=r"weight has shape \(4,\), expected \(3,\)"):
        layer_norm(minillm.zeros(2, 3), minillm.ones(4), None)


# --------------------------------------------------------------------------------------------------
# embedding
# --------------------------------------------------------------------------------------------------
@given(
    V=st.integers(1, 6),
    C=st.integers(1, 4),
    idx_shape=shapes(min_dims=0, max_dims=2, max_side=4),
    pad=st.booleans(),
    seed=SEEDS,
)
def test_embedding_gradcheck_and_composed(
    V: int, C: int, idx_shape: tuple, pad: bool, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    W = leaf(rng.standard_normal((V, C)))
    idx = rng.integers(0, V, idx_shape)
    padding_idx = int(rng.integers(-V, V)) if pad else None

    def fused(w: Tensor) -> Tensor:
        return embedding(w, Tensor(idx), padding_idx)

    assert fused(W).shape == (*idx_shape, C)
    assert gradcheck(lambda w: embedding(w, Tensor(idx)), [W])
    out, (g,) = grads(fused, [W])
    out2, (g2,) = grads(lambda w: F.embedding_reference(Tensor(idx), w, padding_idx), [W])
    close(out, out2)
    if padding_idx is not None:
        assert (g[padding_idx] == 0).all()
    close(g, g2)


def test_embedding_matches_torch_and_rejects_bad_indices() -> None:
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    w_np = rng.standard_normal((7, 3)).astype(np.float32)
    idx = np.array([[1, 2, 1], [6, 0, 2]])
    W, tW = leaf(w_np), torch.tensor(w_np, requires_grad=True)
    ours = embedding(W, Tensor(idx), padding_idx=2)
    theirs = torch.nn.functional.embedding(torch.tensor(idx), tW, padding_idx=2)
    close(ours, theirs.detach().numpy())
    g = rng.standard_normal(ours.shape).astype(np.float32)
    ours.backward(g)
    theirs.backward(torch.tensor(g))
    np.testing.assert_allclose(W.grad.data, tW.grad.numpy(), rtol=1e-6, atol=1e-6)
    with pytest.raises(IndexError, match="index 7 is out of range for a table of V=7 rows"):
        embedding(W, Tensor(np.array([0, 7])))
    with pytest.raises(IndexError, match="index -1"):
        embedding(W, Tensor(np.array([-1])))
    with pytest.raises(TypeError, match="integers"):
        embedding(W, minillm.tensor([0.0]))


# --------------------------------------------------------------------------------------------------
# scaled_dot_product_attention
# --------------------------------------------------------------------------------------------------
@given(
    batch=st.sampled_from([(), (2,), (1, 2)]),
    Tq=st.sampled_from([1, 3, 5]),
    Tk=st.sampled_from([1, 4, 5]),
    D=st.sampled_from([1, 3]),
    mask_kind=st.sampled_from(["none", "bool", "float"]),
    causal=st.booleans(),
    weights=st.booleans(),
    seed=SEEDS,
)
def test_attention_gradcheck_and_composed(
    batch, Tq, Tk, D, mask_kind, causal, weights, seed
) -> None:
    rng = np.random.default_rng(seed)
    q, k, v = (leaf(rng.standard_normal((*batch, T, D))) for T in (Tq, Tk, Tk))
    mask = None
    if mask_kind == "bool":
        mask = rng.random((Tq, Tk)) < 0.8
        mask[:, 0] = True  # every row keeps a key, so the composed version has no NaN rows
    elif mask_kind == "float":
        mask = rng.standard_normal((Tq, Tk))
    scale = 0.7

    def fused(*qkv: Tensor) -> Tensor:
        out = scaled_dot_product_attention(
            *qkv, attn_mask=mask, is_causal=causal, scale=scale, return_weights=weights
        )
        return out[0] if weights else out

    assert gradcheck(fused, [q, k, v])
    out, g = grads(fused, [q, k, v])
    out2, g2 = grads(lambda *qkv: F.attention_reference(*qkv, mask, causal, scale), [q, k, v])
    close(out, out2)
    for a, b in zip(g, g2):
        close(a, b)


@given(
    B=st.integers(1, 2),
    T=st.integers(1, 5),
    H=st.integers(1, 3),
    D=st.integers(1, 3),
    causal=st.booleans(),
    seed=SEEDS,
)
def test_packed_qkv_attention_gradcheck_and_equals_the_three_steps(B, T, H, D, causal, seed):
    from minillm.nn import functional as F

    qkv = leaf(np.random.default_rng(seed).standard_normal((B, T, 3 * H * D)))
    fused = lambda t: F.qkv_attention(t, H, is_causal=causal)  # noqa: E731
    assert gradcheck(fused, [qkv])
    out, g = grads(fused, [qkv])
    out2, g2 = grads(lambda t: F.qkv_attention_reference(t, H, is_causal=causal), [qkv])
    close(out, out2)
    close(g[0], g2[0])


def test_packed_qkv_attention_float32_dropout_and_errors() -> None:
    from minillm.nn import functional as F

    qkv = Tensor(np.random.default_rng(0).standard_normal((2, 4, 12)).astype(np.float32),
                 requires_grad=True)  # fmt: skip
    out = F.qkv_attention(qkv, 2, is_causal=True)
    assert out.dtype == np.float32 and out.shape == (2, 4, 4)
    out.sum().backward()
    assert qkv.grad.dtype == np.float32 and qkv.grad.shape == qkv.shape
    minillm.manual_seed(0)
    dropped = F.qkv_attention(qkv, 2, dropout_p=0.5)
    minillm.manual_seed(0)
    close(dropped, F.qkv_attention_reference(qkv, 2, dropout_p=0.5), 1e-6)
    for bad in (minillm.ones(2, 4, 10), minillm.ones(4, 12)):
        with pytest.raises(ValueError, match=r"\(B, T, 3C\)"):
            F.qkv_attention(bad, 2)


def test_attention_fully_masked_rows_give_zeros_and_no_gradient() -> None:
    rng = np.random.default_rng(4)
    q, k, v = (leaf(rng.standard_normal((2, 3, 4))) for _ in range(3))
    mask = np.ones((3, 3), dtype=bool)
    mask[1] = False  # query 1 may attend to nothing
    for weights in (False, True):
        out = scaled_dot_product_attention(q, k, v, attn_mask=mask, return_weights=weights)
        if weights:
            out, w = out
            assert (w.data[:, 1] == 0).all()
        assert (out.data[:, 1] == 0).all() and np.isfinite(out.data).all()
        for t in (q, k, v):
            t.grad = None
        out.sum().backward()
        assert (q.grad.data[:, 1] == 0).all()
        assert np.isfinite(k.grad.data).all() and np.isfinite(v.grad.data).all()


def test_attention_weights_equal_the_softmax_and_out_equals_weights_at_v() -> None:
    rng = np.random.default_rng(5)
    q, k, v = (Tensor(rng.standard_normal((2, 2, 6, 4))) for _ in range(3))
    mask = rng.standard_normal((2, 1, 6, 6))
    out, w = scaled_dot_product_attention(q, k, v, attn_mask=mask, return_weights=True)
    s = (q.data @ np.swapaxes(k.data, -1, -2)) / 2.0 + mask
    p = np.exp(s - s.max(-1, keepdims=True))
    close(w, p / p.sum(-1, keepdims=True))
    close(out, w.data @ v.data)
    close(out, scaled_dot_product_attention(q, k, v, attn_mask=mask))


def test_attention_matches_torch() -> None:
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    rng = np.random.default_rng(6)
    B, H, D = 2, 3, 8
    cases = [
        dict(Tq=70, Tk=70, is_causal=True),  # T past one 64-wide tile
        dict(Tq=5, Tk=9, is_causal=True),  # top-left causal alignment when Tq != Tk
        dict(Tq=6, Tk=66, attn_mask=rng.random((B, 1, 6, 66)) < 0.8),
        dict(Tq=7, Tk=7, attn_mask=rng.standard_normal((7, 7)).astype(np.float32)),
        dict(Tq=4, Tk=5, scale=0.3),
    ]
    for case in cases:
        Tq, Tk = case.pop("Tq"), case.pop("Tk")
        if "attn_mask" in case and case["attn_mask"].dtype == bool:
            case["attn_mask"][..., 0] = True  # PyTorch gives NaN for fully masked rows
        arrays = [rng.standard_normal((B, H, T, D)).astype(np.float32) for T in (Tq, Tk, Tk)]
        ours_in = [leaf(a) for a in arrays]
        theirs_in = [torch.tensor(a, requires_grad=True) for a in arrays]
        t_case = {n: torch.tensor(c) if isinstance(c, np.ndarray) else c for n, c in case.items()}
        ours = scaled_dot_product_attention(*ours_in, **case)
        theirs = F.scaled_dot_product_attention(*theirs_in, **t_case)
        np.testing.assert_allclose(ours.data, theirs.detach().numpy(), rtol=1e-4, atol=1e-5)
        g = rng.standard_normal(ours.shape).astype(np.float32)
        ours.backward(g)
        theirs.backward(torch.tensor(g))
        for a, t in zip(ours_in, theirs_in):
            np.testing.assert_allclose(a.grad.data, t.grad.numpy(), rtol=1e-4, atol=1e-5)
        # the weights variant is the same output, and its weights are torch's softmax
        out, w = scaled_dot_product_attention(*ours_in, **case, return_weights=True)
        np.testing.assert_allclose(out.data, theirs.detach().numpy(), rtol=1e-4, atol=1e-5)
        tq, tk = theirs_in[0].detach(), theirs_in[1].detach()
        s = tq @ tk.transpose(-2, -1) * case.get("scale", 1 / math.sqrt(D))
        if "attn_mask" in t_case:
            m = t_case["attn_mask"]
            s = s.masked_fill(~m, -math.inf) if m.dtype == torch.bool else s + m
        if case.get("is_causal"):
            s = s.masked_fill(~torch.ones(Tq, Tk, dtype=torch.bool).tril(), -math.inf)
        np.testing.assert_allclose(w.data, torch.softmax(s, -1).numpy(), rtol=1e-4, atol=1e-6)


def test_attention_dropout_uses_the_generator() -> None:
    rng = np.random.default_rng(7)
    q, k, v = (Tensor(rng.standard_normal((1, 2, 5, 3))) for _ in range(3))
    minillm.manual_seed(1)
    a, wa = scaled_dot_product_attention(q, k, v, dropout_p=0.5, return_weights=True)
    minillm.manual_seed(1)
    b, _ = scaled_dot_product_attention(q, k, v, dropout_p=0.5, return_weights=True)
    close(a, b)  # reproducible from the seed
    close(a, wa.data @ v.data)
    full = scaled_dot_product_attention(q, k, v, return_weights=True)[1].data
    kept = wa.data != 0
    assert 0 < kept.mean() < 1
    close(wa.data[kept], full[kept] * 2.0)  # survivors are rescaled by 1 / (1 - p)
    assert (scaled_dot_product_attention(q, k, v, dropout_p=1.0).data == 0).all()


def test_attention_rejects_mismatched_shapes() -> None:
    q = minillm.zeros(2, 3, 4)
    with pytest.raises(ValueError, match="shapes do not fit"):
        scaled_dot_product_attention(q, minillm.zeros(2, 3, 5), minillm.zeros(2, 3, 4))
    with pytest.raises(ValueError, match="does not broadcast"):
        scaled_dot_product_attention(q, q, q, attn_mask=np.ones((2, 2), dtype=bool))
    with pytest.raises(TypeError, match="bool or float"):
        scaled_dot_product_attention(q, q, q, attn_mask=np.ones((3, 3), dtype=np.int64))


# --------------------------------------------------------------------------------------------------
# MINILLM_NUMBA=0 runs the twins with the same results
# --------------------------------------------------------------------------------------------------
def test_fused_ops_agree_between_numba_and_twins(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(8)
    x = rng.standard_normal((4, 70, 9))
    t = rng.integers(0, 9, 4 * 70)
    W = rng.standard_normal((9, 5))
    idx = rng.integers(0, 9, (3, 4))
    mask = rng.random((70, 70)) < 0.9

    def run() -> list[np.ndarray]:
        results = []
        cases = [
            (lambda a: cross_entropy(a.reshape(-1, 9), Tensor(t), label_smoothing=0.1), x),
            (lambda a: layer_norm(a, None, None), x),
            (lambda a: a.softmax(1), x),
            (lambda a: a.log_softmax(-1), x),
            (lambda a: embedding(a, Tensor(idx), padding_idx=0), W),
            (lambda a: scaled_dot_product_attention(a, a, a, is_causal=True), x),
            (lambda a: scaled_dot_product_attention(a, a, a, attn_mask=mask), x),
            (lambda a: scaled_dot_product_attention(a, a, a, return_weights=True)[1], x),
        ]
        for fn, a in cases:
            out, (g,) = grads(fn, [leaf(a)])
            results += [out, g]
        return results

    fast = run()
    monkeypatch.setenv("MINILLM_NUMBA", "0")
    slow = run()
    for a, b in zip(fast, slow):
        close(a, b, 1e-12)
