"""Schedules that are one formula of the step: lambda, step, multi-step, exponential, cosine,
linear, and the warmup-then-cosine schedule GPT training uses.

Read next: ``composite.py`` (schedules that chain others or react to a metric).
"""

from __future__ import annotations

import copy
import math
import types
from bisect import bisect_right
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from minillm.optim.lr_scheduler.base import LRScheduler, _per_group
from minillm.optim.optimizer import Optimizer


class LambdaLR(LRScheduler):
    """``lr = initial_lr * lr_lambda(t)``, one function for all groups or one per group.

    >>> import minillm
    >>> from minillm.optim import SGD
    >>> opt = SGD([minillm.zeros(1, requires_grad=True)], lr=1.0)
    >>> sched = LambdaLR(opt, lambda t: 0.5**t)
    >>> for _ in range(2):
    ...     opt.step(); sched.step()
    >>> sched.get_last_lr()
    [0.25]
    """

    _not_saved = (*LRScheduler._not_saved, "lr_lambdas")

    def __init__(
        self,
        optimizer: Optimizer,
        lr_lambda: Callable[[int], float] | Sequence[Callable[[int], float]],
        last_epoch: int = -1,
    ) -> None:
        self.lr_lambdas = _per_group("lr_lambda", optimizer, lr_lambda)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        return [b * f(self.last_epoch) for f, b in zip(self.lr_lambdas, self.base_lrs)]

    def state_dict(self) -> dict[str, Any]:
        """As the base, plus ``lr_lambdas``: None for a function, the attributes of an object."""
        state = super().state_dict()
        state["lr_lambdas"] = [
            None if isinstance(f, types.FunctionType) else copy.deepcopy(vars(f))
            for f in self.lr_lambdas
        ]
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().load_state_dict(state_dict)
        for f, saved in zip(self.lr_lambdas, state_dict.get("lr_lambdas", [])):
            if saved is not None:
                vars(f).update(copy.deepcopy(saved))


class StepLR(LRScheduler):
    """Multiply the lr by ``gamma`` every ``step_size`` steps.

    >>> import minillm
    >>> from minillm.optim import SGD
    >>> opt = SGD([minillm.zeros(1, requires_grad=True)], lr=1.0)
    >>> sched, lrs = StepLR(opt, step_size=2, gamma=0.5), []
    >>> for _ in range(5):
    ...     lrs.append(sched.get_last_lr()[0]); opt.step(); sched.step()
    >>> lrs
    [1.0, 1.0, 0.5, 0.5, 0.25]
    """

    def __init__(
        self, optimizer: Optimizer, step_size: int, gamma: float = 0.1, last_epoch: int = -1
    ) -> None:
        if not isinstance(step_size, int) or step_size <= 0:
            raise ValueError(f"step_size must be a positive integer, got {step_size!r}")
        self.step_size = step_size
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return self._current_lrs()
        return [lr * self.gamma for lr in self._current_lrs()]

    def _closed_form_lr(self) -> list[float]:
        return [b * self.gamma ** (self.last_epoch // self.step_size) for b in self.base_lrs]


class MultiStepLR(LRScheduler):
    """Multiply the lr by ``gamma`` at each milestone (a repeated milestone counts twice)."""

    def __init__(
        self,
        optimizer: Optimizer,
        milestones: Iterable[int],
        gamma: float = 0.1,
        last_epoch: int = -1,
    ) -> None:
        self.milestones = sorted(int(m) for m in milestones)  # a list, not a Counter: JSON-able
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        hits = self.milestones.count(self.last_epoch)
        if hits == 0:
            return self._current_lrs()
        return [lr * self.gamma**hits for lr in self._current_lrs()]

    def _closed_form_lr(self) -> list[float]:
        passed = bisect_right(self.milestones, self.last_epoch)
        return [b * self.gamma**passed for b in self.base_lrs]


class ExponentialLR(LRScheduler):
    """Multiply the lr by ``gamma`` every step."""

    def __init__(self, optimizer: Optimizer, gamma: float, last_epoch: int = -1) -> None:
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self._is_initial:
            return self._current_lrs()
        return [lr * self.gamma for lr in self._current_lrs()]

    def _closed_form_lr(self) -> list[float]:
        return [b * self.gamma**self.last_epoch for b in self.base_lrs]


class CosineAnnealingLR(LRScheduler):
    """Half a cosine from the base lr down to ``eta_min`` over ``T_max`` steps (then back up).

    The chainable form (SGDR, Loshchilov & Hutter 2017, without restarts) multiplies the distance
    to ``eta_min`` by the ratio of consecutive cosine factors, so it follows the closed form while
    nobody else edits the lr.
    """

    def __init__(
        self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0, last_epoch: int = -1
    ) -> None:
        if T_max <= 0:
            raise ValueError(f"T_max must be positive, got {T_max!r}")
        self.T_max = T_max
        self.eta_min = eta_min
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        t, T, lo = self.last_epoch, self.T_max, self.eta_min
        if self._is_initial:
            return self._current_lrs()
        if self._step_count == 1 and t > 0:  # first step of a resumed schedule: closed form
            return self._closed_form_lr()
        if (t - 1 - T) % (2 * T) == 0:  # at the bottom the ratio below would be 0/0
            rise = (1 - math.cos(math.pi / T)) / 2
            return [lr + (b - lo) * rise for lr, b in zip(self._current_lrs(), self.base_lrs)]
        ratio = (1 + math.cos(math.pi * t / T)) / (1 + math.cos(math.pi * (t - 1) / T))
        return [ratio * (lr - lo) + lo for lr in self._current_lrs()]

    def _closed_form_lr(self) -> list[float]:
        cos = (1 + math.cos(math.pi * self.last_epoch / self.T_max)) / 2
        return [self.eta_min + (b - self.eta_min) * cos for b in self.base_lrs]


class LinearLR(LRScheduler):
    """Scale the base lr linearly from ``start_factor`` to ``end_factor`` over ``total_iters``.

    The usual linear warmup: ``LinearLR(opt, start_factor=0.01, total_iters=warmup)``.
    """

    def __init__(
        self,
        optimizer: Optimizer,
        start_factor: float = 1.0 / 3,
        end_factor: float = 1.0,
        total_iters: int = 5,
        last_epoch: int = -1,
    ) -> None:
        if not 0 < start_factor <= 1:
            raise ValueError(f"start_factor must lie in (0, 1], got {start_factor!r}")
        if not 0 <= end_factor <= 1:
            raise ValueError(f"end_factor must lie in [0, 1], got {end_factor!r}")
        self.start_factor = start_factor
        self.end_factor = end_factor
        self.total_iters = total_iters
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        s, e, t = self.start_factor, self.end_factor, self.last_epoch
        if t == 0:
            return [lr * s for lr in self._current_lrs()]
        if self._is_initial or t > self.total_iters:
            return self._current_lrs()
        # factor(t) / factor(t-1), with factor(t) = s + (e - s) t / total
        ratio = 1.0 + (e - s) / (self.total_iters * s + (t - 1) * (e - s))
        return [lr * ratio for lr in self._current_lrs()]

    def _closed_form_lr(self) -> list[float]:
        s, e = self.start_factor, self.end_factor
        frac = min(self.total_iters, self.last_epoch) / self.total_iters
        return [b * (s + (e - s) * frac) for b in self.base_lrs]


def warmup_cosine(
    step: int, max_lr: float, warmup_steps: int, max_steps: int, min_lr: float = 0.0
) -> float:
    """The GPT learning rate at ``step``: linear warmup, cosine decay to ``min_lr``, then flat.

    Warmup starts at ``max_lr / warmup_steps`` (never 0, so step 0 already learns) and reaches
    ``max_lr`` at ``step = warmup_steps - 1``; the cosine runs from ``max_lr`` at ``warmup_steps``
    to ``min_lr`` at ``max_steps``.

    >>> [round(warmup_cosine(s, 1.0, 2, 6, 0.1), 3) for s in range(8)]
    [0.5, 1.0, 1.0, 0.868, 0.55, 0.232, 0.1, 0.1]
    """
    if step < 0:
        raise ValueError(f"step must be >= 0, got {step}")
    if step < warmup_steps:
        return max_lr * (step + 1) / warmup_steps
    if step >= max_steps:
        return min_lr
    progress = (step - warmup_steps) / (max_steps - warmup_steps)
    return min_lr + 0.5 * (1.0 + math.cos(math.pi * progress)) * (max_lr - min_lr)


class WarmupCosineLR(LRScheduler):
    """``warmup_cosine`` as a scheduler: each group's ``initial_lr`` is its peak lr.

    Args:
        optimizer: the optimizer; its lr (per group) is the peak.
        warmup_steps: steps of linear warmup (0 for none).
        max_steps: the step at which the lr reaches ``min_lr`` (it stays there after).
        min_lr: the final lr, one for all groups or one per group; at most each group's peak.
        last_epoch: as for every scheduler.

    >>> import minillm
    >>> from minillm.optim import AdamW
    >>> opt = AdamW([minillm.zeros(1, requires_grad=True)], lr=1.0)
    >>> sched, lrs = WarmupCosineLR(opt, warmup_steps=2, max_steps=4, min_lr=0.1), []
    >>> for _ in range(6):
    ...     lrs.append(round(sched.get_last_lr()[0], 3)); opt.step(); sched.step()
    >>> lrs
    [0.5, 1.0, 1.0, 0.55, 0.1, 0.1]
    """

    def __init__(
        self,
        optimizer: Optimizer,
        warmup_steps: int,
        max_steps: int,
        min_lr: float | Sequence[float] = 0.0,
        last_epoch: int = -1,
    ) -> None:
        if not isinstance(warmup_steps, int) or warmup_steps < 0:
            raise ValueError(f"warmup_steps must be an integer >= 0, got {warmup_steps!r}")
        if not isinstance(max_steps, int) or max_steps < max(warmup_steps, 1):
            raise ValueError(
                f"max_steps must be an integer >= warmup_steps and >= 1, got {max_steps!r}"
            )
        self.warmup_steps = warmup_steps
        self.max_steps = max_steps
        self.min_lrs = _per_group("min_lr", optimizer, min_lr)
        for group, floor in zip(optimizer.param_groups, self.min_lrs):
            peak = group.get("initial_lr", group["lr"])
            if not 0 <= floor <= peak:
                raise ValueError(f"min_lr={floor!r} must lie between 0 and the group's lr {peak}")
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        return [
            warmup_cosine(self.last_epoch, b, self.warmup_steps, self.max_steps, floor)
            for b, floor in zip(self.base_lrs, self.min_lrs)
        ]

    _closed_form_lr = get_lr
