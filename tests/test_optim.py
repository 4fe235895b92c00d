"""Optimizers: 50-step trajectories against PyTorch, the Optimizer contract, checkpoints, errors.

The model is a 2-layer tanh MLP in float64 built from raw minillm Tensors; the PyTorch twin starts
from copies of the same weights and sees the same data, so every step must agree to rounding.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minillm
from minillm.optim import SGD, Adam, AdamW, Optimizer, RMSprop

STEPS = 50
TOL = 1e-9  # float64; the issue asks for 1e-6, the implementations agree far more closely

# (id, minillm class, PyTorch class name, options)
CONFIGS = [
    ("sgd", SGD, "SGD", {"lr": 0.1}),
    ("sgd-momentum", SGD, "SGD", {"lr": 0.05, "momentum": 0.9}),
    ("sgd-nesterov", SGD, "SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True}),
    ("sgd-decay", SGD, "SGD", {"lr": 0.05, "momentum": 0.5, "weight_decay": 0.1}),
    ("sgd-dampening", SGD, "SGD", {"lr": 0.05, "momentum": 0.9, "dampening": 0.3}),
    ("sgd-maximize", SGD, "SGD", {"lr": 0.002, "momentum": 0.5, "maximize": True}),
    ("adam", Adam, "Adam", {"lr": 0.05}),
    ("adam-decay", Adam, "Adam", {"lr": 0.05, "betas": (0.8, 0.99), "weight_decay": 0.1}),
    ("adam-amsgrad", Adam, "Adam", {"lr": 0.05, "amsgrad": True, "eps": 1e-6}),
    ("adam-maximize", Adam, "Adam", {"lr": 0.01, "maximize": True}),
    ("adamw", AdamW, "AdamW", {"lr": 0.05, "weight_decay": 0.1}),
    ("adamw-default-decay", AdamW, "AdamW", {"lr": 0.05}),
    ("adamw-amsgrad", AdamW, "AdamW", {"lr": 0.05, "weight_decay": 0.2, "amsgrad": True}),
    ("rmsprop", RMSprop, "RMSprop", {"lr": 0.01}),
    ("rmsprop-momentum", RMSprop, "RMSprop", {"lr": 0.005, "momentum": 0.9}),
    ("rmsprop-centered", RMSprop, "RMSprop", {"lr": 0.005, "centered": True}),
    (
        "rmsprop-all",
        RMSprop,
        "RMSprop",
        {"lr": 0.005, "alpha": 0.9, "momentum": 0.5, "centered": True, "weight_decay": 0.1},
    ),
]


# ------------------------------------------------------------------------------ the small model
def _problem(seed: int = 0) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """Initial MLP weights [W1, b1, W2, b2] and a regression data set, all float64."""
    rng = np.random.default_rng(seed)
    weights = [
        rng.standard_normal((4, 8)) * 0.5,
        rng.standard_normal(8) * 0.1,
        rng.standard_normal((8, 1)) * 0.5,
        rng.standard_normal(1) * 0.1,
    ]
    x = rng.standard_normal((16, 4))
    y = np.sin(x.sum(axis=1, keepdims=True))
    return weights, x, y


def _params(weights: list[np.ndarray]) -> list[minillm.Tensor]:
    return [minillm.tensor(w, requires_grad=True) for w in weights]


def _loss(params: list[Any], x: Any, y: Any) -> Any:
    """Mean squared error of a tanh MLP; works on minillm and on torch tensors alike."""
    w1, b1, w2, b2 = params
    err = (x @ w1 + b1).tanh() @ w2 + b2 - y
    return (err * err).mean()


def _train(opt: Any, params: list[Any], x: Any, y: Any, steps: int) -> list[list[np.ndarray]]:
    """Take ``steps`` steps; the parameters (as float64 arrays) after each."""
    history = []
    for _ in range(steps):
        opt.zero_grad()
        _loss(params, x, y).backward()
        opt.step()
        history.append([np.array(p.detach().numpy(), dtype=np.float64) for p in params])
    return history


def _minillm_run(cls: type, options: dict, steps: int = STEPS) -> list[list[np.ndarray]]:
    weights, x, y = _problem()
    params = _params(weights)
    return _train(cls(params, **options), params, minillm.tensor(x), minillm.tensor(y), steps)


def _torch_run(torch: Any, name: str, options: dict, steps: int = STEPS) -> list[list[np.ndarray]]:
    weights, x, y = _problem()
    params = [torch.tensor(w, requires_grad=True) for w in weights]
    opt = getattr(torch.optim, name)(params, **options)
    return _train(opt, params, torch.tensor(x), torch.tensor(y), steps)


def _assert_same_history(ours: list, theirs: list, tol: float = TOL) -> None:
    for step, (a, b) in enumerate(zip(ours, theirs)):
        for k, (pa, pb) in enumerate(zip(a, b)):
            np.testing.assert_allclose(
                pa, pb, rtol=tol, atol=tol, err_msg=f"param {k} after step {step + 1}"
            )


# ------------------------------------------------------------------------------ PyTorch parity
@pytest.mark.parametrize(
    "cls, torch_name, options", [c[1:] for c in CONFIGS], ids=[c[0] for c in CONFIGS]
)
def test_trajectory_matches_pytorch(cls: type, torch_name: str, options: dict) -> None:
    torch = pytest.importorskip("torch")
    ours = _minillm_run(cls, options)
    theirs = _torch_run(torch, torch_name, options)
    _assert_same_history(ours, theirs)
    moved = np.abs(ours[-1][0] - _problem()[0][0]).max()
    assert moved > 1e-3, "the parameters barely moved: the comparison would prove little"


@pytest.mark.parametrize("cls, torch_name", [(SGD, "SGD"), (Adam, "Adam"), (RMSprop, "RMSprop")])
def test_param_groups_with_different_options_match_pytorch(cls: type, torch_name: str) -> None:
    torch = pytest.importorskip("torch")
    weights, x, y = _problem()
    extra = {"momentum": 0.9} if cls is not Adam else {"betas": (0.5, 0.9)}

    def groups(params: list) -> list[dict]:
        return [{"params": params[:2], "lr": 0.05, **extra}, {"params": params[2:]}]

    ours_p = _params(weights)
    ours = _train(cls(groups(ours_p), lr=0.005), ours_p, minillm.tensor(x), minillm.tensor(y), 30)
    torch_p = [torch.tensor(w, requires_grad=True) for w in weights]
    opt = getattr(torch.optim, torch_name)(groups(torch_p), lr=0.005)
    _assert_same_history(ours, _train(opt, torch_p, torch.tensor(x), torch.tensor(y), 30))


def test_state_dict_layout_matches_pytorch() -> None:
    torch = pytest.importorskip("torch")
    for cls, name, options in [
        (SGD, "SGD", {"momentum": 0.9}),
        (Adam, "Adam", {"amsgrad": True}),
        (AdamW, "AdamW", {}),
        (RMSprop, "RMSprop", {"momentum": 0.9, "centered": True}),
    ]:
        weights, x, y = _problem()
        ours_p = _params(weights)
        ours = cls(ours_p, **options)
        _train(ours, ours_p, minillm.tensor(x), minillm.tensor(y), 2)
        torch_p = [torch.tensor(w, requires_grad=True) for w in weights]
        theirs = getattr(torch.optim, name)(torch_p, **options)
        _train(theirs, torch_p, torch.tensor(x), torch.tensor(y), 2)
        a, b = ours.state_dict(), theirs.state_dict()
        assert a["state"].keys() == b["state"].keys()
        assert a["state"][0].keys() == b["state"][0].keys(), name
        assert a["param_groups"][0]["params"] == b["param_groups"][0]["params"]
        assert set(a["param_groups"][0]) <= set(b["param_groups"][0]), name
        for key, value in a["param_groups"][0].items():
            assert value == b["param_groups"][0][key], (name, key)


def test_resumes_a_pytorch_adam_run_from_its_state_dict() -> None:
    torch = pytest.importorskip("torch")
    weights, x, y = _problem()
    tx, ty = torch.tensor(x), torch.tensor(y)
    torch_p = [torch.tensor(w, requires_grad=True) for w in weights]
    theirs = torch.optim.Adam(torch_p, lr=0.05, weight_decay=0.01)
    _train(theirs, torch_p, tx, ty, 10)
    saved = theirs.state_dict()  # steps are float32 tensors, moments float64 tensors
    saved = {  # PyTorch shares its live state dicts: convert into new ones
        "param_groups": saved["param_groups"],
        "state": {
            i: {k: v.numpy().copy() for k, v in s.items()} for i, s in saved["state"].items()
        },
    }
    ours_p = _params([p.detach().numpy().copy() for p in torch_p])
    ours = Adam(ours_p)
    ours.load_state_dict(saved)
    assert ours.param_groups[0]["lr"] == 0.05 and ours.state[ours_p[0]]["step"] == 10
    ours_h = _train(ours, ours_p, minillm.tensor(x), minillm.tensor(y), 20)
    _assert_same_history(ours_h, _train(theirs, torch_p, tx, ty, 20))


# ------------------------------------------------------------------------------ Adam specifics
@given(
    grad=hnp.arrays(
        np.float64,
        hnp.array_shapes(min_dims=1, max_dims=3, max_side=5),
        elements=st.floats(1e-3, 1e3) | st.floats(-1e3, -1e-3),
    ),
    dtype=st.sampled_from([np.float32, np.float64]),
    lr=st.floats(1e-4, 1.0),
)
def test_first_adam_step_is_minus_lr_times_sign_of_grad(
    grad: np.ndarray, dtype: type, lr: float
) -> None:
    start = np.linspace(-1.0, 1.0, grad.size).reshape(grad.shape).astype(dtype)
    p = minillm.tensor(start.copy(), requires_grad=True)
    p.grad = minillm.tensor(grad.astype(dtype))
    Adam([p], lr=lr).step()
    step = p.data.astype(np.float64) - start.astype(np.float64)
    np.testing.assert_allclose(step, -lr * np.sign(grad), rtol=1e-4, atol=1e-6 * (1 + lr))


def test_adam_numpy_path_equals_fused_kernel() -> None:
    """Non-contiguous parameters take the NumPy path; it must agree with the kernel."""
    rng = np.random.default_rng(1)
    start, grads = rng.standard_normal((3, 5)), rng.standard_normal((10, 3, 5))
    contiguous = minillm.tensor(start, requires_grad=True)
    strided = minillm.tensor(np.asfortranarray(start), requires_grad=True)
    assert not strided.data.flags.c_contiguous
    for cls in (Adam, AdamW):
        opts = [cls([p], lr=0.1, weight_decay=0.1) for p in (contiguous, strided)]
        for g in grads:
            for p, opt in zip((contiguous, strided), opts):
                p.grad = minillm.tensor(g)
                opt.step()
        np.testing.assert_allclose(strided.data, contiguous.data, rtol=1e-12, atol=1e-14)


def test_adamw_decay_is_decoupled_and_adam_decay_is_not() -> None:
    """With a zero gradient AdamW still shrinks p by (1 - lr wd); Adam's L2 term moves it by ~lr."""
    for cls, expected in [(AdamW, 2.0 * (1 - 0.1 * 0.5)), (Adam, 2.0 - 0.1)]:
        p = minillm.tensor([2.0], dtype=np.float64, requires_grad=True)
        p.grad = minillm.zeros(1, dtype=np.float64)
        cls([p], lr=0.1, weight_decay=0.5).step()
        assert p.item() == pytest.approx(expected, rel=1e-7)


# ------------------------------------------------------------------------------ the contract
@pytest.mark.parametrize(
    "cls, options", [(c[1], c[3]) for c in CONFIGS], ids=[c[0] for c in CONFIGS]
)
def test_updates_in_place_and_skips_params_without_grad(cls: type, options: dict) -> None:
    used = minillm.tensor(np.ones((2, 3)), requires_grad=True)
    frozen = minillm.tensor(np.ones(3), requires_grad=True)
    opt = cls([used, frozen], **options)
    array, before = used.data, used.data.copy()
    used.grad = minillm.tensor(np.full((2, 3), 0.5))
    opt.step()
    assert used.data is array, "the update must write into the parameter's own array"
    assert not np.array_equal(used.data, before)
    np.testing.assert_array_equal(frozen.data, np.ones(3))
    assert frozen not in opt.state


def test_zero_grad_sets_none_or_zeros() -> None:
    p = minillm.tensor([1.0, 2.0], requires_grad=True)
    opt = SGD([p], lr=0.1)
    (p * p).sum().backward()
    grad_array = p.grad.data
    opt.zero_grad(set_to_none=False)
    assert p.grad.data is grad_array and not grad_array.any()
    opt.zero_grad()
    assert p.grad is None


def test_step_with_closure_returns_loss_and_runs_with_grad_enabled() -> None:
    p = minillm.tensor([3.0], dtype=np.float64, requires_grad=True)
    opt = SGD([p], lr=0.25)

    def closure() -> minillm.Tensor:
        opt.zero_grad()
        loss = (p * p).sum()
        loss.backward()
        return loss

    with minillm.no_grad():
        loss = opt.step(closure)
    assert loss.item() == 9.0
    assert p.item() == pytest.approx(3.0 - 0.25 * 6.0)


def test_param_groups_fill_defaults_and_add_param_group() -> None:
    a, b, c = (minillm.zeros(2, requires_grad=True) for _ in range(3))
    opt = Adam([{"params": [a], "lr": 0.5}, {"params": b}], lr=0.01, betas=(0.8, 0.9))
    assert [g["lr"] for g in opt.param_groups] == [0.5, 0.01]
    assert all(g["betas"] == (0.8, 0.9) and g["eps"] == 1e-8 for g in opt.param_groups)
    opt.add_param_group({"params": [c], "weight_decay": 0.1})
    assert opt.param_groups[2]["weight_decay"] == 0.1 and opt.param_groups[2]["lr"] == 0.01
    c.grad = minillm.ones(2)
    opt.step()
    assert opt.state[c]["step"] == 1
    assert "Parameter Group 2" in repr(opt)


def test_pytorch_defaults() -> None:
    p = [minillm.zeros(1, requires_grad=True)]
    assert SGD(p).defaults == {
        "lr": 1e-3,
        "momentum": 0.0,
        "dampening": 0.0,
        "weight_decay": 0.0,
        "nesterov": False,
        "maximize": False,
    }
    adam = Adam(p).defaults
    assert (adam["lr"], adam["betas"], adam["eps"], adam["weight_decay"]) == (
        1e-3,
        (0.9, 0.999),
        1e-8,
        0.0,
    )
    assert AdamW(p).defaults["weight_decay"] == 1e-2
    rms = RMSprop(p).defaults
    assert (rms["lr"], rms["alpha"], rms["eps"], rms["momentum"]) == (1e-2, 0.99, 1e-8, 0.0)


# ------------------------------------------------------------------------------ checkpoints
def _through_checkpoint(state_dict: dict) -> dict:
    """What a checkpoint file gives back: JSON for the plain values (int keys become strings),
    and read-only arrays (as from a memory map) in place of Tensors."""
    arrays: list[np.ndarray] = []

    def encode(obj: Any) -> Any:
        if isinstance(obj, minillm.Tensor):
            arrays.append(obj.data.copy())
            return f"@array{len(arrays) - 1}"
        if isinstance(obj, dict):
            return {k: encode(v) for k, v in obj.items()}
        if isinstance(obj, (list, tuple)):
            return [encode(v) for v in obj]
        return obj

    def decode(obj: Any) -> Any:
        if isinstance(obj, str) and obj.startswith("@array"):
            arr = arrays[int(obj[len("@array") :])]
            arr.flags.writeable = False
            return arr
        if isinstance(obj, dict):
            return {k: decode(v) for k, v in obj.items()}
        if isinstance(obj, list):
            return [decode(v) for v in obj]
        return obj

    return decode(json.loads(json.dumps(encode(state_dict))))


RESUME_CONFIGS = [
    (SGD, {"lr": 0.05, "momentum": 0.9, "nesterov": True}),
    (Adam, {"lr": 0.05, "amsgrad": True}),
    (AdamW, {"lr": 0.05, "betas": (0.8, 0.95)}),
    (RMSprop, {"lr": 0.005, "momentum": 0.5, "centered": True}),
]


@pytest.mark.parametrize(
    "cls, options", RESUME_CONFIGS, ids=[c[0].__name__ for c in RESUME_CONFIGS]
)
def test_state_dict_round_trip_continues_identically(cls: type, options: dict) -> None:
    weights, x, y = _problem()
    x, y = minillm.tensor(x), minillm.tensor(y)
    k = 20
    straight = _minillm_run(cls, options, STEPS)

    first = _params(weights)
    opt = cls(first, **options)
    _train(opt, first, x, y, k)
    saved = _through_checkpoint(opt.state_dict())

    resumed = _params([p.data.copy() for p in first])
    opt2 = cls(resumed, lr=123.0)  # every option must come back from the checkpoint
    opt2.load_state_dict(saved)
    assert opt2.param_groups[0]["lr"] == options["lr"]
    rest = _train(opt2, resumed, x, y, STEPS - k)
    for a, b in zip(rest[-1], straight[-1]):
        np.testing.assert_array_equal(a, b)


def test_state_dict_is_a_snapshot() -> None:
    p = minillm.tensor([1.0, 2.0], requires_grad=True)
    opt = Adam([p], lr=0.1)
    p.grad = minillm.ones(2)
    opt.step()
    saved = opt.state_dict()
    first_moment = saved["state"][0]["exp_avg"].data.copy()
    opt.param_groups[0]["lr"] = 0.5
    opt.step()
    np.testing.assert_array_equal(saved["state"][0]["exp_avg"].data, first_moment)
    assert saved["state"][0]["step"] == 1 and saved["param_groups"][0]["lr"] == 0.1


def test_load_state_dict_casts_state_to_the_parameter_dtype() -> None:
    p = minillm.zeros(3, requires_grad=True)  # float32
    opt = SGD([p], momentum=0.9)
    saved = {
        "state": {0: {"momentum_buffer": np.ones(3, dtype=np.float64)}},
        "param_groups": [{"lr": 0.1, "momentum": 0.9, "params": [0]}],
    }
    opt.load_state_dict(saved)
    buf = opt.state[p]["momentum_buffer"]
    assert isinstance(buf, minillm.Tensor) and buf.dtype == np.float32
    assert opt.param_groups[0]["nesterov"] is False  # options the dict omits keep defaults


# ------------------------------------------------------------------------------ errors
def _p() -> minillm.Tensor:
    return minillm.zeros(2, requires_grad=True)


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: SGD([_p()], lr=-0.1), "learning rate"),
        (lambda: Adam([_p()], betas=(1.0, 0.999)), "beta1"),
        (lambda: Adam([_p()], betas=(0.9, -0.1)), "beta2"),
        (lambda: Adam([_p()], eps=-1e-8), "eps"),
        (lambda: AdamW([_p()], weight_decay=-0.1), "weight_decay"),
        (lambda: SGD([_p()], momentum=-0.5), "momentum"),
        (lambda: SGD([_p()], lr=0.1, nesterov=True), "Nesterov"),
        (lambda: SGD([_p()], momentum=0.9, dampening=0.1, nesterov=True), "Nesterov"),
        (lambda: RMSprop([_p()], alpha=-0.9), "alpha"),
        (lambda: SGD([{"params": [_p()], "lr": -1.0}]), "learning rate"),
        (lambda: SGD([]), "empty parameter list"),
    ],
)
def test_bad_options_raise_value_error(make: Callable[[], Optimizer], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        make()


def test_a_parameter_in_two_groups_or_twice_in_one_raises() -> None:
    p, q = _p(), _p()
    with pytest.raises(ValueError, match="more than one parameter group"):
        SGD([{"params": [p]}, {"params": [q, p]}])
    opt = SGD([p])
    with pytest.raises(ValueError, match="more than one parameter group"):
        opt.add_param_group({"params": [p]})
    with pytest.raises(ValueError, match="more than once"):
        SGD([p, q, p])


def test_bad_params_raise() -> None:
    p = _p()
    with pytest.raises(TypeError, match="single Tensor"):
        SGD(p)
    with pytest.raises(TypeError, match="only optimize Tensors"):
        SGD([np.zeros(2)])
    with pytest.raises(ValueError, match="non-leaf"):
        SGD([p * 2])
    with pytest.raises(TypeError, match="set"):
        SGD([{"params": {p}}])


def test_load_state_dict_mismatch_raises_and_changes_nothing() -> None:
    a, b, c = _p(), _p(), _p()
    source = Adam([{"params": [a, b]}, {"params": [c]}], lr=0.1)
    for t in (a, b, c):
        t.grad = minillm.ones(2)
    source.step()
    saved = source.state_dict()

    one_group = Adam([_p(), _p(), _p()])
    with pytest.raises(ValueError, match="2 parameter groups, but this optimizer has 1"):
        one_group.load_state_dict(saved)
    wrong_sizes = Adam([{"params": [_p()]}, {"params": [_p(), _p()]}], lr=0.3)
    with pytest.raises(ValueError, match=r"group 0 .* 2 parameters"):
        wrong_sizes.load_state_dict(saved)
    assert wrong_sizes.param_groups[0]["lr"] == 0.3 and not wrong_sizes.state
    other_shape = Adam(
        [{"params": [_p(), minillm.zeros(5, requires_grad=True)]}, {"params": [_p()]}]
    )
    with pytest.raises(ValueError, match="shape"):
        other_shape.load_state_dict(saved)
    with pytest.raises(ValueError, match="'state' and 'param_groups'"):
        one_group.load_state_dict({"state": {}})
