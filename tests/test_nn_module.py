"""Module semantics: registration, names, state_dict, strict loading, modes, freezing, hooks, repr.

Also the containers (Sequential, ModuleList, ModuleDict), Parameter, and the system property that
gradient accumulation over k micro-batches equals one batch k times larger.
"""

from __future__ import annotations

import copy
import itertools
import pickle
from collections import OrderedDict

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minillm
from minillm import nn
from minillm.nn import functional as F


class Block(nn.Module):
    """A small nested module with a parameter, buffers and children."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(3, 4)
        self.scale = nn.Parameter(minillm.ones(4))
        self.register_buffer("mask", minillm.tril(minillm.ones(2, 2)))
        self.register_buffer("cache", minillm.zeros(2), persistent=False)
        self.drop = nn.Dropout(0.1)

    def forward(self, x: minillm.Tensor) -> minillm.Tensor:
        return self.drop(self.fc(x) * self.scale)


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.h = nn.ModuleList([Block(), Block()])
        self.ln_f = nn.LayerNorm(4)
        self.head = nn.Linear(4, 2, bias=False)

    def forward(self, x: minillm.Tensor) -> minillm.Tensor:
        for block in self.h:
            x = block(x[..., :3])
        return self.head(self.ln_f(x))


# --------------------------------------------------------------------------------------------------
# Parameter
# --------------------------------------------------------------------------------------------------
def test_parameter_is_a_leaf_tensor_requiring_grad_and_shares_data() -> None:
    t = minillm.zeros(2, 3)
    p = nn.Parameter(t)
    assert isinstance(p, minillm.Tensor) and p.requires_grad and p.is_leaf
    assert p.data is t.data  # built from a Tensor it shares the array, as in PyTorch
    assert type(p * 2) is minillm.Tensor
    assert not nn.Parameter(minillm.zeros(1), requires_grad=False).requires_grad
    assert repr(p).startswith("Parameter containing:\ntensor(")
    with pytest.raises(TypeError, match="floating-point"):
        nn.Parameter(minillm.tensor([1, 2]))


def test_parameter_survives_deepcopy_and_pickle() -> None:
    p = nn.Parameter(minillm.randn(3))
    for q in (copy.deepcopy(p), pickle.loads(pickle.dumps(p))):
        assert isinstance(q, nn.Parameter) and q.requires_grad
        assert q.data is not p.data and np.array_equal(q.data, p.data)


# --------------------------------------------------------------------------------------------------
# Registration and names
# --------------------------------------------------------------------------------------------------
def test_attribute_assignment_registers_parameters_buffers_and_children_in_order() -> None:
    block = Block()
    assert [n for n, _ in block.named_parameters()] == ["scale", "fc.weight", "fc.bias"]
    assert [n for n, _ in block.named_buffers()] == ["mask", "cache"]
    assert [n for n, _ in block.named_children()] == ["fc", "drop"]
    assert block.scale is block._parameters["scale"]
    assert "scale" not in block.__dict__  # lives only in the registry, found by __getattr__


def test_nested_dotted_names_follow_gpt2_style() -> None:
    net = Net()
    names = [n for n, _ in net.named_parameters()]
    assert names[:3] == ["h.0.scale", "h.0.fc.weight", "h.0.fc.bias"]
    assert names[-3:] == ["ln_f.weight", "ln_f.bias", "head.weight"]
    assert [n for n, _ in net.named_modules()][:4] == ["", "h", "h.0", "h.0.fc"]
    assert list(net.state_dict()) == [
        "h.0.scale",
        "h.0.mask",
        "h.0.fc.weight",
        "h.0.fc.bias",
        "h.1.scale",
        "h.1.mask",
        "h.1.fc.weight",
        "h.1.fc.bias",
        "ln_f.weight",
        "ln_f.bias",
        "head.weight",
    ]
    assert net.get_submodule("h.1.fc") is net.h[1].fc
    with pytest.raises(AttributeError, match="nope"):
        net.get_submodule("h.nope")


def test_state_dict_skips_non_persistent_buffers_but_buffers_lists_them() -> None:
    block = Block()
    assert "cache" not in block.state_dict()
    assert any(b is block.cache for b in block.buffers())
    block.register_buffer("cache", block.cache, persistent=True)
    assert "cache" in block.state_dict()


def test_assignment_errors_name_the_problem() -> None:
    layer = nn.Linear(2, 2)
    with pytest.raises(TypeError, match="parameter 'weight'"):
        layer.weight = minillm.zeros(2, 2)  # a plain Tensor cannot replace a Parameter
    layer.bias = None  # None is allowed: the layer then has no bias
    assert [n for n, _ in layer.named_parameters()] == ["weight"]

    class Forgetful(nn.Module):
        def __init__(self) -> None:
            self.w = nn.Parameter(minillm.zeros(1))

    with pytest.raises(AttributeError, match=r"super\(\).__init__\(\)"):
        Forgetful()
    m = nn.Module()
    with pytest.raises(TypeError, match="Tensor or None"):
        m.register_buffer("b", np.zeros(2))
    with pytest.raises(KeyError, match=r"'\.'"):
        m.register_buffer("a.b", minillm.zeros(1))
    with pytest.raises(AttributeError, match="no attribute 'missing'"):
        _ = m.missing


def test_reassigning_and_deleting_moves_between_registries() -> None:
    m = nn.Module()
    m.x = nn.Linear(1, 1)
    m.x = nn.Parameter(minillm.zeros(1))  # a child replaced by a parameter of the same name
    assert list(m._modules) == [] and list(m._parameters) == ["x"]
    del m.x
    assert list(m.parameters()) == []
    m.register_buffer("b", minillm.zeros(1))
    m.b = minillm.ones(1)  # a Tensor assigned to a buffer name updates the buffer
    assert m.state_dict()["b"].tolist() == [1.0]


def test_shared_parameters_are_yielded_once_but_named_twice_in_state_dict() -> None:
    emb, head = nn.Embedding(5, 3), nn.Linear(3, 5, bias=False)
    head.weight = emb.weight  # weight tying, as in GPT-2
    model = nn.Sequential(emb, head)
    assert len(list(model.parameters())) == 1
    assert model.num_parameters() == 15
    assert list(model.state_dict()) == ["0.weight", "1.weight"]
    shared = nn.Sequential(head, head)
    assert len(list(shared.modules())) == 2  # the Sequential and the one shared Linear


def test_num_parameters_counts_trainable_only_when_asked() -> None:
    net = nn.Sequential(nn.Linear(4, 3), nn.Linear(3, 2))
    assert net.num_parameters() == 4 * 3 + 3 + 3 * 2 + 2
    net[0].requires_grad_(False)
    assert net.num_parameters(trainable_only=True) == 3 * 2 + 2


@given(
    widths=st.lists(st.integers(1, 4), min_size=2, max_size=4),
    bias=st.booleans(),
)
def test_state_dict_round_trip_reproduces_the_model(widths: list[int], bias: bool) -> None:
    def make() -> nn.Sequential:
        layers = []
        for a, b in itertools.pairwise(widths):
            layers += [nn.Linear(a, b, bias=bias), nn.Tanh()]
        return nn.Sequential(*layers)

    src, dst = make(), make()
    x = minillm.randn(2, widths[0])
    sd = src.state_dict()
    assert all(not v.requires_grad for v in sd.values())  # detached views
    result = dst.load_state_dict(sd)
    assert result.missing_keys == [] and result.unexpected_keys == []
    np.testing.assert_array_equal(dst(x).data, src(x).data)


# --------------------------------------------------------------------------------------------------
# load_state_dict
# --------------------------------------------------------------------------------------------------
def test_load_state_dict_copies_in_place_so_parameter_objects_survive() -> None:
    src, dst = Net(), Net()
    params_before = list(dst.parameters())
    arrays_before = [p.data for p in params_before]
    dst.load_state_dict(src.state_dict())
    for p, q, arr in zip(dst.parameters(), params_before, arrays_before):
        assert p is q and p.data is arr  # an optimizer holding these keeps working
    for (name, a), (_, b) in zip(src.state_dict().items(), dst.state_dict().items()):
        np.testing.assert_array_equal(a.data, b.data, err_msg=name)


def test_load_state_dict_accepts_arrays_and_casts_dtype() -> None:
    layer = nn.Linear(2, 3)
    sd = {"weight": np.arange(6.0).reshape(3, 2), "bias": [1.0, 2.0, 3.0]}  # float64 and a list
    layer.load_state_dict(sd)
    assert layer.weight.dtype == np.float32
    assert layer.bias.tolist() == [1.0, 2.0, 3.0]


def test_strict_load_lists_missing_unexpected_and_mismatched_by_name() -> None:
    net = Net()
    sd = net.state_dict()
    del sd["h.1.fc.bias"]
    del sd["ln_f.weight"]
    sd["extra.weight"] = minillm.zeros(1)
    sd["head.weight"] = minillm.zeros(5, 4)
    before = net.h[0].scale.data.copy()
    sd["h.0.scale"] = minillm.full((4,), 7.0)
    with pytest.raises(RuntimeError) as info:
        net.load_state_dict(sd)
    msg = str(info.value)
    assert "Error(s) in loading state_dict for Net" in msg
    assert "Missing key(s) in state_dict: 'h.1.fc.bias', 'ln_f.weight'." in msg
    assert "Unexpected key(s) in state_dict: 'extra.weight'." in msg
    assert "size mismatch for head.weight" in msg and "(5, 4)" in msg and "(2, 4)" in msg
    np.testing.assert_array_equal(net.h[0].scale.data, before)  # nothing copied on error


def test_non_strict_load_returns_keys_but_still_rejects_shape_mismatch() -> None:
    net = nn.Sequential(nn.Linear(2, 2))
    result = net.load_state_dict({"0.weight": minillm.ones(2, 2), "x": minillm.ones(1)}, False)
    assert result.missing_keys == ["0.bias"] and result.unexpected_keys == ["x"]
    assert net[0].weight.tolist() == [[1.0, 1.0], [1.0, 1.0]]
    with pytest.raises(RuntimeError, match=r"size mismatch for 0\.weight"):
        net.load_state_dict({"0.weight": minillm.ones(3, 2)}, strict=False)


# --------------------------------------------------------------------------------------------------
# Modes, freezing, zero_grad, apply, to
# --------------------------------------------------------------------------------------------------
def test_train_and_eval_propagate_to_every_descendant() -> None:
    net = Net()
    assert all(m.training for m in net.modules())
    assert net.eval() is net
    assert not any(m.training for m in net.modules())
    net.h[0].train()
    assert net.h[0].drop.training and not net.h[1].drop.training
    with pytest.raises(TypeError, match="bool"):
        net.train("yes")  # type: ignore[arg-type]


def test_eval_makes_dropout_deterministic() -> None:
    net = Net()
    x = minillm.randn(5, 3)
    assert not np.array_equal(net(x).data, net(x).data)  # dropout differs call to call
    net.eval()
    np.testing.assert_array_equal(net(x).data, net(x).data)


def test_frozen_parameters_get_no_gradient() -> None:
    net = nn.Sequential(nn.Linear(3, 3), nn.ReLU(), nn.Linear(3, 1))
    net[0].requires_grad_(False)
    net(minillm.randn(4, 3)).sum().backward()
    assert net[0].weight.grad is None and net[0].bias.grad is None
    assert net[2].weight.grad is not None
    net.requires_grad_(False)
    assert net.num_parameters(trainable_only=True) == 0


def test_zero_grad_drops_or_zeroes_gradients() -> None:
    net = nn.Linear(2, 2)
    net(minillm.randn(3, 2)).sum().backward()
    grad = net.weight.grad
    net.zero_grad(set_to_none=False)
    assert net.weight.grad is grad and not grad.data.any()
    net.zero_grad()
    assert net.weight.grad is None and net.bias.grad is None


def test_apply_visits_children_before_parent() -> None:
    net = nn.Sequential(nn.Linear(1, 1), nn.Sequential(nn.ReLU()))
    order: list[str] = []
    net.apply(lambda m: order.append(type(m).__name__))
    assert order == ["Linear", "ReLU", "Sequential", "Sequential"]


def test_to_float64_keeps_parameter_identity() -> None:
    net = Net()
    params = list(net.parameters())
    net.double()
    assert all(p is q and p.dtype == np.float64 for p, q in zip(net.parameters(), params))
    assert net.h[0].mask.dtype == np.float64
    assert net(minillm.randn(2, 3, dtype=np.float64)).dtype == np.float64
    assert net.to("cpu") is net
    with pytest.raises(TypeError, match="floating"):
        net.to(np.int64)


def test_deepcopy_gives_an_independent_equal_model() -> None:
    net = Net().eval()
    twin = copy.deepcopy(net)
    x = minillm.randn(2, 3)
    np.testing.assert_array_equal(net(x).data, twin(x).data)
    twin.head.weight.data[...] = 0
    assert net.head.weight.data.any()
    tied = nn.Sequential(nn.Linear(3, 3), nn.Linear(3, 3))
    tied[1].weight = tied[0].weight
    copied = copy.deepcopy(tied)
    assert copied[0].weight is copied[1].weight and copied[0].weight is not tied[0].weight


def test_float32_stays_float32_through_layers_and_loss() -> None:
    net = Net()
    out = net(minillm.randn(4, 3))
    loss = F.cross_entropy(out, minillm.tensor([0, 1, 1, 0]))
    assert out.dtype == np.float32 and loss.dtype == np.float32
    loss.backward()
    assert all(p.grad.dtype == np.float32 for p in net.parameters())


# --------------------------------------------------------------------------------------------------
# Hooks
# --------------------------------------------------------------------------------------------------
def test_forward_hook_sees_and_may_replace_output_until_removed() -> None:
    layer = nn.Linear(2, 2)
    seen = []

    def hook(module: nn.Module, args: tuple, output: minillm.Tensor) -> minillm.Tensor:
        seen.append((module, args[0].shape, output.shape))
        return output * 0.0

    handle = layer.register_forward_hook(hook)
    x = minillm.ones(3, 2)
    assert not layer(x).data.any()
    assert seen == [(layer, (3, 2), (3, 2))]
    handle.remove()
    handle.remove()  # a second remove is harmless
    assert layer(x).data.any() and len(seen) == 1


def test_forward_pre_hook_may_replace_the_input_and_handles_are_context_managers() -> None:
    relu = nn.ReLU()
    with relu.register_forward_pre_hook(lambda m, args: -args[0]):
        assert relu(minillm.tensor([-1.0, 2.0])).tolist() == [1.0, 0.0]
    assert relu(minillm.tensor([-1.0, 2.0])).tolist() == [0.0, 2.0]


def test_hooks_capture_intermediate_activations() -> None:
    net = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    acts: dict[str, tuple[int, ...]] = {}
    for name, m in net.named_children():
        m.register_forward_hook(lambda mod, a, out, name=name: acts.__setitem__(name, out.shape))
    net(minillm.randn(4, 2))
    assert acts == {"0": (4, 3), "1": (4, 3), "2": (4, 1)}


# --------------------------------------------------------------------------------------------------
# repr
# --------------------------------------------------------------------------------------------------
def test_repr_is_a_readable_tree() -> None:
    net = nn.Sequential(
        OrderedDict(
            [
                ("fc", nn.Linear(4, 8)),
                ("act", nn.GELU(approximate="tanh")),
                ("blocks", nn.ModuleList([nn.LayerNorm(8), nn.Dropout(0.1)])),
                ("head", nn.Linear(8, 2, bias=False)),
            ]
        )
    )
    assert repr(net) == (
        "Sequential(\n"
        "  (fc): Linear(in_features=4, out_features=8, bias=True)\n"
        "  (act): GELU(approximate='tanh')\n"
        "  (blocks): ModuleList(\n"
        "    (0): LayerNorm((8,), eps=1e-05, elementwise_affine=True)\n"
        "    (1): Dropout(p=0.1)\n"
        "  )\n"
        "  (head): Linear(in_features=8, out_features=2, bias=False)\n"
        ")"
    )
    assert repr(nn.Module()) == "Module()"
    assert repr(nn.Embedding(10, 3, padding_idx=0)) == "Embedding(10, 3, padding_idx=0)"


# --------------------------------------------------------------------------------------------------
# Containers
# --------------------------------------------------------------------------------------------------
def test_sequential_indexing_slicing_and_append() -> None:
    a, b, c = nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)
    seq = nn.Sequential(a, b)
    assert len(seq) == 2 and seq[0] is a and seq[-1] is b and list(seq) == [a, b]
    seq.append(c)
    assert seq[2] is c and list(seq.state_dict())[-1] == "2.bias"
    head = seq[:2]
    assert isinstance(head, nn.Sequential) and list(head) == [a, b]
    seq[1] = nn.Tanh()
    assert isinstance(seq[1], nn.Tanh)
    del seq[1]
    assert list(seq) == [a, c]
    with pytest.raises(IndexError, match="out of range"):
        seq[5]
    named = nn.Sequential(OrderedDict([("first", a), ("second", b)]))
    assert [n for n, _ in named.named_children()] == ["first", "second"]
    x = minillm.randn(4, 2)
    np.testing.assert_array_equal(nn.Sequential(a, b, c)(x).data, c(b(a(x))).data)


def test_module_list_keeps_consecutive_names_after_insert_and_delete() -> None:
    layers = nn.ModuleList([nn.Linear(1, 1) for _ in range(3)])
    first = layers[0]
    layers.insert(0, nn.Tanh())
    assert list(layers._modules) == ["0", "1", "2", "3"] and layers[1] is first
    del layers[0]
    assert list(layers._modules) == ["0", "1", "2"] and layers[0] is first
    layers += [nn.ReLU()]
    layers.extend([nn.ReLU()])
    assert len(layers) == 5 and len(list(layers.parameters())) == 6
    assert isinstance(layers[1:3], nn.ModuleList) and len(layers[1:3]) == 2


def test_module_dict_registers_under_keys() -> None:
    d = nn.ModuleDict({"enc": nn.Linear(2, 2)})
    d["dec"] = nn.Linear(2, 1)
    d.update([("act", nn.ReLU())])
    assert list(d) == ["enc", "dec", "act"] and "dec" in d and len(d) == 3
    assert list(d.state_dict()) == ["enc.weight", "enc.bias", "dec.weight", "dec.bias"]
    assert isinstance(d.pop("act"), nn.ReLU) and list(d.keys()) == ["enc", "dec"]
    with pytest.raises(KeyError, match="'nope'"):
        d["nope"]


# --------------------------------------------------------------------------------------------------
# Gradient accumulation
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("k", [2, 4])
def test_gradient_accumulation_over_micro_batches_equals_one_big_batch(k: int) -> None:
    """Mean loss over a batch of k*m = the average of k micro-batch mean losses (scaled by 1/k)."""
    model = nn.Sequential(nn.Linear(5, 8), nn.GELU(), nn.LayerNorm(8), nn.Linear(8, 3)).double()
    m = 3
    x = minillm.randn(k * m, 5, dtype=np.float64)
    y = minillm.randint(0, 3, size=(k * m,))

    F.cross_entropy(model(x), y).backward()
    big = {n: p.grad.data.copy() for n, p in model.named_parameters()}

    model.zero_grad()
    for i in range(k):
        xb, yb = x[i * m : (i + 1) * m], y[i * m : (i + 1) * m]
        (F.cross_entropy(model(xb), yb) * (1.0 / k)).backward()
    for name, p in model.named_parameters():
        np.testing.assert_allclose(p.grad.data, big[name], rtol=1e-12, atol=1e-14, err_msg=name)
