"""Kernel parity: every Numba kernel equals its NumPy twin, over Hypothesis-drawn shapes and data.

Tolerances are relative to the size of the reference values: 1e-12 in float64, 1e-5 in float32.
Shapes cross the SIMD widths (C up to 70) and the attention tiles (T of 1, 63-65, 130). Also here:
the vectorizable ``exp`` and row helpers of ``kernels/_math.py``, the dispatcher, and the rule that
``import minillm`` neither imports Numba nor compiles anything.
"""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from minillm import kernels
from minillm.kernels import twins

DTYPES = st.sampled_from([np.float32, np.float64])
SEEDS = st.integers(0, 2**32 - 1)
TOL = {np.float32: 1e-5, np.float64: 1e-12}


def assert_parity(fast: np.ndarray, ref: np.ndarray, dtype: type) -> None:
    """|fast - ref| <= tol * (|ref| + max|ref|): relative, with the array's own scale as floor."""
    ref = np.asarray(ref, dtype=np.float64)
    fast = np.asarray(fast, dtype=np.float64)
    finite = np.isfinite(ref)
    assert np.array_equal(finite, np.isfinite(fast)), "NaN/inf in different places"
    assert np.array_equal(ref[~finite], fast[~finite], equal_nan=True)
    if finite.any():
        scale = max(1.0, float(np.abs(ref[finite]).max()))
        err = np.abs(fast[finite] - ref[finite])
        assert (err <= TOL[dtype] * (np.abs(ref[finite]) + scale)).all(), f"max error {err.max()}"


def run_both(name: str, make_args, dtype: type) -> None:
    """Call twin and Numba kernel on separate copies of the arguments; compare every array."""
    ref, fast = twins(name)
    args_ref, args_fast = make_args(), make_args()
    ref(*args_ref)
    fast(*args_fast)
    for a, b in zip(args_fast, args_ref):
        if isinstance(a, np.ndarray) and a.dtype.kind == "f":
            assert_parity(a, b, dtype)


def rows(rng: np.random.Generator, N: int, C: int, dtype: type, scale: float) -> np.ndarray:
    return (rng.standard_normal((N, C)) * scale).astype(dtype)


# --------------------------------------------------------------------------------------------------
# softmax, log-softmax
# --------------------------------------------------------------------------------------------------
@given(
    N=st.integers(1, 5),
    C=st.integers(1, 70),
    dtype=DTYPES,
    scale=st.sampled_from([1.0, 30.0, 1e4]),
    seed=SEEDS,
)
@pytest.mark.parametrize("which", ["softmax", "log_softmax"])
def test_softmax_kernels_match_twins(
    which: str, N: int, C: int, dtype: type, scale: float, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    x = rows(rng, N, C, dtype, scale)
    dy = rows(rng, N, C, dtype, 1.0)
    run_both(f"{which}_forward", lambda: (np.empty_like(x), x), dtype)
    y = np.empty_like(x)
    twins(f"{which}_forward")[0](y, x)
    assert np.isfinite(y).all()  # stable at logits of +-1e4
    run_both(f"{which}_backward", lambda: (np.empty_like(x), dy, y), dtype)


def test_softmax_of_an_all_minus_inf_row_is_nan_in_both() -> None:
    x = np.full((1, 4), -np.inf)
    for fn in twins("softmax_forward"):
        y = np.empty_like(x)
        fn(y, x)
        assert np.isnan(y).all()


# --------------------------------------------------------------------------------------------------
# cross-entropy
# --------------------------------------------------------------------------------------------------
@given(
    N=st.integers(1, 6),
    C=st.integers(1, 70),
    dtype=DTYPES,
    scale=st.sampled_from([1.0, 1e4]),
    smoothing=st.sampled_from([0.0, 0.1, 1.0]),
    seed=SEEDS,
)
def test_cross_entropy_kernels_match_twins(
    N: int, C: int, dtype: type, scale: float, smoothing: float, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    x = rows(rng, N, C, dtype, scale)
    t = rng.integers(0, C, N)
    t[rng.random(N) < 0.3] = -100
    run_both(
        "cross_entropy_forward",
        lambda: (np.empty(N), np.empty(N), x, t, -100, smoothing),
        np.float64 if dtype == np.float64 else np.float32,
    )
    losses, lse = np.empty(N), np.empty(N)
    twins("cross_entropy_forward")[0](losses, lse, x, t, -100, smoothing)
    assert np.isfinite(losses).all() and (losses[t == -100] == 0).all()
    dl = rng.standard_normal(N)
    run_both(
        "cross_entropy_backward",
        lambda: (np.empty_like(x), dl, x, lse, t, -100, smoothing),
        dtype,
    )


# --------------------------------------------------------------------------------------------------
# layer norm
# --------------------------------------------------------------------------------------------------
@given(
    N=st.integers(1, 6),
    C=st.integers(1, 70),
    dtype=DTYPES,
    offset=st.sampled_from([0.0, 1e3]),
    seed=SEEDS,
)
def test_layernorm_kernels_match_twins(
    N: int, C: int, dtype: type, offset: float, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    x = (rows(rng, N, C, np.float64, 1.0) + offset).astype(dtype)
    w, b = rng.standard_normal(C).astype(dtype), rng.standard_normal(C).astype(dtype)
    dy = rows(rng, N, C, dtype, 1.0)
    run_both(
        "layernorm_forward",
        lambda: (np.empty_like(x), np.empty(N), np.empty(N), x, w, b, 1e-5),
        dtype,
    )
    mean, rstd = np.empty(N), np.empty(N)
    twins("layernorm_forward")[0](np.empty_like(x), mean, rstd, x, w, b, 1e-5)
    run_both(
        "layernorm_backward",
        lambda: (np.empty_like(x), np.empty_like(w), np.empty_like(w), dy, x, mean, rstd, w),
        dtype,
    )
    bias = rng.standard_normal(C).astype(dtype)
    run_both(  # x is updated in place (the residual add): each twin gets its own copy
        "residual_layernorm_forward",
        lambda: (np.empty_like(x), np.empty(N), np.empty(N), x.copy(), dy, bias, w, b, 1e-5),
        dtype,
    )


# --------------------------------------------------------------------------------------------------
# GELU, embedding backward, Adam
# --------------------------------------------------------------------------------------------------
@given(n=st.integers(1, 200), dtype=DTYPES, tanh=st.booleans(), seed=SEEDS)
def test_gelu_kernels_match_twins(n: int, dtype: type, tanh: bool, seed: int) -> None:
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(n) * 4).astype(dtype)
    x[0] = rng.choice([0.0, -30.0, 30.0, 1e-9])  # saturation and the origin
    dy = rng.standard_normal(n).astype(dtype)
    run_both("gelu_forward", lambda: (np.empty_like(x), x, tanh), dtype)
    run_both("gelu_backward", lambda: (np.empty_like(x), dy, x, tanh), dtype)
    x2, bias = x.reshape(1, n), rng.standard_normal(n).astype(dtype)
    run_both("bias_gelu_forward", lambda: (np.empty_like(x2), x2, bias, tanh), dtype)


@given(
    V=st.integers(1, 12),
    C=st.integers(1, 40),
    N=st.integers(0, 30),
    dtype=DTYPES,
    pad=st.booleans(),
    seed=SEEDS,
)
def test_embedding_backward_matches_twin(
    V: int, C: int, N: int, dtype: type, pad: bool, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, V, N)  # repeats are likely: they must add up
    dy = rng.standard_normal((N, C)).astype(dtype)
    padding_idx = int(rng.integers(0, V)) if pad else -1
    run_both(
        "embedding_backward",
        lambda: (np.zeros((V, C), dtype), dy, idx, padding_idx),
        dtype,
    )
    dW = np.zeros((V, C), dtype)
    kernels.embedding.embedding_backward(dW, dy, idx, padding_idx)
    expected = np.zeros((V, C))
    for n in range(N):
        expected[idx[n]] += dy[n]
    if pad:
        expected[padding_idx] = 0.0
    assert_parity(dW, expected, dtype)


@given(
    n=st.integers(1, 100),
    dtype=DTYPES,
    decoupled=st.booleans(),
    weight_decay=st.sampled_from([0.0, 0.1]),
    step=st.integers(1, 1000),
    seed=SEEDS,
)
def test_adam_step_matches_twin(
    n: int, dtype: type, decoupled: bool, weight_decay: float, step: int, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    p, g = rng.standard_normal(n).astype(dtype), rng.standard_normal(n).astype(dtype)
    m = rng.standard_normal(n).astype(dtype) * 0.1
    v = rng.random(n).astype(dtype) * 0.01
    v_max = v * rng.choice([0.5, 2.0], n).astype(dtype)  # amsgrad: some maxima above v, some below
    hyper = (1e-3, 0.9, 0.999, 1e-8, weight_decay, step, decoupled)
    run_both("adam_step", lambda: (p.copy(), g, m.copy(), v.copy(), *hyper), dtype)
    run_both("adam_step", lambda: (p.copy(), g, m.copy(), v.copy(), *hyper, v_max.copy()), dtype)


def test_adam_step_matches_torch_adamw() -> None:
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    for decoupled in (True, False):
        p0 = rng.standard_normal(50).astype(np.float32)
        p, m, v = p0.copy(), np.zeros(50, np.float32), np.zeros(50, np.float32)
        tp = torch.nn.Parameter(torch.from_numpy(p0.copy()))
        cls = torch.optim.AdamW if decoupled else torch.optim.Adam
        opt = cls([tp], lr=1e-2, weight_decay=0.1)
        for step in range(1, 6):
            g = rng.standard_normal(50).astype(np.float32)
            kernels.adam.adam_step(p, g, m, v, 1e-2, 0.9, 0.999, 1e-8, 0.1, step, decoupled)
            tp.grad = torch.from_numpy(g)
            opt.step()
        np.testing.assert_allclose(p, tp.detach().numpy(), rtol=1e-5, atol=1e-6)


# --------------------------------------------------------------------------------------------------
# attention
# --------------------------------------------------------------------------------------------------
T_SIZES = st.sampled_from([1, 2, 7, 63, 64, 65, 130])  # around the 64-wide tiles


def attention_inputs(rng, G, Tq, Tk, D, Dv, dtype, mask_kind, causal):
    q = rng.standard_normal((G, Tq, D)).astype(dtype)
    k = rng.standard_normal((G, Tk, D)).astype(dtype)
    v = rng.standard_normal((G, Tk, Dv)).astype(dtype)
    if mask_kind == "none":
        bias = np.zeros((1, 1, 1), dtype)
    elif mask_kind == "bool":
        keep = rng.random((2, Tq, Tk)) < 0.7
        keep[0, rng.integers(0, Tq)] = False  # a fully masked row
        bias = np.where(keep, 0.0, -np.inf).astype(dtype)
    else:
        bias = rng.standard_normal((2, Tq, Tk)).astype(dtype)
    bias_index = rng.integers(0, bias.shape[0], G)
    return q, k, v, bias, bias_index, mask_kind != "none"


@given(
    G=st.integers(1, 3),
    Tq=T_SIZES,
    Tk=T_SIZES,
    D=st.sampled_from([1, 4, 16]),
    Dv=st.sampled_from([1, 5]),
    dtype=DTYPES,
    mask_kind=st.sampled_from(["none", "bool", "float"]),
    causal=st.booleans(),
    seed=SEEDS,
)
def test_attention_kernels_match_twins(
    G: int, Tq: int, Tk: int, D: int, Dv: int, dtype: type, mask_kind: str, causal: bool, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    q, k, v, bias, bidx, has_bias = attention_inputs(
        rng, G, Tq, Tk, D, Dv, dtype, mask_kind, causal
    )
    scale = 1.0 / math.sqrt(D)
    mask = (bias, bidx, has_bias, causal, scale)
    run_both(
        "attention_forward",
        lambda: (np.empty((G, Tq, Dv), dtype), np.empty((G, Tq)), q, k, v, *mask),
        dtype,
    )
    out, lse = np.empty((G, Tq, Dv), dtype), np.empty((G, Tq))
    kernels.attention.attention_forward(out, lse, q, k, v, *mask)
    dead = np.isneginf(lse)  # fully masked rows: zeros, as documented
    assert (out[dead] == 0).all()
    dout = rng.standard_normal((G, Tq, Dv)).astype(dtype)
    run_both(
        "attention_backward",
        lambda: (np.empty_like(q), np.empty_like(k), np.empty_like(v), dout, q, k, v, out, lse,
                 *mask),
        dtype,
    )  # fmt: skip
    s = (q @ k.transpose(0, 2, 1)).astype(dtype)
    run_both(
        "masked_softmax_forward",
        lambda: (np.empty_like(s), s, *mask),
        dtype,
    )


@given(
    B=st.integers(1, 3),
    H=st.integers(1, 3),
    D=st.sampled_from([1, 4, 9]),
    start=st.integers(0, 12),
    T=st.integers(1, 5),
    dtype=DTYPES,
    has_mask=st.booleans(),
    seed=SEEDS,
)
def test_kv_attention_matches_twin(
    B: int, H: int, D: int, start: int, T: int, dtype: type, has_mask: bool, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    C, S_max = H * D, start + T + 2
    qkv = rng.standard_normal((B, T, 3 * C)).astype(dtype)
    cache = rng.standard_normal((2, B, H, S_max, D)).astype(dtype)  # old keys, and stale junk
    key_mask = rng.random((B, start + T)) < 0.7
    key_mask[:, 0] = False  # so some queries (t = 0 when start = 0) see no key at all
    args = (qkv, key_mask, has_mask, start, 1.0 / math.sqrt(D))
    run_both(
        "kv_attention",
        lambda: (np.empty((B, T, C), dtype), cache[0].copy(), cache[1].copy(), *args),
        dtype,
    )


def test_attention_forward_is_stable_at_large_scores() -> None:
    rng = np.random.default_rng(0)
    q, k, v = (rng.standard_normal((1, 70, 8)) * 100 for _ in range(3))
    out, lse = np.empty((1, 70, 8)), np.empty((1, 70))
    none = (np.zeros((1, 1, 1)), np.zeros(1, np.int64), False, False, 1.0)
    kernels.attention.attention_forward(out, lse, q, k, v, *none)
    ref_out, ref_lse = np.empty_like(out), np.empty_like(lse)
    twins("attention_forward")[0](ref_out, ref_lse, q, k, v, *none)
    assert np.isfinite(out).all()
    assert_parity(out, ref_out, np.float64)


# --------------------------------------------------------------------------------------------------
# _math helpers, dispatcher, import
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_vectorized_exp_is_accurate_and_handles_specials(dtype: type) -> None:
    from minillm.kernels._math import exp
    from minillm.kernels._numba import jit

    @jit(cache=False)
    def exp_all(out: np.ndarray, x: np.ndarray) -> None:
        for i in range(x.size):
            out[i] = exp(x[i])

    hi = 88.0 if dtype == np.float32 else 709.0
    x = np.linspace(-hi, hi, 20001).astype(dtype)
    out = np.empty_like(x)
    exp_all(out, x)
    ref = np.exp(x.astype(np.float64))
    lowest = -87.3 if dtype == np.float32 else -708.3  # below: flushed to 0 (see _math.py)
    normal = x >= lowest
    rel = np.abs(out[normal] - ref[normal]) / ref[normal]
    assert rel.max() < (3e-7 if dtype == np.float32 else 1e-15)
    assert (out[~normal] == 0).all() and (ref[~normal] < 1.3 * np.finfo(dtype).tiny).all()
    specials = np.array([-np.inf, np.inf, np.nan, 0.0, -1e4, 1e4], dtype=dtype)
    got = np.empty_like(specials)
    exp_all(got, specials)
    with np.errstate(over="ignore"):
        np.testing.assert_array_equal(got, np.exp(specials))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_vectorized_erfc_is_accurate_on_both_pieces_and_the_tails(dtype: type) -> None:
    from scipy import special

    from minillm.kernels._math import erfc_pos
    from minillm.kernels._numba import jit

    @jit(cache=False)
    def erfc_all(out: np.ndarray, a: np.ndarray) -> None:
        for i in range(a.size):
            out[i] = erfc_pos(a[i])

    a = np.concatenate([np.linspace(0, 8, 40001), np.geomspace(8, 1e4, 500), [1 - 1e-7, np.inf]])
    a = a.astype(dtype)
    out = np.empty_like(a)
    erfc_all(out, a)
    ref = special.erfc(a.astype(np.float64))
    assert out.dtype == dtype
    # absolute error, which is what 1 - erfc and Phi = erfc / 2 see; relative in the tail
    assert np.abs(out - ref).max() < (2e-7 if dtype == np.float32 else 8e-15)
    tiny = np.finfo(dtype).tiny
    tail = (a > 1) & (ref > tiny / np.finfo(dtype).eps)  # away from exp's flush to zero
    rel = np.abs(out[tail] - ref[tail]) / ref[tail]
    assert rel.max() < (2e-5 if dtype == np.float32 else 1e-13)


def test_row_helpers() -> None:
    from minillm.kernels._math import row_dot, row_max, row_sq_dev, row_sum

    rng = np.random.default_rng(0)
    x, y = rng.standard_normal(101), rng.standard_normal(101)
    assert row_sum(x) == pytest.approx(x.sum(), rel=1e-13)
    assert row_dot(x, y) == pytest.approx(x @ y, rel=1e-12)
    assert row_max(x) == x.max()
    assert row_sq_dev(x, 0.5) == pytest.approx(((x - 0.5) ** 2).sum(), rel=1e-13)


def test_an_entry_runs_its_twin_when_numba_is_off(monkeypatch: pytest.MonkeyPatch) -> None:
    entry = kernels.softmax.softmax_forward
    calls = []
    monkeypatch.setattr(entry, "ref", lambda *a: calls.append("ref"))
    monkeypatch.setattr(entry, "fast", lambda *a: calls.append("fast"))
    monkeypatch.setenv("MINILLM_NUMBA", "0")
    assert not kernels.numba_enabled()
    entry()
    monkeypatch.setenv("MINILLM_NUMBA", "1")
    assert kernels.numba_enabled()
    entry()
    assert calls == ["ref", "fast"]


def test_every_kernel_entry_has_both_twins() -> None:
    found = kernels.entries()
    assert len(found) >= 15
    for name, entry in found.items():
        ref, fast = twins(name)
        assert ref is entry.ref and fast is entry.fast
        assert ref.__name__ == f"{name}_ref"
        assert callable(fast)
    with pytest.raises(KeyError, match="unknown kernel 'nope'"):
        twins("nope")


def test_import_minillm_neither_imports_numba_nor_compiles() -> None:
    code = "import sys, minillm; print('numba' in sys.modules)"
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert res.stdout.strip() == "False"
