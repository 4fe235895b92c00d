"""In-place operations and version counters, with PyTorch's rules.

Every in-place op changes the tensor's own storage and bumps its version counter (shared with its
views); a graph whose saved arrays were changed refuses to backward; a leaf that requires grad is
changed in place only under ``no_grad``; recorded in-place ops give the gradients their out-of-place
forms give.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minillm as mi
from minillm.testing import shapes

INPLACE = {
    "add_": lambda t, o: t.add_(o),
    "add_alpha": lambda t, o: t.add_(o, alpha=0.5),
    "sub_": lambda t, o: t.sub_(o),
    "mul_": lambda t, o: t.mul_(o),
    "div_": lambda t, o: t.div_(o),
    "iadd": lambda t, o: t.__iadd__(o),
    "isub": lambda t, o: t.__isub__(o),
    "imul": lambda t, o: t.__imul__(o),
    "idiv": lambda t, o: t.__itruediv__(o),
    "clamp_": lambda t, o: t.clamp_(-0.5, 0.5),
    "masked_fill_": lambda t, o: t.masked_fill_(o.data > 0, 2.0),
    "copy_": lambda t, o: t.copy_(o),
    "fill_": lambda t, o: t.fill_(3.0),
    "zero_": lambda t, o: t.zero_(),
    "uniform_": lambda t, o: t.uniform_(),
    "normal_": lambda t, o: t.normal_(),
    "setitem": lambda t, o: (t.__setitem__(0, 7.0), t)[1],
}
# what each does, out of place, for the gradient comparison (None: no gradient path to compare)
OUT_OF_PLACE = {
    "add_": lambda t, o: t + o,
    "add_alpha": lambda t, o: t + o * 0.5,
    "sub_": lambda t, o: t - o,
    "mul_": lambda t, o: t * o,
    "div_": lambda t, o: t / o,
    "iadd": lambda t, o: t + o,
    "isub": lambda t, o: t - o,
    "imul": lambda t, o: t * o,
    "idiv": lambda t, o: t / o,
    "clamp_": lambda t, o: t.clamp(-0.5, 0.5),
    "masked_fill_": lambda t, o: t.masked_fill(o.data > 0, 2.0),
    "copy_": lambda t, o: o * 1.0,
}


@pytest.mark.parametrize("name", sorted(INPLACE))
def test_every_inplace_op_changes_the_storage_and_bumps_the_version(name):
    x = mi.tensor(np.linspace(-1, 1, 6).reshape(2, 3))
    other = mi.tensor(np.full((2, 3), 0.75))
    storage, before = x.data, x._version
    out = INPLACE[name](x, other)
    assert out is x and x.data is storage and x._version == before + 1


@pytest.mark.parametrize("name", sorted(INPLACE))
def test_a_leaf_that_requires_grad_is_changed_only_under_no_grad(name):
    w = mi.tensor(np.linspace(-1, 1, 6).reshape(2, 3), requires_grad=True)
    other = mi.tensor(np.full((2, 3), 0.75))
    with pytest.raises(RuntimeError, match="leaf tensor that requires grad"):
        INPLACE[name](w, other)
    assert w._version == 0
    with mi.no_grad():
        INPLACE[name](w, other)
    assert w.requires_grad and w.is_leaf and w._version == 1


def test_the_learners_first_optimizer_updates_the_leaf_itself():
    w = mi.tensor([1.0, -2.0], requires_grad=True)
    for _ in range(3):
        loss = (w * w).sum()
        loss.backward()
        with mi.no_grad():
            w -= 0.25 * w.grad
        w.grad = None
    assert w.requires_grad and w.is_leaf and w.tolist() == [0.125, -0.25]
    p = mi.tensor([1.0, 2.0], requires_grad=True)
    (p * 3).sum().backward()
    p.data -= 0.5 * p.grad  # .data is the raw array: the update is not tracked (as in PyTorch)
    assert p.tolist() == [-0.5, 0.5] and p._version == 0


def test_backward_after_a_saved_array_changed_raises_naming_the_op():
    x = mi.tensor([0.5, 1.0], requires_grad=True)
    y = x.exp()  # Exp saves its output
    y.add_(1.0)
    with pytest.raises(RuntimeError, match=r"backward through Exp: its output.* version 1"):
        y.sum().backward()
    w = mi.tensor([1.0, 2.0], requires_grad=True)
    z = (w * x).sum()  # Mul saves w
    with mi.no_grad():
        w -= 1.0
    with pytest.raises(RuntimeError, match="backward through Mul: its input 0"):
        z.backward()


def test_an_optimizer_step_counts_as_a_change():
    w = mi.nn.Parameter(mi.tensor([1.0, 2.0]))
    opt = mi.optim.SGD([w], lr=0.1)
    loss = (w * w).sum()
    loss.backward(retain_graph=True)
    opt.step()
    assert w._version == 1
    with pytest.raises(RuntimeError, match="changed in place"):
        loss.backward()


def test_views_share_the_version_and_the_storage():
    x = mi.tensor(np.arange(6.0).reshape(2, 3))
    row, flat, t = x[0], x.reshape(6), x.T
    with mi.no_grad():
        row.add_(10.0)
    assert x[0].tolist() == [10.0, 11.0, 12.0] and flat[1].item() == 11.0
    assert x._version == row._version == flat._version == t._version == 1
    d = x.detach()
    d.zero_()
    assert x._version == 2 and x.sum().item() == 0.0


def test_a_graph_that_saved_the_base_refuses_after_a_view_changes():
    w = mi.tensor(np.ones((2, 2)), requires_grad=True)
    y = w.exp()
    with mi.no_grad():
        y[0].mul_(3.0)  # changes y's storage through a view
    with pytest.raises(RuntimeError, match="Exp"):
        y.sum().backward()


def test_changing_a_view_while_recording_is_refused_clearly():
    x = mi.tensor(np.ones((2, 2)), requires_grad=True)
    y = x * 2
    v = y[0]
    with pytest.raises(RuntimeError, match="view in place"):
        v.add_(1.0)


@given(shape=shapes(min_dims=1, max_dims=3, max_side=3), name=st.sampled_from(sorted(OUT_OF_PLACE)))
def test_recorded_inplace_gives_the_out_of_place_gradient(shape, name):
    rng = np.random.default_rng(0)
    xa, oa = rng.uniform(0.5, 1.5, shape), rng.uniform(0.5, 1.5, shape)
    grads = []
    for inplace in (True, False):
        x = mi.tensor(xa, requires_grad=True)
        o = mi.tensor(oa, requires_grad=True)
        y = x * 1.5  # a non-leaf, which may be changed in place while recording
        y = INPLACE[name](y, o) if inplace else OUT_OF_PLACE[name](y, o)
        (y * y).sum().backward()
        grads.append((y.data.copy(), x.grad, o.grad))
    (ya, gxa, goa), (yb, gxb, gob) = grads
    np.testing.assert_allclose(ya, yb)
    for a, b in ((gxa, gxb), (goa, gob)):
        assert (a is None) == (b is None)
        if a is not None:
            np.testing.assert_allclose(a.data, b.data)


def test_recorded_item_assignment_routes_gradients():
    x = mi.tensor(np.arange(1.0, 7.0).reshape(2, 3), requires_grad=True)
    v = mi.tensor([5.0, 6.0, 7.0], requires_grad=True)
    y = x * 2
    y[1] = v
    (y * y).sum().backward()
    np.testing.assert_array_equal(x.grad.data, np.array([[8.0, 16, 24], [0, 0, 0]]))
    np.testing.assert_array_equal(v.grad.data, [10.0, 12.0, 14.0])


def test_inplace_dtype_and_shape_errors_are_runtime_errors():
    i = mi.tensor([1, 2, 3])
    with pytest.raises(RuntimeError, match="dtype int64"):
        i += 0.5
    with pytest.raises(RuntimeError, match="dtype int64"):
        i /= 2
    i += 2
    assert i.tolist() == [3, 4, 5] and i.dtype == np.int64
    with pytest.raises(RuntimeError, match="does not fit"):
        mi.zeros(3).add_(mi.ones(2, 3))
    with pytest.raises(RuntimeError, match="read-only broadcast view"):
        mi.zeros(1).expand(3).add_(1.0)


def test_a_gpt_training_loop_raises_no_false_alarm():
    from minillm.models import GPT, GPTConfig

    mi.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=11, block_size=8, n_layer=2, n_head=2, n_embd=16))
    opt = model.configure_optimizers(0.1, 1e-2)
    x = mi.tensor(np.arange(16).reshape(2, 8) % 11)
    losses = []
    for _ in range(3):
        _, loss = model(x, x)
        loss.backward()
        opt.step()
        opt.zero_grad()
        losses.append(loss.item())
    assert losses[2] < losses[0]
    assert all(p._version == 3 for p in model.parameters())


def test_ndarray_meets_tensor_as_before():
    t = mi.tensor([1.0, 2.0])
    assert (np.float64(2.0) * t).dtype == np.float32  # a NumPy scalar is weak, like a Python one
    assert (np.array([1.0, 1.0]) + t).dtype == np.float64
    assert (np.array([1.0, 1.0]) < t).tolist() == [False, True]
    assert (np.ones(2) - t).tolist() == [0.0, -1.0] and isinstance(np.ones(2) * t, mi.Tensor)
    assert np.exp(t).tolist() == t.exp().tolist()  # a ufunc minillm has is its op (recorded)
    with pytest.raises(TypeError):
        np.arctan2(t, t)  # one it does not have is refused, not silently turned into an array


def test_inplace_matches_pytorch():
    torch = pytest.importorskip("torch")
    a = np.linspace(-1, 1, 6).reshape(2, 3)
    x, tx = mi.tensor(a.copy()), torch.tensor(a.copy())
    for step in (lambda t: t.add_(0.5), lambda t: t.mul_(2.0), lambda t: t.clamp_(-1.0, 1.0),
                 lambda t: t.sub_(t * 0 + 1, alpha=0.5), lambda t: t.div_(4.0),
                 lambda t: t.masked_fill_(t > 0, 0.25)):  # fmt: skip
        step(x)
        step(tx)
        np.testing.assert_allclose(x.data, tx.numpy())
        assert x._version == tx._version
