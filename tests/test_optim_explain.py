"""``optimizer.explain(p)``: the last step of one parameter, term by term, from the state alone.

The identity: ``param_before - param_after == update + decay`` to 1e-12 in float64, for Adam (L2),
AdamW (decoupled), amsgrad and maximize, and SGD with (Nesterov) momentum and weight decay, after
several steps of changing gradients; the explained terms match the update rule written out; and
``explain`` changes nothing (the next step is the same with or without it).
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minillm as mi
from minillm.optim import SGD, Adam, AdamW, RMSprop

CONFIGS = {
    "adam": lambda ps: Adam(ps, lr=0.05, weight_decay=0.1),
    "adamw": lambda ps: AdamW(ps, lr=0.05, weight_decay=0.1),
    "adam_amsgrad_max": lambda ps: Adam(ps, lr=0.01, weight_decay=0.3, amsgrad=True, maximize=True),
    "adamw_no_decay": lambda ps: AdamW(ps, lr=0.02, weight_decay=0.0),
    "sgd_momentum": lambda ps: SGD(ps, lr=0.1, momentum=0.9, dampening=0.1, weight_decay=0.01),
    "sgd_nesterov": lambda ps: SGD(ps, lr=0.1, momentum=0.8, nesterov=True, weight_decay=0.2),
    "sgd_plain": lambda ps: SGD(ps, lr=0.1, weight_decay=0.05),
}


@settings(max_examples=20, deadline=None)
@given(st.sampled_from(sorted(CONFIGS)), st.integers(1, 5), st.integers(0, 999))
def test_before_minus_after_is_the_explained_step(name, steps, seed):
    rng = np.random.default_rng(seed)
    w = mi.tensor(rng.standard_normal((3, 4)), requires_grad=True)
    opt = CONFIGS[name]([w])
    for _ in range(steps):
        w.grad = mi.tensor(rng.standard_normal((3, 4)))
        before = w.data.copy()
        opt.step()
    e = opt.explain(w)
    np.testing.assert_allclose(before - w.data, e.total, rtol=0, atol=1e-12)
    np.testing.assert_allclose(e.param_before, before, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(e.param_after, w.data)
    np.testing.assert_array_equal(e.grad, w.grad.data)


def test_adam_terms_are_the_rule_written_out():
    w = mi.tensor(np.array([0.5, -1.0, 2.0]), requires_grad=True)
    opt = Adam([w], lr=0.1, betas=(0.8, 0.9), weight_decay=0.2)
    g1, g2 = np.array([1.0, 2.0, -3.0]), np.array([0.5, -1.0, 0.25])
    p, m, v = w.data.copy(), np.zeros(3), np.zeros(3)
    for t, g in enumerate((g1, g2), start=1):
        w.grad = mi.tensor(g)
        opt.step()
        gl2 = g + 0.2 * p
        m, v = 0.8 * m + 0.2 * gl2, 0.9 * v + 0.1 * gl2**2
        step = 0.1 / (1 - 0.8**t) * m / (np.sqrt(v) / np.sqrt(1 - 0.9**t) + 1e-8)
        p_before, p = p, p - step
    e = opt.explain(w)
    assert e.optimizer == "Adam" and e.step == 2 and e.weight_decay == "L2"
    np.testing.assert_allclose(e.details["exp_avg m"], m, atol=1e-14)
    np.testing.assert_allclose(e.details["exp_avg_sq v"], v, atol=1e-14)
    assert e.details["bias_correction1 1-b1^t"] == pytest.approx(1 - 0.8**2)
    np.testing.assert_allclose(e.l2_term, 0.2 * p_before, atol=1e-14)
    np.testing.assert_allclose(e.effective_grad, g2 + 0.2 * p_before, atol=1e-14)
    np.testing.assert_allclose(e.update, step, atol=1e-14)
    assert not e.decay.any()  # Adam's decay goes through the gradient, not beside it


def test_adamw_decay_is_decoupled_and_str_reads():
    w = mi.tensor(np.array([2.0, -4.0]), requires_grad=True)
    opt = AdamW([w], lr=0.1, weight_decay=0.5)
    w.grad = mi.tensor(np.array([1.0, 1.0]))
    opt.step()
    e = opt.explain(w)
    np.testing.assert_allclose(e.decay, [0.1, -0.2], atol=1e-15)  # lr * wd * p_before
    np.testing.assert_allclose(e.update, [0.1, 0.1], atol=1e-8)  # first step: lr * sign(g)
    assert not e.l2_term.any() and e.weight_decay == "decoupled"
    text = str(e)
    assert text.startswith("AdamW (step 1)") and "decay lr*wd*p" in text and "update" in text


def test_explain_changes_nothing():
    rng = np.random.default_rng(0)
    w1 = mi.tensor(rng.standard_normal(5), requires_grad=True)
    w2 = mi.tensor(w1.data.copy(), requires_grad=True)
    o1, o2 = AdamW([w1], lr=0.1), AdamW([w2], lr=0.1)
    for k in range(3):
        g = rng.standard_normal(5)
        w1.grad, w2.grad = mi.tensor(g), mi.tensor(g.copy())
        o1.step()
        o2.step()
        state = copy.deepcopy(o1.state_dict())
        o1.explain(w1)
        assert state["state"][0]["step"] == o1.state_dict()["state"][0]["step"] == k + 1
    np.testing.assert_array_equal(w1.data, w2.data)


def test_the_errors_say_what_is_missing():
    w = mi.tensor([1.0], requires_grad=True)
    opt = Adam([w])
    with pytest.raises(ValueError, match="no step"):
        opt.explain(w)
    w.grad = mi.tensor([1.0])
    opt.step()
    opt.zero_grad()
    with pytest.raises(ValueError, match="before zero_grad"):
        opt.explain(w)
    with pytest.raises(ValueError, match="not one of"):
        opt.explain(mi.tensor([1.0], requires_grad=True))
    with pytest.raises(NotImplementedError, match="RMSprop"):
        RMSprop([w]).explain(w)


def test_float32_parameters_are_explained_in_float64():
    w = mi.tensor([1.0, -1.0], requires_grad=True)  # float32
    opt = AdamW([w], lr=0.1)
    before = w.data.astype(np.float64)
    w.grad = mi.tensor([0.3, -0.7])
    opt.step()
    e = opt.explain(w)
    assert e.update.dtype == np.float64
    np.testing.assert_allclose(before - w.data, e.total, atol=1e-6)


def test_explain_uses_the_learning_rate_of_the_step_not_the_schedulers_next():
    import minillm
    from minillm.optim import SGD, AdamW, lr_scheduler

    w = minillm.tensor([2.0], dtype="float64", requires_grad=True)
    opt = AdamW([w], lr=0.1, weight_decay=0.5)
    sched = lr_scheduler.StepLR(opt, step_size=1, gamma=0.1)
    w.grad = minillm.tensor([1.0], dtype="float64")
    opt.step()
    sched.step()  # group["lr"] is now 0.01
    e = opt.explain(w)
    assert e.lr == 0.1 and abs(float(e.param_before[0]) - 2.0) < 1e-12
    fresh = minillm.tensor([2.0], requires_grad=True)
    fresh.grad = minillm.tensor([1.0])
    with pytest.raises(ValueError, match="no step"):
        SGD([fresh], lr=0.1).explain(fresh)
