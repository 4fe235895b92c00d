"""``minillm.nn.functional`` and the loss modules: PyTorch parity, gradcheck and edge cases.

Every loss is compared with ``torch.nn.functional`` in float64 — forward and input gradient — over
Hypothesis-drawn shapes and options (reductions, ignore_index, label smoothing, class weights,
probability targets, pos_weight, log targets), and checked by finite differences. The fused
cross-entropy path is also checked against the same math composed from primitives.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minillm
from minillm import nn
from minillm.nn import functional as F
from minillm.nn import losses
from minillm.testing import gradcheck

RTOL, ATOL = 1e-7, 1e-10


@pytest.fixture(scope="module")
def torch() -> Any:
    return pytest.importorskip("torch")


def close(ours: minillm.Tensor | np.ndarray, theirs: Any) -> None:
    a = ours.data if isinstance(ours, minillm.Tensor) else ours
    b = theirs.detach().numpy() if hasattr(theirs, "detach") else np.asarray(theirs)
    np.testing.assert_allclose(a, b, rtol=RTOL, atol=ATOL, equal_nan=True)


def both(torch: Any, *arrays: np.ndarray, grad: bool = True) -> tuple[list, list]:
    """The same float64 arrays as minillm and torch leaves (integer arrays never require grad)."""
    ours, theirs = [], []
    for a in arrays:
        g = grad and a.dtype.kind == "f"
        ours.append(minillm.tensor(a, requires_grad=g))
        theirs.append(torch.tensor(a, requires_grad=g))
    return ours, theirs


def backward_both(torch: Any, yo: minillm.Tensor, yt: Any, seed: int = 0) -> None:
    g = np.random.default_rng(seed).standard_normal(yo.shape)
    yo.backward(g)
    yt.backward(torch.tensor(g))


def grads_close(ours: list, theirs: list) -> None:
    for o, t in zip(ours, theirs):
        if o.requires_grad:
            close(o.grad, t.grad)


# --------------------------------------------------------------------------------------------------
# cross_entropy and nll_loss
# --------------------------------------------------------------------------------------------------
@st.composite
def classification(draw: Any, probs_allowed: bool = True) -> dict[str, Any]:
    """Logits (N, C, *d) or (C,), a target, and the loss options, as NumPy arrays and values."""
    unbatched = draw(st.booleans()) and draw(st.booleans())
    c = draw(st.integers(1, 4))
    n = draw(st.integers(1, 4))
    extra = tuple(draw(st.lists(st.integers(1, 3), max_size=2)))
    shape = (c,) if unbatched else (n, c, *extra)
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    logits = 2 * rng.standard_normal(shape)
    class_axis = 0 if unbatched else 1
    probs = probs_allowed and draw(st.booleans())
    ignore_index = draw(st.sampled_from([-100, 0]))
    if probs:
        ignore_index = -100  # only class-index targets can be ignored (PyTorch raises otherwise)
        e = rng.random(shape) + draw(st.sampled_from([0.0, 0.01]))
        target = e / e.sum(axis=class_axis, keepdims=True)
    else:
        tshape = () if unbatched else (n, *extra)
        target = rng.integers(0, c, size=tshape)
        if draw(st.booleans()):  # ignore some targets
            target = np.where(rng.random(tshape) < 0.3, ignore_index, target)
    weight = 0.2 + rng.random(c) if draw(st.booleans()) else None
    return {
        "logits": logits,
        "target": target,
        "weight": weight,
        "ignore_index": ignore_index,
        "reduction": draw(st.sampled_from(["none", "mean", "sum"])),
        "label_smoothing": draw(st.sampled_from([0.0, 0.0, 0.1, 0.35])),
    }


@settings(max_examples=80)
@given(case=classification())
def test_cross_entropy_parity(torch: Any, case: dict[str, Any]) -> None:
    (x, t), (xt, tt) = both(torch, case["logits"], case["target"], grad=True)
    t.requires_grad_(False)
    tt.requires_grad_(False)
    w = case["weight"]
    opts = {k: case[k] for k in ("ignore_index", "reduction", "label_smoothing")}
    yo = F.cross_entropy(x, t, weight=None if w is None else minillm.tensor(w), **opts)
    yt = torch.nn.functional.cross_entropy(
        xt, tt, weight=None if w is None else torch.tensor(w), **opts
    )
    close(yo, yt)
    if np.isnan(yo.data).any():  # every target ignored: NaN in both, nothing to differentiate
        return
    backward_both(torch, yo, yt)
    close(x.grad, xt.grad)


@settings(max_examples=40)
@given(case=classification(probs_allowed=False))
def test_fused_cross_entropy_equals_the_composed_math(case: dict[str, Any]) -> None:
    opts = {k: case[k] for k in ("ignore_index", "reduction", "label_smoothing")}
    x1 = minillm.tensor(case["logits"], requires_grad=True)
    x2 = minillm.tensor(case["logits"], requires_grad=True)
    t = minillm.tensor(case["target"])
    fused = F.cross_entropy(x1, t, **opts)  # weight=None: the fused op
    composed = losses._cross_entropy_indices(
        x2, t, None, opts["ignore_index"], opts["reduction"], opts["label_smoothing"]
    )
    np.testing.assert_allclose(fused.data, composed.data, rtol=1e-12, atol=1e-14, equal_nan=True)
    assert fused.shape == composed.shape
    if np.isnan(fused.data).any():
        return
    g = np.random.default_rng(0).standard_normal(fused.shape)
    fused.backward(g)
    composed.backward(g)
    np.testing.assert_allclose(x1.grad.data, x2.grad.data, rtol=1e-10, atol=1e-13)


@settings(max_examples=40)
@given(case=classification(probs_allowed=False))
def test_nll_loss_parity(torch: Any, case: dict[str, Any]) -> None:
    logp = case["logits"] - np.log(
        np.exp(case["logits"]).sum(axis=0 if case["target"].ndim == 0 else 1, keepdims=True)
    )
    (x, t), (xt, tt) = both(torch, logp, case["target"])
    w = case["weight"]
    opts = {k: case[k] for k in ("ignore_index", "reduction")}
    yo = F.nll_loss(x, t, weight=None if w is None else minillm.tensor(w), **opts)
    yt = torch.nn.functional.nll_loss(xt, tt, weight=None if w is None else torch.tensor(w), **opts)
    close(yo, yt)
    if np.isnan(yo.data).any():
        return
    backward_both(torch, yo, yt)
    close(x.grad, xt.grad)


def test_cross_entropy_gradcheck_for_each_path() -> None:
    rng = np.random.default_rng(0)
    x = minillm.tensor(rng.standard_normal((3, 4, 2)), requires_grad=True)
    idx = minillm.tensor([[0, 3], [-100, 1], [2, 2]])
    w = minillm.tensor(0.5 + rng.random(4))
    probs = minillm.tensor(rng.dirichlet(np.ones(4), size=(3, 2)).transpose(0, 2, 1).copy())
    for kw in ({}, {"label_smoothing": 0.2}, {"weight": w}, {"weight": w, "label_smoothing": 0.1}):
        assert gradcheck(lambda t, kw=kw: F.cross_entropy(t, idx, **kw), [x])
    assert gradcheck(lambda t: F.cross_entropy(t, probs, weight=w, label_smoothing=0.1), [x])


def test_cross_entropy_errors_name_the_problem() -> None:
    x = minillm.zeros(2, 3)
    with pytest.raises(IndexError, match="target 3 is out of range for 3 classes"):
        F.cross_entropy(x, minillm.tensor([0, 3]))
    with pytest.raises(IndexError, match="target 5 is out of range"):
        F.cross_entropy(x, minillm.tensor([0, 5]), weight=minillm.ones(3))
    with pytest.raises(ValueError, match=r"targets of shape \(2,\), got \(3,\)"):
        F.cross_entropy(x, minillm.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match="reduction must be one of"):
        F.cross_entropy(x, minillm.tensor([0, 1]), reduction="avg")
    with pytest.raises(ValueError, match=r"weight must have shape \(3,\)"):
        F.cross_entropy(x, minillm.tensor([0, 1]), weight=minillm.ones(2))
    with pytest.raises(ValueError, match="target shape"):
        F.cross_entropy(x, minillm.zeros(2, 4))
    with pytest.raises(ValueError, match="ignore_index=0 applies to class-index targets only"):
        F.cross_entropy(x, minillm.zeros(2, 3), ignore_index=0)


def test_cross_entropy_of_uniform_logits_is_log_c_and_all_ignored_mean_is_nan() -> None:
    x = minillm.zeros(5, 7)
    assert abs(F.cross_entropy(x, minillm.tensor([0, 1, 2, 3, 4])).item() - np.log(7)) < 1e-6
    t = minillm.tensor([-100] * 5)
    assert np.isnan(F.cross_entropy(x, t).item())
    assert np.isnan(F.cross_entropy(x, t, weight=minillm.ones(7)).item())
    assert F.cross_entropy(x, t, reduction="sum").item() == 0.0


# --------------------------------------------------------------------------------------------------
# Regression and binary losses, KL divergence
# --------------------------------------------------------------------------------------------------
shapes = st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple)
reductions = st.sampled_from(["none", "mean", "sum"])


@settings(max_examples=30)
@given(shape=shapes, reduction=reductions, seed=st.integers(0, 99))
def test_mse_and_l1_parity(torch: Any, shape: tuple, reduction: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    a, b = rng.standard_normal(shape), rng.standard_normal(shape)
    for ours, theirs in (
        (F.mse_loss, torch.nn.functional.mse_loss),
        (F.l1_loss, torch.nn.functional.l1_loss),
    ):
        (x, y), (xt, yt) = both(torch, a, b)
        lo, lt = ours(x, y, reduction=reduction), theirs(xt, yt, reduction=reduction)
        close(lo, lt)
        backward_both(torch, lo, lt, seed)
        grads_close([x, y], [xt, yt])


@settings(max_examples=30)
@given(shape=shapes, reduction=reductions, weighted=st.booleans(), seed=st.integers(0, 99))
def test_binary_cross_entropy_parity(
    torch: Any, shape: tuple, reduction: str, weighted: bool, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    p = 0.02 + 0.96 * rng.random(shape)
    target = rng.random(shape)  # soft targets are allowed
    w = rng.random(shape[-1:]) if weighted else None
    (x, t), (xt, tt) = both(torch, p, target)
    lo = F.binary_cross_entropy(x, t, None if w is None else minillm.tensor(w), reduction)
    lt = torch.nn.functional.binary_cross_entropy(
        xt, tt, None if w is None else torch.tensor(w), reduction=reduction
    )
    close(lo, lt)
    backward_both(torch, lo, lt, seed)
    grads_close([x, t], [xt, tt])


def test_binary_cross_entropy_clamps_log_at_minus_100(torch: Any) -> None:
    p, t = np.array([0.0, 1.0, 0.5]), np.array([1.0, 0.0, 1.0])
    lo = F.binary_cross_entropy(minillm.tensor(p), minillm.tensor(t), reduction="none")
    close(
        lo,
        torch.nn.functional.binary_cross_entropy(
            torch.tensor(p), torch.tensor(t), reduction="none"
        ),
    )
    assert lo.tolist()[:2] == [100.0, 100.0]


@settings(max_examples=40)
@given(
    shape=shapes,
    reduction=reductions,
    weighted=st.booleans(),
    pos_weighted=st.booleans(),
    seed=st.integers(0, 99),
)
def test_binary_cross_entropy_with_logits_parity(
    torch: Any, shape: tuple, reduction: str, weighted: bool, pos_weighted: bool, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    logits = 4 * rng.standard_normal(shape)
    target = rng.random(shape)
    w = rng.random(shape) if weighted else None
    pw = 0.5 + 2 * rng.random(shape[-1:]) if pos_weighted else None
    (x, t), (xt, tt) = both(torch, logits, target)
    lo = F.binary_cross_entropy_with_logits(
        x,
        t,
        None if w is None else minillm.tensor(w),
        reduction,
        pos_weight=None if pw is None else minillm.tensor(pw),
    )
    lt = torch.nn.functional.binary_cross_entropy_with_logits(
        xt,
        tt,
        None if w is None else torch.tensor(w),
        reduction=reduction,
        pos_weight=None if pw is None else torch.tensor(pw),
    )
    close(lo, lt)
    backward_both(torch, lo, lt, seed)
    grads_close([x, t], [xt, tt])


def test_binary_cross_entropy_with_logits_is_stable_and_smooth_at_zero() -> None:
    x = minillm.tensor([-1000.0, 1000.0, 0.0, 0.0, 40.0], requires_grad=True)
    t = minillm.tensor([0.0, 1.0, 1.0, 0.0, 0.0])
    loss = F.binary_cross_entropy_with_logits(x, t, reduction="none")
    np.testing.assert_allclose(loss.data, [0.0, 0.0, np.log(2), np.log(2), 40.0], rtol=1e-6)
    loss.sum().backward()
    # d/dx = sigmoid(x) - t; at x = 0 that is -1/2 or +1/2, not the 0 of a kinked formula
    np.testing.assert_allclose(x.grad.data, [0.0, 0.0, -0.5, 0.5, 1.0], atol=1e-7)


@pytest.mark.filterwarnings("ignore:reduction. 'mean' divides:UserWarning")
@settings(max_examples=30)
@given(
    shape=st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple),
    reduction=st.sampled_from(["none", "mean", "sum", "batchmean"]),
    log_target=st.booleans(),
    seed=st.integers(0, 99),
)
def test_kl_div_parity(
    torch: Any, shape: tuple, reduction: str, log_target: bool, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    logq = np.log(rng.dirichlet(np.ones(shape[-1]), size=shape[:-1]))
    p = rng.dirichlet(np.ones(shape[-1]), size=shape[:-1])
    p = np.where(rng.random(shape) < 0.2, 0.0, p)  # zeros: the 0 log 0 = 0 convention
    target = np.log(p + 1e-3) if log_target else p
    (x, t), (xt, tt) = both(torch, logq, target)
    lo = F.kl_div(x, t, reduction=reduction, log_target=log_target)
    lt = torch.nn.functional.kl_div(xt, tt, reduction=reduction, log_target=log_target)
    close(lo, lt)
    backward_both(torch, lo, lt, seed)
    close(x.grad, xt.grad)
    if log_target:
        close(t.grad, tt.grad)


def test_loss_gradchecks() -> None:
    rng = np.random.default_rng(3)
    x = minillm.tensor(rng.standard_normal((3, 4)), requires_grad=True)
    p = minillm.tensor(0.1 + 0.8 * rng.random((3, 4)), requires_grad=True)
    t = minillm.tensor(rng.random((3, 4)), requires_grad=True)
    w, pw = minillm.tensor(rng.random(4)), minillm.tensor(1 + rng.random(4))
    logq = minillm.tensor(np.log(rng.dirichlet(np.ones(4), 3)), requires_grad=True)
    target_idx = minillm.tensor([1, 0, 3])
    assert gradcheck(lambda a, b: F.mse_loss(a, b), [x, t])
    assert gradcheck(lambda a, b: F.l1_loss(a, b, reduction="sum"), [x, t])
    assert gradcheck(lambda a, b: F.binary_cross_entropy(a, b, w), [p, t])
    assert gradcheck(
        lambda a, b: F.binary_cross_entropy_with_logits(a, b, w, pos_weight=pw), [x, t]
    )
    assert gradcheck(lambda a, b: F.kl_div(a, b, reduction="batchmean"), [logq, p])
    assert gradcheck(lambda a, b: F.kl_div(a, b, log_target=True), [logq, x])
    assert gradcheck(lambda a: F.nll_loss(a, target_idx, weight=w), [logq])


# --------------------------------------------------------------------------------------------------
# Loss modules
# --------------------------------------------------------------------------------------------------
def test_loss_modules_match_pytorch_modules(torch: Any) -> None:
    rng = np.random.default_rng(0)
    logits, probs = rng.standard_normal((4, 3)), 0.1 + 0.8 * rng.random((4, 3))
    idx, soft = np.array([0, 2, 1, -100]), rng.random((4, 3))
    w = rng.random(3) + 0.5
    logp = np.log(rng.dirichlet(np.ones(3), 4))
    cases = [
        ("CrossEntropyLoss", {"weight": w, "label_smoothing": 0.1}, logits, idx),
        ("NLLLoss", {"weight": w, "reduction": "sum"}, logp, idx),
        ("MSELoss", {}, logits, soft),
        ("L1Loss", {"reduction": "none"}, logits, soft),
        ("BCELoss", {"weight": w}, probs, soft),
        ("BCEWithLogitsLoss", {"pos_weight": w}, logits, soft),
        ("KLDivLoss", {"reduction": "batchmean"}, logp, soft / soft.sum(1, keepdims=True)),
    ]
    for name, kwargs, inp, target in cases:
        ours = getattr(nn, name)(
            **{k: minillm.tensor(v) if isinstance(v, np.ndarray) else v for k, v in kwargs.items()}
        )
        theirs = getattr(torch.nn, name)(
            **{k: torch.tensor(v) if isinstance(v, np.ndarray) else v for k, v in kwargs.items()}
        )
        (x, t), (xt, tt) = both(torch, inp, target)
        lo, lt = ours(x, t), theirs(xt, tt)
        close(lo, lt)
        backward_both(torch, lo, lt)
        close(x.grad, xt.grad)


def test_loss_module_weight_is_a_buffer_and_repr_shows_options() -> None:
    loss = nn.CrossEntropyLoss(weight=minillm.ones(3), reduction="sum")
    assert list(loss.state_dict()) == ["weight"] and list(loss.parameters()) == []
    assert repr(loss) == "CrossEntropyLoss(reduction='sum')"
    assert repr(nn.MSELoss()) == "MSELoss()"


# --------------------------------------------------------------------------------------------------
# The other functions
# --------------------------------------------------------------------------------------------------
def test_layer_norm_and_embedding_functional_parity(torch: Any) -> None:
    rng = np.random.default_rng(1)
    x, w, b = (
        rng.standard_normal((2, 3, 4)),
        rng.standard_normal((3, 4)),
        rng.standard_normal((3, 4)),
    )
    (xo, wo, bo), (xt, wt, bt) = both(torch, x, w, b)
    lo = F.layer_norm(xo, (3, 4), wo, bo, eps=1e-6)
    lt = torch.nn.functional.layer_norm(xt, (3, 4), wt, bt, eps=1e-6)
    close(lo, lt)
    backward_both(torch, lo, lt)
    grads_close([xo, wo, bo], [xt, wt, bt])
    close(F.layer_norm(xo, 4), torch.nn.functional.layer_norm(xt, (4,)))

    table, idx = rng.standard_normal((5, 3)), np.array([[4, 0, 4], [2, 2, 1]])
    (to, io), (tt, it) = both(torch, table, idx)
    eo, et = (
        F.embedding(io, to, padding_idx=2),
        torch.nn.functional.embedding(it, tt, padding_idx=2),
    )
    close(eo, et)
    backward_both(torch, eo, et)
    close(to.grad, tt.grad)


@pytest.mark.parametrize("mask_kind", ["none", "causal", "bool", "float"])
def test_scaled_dot_product_attention_parity(torch: Any, mask_kind: str) -> None:
    rng = np.random.default_rng(2)
    q, k, v = (
        rng.standard_normal((2, 3, 4, 5)),
        rng.standard_normal((2, 3, 6, 5)),
        rng.standard_normal((2, 3, 6, 2)),
    )
    (qo, ko, vo), (qt, kt, vt) = both(torch, q, k, v)
    kwargs_o: dict[str, Any] = {"scale": 0.3}
    kwargs_t: dict[str, Any] = {"scale": 0.3}
    if mask_kind == "causal":
        kwargs_o["is_causal"] = kwargs_t["is_causal"] = True
    elif mask_kind == "bool":
        m = rng.random((4, 6)) < 0.7
        m[:, 0] = True  # every query sees something (PyTorch returns NaN for an empty row)
        kwargs_o["attn_mask"], kwargs_t["attn_mask"] = minillm.tensor(m), torch.tensor(m)
    elif mask_kind == "float":
        m = rng.standard_normal((3, 4, 6))
        kwargs_o["attn_mask"], kwargs_t["attn_mask"] = minillm.tensor(m), torch.tensor(m)
    yo = F.scaled_dot_product_attention(qo, ko, vo, **kwargs_o)
    yt = torch.nn.functional.scaled_dot_product_attention(qt, kt, vt, **kwargs_t)
    close(yo, yt)
    backward_both(torch, yo, yt)
    grads_close([qo, ko, vo], [qt, kt, vt])


def test_linear_one_hot_pad_softmax_functional_parity(torch: Any) -> None:
    rng = np.random.default_rng(4)
    x, w = rng.standard_normal(3), rng.standard_normal((2, 3))
    (xo, wo), (xt, wt) = both(torch, x, w)
    close(F.linear(xo, wo), torch.nn.functional.linear(xt, wt))  # a 1-D input
    idx = np.array([[0, 3], [1, 1]])
    close(F.one_hot(minillm.tensor(idx), 5).data, torch.nn.functional.one_hot(torch.tensor(idx), 5))
    a = rng.standard_normal((2, 3))
    close(
        F.pad(minillm.tensor(a), (1, 2, 0, 1), value=-1.0),
        torch.nn.functional.pad(torch.tensor(a), (1, 2, 0, 1), value=-1.0),
    )
    for mode in ("reflect", "replicate", "circular"):
        for shape, widths in (((2, 3, 4), (1, 2)), ((1, 2, 3, 4), (2, 1, 1, 2))):
            b = np.random.default_rng(1).standard_normal(shape)
            ours = minillm.tensor(b, requires_grad=True)
            theirs = torch.tensor(b, requires_grad=True)
            close(
                F.pad(ours, widths, mode=mode), torch.nn.functional.pad(theirs, widths, mode=mode)
            )
            weights = np.arange(F.pad(ours, widths, mode=mode).numel()).reshape(
                F.pad(ours, widths, mode=mode).shape
            )
            (F.pad(ours, widths, mode=mode) * minillm.tensor(weights * 1.0)).sum().backward()
            (
                torch.nn.functional.pad(theirs, widths, mode=mode) * torch.tensor(weights * 1.0)
            ).sum().backward()
            np.testing.assert_allclose(ours.grad.data, theirs.grad.numpy())
    with pytest.raises(ValueError, match="too much reflect padding"):
        F.pad(minillm.tensor(a), (3, 3), mode="reflect")
    for dim in (0, 1, -1):
        close(F.softmax(minillm.tensor(a), dim=dim), torch.softmax(torch.tensor(a), dim=dim))
        close(
            F.log_softmax(minillm.tensor(a), dim=dim), torch.log_softmax(torch.tensor(a), dim=dim)
        )
