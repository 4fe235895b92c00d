"""The GPT model: structure, names, initialization, loss at birth, learning, PyTorch parity."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest

import minillm
from minillm import nn
from minillm.models import GPT, GPTConfig

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

SMALL = GPTConfig(vocab_size=23, block_size=12, n_layer=2, n_head=2, n_embd=16)


def batch(cfg: GPTConfig, B: int = 3, T: int | None = None, seed: int = 0):
    rng = np.random.default_rng(seed)
    T = cfg.block_size if T is None else T
    x = rng.integers(0, cfg.vocab_size, (B, T))
    y = rng.integers(0, cfg.vocab_size, (B, T))
    return minillm.tensor(x), minillm.tensor(y)


def test_gpt2_parameter_names_and_tied_head():
    model = GPT(SMALL)
    names = set(model.state_dict())
    for expected in (
        "transformer.wte.weight",
        "transformer.wpe.weight",
        "transformer.h.0.ln_1.weight",
        "transformer.h.0.attn.c_attn.weight",
        "transformer.h.0.attn.c_attn.bias",
        "transformer.h.0.attn.c_proj.weight",
        "transformer.h.1.ln_2.bias",
        "transformer.h.1.mlp.c_fc.weight",
        "transformer.h.1.mlp.c_proj.weight",
        "transformer.ln_f.weight",
    ):
        assert expected in names, expected
    assert model.lm_head.weight is model.transformer.wte.weight
    # the tied matrix counts once
    counted = sum(p.numel() for p in model.parameters())
    assert model.num_parameters() == counted
    C, V, L, T = SMALL.n_embd, SMALL.vocab_size, SMALL.n_layer, SMALL.block_size
    per_block = (
        2 * 2 * C + (C * 3 * C + 3 * C) + (C * C + C) + (C * 4 * C + 4 * C) + (4 * C * C + C)
    )
    assert counted == V * C + T * C + L * per_block + 2 * C


def test_gpt2_initialization_scales():
    cfg = GPTConfig(vocab_size=64, block_size=32, n_layer=4, n_head=4, n_embd=128)
    minillm.manual_seed(0)
    model = GPT(cfg)
    fc = model.transformer.h[0].mlp.c_fc.weight.data
    proj = model.transformer.h[0].mlp.c_proj.weight.data
    assert abs(fc.std() - 0.02) < 0.002
    assert abs(proj.std() - 0.02 / math.sqrt(2 * cfg.n_layer)) < 0.001
    assert np.all(model.transformer.h[0].attn.c_attn.bias.data == 0)


def test_fresh_model_loss_is_log_vocab():
    cfg = GPTConfig(vocab_size=97, block_size=16, n_layer=2, n_head=2, n_embd=32)
    model = GPT(cfg)
    x, y = batch(cfg, B=8)
    _, loss = model(x, y)
    assert abs(loss.item() - math.log(cfg.vocab_size)) < 0.1


def test_overfits_one_batch():
    minillm.manual_seed(0)
    model = GPT(SMALL)
    opt = minillm.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.0)
    x, y = batch(SMALL, B=2)
    first = None
    for _ in range(60):
        _, loss = model(x, y)
        first = loss.item() if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.2 < first


def test_gradient_accumulation_equals_big_batch():
    cfg = SMALL
    minillm.manual_seed(1)
    a = GPT(cfg).double()
    b = GPT(cfg).double()
    b.load_state_dict(a.state_dict())
    x, y = batch(cfg, B=4)
    _, loss = a(x, y)
    loss.backward()
    for k in range(2):
        _, part = b(x[2 * k : 2 * k + 2], y[2 * k : 2 * k + 2])
        (part * 0.5).backward()
    for (name, pa), pb in zip(a.named_parameters(), b.parameters()):
        np.testing.assert_allclose(pa.grad.data, pb.grad.data, atol=1e-12, err_msg=name)


def test_ignores_target_minus_one():
    model = GPT(SMALL).double()
    x, y = batch(SMALL, B=2)
    y_masked = y.numpy().copy()
    y_masked[:, ::2] = -1
    _, loss = model(x, minillm.tensor(y_masked))
    logits = model(x)[0].data.reshape(-1, SMALL.vocab_size)
    logp = logits - np.log(np.exp(logits - logits.max(1, keepdims=True)).sum(1, keepdims=True))
    logp -= logits.max(1, keepdims=True)
    keep = y_masked.reshape(-1) != -1
    expected = -logp[keep, y_masked.reshape(-1)[keep]].mean()
    assert loss.item() == pytest.approx(expected, abs=1e-10)


def test_errors_name_the_problem():
    with pytest.raises(ValueError, match="divisible"):
        GPTConfig(n_embd=10, n_head=3)
    model = GPT(SMALL)
    with pytest.raises(ValueError, match="block_size"):
        model(minillm.zeros(1, SMALL.block_size + 1, dtype="int64"))


def test_configure_optimizers_decays_only_linear_weights():
    model = GPT(SMALL)
    opt = model.configure_optimizers(weight_decay=0.1, lr=1e-3)
    decay, no_decay = opt.param_groups
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    decayed = {id(p) for p in decay["params"]}
    assert id(model.transformer.h[0].mlp.c_fc.weight) in decayed
    assert id(model.transformer.wte.weight) not in decayed  # embeddings (and the tied head)
    assert id(model.transformer.h[0].ln_1.weight) not in decayed
    total = len(decay["params"]) + len(no_decay["params"])
    assert total == len(list(model.parameters()))


def test_flops_per_token_formula():
    model = GPT(SMALL)
    n = model.num_parameters() - model.transformer.wpe.weight.numel()
    expected = 6 * n + 12 * SMALL.n_layer * SMALL.block_size * SMALL.n_embd
    assert model.flops_per_token() == expected


def test_dropout_only_in_training():
    cfg = GPTConfig(vocab_size=11, block_size=8, n_layer=1, n_head=1, n_embd=8, dropout=0.5)
    model = GPT(cfg)
    x, _ = batch(cfg, B=2)
    model.eval()
    a, b = model(x)[0].data, model(x)[0].data
    np.testing.assert_array_equal(a, b)
    model.train()
    assert not np.array_equal(model(x)[0].data, model(x)[0].data)


def test_logits_and_gradients_equal_pytorch():
    torch = pytest.importorskip("torch")
    from reference_gpt import from_minillm

    minillm.manual_seed(3)
    model = GPT(SMALL).double()
    ref = from_minillm(model, torch.float64)
    x, y = batch(SMALL, B=2)
    logits, loss = model(x, y)
    loss.backward()
    t_logits, t_loss = ref(torch.tensor(x.numpy()), torch.tensor(y.numpy()))
    t_loss.backward()
    np.testing.assert_allclose(logits.data, t_logits.detach().numpy(), atol=1e-10)
    assert loss.item() == pytest.approx(t_loss.item(), abs=1e-12)
    t_params = dict(ref.named_parameters())
    for name, p in model.named_parameters():
        np.testing.assert_allclose(
            p.grad.data, t_params[name].grad.numpy(), atol=1e-10, err_msg=name
        )


def test_linear_is_the_module_type_the_optimizer_split_relies_on():
    assert isinstance(GPT(SMALL).transformer.h[0].attn.c_attn, nn.Linear)
