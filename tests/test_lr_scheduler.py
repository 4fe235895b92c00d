"""Learning-rate schedulers: sequences against PyTorch, the GPT warmup-cosine, checkpoints, errors.

Every scheduler is built the same way in both libraries (the class names match), on an optimizer
with two param groups of different learning rates, and ``get_last_lr()`` is compared after
construction and after each of 30 steps.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from itertools import pairwise
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minillm
from minillm.optim import SGD, Adam
from minillm.optim import lr_scheduler as ours_lr
from minillm.optim.lr_scheduler import WarmupCosineLR, warmup_cosine

STEPS = 30
LRS = (0.1, 0.04)


class Halving:
    """A callable object: LambdaLR saves its attributes (unlike a lambda's)."""

    def __init__(self, rate: float) -> None:
        self.rate = rate

    def __call__(self, epoch: int) -> float:
        return self.rate**epoch


# (id, factory(lr_scheduler module, optimizer) -> scheduler, optimizer kind)
SCHEDULES: list[tuple[str, Callable[[Any, Any], Any], str]] = [
    ("lambda", lambda S, o: S.LambdaLR(o, lambda e: 1.0 / (1 + e)), "sgd"),
    ("lambda-per-group", lambda S, o: S.LambdaLR(o, [lambda e: 0.9**e, Halving(0.8)]), "sgd"),
    ("step", lambda S, o: S.StepLR(o, step_size=4, gamma=0.5), "sgd"),
    ("multistep", lambda S, o: S.MultiStepLR(o, milestones=[3, 7, 7, 15], gamma=0.3), "sgd"),
    ("exponential", lambda S, o: S.ExponentialLR(o, gamma=0.9), "sgd"),
    ("cosine", lambda S, o: S.CosineAnnealingLR(o, T_max=10, eta_min=0.001), "sgd"),
    ("linear", lambda S, o: S.LinearLR(o, start_factor=0.25, end_factor=0.9, total_iters=8), "sgd"),
    (
        "sequential-warmup-cosine",
        lambda S, o: S.SequentialLR(
            o,
            [S.LinearLR(o, start_factor=0.1, total_iters=5), S.CosineAnnealingLR(o, T_max=20)],
            milestones=[5],
        ),
        "sgd",
    ),
    (
        "sequential-three",
        lambda S, o: S.SequentialLR(
            o,
            [
                S.ExponentialLR(o, gamma=0.8),
                S.StepLR(o, step_size=3, gamma=0.5),
                S.LambdaLR(o, lambda e: 1.0 / (1 + e)),
            ],
            milestones=[4, 10],
        ),
        "sgd",
    ),
    ("onecycle", lambda S, o: S.OneCycleLR(o, max_lr=[0.5, 0.2], total_steps=STEPS), "sgd"),
    (
        "onecycle-linear-three-phase",
        lambda S, o: S.OneCycleLR(
            o, max_lr=0.3, epochs=6, steps_per_epoch=5, anneal_strategy="linear", three_phase=True
        ),
        "sgd",
    ),
    ("onecycle-adam", lambda S, o: S.OneCycleLR(o, max_lr=0.01, total_steps=STEPS), "adam"),
]


def _optimizer(lib: Any, kind: str, params: list) -> Any:
    groups = [{"params": params[:1], "lr": LRS[0]}, {"params": params[1:], "lr": LRS[1]}]
    if kind == "adam":
        return lib.optim.Adam(groups)
    return lib.optim.SGD(groups, momentum=0.9)


def _ours(kind: str) -> Any:
    return _optimizer(minillm, kind, [minillm.zeros(1, requires_grad=True) for _ in range(2)])


def _theirs(torch: Any, kind: str) -> Any:
    return _optimizer(torch, kind, [torch.zeros(1, requires_grad=True) for _ in range(2)])


def _momenta(opt: Any) -> list[float]:
    return [g["betas"][0] if "betas" in g else g["momentum"] for g in opt.param_groups]


def _record(opt: Any, sched: Any, steps: int = STEPS) -> np.ndarray:
    """Per step: each group's last lr (from the scheduler and from the group) and momentum."""
    rows = []
    for i in range(steps + 1):
        lr = sched.get_last_lr()
        rows.append([*lr, *(g["lr"] for g in opt.param_groups), *_momenta(opt)])
        if i < steps:
            opt.step()  # optimizer first, then the scheduler, as PyTorch expects
            sched.step()
    return np.array(rows, dtype=np.float64)


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("make, kind", [s[1:] for s in SCHEDULES], ids=[s[0] for s in SCHEDULES])
def test_learning_rates_match_pytorch(make: Callable, kind: str) -> None:
    torch = pytest.importorskip("torch")
    opt = _ours(kind)
    ours = _record(opt, make(ours_lr, opt))
    topt = _theirs(torch, kind)
    theirs = _record(topt, make(torch.optim.lr_scheduler, topt))
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-15)
    assert len(np.unique(ours[:, 0].round(12))) > 2, "the schedule should actually change the lr"
    for g_ours, g_theirs in zip(opt.param_groups, topt.param_groups):
        assert g_ours["initial_lr"] == pytest.approx(g_theirs["initial_lr"], rel=1e-12)


@pytest.mark.parametrize(
    "options",
    [
        {"factor": 0.5, "patience": 2},
        {"mode": "max", "factor": 0.3, "patience": 1, "threshold_mode": "abs", "threshold": 0.05},
        {"factor": 0.5, "patience": 1, "cooldown": 2, "min_lr": [0.02, 0.001]},
        {"factor": 0.1, "patience": 0, "min_lr": 0.01, "eps": 1e-3},
    ],
)
def test_reduce_on_plateau_matches_pytorch(options: dict) -> None:
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    # falls, then stalls with noise, then falls again, then stalls
    metrics = np.concatenate(
        [np.linspace(2.0, 1.0, 6), 1.0 + 0.01 * rng.standard_normal(12), np.linspace(0.9, 0.5, 4)]
    )
    metrics = np.concatenate([metrics, np.full(8, 0.5)])
    runs = []
    for lib, opt in [(minillm, _ours("sgd")), (torch, _theirs(torch, "sgd"))]:
        sched = lib.optim.lr_scheduler.ReduceLROnPlateau(opt, **options)
        lrs = [sched.get_last_lr()]
        for m in metrics:
            opt.step()
            sched.step(float(m))
            lrs.append(sched.get_last_lr())
        runs.append(np.array(lrs))
    np.testing.assert_allclose(runs[0], runs[1], rtol=1e-12)
    assert runs[0][-1, 0] < LRS[0], "the test metric should trigger at least one reduction"


def test_reduce_on_plateau_accepts_a_tensor_metric() -> None:
    opt = _ours("sgd")
    sched = ours_lr.ReduceLROnPlateau(opt, patience=0)
    sched.step(minillm.tensor(1.0))
    sched.step(minillm.tensor([1.0]))
    assert sched.get_last_lr() == pytest.approx([LRS[0] * 0.1, LRS[1] * 0.1])


# ------------------------------------------------------------------------------ warmup-cosine
@given(
    warmup=st.integers(0, 50),
    extra=st.integers(0, 200),
    peak=st.floats(1e-6, 10.0),
    floor_ratio=st.floats(0.0, 1.0),
)
def test_warmup_cosine_shape(warmup: int, extra: int, peak: float, floor_ratio: float) -> None:
    max_steps = max(warmup + extra, 1)
    floor = peak * floor_ratio
    lrs = [warmup_cosine(s, peak, warmup, max_steps, floor) for s in range(max_steps + 10)]
    assert lrs[0] > 0, "step 0 must already learn"
    if warmup > 0:
        assert lrs[0] == pytest.approx(peak / warmup)
        assert lrs[warmup - 1] == pytest.approx(peak)
        assert all(a < b for a, b in pairwise(lrs[:warmup]))
    after = lrs[max(warmup - 1, 0) :]
    assert all(b <= a * (1 + 1e-12) for a, b in pairwise(after)), "not monotone after warmup"
    assert all(lr == floor for lr in lrs[max_steps:])
    assert max(lrs) == pytest.approx(peak)


def test_warmup_cosine_lr_matches_pytorch_lambda_lr() -> None:
    """With min_lr a fixed fraction of each group's lr, the schedule is a LambdaLR in PyTorch."""
    torch = pytest.importorskip("torch")
    warmup, max_steps, ratio = 5, 25, 0.1
    opt = _ours("sgd")
    min_lrs = [ratio * lr for lr in LRS]
    ours = _record(opt, WarmupCosineLR(opt, warmup, max_steps, min_lr=min_lrs))
    topt = _theirs(torch, "sgd")
    factor = lambda s: warmup_cosine(s, 1.0, warmup, max_steps, ratio)  # noqa: E731
    theirs = _record(topt, torch.optim.lr_scheduler.LambdaLR(topt, factor))
    np.testing.assert_allclose(ours, theirs, rtol=1e-12)
    assert ours[0, 0] == pytest.approx(LRS[0] / warmup)
    assert ours[-1, 0] == pytest.approx(ratio * LRS[0])


def test_warmup_cosine_inside_sequential_lr() -> None:
    """It is stateless (a closed form), so SequentialLR can restart it at a milestone."""
    opt = _ours("sgd")
    hold = ours_lr.LambdaLR(opt, lambda e: 0.5)
    wc = WarmupCosineLR(opt, warmup_steps=3, max_steps=10)
    sched = ours_lr.SequentialLR(opt, [hold, wc], milestones=[4])
    lrs = _record(opt, sched, 6)[:, 0]
    expected = [0.5 * LRS[0]] * 4 + [warmup_cosine(s, LRS[0], 3, 10) for s in range(3)]
    np.testing.assert_allclose(lrs, expected, rtol=1e-12)


# ------------------------------------------------------------------------------ checkpoints
def _json(state: dict) -> dict:
    return json.loads(json.dumps(state))


def _optimizer_json(opt: Any) -> dict:
    """The optimizer's state dict as a checkpoint returns it (no Tensors in these tests' state)."""
    sd = opt.state_dict()
    assert not sd["state"]
    return _json(sd)


@pytest.mark.parametrize(
    "make, kind",
    [s[1:] for s in SCHEDULES] + [(lambda S, o: WarmupCosineLR(o, 4, 20, min_lr=0.001), "sgd")],
    ids=[s[0] for s in SCHEDULES] + ["warmup-cosine"],
)
def test_state_dict_round_trip_continues_identically(make: Callable, kind: str) -> None:
    k = 12
    opt = _ours(kind)
    straight = _record(opt, make(ours_lr, opt))

    opt = _ours(kind)
    sched = make(ours_lr, opt)
    _record(opt, sched, k)
    saved_opt, saved_sched = _optimizer_json(opt), _json(sched.state_dict())

    opt2 = _ours(kind)
    sched2 = make(ours_lr, opt2)  # build the scheduler, then load the optimizer, then the scheduler
    opt2.load_state_dict(saved_opt)
    sched2.load_state_dict(saved_sched)
    assert sched2.last_epoch == sched.last_epoch
    resumed = _record(opt2, sched2, STEPS - k)
    np.testing.assert_array_equal(resumed, straight[k:])


def test_plateau_state_dict_round_trip() -> None:
    metrics = [3.0, 2.0, 2.0, 2.0, 2.0, 1.0, 1.0, 1.0, 1.0, 1.0]
    opt = _ours("sgd")
    sched = ours_lr.ReduceLROnPlateau(opt, factor=0.5, patience=1, cooldown=1)
    for m in metrics[:3]:
        sched.step(m)
    saved_opt, saved_sched = _optimizer_json(opt), _json(sched.state_dict())
    for m in metrics[3:]:
        sched.step(m)

    opt2 = _ours("sgd")
    sched2 = ours_lr.ReduceLROnPlateau(opt2)  # options come back from the state dict
    opt2.load_state_dict(saved_opt)
    sched2.load_state_dict(saved_sched)
    for m in metrics[3:]:
        sched2.step(m)
    assert sched2.get_last_lr() == sched.get_last_lr()
    assert sched2.best == sched.best == 1.0


def test_lambda_lr_state_dict_skips_functions_and_keeps_callable_objects() -> None:
    opt = _ours("sgd")
    sched = ours_lr.LambdaLR(opt, [lambda e: 1.0, Halving(0.5)])
    state = _json(sched.state_dict())
    assert state["lr_lambdas"] == [None, {"rate": 0.5}]
    other = Halving(0.9)
    sched2 = ours_lr.LambdaLR(_ours("sgd"), [lambda e: 1.0, other])
    sched2.load_state_dict(state)
    assert other.rate == 0.5


# ------------------------------------------------------------------------------ errors
def _sgd() -> SGD:
    return SGD([minillm.zeros(1, requires_grad=True)], lr=0.1)


@pytest.mark.parametrize(
    "make, error, match",
    [
        (lambda: ours_lr.StepLR(object(), step_size=2), TypeError, "not an Optimizer"),
        (lambda: ours_lr.StepLR(_sgd(), step_size=0), ValueError, "step_size"),
        (lambda: ours_lr.LinearLR(_sgd(), start_factor=0.0), ValueError, "start_factor"),
        (lambda: ours_lr.LinearLR(_sgd(), end_factor=1.5), ValueError, "end_factor"),
        (lambda: ours_lr.CosineAnnealingLR(_sgd(), T_max=0), ValueError, "T_max"),
        (lambda: ours_lr.LambdaLR(_sgd(), [abs, abs]), ValueError, "1 param groups"),
        (lambda: ours_lr.OneCycleLR(_sgd(), max_lr=1.0), ValueError, "total_steps"),
        (lambda: ours_lr.OneCycleLR(_sgd(), 1.0, 10, pct_start=1.5), ValueError, "pct_start"),
        (
            lambda: ours_lr.OneCycleLR(_sgd(), 1.0, 10, anneal_strategy="exp"),
            ValueError,
            "anneal_strategy",
        ),
        (lambda: ours_lr.ReduceLROnPlateau(_sgd(), factor=1.0), ValueError, "factor"),
        (lambda: ours_lr.ReduceLROnPlateau(_sgd(), mode="up"), ValueError, "mode"),
        (lambda: WarmupCosineLR(_sgd(), warmup_steps=10, max_steps=5), ValueError, "max_steps"),
        (lambda: WarmupCosineLR(_sgd(), 1, 5, min_lr=1.0), ValueError, "min_lr"),
        (lambda: ours_lr.StepLR(_sgd(), step_size=2, last_epoch=5), KeyError, "initial_lr"),
    ],
)
def test_bad_arguments_raise(make: Callable, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        make()


def test_sequential_lr_checks_its_schedulers() -> None:
    opt, other = _sgd(), _sgd()
    a, b = ours_lr.StepLR(opt, 2), ours_lr.StepLR(opt, 3)
    with pytest.raises(ValueError, match="one milestone fewer"):
        ours_lr.SequentialLR(opt, [a, b], milestones=[2, 4])
    with pytest.raises(ValueError, match="different optimizer"):
        ours_lr.SequentialLR(opt, [a, ours_lr.StepLR(other, 2)], milestones=[2])
    with pytest.raises(ValueError, match="ReduceLROnPlateau"):
        ours_lr.SequentialLR(opt, [a, ours_lr.ReduceLROnPlateau(opt)], milestones=[2])


def test_one_cycle_refuses_to_step_past_total_steps() -> None:
    opt = _sgd()
    sched = ours_lr.OneCycleLR(opt, max_lr=1.0, total_steps=3)
    for _ in range(3):
        sched.step()
    with pytest.raises(ValueError, match="total_steps=3"):
        sched.step()


def test_one_cycle_needs_momentum_or_betas_to_cycle() -> None:
    from minillm.optim import Optimizer

    class Plain(Optimizer):
        def __init__(self, params: Any) -> None:
            super().__init__(params, {"lr": 0.1})

    with pytest.raises(ValueError, match="momentum or betas"):
        ours_lr.OneCycleLR(Plain([minillm.zeros(1, requires_grad=True)]), 1.0, 10)
    opt = Adam([minillm.zeros(1, requires_grad=True)])
    ours_lr.OneCycleLR(opt, 1.0, 10)
    assert opt.param_groups[0]["betas"] == (0.95, 0.999)
    assert math.isclose(opt.param_groups[0]["lr"], 1.0 / 25)
