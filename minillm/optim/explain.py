"""``optimizer.explain(p)``: what the last ``step()`` did to one parameter, term by term.

What this module owns: ``StepExplanation``, the record ``Adam.explain`` (Adam and AdamW) and
``SGD.explain`` return, and its readable ``__str__``. Each ``explain`` reads the optimizer's state
(moments, momentum buffer, step count), the parameter as the step left it and its ``.grad`` (the
gradient the step used, as long as nothing changed it since), and changes nothing: the
parameter's value before the step is solved back from the update rule. So
``param_before - param_after == update + decay``, the identity ``tests/test_optim_explain.py``
checks in float64.

Read next: ``minillm/optim/adam.py`` (the update rule spelled out in its docstring).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


def _show(value: Any) -> str:
    """A scalar as itself, a small array as its values, a large one as its norm and mean |x|."""
    if not isinstance(value, np.ndarray):
        return f"{value:.6g}" if isinstance(value, float) else str(value)
    if value.size <= 6:
        return np.array2string(value, precision=4, separator=", ")
    norm = float(np.sqrt(np.sum(np.square(value, dtype=np.float64))))
    return f"|.| {norm:.4g}, mean |x| {float(np.mean(np.abs(value))):.4g} over {value.shape}"


@dataclass
class StepExplanation:
    """One parameter's last step: ``param_before - param_after == update + decay``.

    Attributes:
        optimizer: ``"Adam"``, ``"AdamW"`` or ``"SGD"``.
        step: how many steps this parameter has taken (``None`` for SGD, which keeps no count).
        lr: the learning rate the step used.
        grad: ``p.grad`` (the step's gradient, unless changed since).
        effective_grad: what the rule fed on: the gradient (negated if ``maximize``) plus the L2
            term.
        l2_term: ``wd * param_before``, added to the gradient (Adam, SGD); zeros for AdamW.
        update: what the rule subtracted, ``lr / bc1 * m / (sqrt(v) / sqrt(bc2) + eps)`` (Adam)
            or ``lr * d`` (SGD).
        decay: AdamW's decoupled shrink ``lr * wd * param_before``, subtracted besides ``update``;
            zeros for Adam and SGD.
        weight_decay: which kind: ``"decoupled"``, ``"L2"`` or ``"none"``.
        param_before, param_after: the parameter around the step (``before`` solved back).
        details: the rule's own quantities (``exp_avg``, ``exp_avg_sq``, ``bias_correction1``,
            ``bias_correction2``, ``denom``; SGD's ``momentum_buffer`` and ``direction``).
    """

    optimizer: str
    step: int | None
    lr: float
    grad: np.ndarray
    effective_grad: np.ndarray
    l2_term: np.ndarray
    update: np.ndarray
    decay: np.ndarray
    weight_decay: str
    param_before: np.ndarray
    param_after: np.ndarray
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def total(self) -> np.ndarray:
        """Everything the step subtracted: ``update + decay`` (= ``param_before - param_after``)."""
        return self.update + self.decay

    def __str__(self) -> str:
        at = "" if self.step is None else f" (step {self.step})"
        lines = [f"{self.optimizer}{at}, lr {self.lr:g}, weight decay: {self.weight_decay}"]
        rows: list[tuple[str, Any]] = [
            ("grad", self.grad),
            ("l2 term wd*p (into grad)", self.l2_term),
            ("effective grad", self.effective_grad),
            *self.details.items(),
            ("update (rule)", self.update),
            ("decay lr*wd*p (decoupled)", self.decay),
            ("subtracted in all", self.total),
            ("param before", self.param_before),
            ("param after", self.param_after),
        ]
        width = max(len(name) for name, _ in rows)
        lines += [f"  {name:<{width}}  {_show(value)}" for name, value in rows]
        return "\n".join(lines)


def find_group(optimizer: Any, param: Any) -> dict[str, Any]:
    """The param group holding ``param`` (by identity), or a ValueError."""
    for group in optimizer.param_groups:
        if any(p is param for p in group["params"]):
            return group
    raise ValueError("explain: this tensor is not one of the optimizer's parameters")


def gradient_of(param: Any) -> np.ndarray:
    """``param.grad`` as float64 (the last step's gradient), or a ValueError."""
    if param.grad is None:
        raise ValueError(
            "explain: the parameter has no .grad, so its last step's gradient is gone; call "
            "explain(p) after step() and before zero_grad()"
        )
    return np.asarray(param.grad.data, dtype=np.float64)
