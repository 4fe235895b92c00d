"""The ``Optimizer`` base class: parameter groups, per-parameter state, ``step`` and checkpoints.

What it owns:

* **parameter groups** — ``param_groups`` is a list of dicts, each holding ``"params"`` (a list of
  leaf Tensors) and that group's options (``lr``, ``weight_decay``, ...), with the optimizer's
  ``defaults`` filling any option a group leaves out. Groups let one model train with several
  learning rates (say, no weight decay on biases).
* **state** — ``state[p]`` is a dict per parameter (momentum buffers, Adam's moments, a step count),
  created lazily the first time ``p`` has a gradient.
* **the update loop** — ``step()`` visits every parameter whose ``.grad`` is not None and calls the
  subclass's ``_update(p, grad, state, group)``, which changes ``p.data`` *in place* (so arrays that
  share memory with a parameter, such as tied weights, see the update).
* **checkpoints** — ``state_dict()``/``load_state_dict()`` in PyTorch's layout, with parameters
  replaced by their position in the groups (so the dict holds only arrays and plain values)::

      {"state": {0: {"step": 3, "exp_avg": Tensor, ...}, ...},
       "param_groups": [{"lr": 0.001, ..., "params": [0, 1, 2]}, ...]}

A subclass writes ``__init__`` (its defaults), ``_check_options`` (which option values are legal)
and ``_update`` (the math for one parameter). Read next: ``minillm/optim/sgd.py``, the shortest
subclass, then ``adam.py`` and ``lr_scheduler/`` (a package).
"""

from __future__ import annotations

import copy
import numbers
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from minillm.autograd import enable_grad, no_grad
from minillm.tensor import Tensor


def check_nonnegative(name: str, value: Any) -> None:
    """Raise ValueError unless ``value`` is a real number >= 0 (lr, eps, weight_decay, ...)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value >= 0:
        raise ValueError(f"invalid {name}={value!r}: it must be a number >= 0")


def check_beta(name: str, value: Any) -> None:
    """Raise ValueError unless ``0 <= value < 1`` (a decay rate of a running average)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0.0 <= value < 1.0:
        raise ValueError(f"invalid {name}={value!r}: it must lie in [0, 1)")


class Optimizer:
    """Base class of every optimizer: groups, state, ``zero_grad``, ``step`` and checkpoints.

    Args:
        params: an iterable of Tensors, or of dicts ``{"params": [...], **options}`` (param groups).
        defaults: every option a group may set, with the value used when it does not.

    >>> import minillm
    >>> from minillm.optim import SGD
    >>> w = minillm.tensor([1.0, 2.0], requires_grad=True)
    >>> opt = SGD([w], lr=0.5)
    >>> (w * w).sum().backward()          # grad = 2w = [2, 4]
    >>> opt.step()
    >>> w
    tensor([0., 0.], requires_grad=True)
    >>> opt.zero_grad(); w.grad is None
    True
    """

    def __init__(self, params: Iterable[Tensor] | Iterable[dict[str, Any]], defaults: dict) -> None:
        if isinstance(params, (Tensor, dict)):
            raise TypeError(
                f"params must be an iterable of Tensors or of param-group dicts, not a single "
                f"{type(params).__name__}; wrap it in a list"
            )
        self._check_options(defaults)
        self.defaults: dict[str, Any] = dict(defaults)
        self.state: defaultdict[Tensor, dict[str, Any]] = defaultdict(dict)
        # for explain(): how many steps ran, and for each parameter the step and the learning rate
        # that last updated it (a scheduler may change group["lr"] right after the step)
        self._steps = 0
        self._last_update: dict[int, tuple[int, float]] = {}
        self.param_groups: list[dict[str, Any]] = []
        groups = list(params)
        if not groups:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    # ------------------------------------------------------------------ groups
    def _check_options(self, options: dict[str, Any]) -> None:
        """Raise ValueError for an illegal option value; subclasses extend this (call super)."""
        if "lr" in options:
            check_nonnegative("learning rate lr", options["lr"])

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group of parameters with its own options (e.g. a part of the model being unfrozen).

        Options the group does not set take the optimizer's defaults.
        """
        if not isinstance(param_group, dict):
            raise TypeError(f"a param group must be a dict, got {type(param_group).__name__}")
        if "params" not in param_group:
            raise ValueError("a param group needs a 'params' entry")
        params = param_group["params"]
        if isinstance(params, (set, frozenset)):
            raise TypeError("a param group's params must be an ordered sequence, not a set")
        params = [params] if isinstance(params, Tensor) else list(params)
        for p in params:
            if not isinstance(p, Tensor):
                raise TypeError(f"an optimizer can only optimize Tensors, got {type(p).__name__}")
            if not p.is_leaf:
                raise ValueError("can't optimize a non-leaf Tensor (one produced by an op)")
            if p.dtype.kind != "f":
                raise TypeError(f"can't optimize a tensor of non-floating dtype {p.dtype}")
        ids = [id(p) for p in params]
        if len(set(ids)) != len(ids):
            raise ValueError("a param group lists the same parameter more than once")
        taken = {id(p) for g in self.param_groups for p in g["params"]}
        if taken.intersection(ids):
            raise ValueError("some parameters appear in more than one parameter group")
        group = {**self.defaults, **param_group, "params": params}
        self._check_options(group)
        self.param_groups.append(group)

    # ------------------------------------------------------------------ the update
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget every parameter's gradient: ``grad = None`` (default) or fill it with zeros."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    p.grad.data[...] = 0

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a gradient; returns ``closure()``'s loss if given.

        The closure (zero the grads, compute the loss, backward, return the loss) runs with grad
        mode on, as optimizers that evaluate the loss several times per step need.
        """
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        self._steps += 1
        with no_grad():
            for group in self.param_groups:
                for p in group["params"]:
                    if p.grad is None:
                        continue  # frozen or unused this step: no update, no state
                    grad = p.grad.data
                    if grad.shape != p.shape:
                        raise ValueError(
                            f"a parameter of shape {p.shape} has a gradient of shape {grad.shape}"
                        )
                    self._update(p, grad, self.state[p], group)
                    self._last_update[id(p)] = (self._steps, group["lr"])
                    p._bump_version()  # an in-place change: a graph that saved p now refuses
        return loss

    def _update(self, p: Tensor, grad: np.ndarray, state: dict[str, Any], group: dict) -> None:
        """Change ``p.data`` in place from its gradient, its ``state`` and its group's options."""
        raise NotImplementedError

    # ------------------------------------------------------------------ checkpoints
    def explain(self, param: Tensor) -> Any:
        """What the last ``step()`` did to ``param``, term by term (``minillm/optim/explain.py``):
        SGD, Adam and AdamW write it."""
        raise NotImplementedError(f"{type(self).__name__} has no explain() yet")

    def _lr_of_last_step(self, param: Tensor) -> float:
        """The learning rate the last ``step()`` updated ``param`` with; raises if it did not."""
        steps, lr = self._last_update.get(id(param), (0, 0.0))
        if steps == 0:
            raise ValueError("explain: no step() has updated this parameter yet")
        if steps != self._steps:
            raise ValueError("explain: the last step() did not update this parameter (it had no "
                             "gradient then)")  # fmt: skip
        return lr

    def state_dict(self) -> dict[str, Any]:
        """A snapshot of the optimizer in PyTorch's layout, parameters replaced by their index.

        Unlike PyTorch, the arrays are copies, so later steps never change a saved dict.
        """
        index: dict[int, int] = {}
        groups = []
        for group in self.param_groups:
            packed = {k: copy.deepcopy(v) for k, v in group.items() if k != "params"}
            packed["params"] = [index.setdefault(id(p), len(index)) for p in group["params"]]
            groups.append(packed)
        state = {
            index[id(p)]: {k: _snapshot(v) for k, v in s.items()}
            for p, s in self.state.items()
            if id(p) in index
        }
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore a ``state_dict()`` (also one that went through JSON, or PyTorch's own).

        The saved dict must describe the same groups with the same number of parameters; the
        saved options (lr, betas, ...) replace the current ones. State arrays are copied and
        cast to their parameter's dtype. Nothing changes if the dict does not fit.
        """
        if not isinstance(state_dict, dict) or {"state", "param_groups"} - state_dict.keys():
            raise ValueError("an optimizer state dict needs the keys 'state' and 'param_groups'")
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(
                f"loaded state dict has {len(saved_groups)} parameter groups, but this optimizer "
                f"has {len(self.param_groups)}"
            )
        param_of: dict[int, Tensor] = {}
        new_groups = []
        for i, (group, saved) in enumerate(zip(self.param_groups, saved_groups)):
            if len(saved["params"]) != len(group["params"]):
                raise ValueError(
                    f"parameter group {i} of the loaded state dict has {len(saved['params'])} "
                    f"parameters, but this optimizer's group {i} has {len(group['params'])}"
                )
            param_of.update(zip((int(k) for k in saved["params"]), group["params"]))
            options = {k: _option(v, self.defaults.get(k)) for k, v in saved.items()}
            new_group = {**self.defaults, **options, "params": group["params"]}
            self._check_options(new_group)
            new_groups.append(new_group)
        new_state: defaultdict[Tensor, dict[str, Any]] = defaultdict(dict)
        for key, saved_state in state_dict["state"].items():
            if int(key) not in param_of:
                raise ValueError(f"the loaded state names parameter {key}, which no group lists")
            p = param_of[int(key)]
            new_state[p] = {k: _restore(p, k, v) for k, v in saved_state.items()}
        self.param_groups = new_groups
        self.state = new_state

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {k}: {group[k]}" for k in sorted(group) if k != "params"]
        return "\n".join([*lines, ")"])


def _snapshot(value: Any) -> Any:
    """A saved copy of one state value: Tensors stay Tensors (of copied data)."""
    if isinstance(value, Tensor):
        return Tensor(value.data.copy())
    if isinstance(value, np.ndarray):
        return value.copy()
    return copy.deepcopy(value)


def _option(value: Any, default: Any) -> Any:
    """A saved group option; a tuple (betas) that JSON turned into a list becomes a tuple again."""
    if isinstance(default, tuple) and isinstance(value, list):
        return tuple(value)
    return copy.deepcopy(value)


def _restore(p: Tensor, key: str, value: Any) -> Any:
    """One loaded state value: ``step`` a plain number, arrays a fresh writable Tensor like ``p``.

    A loaded array may be a read-only memory map of a checkpoint file, hence the copy.
    """
    if key == "step":
        step = value.item() if isinstance(value, (Tensor, np.ndarray, np.generic)) else value
        return int(step) if float(step).is_integer() else float(step)
    if isinstance(value, (Tensor, np.ndarray)):
        arr = value.data if isinstance(value, Tensor) else value
        if arr.shape != p.shape:
            raise ValueError(
                f"loaded state {key!r} has shape {arr.shape}, but its parameter has shape {p.shape}"
            )
        dtype = p.dtype if arr.dtype.kind == "f" else arr.dtype
        return Tensor(np.array(arr, dtype=dtype, copy=True))
    return copy.deepcopy(value)
