"""The scheduler base class: ``step()``, ``get_last_lr()``, ``initial_lr`` and ``state_dict()``.

Read next: ``schedules.py`` (the one-formula schedules), then ``composite.py``.
"""

from __future__ import annotations

import copy
from typing import Any

from minillm.optim.optimizer import Optimizer


def _per_group(name: str, optimizer: Optimizer, value: Any) -> list[Any]:
    """One value per param group: a list/tuple of the right length, or a scalar repeated."""
    if isinstance(value, (list, tuple)):
        if len(value) != len(optimizer.param_groups):
            raise ValueError(
                f"{name} has {len(value)} values but the optimizer has "
                f"{len(optimizer.param_groups)} param groups"
            )
        return list(value)
    return [value] * len(optimizer.param_groups)


class LRScheduler:
    """Base class: ``step()`` advances ``last_epoch`` and writes ``get_lr()`` into the groups.

    Args:
        optimizer: the optimizer whose learning rates this scheduler sets.
        last_epoch: index of the last step taken; -1 (default) starts a fresh schedule. Any other
            value resumes one and needs ``initial_lr`` in every param group.
    """

    _not_saved: tuple[str, ...] = ("optimizer", "_is_initial")
    _is_initial = False  # True only during the step that construction performs

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1) -> None:
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(optimizer).__name__} is not an Optimizer")
        self.optimizer = optimizer
        for i, group in enumerate(optimizer.param_groups):
            if last_epoch == -1:
                group.setdefault("initial_lr", group["lr"])
            elif "initial_lr" not in group:
                raise KeyError(
                    f"param_groups[{i}] has no 'initial_lr', needed to resume a schedule at "
                    f"last_epoch={last_epoch}; load the optimizer's state dict first"
                )
        self.base_lrs: list[float] = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self._initial_step()

    def _initial_step(self) -> None:
        """The step construction performs: it sets the learning rates of step ``last_epoch + 1``."""
        self._step_count = 0
        self._is_initial = True
        try:
            self.step()
        finally:
            self._is_initial = False

    def get_lr(self) -> list[float]:
        """The learning rate of each group at step ``last_epoch`` (called by ``step``)."""
        raise NotImplementedError

    def get_last_lr(self) -> list[float]:
        """The learning rates this scheduler set most recently, one per param group."""
        return list(self._last_lr)

    def step(self) -> None:
        """Advance one step; call it after ``optimizer.step()``."""
        self._step_count += 1
        self._update_lr()

    def _update_lr(self, epoch: int | None = None) -> None:
        """Advance by one, or jump to ``epoch`` using the closed form where there is one."""
        if epoch is None:
            self.last_epoch += 1
            values = self.get_lr()
        else:
            self.last_epoch = epoch
            closed_form = getattr(self, "_closed_form_lr", None)
            values = closed_form() if closed_form is not None else self.get_lr()
        for group, lr in zip(self.optimizer.param_groups, values):
            group["lr"] = lr
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def _current_lrs(self) -> list[float]:
        return [group["lr"] for group in self.optimizer.param_groups]

    def state_dict(self) -> dict[str, Any]:
        """Every attribute except the optimizer, as plain values (JSON-able)."""
        return {k: copy.deepcopy(v) for k, v in vars(self).items() if k not in self._not_saved}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore a ``state_dict()`` (restore the optimizer's too: schedules chain on its lr)."""
        self.__dict__.update(
            {k: copy.deepcopy(v) for k, v in state_dict.items() if k not in self._not_saved}
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(last_epoch={self.last_epoch}, lr={self.get_last_lr()})"
