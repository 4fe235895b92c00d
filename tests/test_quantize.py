"""int8 quantization: PyTorch's primitives bit for bit, the error bound, the kernels' twins, the
quantized GPT (engine, loss, greedy tokens), file sizes and the ``quantize`` command."""

from __future__ import annotations

import argparse
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minillm
from minillm import kernels, nn
from minillm.compress import (
    MinMaxObserver,
    PerChannelMinMaxObserver,
    QuantizedLinear,
    dequantize,
    qint8,
    quantize_dynamic,
    quantize_per_channel,
    quantize_per_tensor,
    quint8,
)
from minillm.inference import GPTEngine, generate
from minillm.kernels import twins
from minillm.models import GPT, GPTConfig

SEEDS = st.integers(0, 2**32 - 1)


def _torch():
    torch = pytest.importorskip("torch")
    warnings.filterwarnings("ignore", message=".*deprecated.*")
    return torch


def _inputs_with_ties(rng, n, scale):
    """Random floats, a third of them exact halfway points k + 1/2 of the scale."""
    x = (rng.standard_normal(n) * rng.uniform(0.1, 200)).astype(np.float32)
    ties = rng.random(n) < 0.33
    x[ties] = ((rng.integers(-300, 300, ties.sum()) + 0.5) * np.float32(scale)).astype(np.float32)
    return x


# ---------------------------------------------------------------------------- PyTorch parity
@pytest.mark.parametrize("dtype", ["qint8", "quint8"])
def test_quantize_per_tensor_int_repr_equals_torch_ties_included(dtype):
    torch = _torch()
    tdt = {"qint8": torch.qint8, "quint8": torch.quint8}[dtype]
    rng = np.random.default_rng(0)
    for _ in range(200):
        scale = float(np.float32(rng.choice([rng.uniform(1e-3, 2), 2.0 ** rng.integers(-8, 2)])))
        zp = int(rng.integers(-20, 20)) + (128 if dtype == "quint8" else 0)
        x = _inputs_with_ties(rng, int(rng.integers(1, 70)), scale)
        ours = quantize_per_tensor(x, scale, zp, dtype)
        theirs = torch.quantize_per_tensor(torch.from_numpy(x), scale, zp, tdt)
        np.testing.assert_array_equal(ours.int_repr(), theirs.int_repr().numpy())
        np.testing.assert_array_equal(ours.dequantize(), theirs.dequantize().numpy())
        assert ours.q_scale() == theirs.q_scale() and ours.q_zero_point() == theirs.q_zero_point()


@pytest.mark.parametrize("dtype", ["qint8", "quint8"])
def test_quantize_per_channel_int_repr_equals_torch_ties_included(dtype):
    torch = _torch()
    tdt = {"qint8": torch.qint8, "quint8": torch.quint8}[dtype]
    rng = np.random.default_rng(1)
    for axis in (0, 1, -1):
        for _ in range(30):
            x = (rng.standard_normal((5, 67)) * 30).astype(np.float32)
            C = x.shape[axis]
            s = rng.uniform(1e-3, 2, C).astype(np.float32)
            zp = rng.integers(-10, 10, C) + (128 if dtype == "quint8" else 0)
            shape = [1, 1]
            shape[axis] = C
            ties = (rng.integers(-100, 100, x.shape) + 0.5) * s.reshape(shape)
            x = np.where(rng.random(x.shape) < 0.4, ties, x).astype(np.float32)
            ours = quantize_per_channel(x, s, zp, axis, dtype)
            theirs = torch.quantize_per_channel(
                torch.from_numpy(x), torch.from_numpy(s.astype(np.float64)),
                torch.from_numpy(zp), axis % 2, tdt,
            )  # fmt: skip
            np.testing.assert_array_equal(ours.int_repr(), theirs.int_repr().numpy())
            np.testing.assert_array_equal(dequantize(ours), theirs.dequantize().numpy())


@pytest.mark.parametrize("dtype", ["qint8", "quint8"])
@pytest.mark.parametrize("qscheme", ["per_tensor_affine", "per_tensor_symmetric"])
@pytest.mark.parametrize("reduce_range", [False, True])
def test_observers_choose_torchs_qparams(dtype, qscheme, reduce_range):
    torch = _torch()
    tq = torch.ao.quantization
    tdt = {"qint8": torch.qint8, "quint8": torch.quint8}[dtype]
    rng = np.random.default_rng(2)
    if qscheme == "per_tensor_symmetric" and reduce_range and dtype == "quint8":
        with pytest.raises(NotImplementedError, match="cannot reduce range"):
            MinMaxObserver(dtype, qscheme, reduce_range)
        return
    ours = MinMaxObserver(dtype, qscheme, reduce_range)
    theirs = tq.MinMaxObserver(
        dtype=tdt, qscheme=getattr(torch, qscheme), reduce_range=reduce_range
    )
    pc_ours = PerChannelMinMaxObserver(0, dtype, qscheme.replace("tensor", "channel"), reduce_range)
    pc_theirs = tq.PerChannelMinMaxObserver(
        0, dtype=tdt, qscheme=getattr(torch, qscheme.replace("tensor", "channel")),
        reduce_range=reduce_range,
    )  # fmt: skip
    for shift in (0.0, 3.0, -3.0):
        x = (rng.standard_normal((4, 9)) + shift).astype(np.float32)
        for obs in (ours, theirs, pc_ours, pc_theirs):
            obs(x if obs in (ours, pc_ours) else torch.from_numpy(x))
        for a, b in ((ours, theirs), (pc_ours, pc_theirs)):
            (s, z), (ts, tz) = a.calculate_qparams(), b.calculate_qparams()
            np.testing.assert_array_equal(np.asarray(s, np.float32).ravel(), ts.numpy().ravel())
            np.testing.assert_array_equal(np.asarray(z).ravel(), tz.numpy().ravel())


def test_quantized_linear_matches_torch_dynamic_quantization():
    torch = _torch()
    rng = np.random.default_rng(3)
    layer = nn.Linear(96, 40)
    t_layer = torch.nn.Linear(96, 40)
    with torch.no_grad():
        t_layer.weight.copy_(torch.from_numpy(layer.weight.data))
        t_layer.bias.copy_(torch.from_numpy(layer.bias.data))
    tq = torch.ao.quantization
    t_q = tq.quantize_dynamic(
        torch.nn.Sequential(t_layer), {torch.nn.Linear: tq.per_channel_dynamic_qconfig}
    )
    q = QuantizedLinear.from_float(layer)
    t_w = t_q[0].weight()
    np.testing.assert_array_equal(q.weight_int8.data, t_w.int_repr().numpy())
    np.testing.assert_array_equal(
        q.weight_scale.data, t_w.q_per_channel_scales().numpy().astype(np.float32)
    )
    x = rng.standard_normal((7, 96)).astype(np.float32)
    ours, theirs = q(minillm.tensor(x)).data, t_q(torch.from_numpy(x)).detach().numpy()
    exact = layer(minillm.tensor(x)).data
    # both within the analytic bound of their own schemes; ours per row, theirs per tensor
    sx = np.abs(x).max(axis=1, keepdims=True) / 127
    sw = q.weight_scale.data[None, :]
    bound = (
        np.abs(x).sum(1, keepdims=True) * sw / 2
        + np.abs(q.dequantized_weight()).sum(1)[None] * sx / 2
    )
    assert (np.abs(ours - exact) <= bound * 1.001 + 1e-6).all()
    assert np.abs(ours - exact).max() <= 2 * np.abs(theirs - exact).max() + 1e-6


# ---------------------------------------------------------------------------- the error bound
@settings(max_examples=40)
@given(seed=SEEDS, n=st.integers(1, 300), spread=st.sampled_from([1e-3, 1.0, 1e3]),
       dtype=st.sampled_from(["qint8", "quint8"]), symmetric=st.booleans())  # fmt: skip
def test_round_trip_error_is_at_most_half_a_scale(seed, n, spread, dtype, symmetric):
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(n) * spread + rng.choice([0.0, spread])).astype(np.float32)
    obs = MinMaxObserver(dtype, "per_tensor_symmetric" if symmetric else "per_tensor_affine")
    obs(x)
    scale, zp = obs.calculate_qparams()
    q = quantize_per_tensor(x, float(scale), int(zp), dtype)
    eps = 4 * np.finfo(np.float32).eps  # float32 rounding of x / scale and of q * scale
    err = np.abs(q.dequantize().astype(np.float64) - x)
    assert (err <= float(scale) / 2 + eps * (np.abs(x) + float(scale))).all()
    w = (rng.standard_normal((3, n)) * spread).astype(np.float32)  # a weight, per output row
    pc = PerChannelMinMaxObserver(0, "qint8")
    pc(w)
    s, z = pc.calculate_qparams()
    qw = quantize_per_channel(w, s, z, 0, "qint8")
    err = np.abs(qw.dequantize().astype(np.float64) - w)
    assert (err <= s[:, None] / 2 + eps * (np.abs(w) + s[:, None])).all()


def test_names_dtypes_and_errors():
    assert quantize_per_tensor([1.0], 1.0, 0, qint8).int_repr().dtype == np.int8
    assert quantize_per_tensor([1.0], 1.0, 0, quint8).int_repr().dtype == np.uint8
    with pytest.raises(ValueError, match="qint8 or quint8"):
        quantize_per_tensor([1.0], 1.0, 0, "int4")
    with pytest.raises(ValueError, match="zero_point must be in"):
        quantize_per_tensor([1.0], 1.0, 300, "quint8")
    with pytest.raises(ValueError, match="3 channels along axis 0"):
        quantize_per_channel(np.ones((3, 2)), [1.0], [0], 0, "qint8")
    with pytest.raises(RuntimeError, match="per-tensor"):
        quantize_per_channel(np.ones((1, 2)), [1.0], [0], 0, "qint8").q_scale()


# ---------------------------------------------------------------------------- kernels
@settings(max_examples=40)
@given(N=st.integers(1, 9), I=st.integers(1, 200), O=st.integers(1, 40), seed=SEEDS,
       dtype=st.sampled_from([np.float32, np.float64]))  # fmt: skip
def test_int8_kernels_equal_their_twins(N, I, O, seed, dtype):
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal((N, I)) * rng.uniform(0.01, 10)).astype(dtype)
    x[rng.random(N) < 0.2] = 0.0  # all-zero rows: scale 1
    wq = rng.integers(-127, 128, (O, I)).astype(np.int8)
    ws, b = rng.random(O).astype(dtype), rng.standard_normal(O).astype(dtype)
    ref_q, fast_q = twins("quantize_rows")
    outs = []
    for fn in (ref_q, fast_q):
        xu, xs = np.empty((N, I), np.uint8), np.empty(N, dtype)
        fn(xu, xs, x)
        outs.append((xu, xs))
    np.testing.assert_array_equal(outs[0][0], outs[1][0])
    np.testing.assert_array_equal(outs[0][1], outs[1][1])
    xu, xs = outs[0]
    wsum = wq.sum(axis=1, dtype=np.int32)
    ref, fast = twins("int8_linear")
    a, c = np.empty((N, O), dtype), np.empty((N, O), dtype)
    ref(a, xu, xs, wq, wsum, ws, b)
    fast(c, xu, xs, wq, wsum, ws, b)
    np.testing.assert_array_equal(a, c)  # integers exact, floats in the same order: same bits
    exact = (xu.astype(np.int64) - 128) @ wq.astype(np.int64).T
    np.testing.assert_allclose(a, exact * (xs[:, None] * ws) + b, rtol=1e-5, atol=1e-5)


def test_weight_only_and_int8_modes_agree_within_the_activation_error():
    rng = np.random.default_rng(4)
    q = QuantizedLinear.from_float(nn.Linear(64, 48))
    x = rng.standard_normal((20, 64)).astype(np.float32)
    w_only = np.empty((20, 48), np.float32)
    from minillm.compress import linear_int8

    linear_int8(w_only, x, q, "weight_only")
    np.testing.assert_allclose(
        w_only, x @ q.dequantized_weight().T + q.bias.data, rtol=1e-5, atol=1e-5
    )
    i8 = np.empty_like(w_only)
    linear_int8(i8, x, q, "int8")
    bound = (
        np.abs(q.dequantized_weight()).sum(1)[None] * (np.abs(x).max(1, keepdims=True) / 127) / 2
    )
    assert (np.abs(i8 - w_only) <= bound + 1e-5).all()
    with pytest.raises(ValueError, match="mode must be one of"):
        linear_int8(i8, x, q, "int4")


# ---------------------------------------------------------------------------- the quantized GPT
def _tiny_gpt(seed=0, **kw):
    minillm.manual_seed(seed)
    cfg = {"vocab_size": 50, "block_size": 32, "n_layer": 2, "n_head": 2, "n_embd": 32, **kw}
    return GPT(GPTConfig(**cfg)).eval()


def test_quantize_dynamic_copies_keeps_ties_and_leaves_the_original_alone():
    model = _tiny_gpt()
    before = {k: v.data.copy() for k, v in model.state_dict().items()}
    q = quantize_dynamic(model, {nn.Linear}, dtype="int8")
    assert all(type(b.attn.c_attn) is nn.Linear for b in model.transformer.h)
    assert all(isinstance(b.mlp.c_fc, QuantizedLinear) for b in q.transformer.h)
    assert q.lm_head.weight is q.transformer.wte.weight  # the tied head stays float and tied
    assert q.transformer.wte.weight is not model.transformer.wte.weight
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v.data, before[k])
    idx = np.array([[1, 2, 3, 4, 5, 6]])
    logits_f = model(minillm.tensor(idx))[0].data
    logits_q = q(minillm.tensor(idx))[0].data
    assert logits_q.shape == logits_f.shape and np.abs(logits_q - logits_f).max() < 0.05
    engine = GPTEngine(q)
    np.testing.assert_allclose(engine.forward(idx), logits_q, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="only int8"):
        quantize_dynamic(model, dtype="float16")


def test_int8_file_is_four_times_smaller_per_linear(tmp_path):
    model = _tiny_gpt(n_embd=256, n_layer=1)  # config (a)'s width
    q = quantize_dynamic(model)
    for name, m in q.named_modules():
        if isinstance(m, QuantizedLinear):  # the weight: float32 against int8 + a scale per row
            f = model.get_submodule(name)
            assert (
                f.weight.data.nbytes / (m.weight_int8.data.nbytes + m.weight_scale.data.nbytes)
                >= 3.9
            )
    minillm.io.save(dict(q.state_dict()), tmp_path / "q.safetensors")
    loaded = minillm.io.load(tmp_path / "q.safetensors")
    assert loaded["transformer.h.0.attn.c_attn.weight_int8"].data.dtype == np.int8


def _train(model, data, steps, T, seed=0):
    rng = np.random.default_rng(seed)
    opt = minillm.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(steps):
        i = rng.integers(0, len(data) - T - 1, 8)
        x = np.stack([data[j : j + T] for j in i])
        y = np.stack([data[j + 1 : j + T + 1] for j in i])
        _, loss = model(minillm.tensor(x), minillm.tensor(y))
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval()


def _val_loss(model, data, T):
    starts = range(0, len(data) - T - 1, T)
    x = np.stack([data[j : j + T] for j in starts])
    y = np.stack([data[j + 1 : j + T + 1] for j in starts])
    with minillm.no_grad():
        return float(model(minillm.tensor(x), minillm.tensor(y))[1].item())


def test_trained_model_loses_under_one_percent_and_keeps_greedy_tokens():
    from minillm.data.corpus import load_corpus

    text = load_corpus().text[:60_000]
    chars = sorted(set(text))
    data = np.array([chars.index(c) for c in text])
    split = int(0.9 * len(data))
    minillm.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=len(chars), block_size=64, n_layer=2, n_head=4, n_embd=64))
    _train(model, data[:split], 150, 32)
    val = data[split:]
    loss_f = _val_loss(model, val, 64)
    q = quantize_dynamic(model)
    loss_q = _val_loss(q, val, 64)
    print(f"val loss float32 {loss_f:.4f}, int8 {loss_q:.4f}")
    assert loss_f < 3.0  # it learned something (ln V ~ 4.5 at birth)
    assert abs(loss_q - loss_f) / loss_f <= 0.01, (loss_f, loss_q)
    prompt = list(val[:8])
    float_tokens = generate(model, prompt, 256 - 8 - 1, greedy=True)
    seq = np.array([prompt + float_tokens])[:, : 64 * 4]
    agree = []  # teacher-forced: the int8 model's greedy choice on float32's own text
    for s in range(0, seq.shape[1] - 64 + 1, 32):
        window = seq[:, s : s + 64]
        lf = GPTEngine(model).forward(window).argmax(-1)
        lq = GPTEngine(q).forward(window).argmax(-1)
        agree.append((lf == lq).mean())
    assert np.mean(agree) >= 0.95, np.mean(agree)


# ---------------------------------------------------------------------------- the command
@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    from minillm.cli import main

    root = tmp_path_factory.mktemp("qrun")
    corpus = root / "text.txt"
    corpus.write_text("def add(a, b):\n    return a + b\n\nclass Point:\n    x: int\n" * 40)
    out = root / "out"
    flags = ["--n-layer", "1", "--n-head", "2", "--n-embd", "16", "--block-size", "16",
             "--batch-size", "4", "--warmup", "2", "--eval-interval", "3", "--eval-iters", "2",
             "--sample-tokens", "5", "--no-progress", "--seed", "7",
             "--max-steps", "6"]  # fmt: skip
    assert main(["train", "--data", str(corpus), "--out-dir", str(out), *flags]) == 0
    return out


def _load_like_generate(run):
    """What ``minillm generate`` does with the cli.py wiring: the model shaped by the folder."""
    from minillm import io
    from minillm.compress.checkpoint import prepare_model
    from minillm.training import read_run_config

    model = prepare_model(GPT(GPTConfig(**read_run_config(run)["model"])), run)
    io.load_checkpoint(run / "ckpt.safetensors", model=model, restore_rng=False)
    return model.eval()


def test_quantize_command_round_trip(trained_run, tmp_path, capsys):
    from minillm.compress.command import add_quantize_args, cmd_quantize, quantize_for_generate
    from minillm.inference.command import load_model

    parser = argparse.ArgumentParser()
    add_quantize_args(parser)
    dst = tmp_path / "out-int8"
    assert cmd_quantize(parser.parse_args(["--out-dir", str(trained_run), "--to", str(dst)])) == 0
    assert "bound scale/2" in capsys.readouterr().out
    loaded = _load_like_generate(dst)
    assert any(isinstance(m, QuantizedLinear) for m in loaded.modules())
    model, _ = load_model(trained_run)
    expected = quantize_for_generate(model, "int8")
    idx = np.array([[1, 2, 3]])
    np.testing.assert_array_equal(GPTEngine(loaded).forward(idx), GPTEngine(expected).forward(idx))
    assert len(generate(loaded, [1, 2], 5, greedy=True)) == 5
    assert quantize_for_generate(loaded, "int8") is loaded
    # bad input: one line, exit 2
    assert cmd_quantize(parser.parse_args(["--out-dir", str(trained_run), "--to", str(dst)])) == 2
    assert "not empty" in capsys.readouterr().err
    missing = parser.parse_args(["--out-dir", str(tmp_path / "none"), "--to", str(tmp_path / "x")])
    assert cmd_quantize(missing) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not found" in err
    assert (
        cmd_quantize(parser.parse_args(["--out-dir", str(dst), "--to", str(tmp_path / "y")])) == 2
    )
    assert kernels.qlinear.int8_linear.ref.__name__ == "int8_linear_ref"
