"""``minillm.summary``: a row per module call, totals, and FLOPs that agree with the GPT's count.

The GPT's forward FLOPs per token, times 3 (forward + backward), equal ``flops_per_token(T)``
exactly, for several shapes and with and without biases; each Linear row is ``2 in out`` per row
plus its bias; parameters (a tied weight once) total ``num_parameters()``; the forward leaves the
model as it was (no hooks left behind, no graph recorded).
"""

from __future__ import annotations

import numpy as np
import pytest

import minillm as mi
from minillm import nn
from minillm.models.gpt import GPT, GPTConfig
from minillm.summary import Summary, summary


@pytest.mark.parametrize(
    ("n_layer", "n_head", "n_embd", "T", "bias"),
    [(1, 2, 8, 8, True), (2, 4, 16, 5, True), (3, 1, 12, 12, False)],
)
def test_gpt_forward_flops_are_a_third_of_flops_per_token(n_layer, n_head, n_embd, T, bias):
    mi.manual_seed(0)
    cfg = GPTConfig(vocab_size=40, block_size=12, n_layer=n_layer, n_head=n_head, n_embd=n_embd)
    cfg.bias = bias
    model = GPT(cfg)
    s = summary(model, mi.randint(0, 40, (3, T)))
    assert s.totals["tokens"] == 3 * T
    assert 3 * s.flops_per_token == model.flops_per_token(seq_len=T)
    assert s.totals["params"] == model.num_parameters()
    lm_head = next(r for r in s.rows if r.name == "lm_head")
    assert lm_head.tied and lm_head.params == 0  # its weight is wte's, counted there
    assert sum(r.params for r in s.rows) == model.num_parameters()


def test_rows_of_an_mlp():
    mlp = nn.Sequential(nn.Linear(4, 8), nn.GELU(), nn.Linear(8, 2, bias=False))
    s = summary(mlp, mi.randn(2, 3, 4))
    assert isinstance(s, Summary)
    top, fc1, act, fc2 = s.rows
    assert (top.name, top.type, top.depth, top.is_leaf) == ("", "Sequential", 0, False)
    assert (fc1.name, fc1.depth, fc1.output_shape) == ("0", 1, (2, 3, 8))
    assert fc1.flops == 2 * 6 * (4 * 8 + 8) and fc2.flops == 2 * 6 * 8 * 2 and act.flops == 0
    assert fc1.activation_bytes == 2 * 3 * 8 * 4  # float32
    assert s.totals["activation_bytes"] == sum(r.activation_bytes for r in (fc1, act, fc2))
    assert s.totals["tokens"] == 6 and s.flops_per_token == (fc1.flops + fc2.flops) / 6
    text = str(s)
    assert (
        "0 (Linear)" in text
        and "(2, 3, 8)" in text
        and f"Forward FLOPs: {fc1.flops + fc2.flops:,}" in text
    )


def test_the_forward_leaves_nothing_behind():
    model = nn.Sequential(nn.Linear(3, 3), nn.ReLU())
    summary(model, mi.randn(2, 3))
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())
    out = model(mi.randn(2, 3))
    assert out.requires_grad  # grad mode restored


def test_a_module_called_twice_has_two_rows_and_custom_rules():
    class Twice(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.layer = nn.Linear(2, 2)

        def forward(self, x):
            return self.layer(self.layer(x)).tanh()

    s = summary(Twice(), mi.randn(1, 2), flop_rules={Twice: lambda m, args, out: 7})
    layers = [r for r in s.rows if r.name == "layer"]
    assert len(layers) == 2 and [r.params for r in layers] == [6, 0]
    assert s.rows[0].flops == 7 and s.totals["flops"] == 7 + 2 * (2 * (4 + 2))


def test_tuple_outputs_and_inputs():
    class Pair(nn.Module):
        def forward(self, a, b):
            return a + b, a * b

    s = summary(Pair(), (mi.randn(2, 3, dtype=np.float64), mi.randn(2, 3, dtype=np.float64)))
    assert s.rows[0].output_shape == [(2, 3), (2, 3)]
    assert s.rows[0].activation_bytes == 2 * 6 * 8
