"""Pruning with PyTorch's API and reparametrization: ``minillm.nn.utils.prune``.

Pruning a module's ``weight`` replaces the parameter by two tensors and a product:

    weight_orig   the parameter, still trained (the optimizer sees this one)
    weight_mask   a buffer of 0s and 1s, saved in the state dict
    weight        = weight_orig * weight_mask, a plain attribute recomputed before every forward
                    (a forward pre-hook), so a pruned entry is 0 whatever an optimizer step does

The methods differ only in the mask they compute (``compute_mask(t, default_mask)``):

* ``L1Unstructured``: zero the ``amount`` entries of smallest |w| (PyTorch's ``topk`` of the
  smallest; ties, which trained float weights almost never have, go to the lower flat index
  here: PyTorch does not define its order);
* ``RandomUnstructured``: ``amount`` entries drawn at random (minillm's generator);
* ``LnStructured``: zero whole slices along ``dim`` (rows of a Linear's weight: ``dim=0``) of
  smallest Ln norm; ``RandomStructured``: random slices; ``Identity``: a mask of ones.

``amount`` is a count (int) or a fraction (float in [0, 1], rounded half to even, as Python's and
PyTorch's ``round``). Pruning twice composes: the new method sees only what is still unpruned (an
unstructured ``amount=0.5`` twice leaves a quarter), and the two masks multiply. ``remove`` makes
it permanent (``weight`` a parameter again, holding the zeros); ``is_pruned`` asks whether any
submodule carries a pruning hook; ``global_unstructured`` ranks the entries of several tensors
together (one threshold for a whole model) and gives each its part of the mask.

Read next: ``minillm/optim/``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from minillm.nn.module import Module
from minillm.nn.parameter import Parameter
from minillm.random import generator
from minillm.tensor import Tensor


def _check_amount(amount: Any) -> None:
    if isinstance(amount, bool) or not isinstance(amount, (int, float)):
        raise TypeError(f"amount must be an int or a float, got {type(amount).__name__}")
    if isinstance(amount, int) and amount < 0:
        raise ValueError(f"amount={amount} should be a non-negative integer or a float in [0, 1]")
    if isinstance(amount, float) and not 0.0 <= amount <= 1.0:
        raise ValueError(f"amount={amount} should be a non-negative integer or a float in [0, 1]")


def _count(amount: int | float, size: int) -> int:
    """How many of ``size`` entries (or slices) to prune."""
    if isinstance(amount, int):
        if amount > size:
            raise ValueError(f"amount={amount} should be smaller than the number of parameters "
                             f"to prune={size}")  # fmt: skip
        return amount
    return round(amount * size)


class BasePruningMethod:
    """A mask rule; an instance is also the forward pre-hook that recomputes ``name``."""

    PRUNING_TYPE = "unstructured"
    _tensor_name: str

    def compute_mask(self, t: np.ndarray, default_mask: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def __call__(self, module: Module, inputs: Any) -> None:
        setattr(module, self._tensor_name, self.apply_mask(module))

    def apply_mask(self, module: Module) -> Tensor:
        """``orig * mask`` (a graph product: the gradient reaches ``*_orig`` through the mask)."""
        name = self._tensor_name
        return getattr(module, name + "_orig") * getattr(module, name + "_mask")

    @classmethod
    def apply(
        cls, module: Module, name: str, *args: Any, importance_scores: Any = None, **kwargs: Any
    ) -> BasePruningMethod:
        """Prune ``module.<name>``: add the method (composed with an earlier one), then the mask."""
        found = [(k, h) for k, h in module._forward_pre_hooks.items()
                 if isinstance(h, BasePruningMethod) and h._tensor_name == name]  # fmt: skip
        method = cls(*args, **kwargs)
        method._tensor_name = name
        hook: BasePruningMethod = method
        if found:
            key, old = found[0]
            del module._forward_pre_hooks[key]
            container = old if isinstance(old, PruningContainer) else PruningContainer(old)
            container.add_pruning_method(method)
            hook = container
            orig = getattr(module, name + "_orig")
            default_mask = getattr(module, name + "_mask").data
        else:
            orig = getattr(module, name, None)
            if not isinstance(orig, Parameter):
                raise AttributeError(f"{type(module).__name__} has no parameter {name!r} to prune")
            module.register_parameter(name + "_orig", orig)
            del module._parameters[name]
            default_mask = np.ones_like(orig.data)
        scores = orig.data if importance_scores is None else _array(importance_scores)
        if scores.shape != orig.shape:
            raise ValueError(f"importance_scores of shape {scores.shape} must match the shape "
                             f"{orig.shape} of {name}")  # fmt: skip
        mask = hook.compute_mask(scores, default_mask).astype(orig.dtype)
        module.register_buffer(name + "_mask", Tensor(mask))
        object.__setattr__(module, name, hook.apply_mask(module))
        module.register_forward_pre_hook(hook)
        return hook

    def remove(self, module: Module) -> None:
        """Make the pruning permanent: ``name`` becomes a parameter holding ``orig * mask``."""
        name = self._tensor_name
        weight = self.apply_mask(module).data
        if name in module.__dict__:
            object.__delattr__(module, name)
        orig = module._parameters.pop(name + "_orig")
        del module._buffers[name + "_mask"]
        orig.data = np.ascontiguousarray(weight)
        setattr(module, name, orig)


class PruningContainer(BasePruningMethod):
    """Successive pruning methods on one tensor: each computes its mask on what is left."""

    def __init__(self, *methods: BasePruningMethod) -> None:
        self._pruning_methods: tuple[BasePruningMethod, ...] = ()
        for m in methods:
            self.add_pruning_method(m)

    def add_pruning_method(self, method: BasePruningMethod) -> None:
        if not hasattr(self, "_tensor_name"):
            self._tensor_name = method._tensor_name
        elif method._tensor_name != self._tensor_name:
            raise ValueError(f"can only add pruning methods of tensor {self._tensor_name!r}, "
                             f"got {method._tensor_name!r}")  # fmt: skip
        self._pruning_methods += (method,)

    def compute_mask(self, t: np.ndarray, default_mask: np.ndarray) -> np.ndarray:
        method = self._pruning_methods[-1]
        new_mask = default_mask.astype(t.dtype, copy=True)
        if method.PRUNING_TYPE == "global":  # a whole given mask (CustomFromMask)
            return method.compute_mask(t, new_mask)
        if method.PRUNING_TYPE == "unstructured":
            keep = default_mask == 1
            new_mask[keep] = method.compute_mask(t[keep], default_mask[keep])
            return new_mask
        dim = method.dim % t.ndim  # type: ignore[attr-defined]
        others = tuple(d for d in range(t.ndim) if d != dim)
        alive = default_mask.sum(axis=others) != 0
        index = [slice(None)] * t.ndim
        index[dim] = alive
        new_mask[tuple(index)] = method.compute_mask(t[tuple(index)], default_mask[tuple(index)])
        return new_mask


class Identity(BasePruningMethod):
    """A mask of ones: the reparametrization without pruning anything."""

    def compute_mask(self, t: np.ndarray, default_mask: np.ndarray) -> np.ndarray:
        return default_mask.copy()


class _Unstructured(BasePruningMethod):
    def __init__(self, amount: int | float) -> None:
        _check_amount(amount)
        self.amount = amount

    def _order(self, t: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def compute_mask(self, t: np.ndarray, default_mask: np.ndarray) -> np.ndarray:
        k = _count(self.amount, t.size)
        mask = default_mask.copy()
        if k:
            mask.reshape(-1)[self._order(t)[:k]] = 0
        return mask


class L1Unstructured(_Unstructured):
    """Prune the ``amount`` entries of smallest absolute value."""

    def _order(self, t: np.ndarray) -> np.ndarray:
        return np.argsort(np.abs(t).reshape(-1), kind="stable")


class RandomUnstructured(_Unstructured):
    """Prune ``amount`` entries chosen uniformly at random."""

    def _order(self, t: np.ndarray) -> np.ndarray:
        return generator().permutation(t.size)


class _Structured(BasePruningMethod):
    PRUNING_TYPE = "structured"

    def __init__(self, amount: int | float, dim: int = -1) -> None:
        _check_amount(amount)
        self.amount, self.dim = amount, dim

    def _order(self, t: np.ndarray, dim: int) -> np.ndarray:
        raise NotImplementedError

    def compute_mask(self, t: np.ndarray, default_mask: np.ndarray) -> np.ndarray:
        dim = self.dim % t.ndim
        k = _count(self.amount, t.shape[dim])
        if k == 0:
            return default_mask.copy()
        keep = np.ones(t.shape[dim], bool)
        keep[self._order(t, dim)[:k]] = False
        shape = [1] * t.ndim
        shape[dim] = -1
        return default_mask * keep.reshape(shape).astype(default_mask.dtype)


class LnStructured(_Structured):
    """Prune the ``amount`` slices along ``dim`` of smallest ``n``-norm (n: a number, inf,
    -inf or "fro")."""

    def __init__(self, amount: int | float, n: Any, dim: int = -1) -> None:
        super().__init__(amount, dim)
        self.n = n

    def _order(self, t: np.ndarray, dim: int) -> np.ndarray:
        rows = np.moveaxis(t, dim, 0).reshape(t.shape[dim], -1).astype(np.float64)
        order = 2 if self.n == "fro" else self.n
        norms = np.linalg.norm(rows, ord=order, axis=1)
        return np.argsort(norms, kind="stable")


class RandomStructured(_Structured):
    """Prune ``amount`` slices along ``dim`` chosen at random."""

    def _order(self, t: np.ndarray, dim: int) -> np.ndarray:
        return generator().permutation(t.shape[dim])


class CustomFromMask(BasePruningMethod):
    """A given mask (what ``global_unstructured`` hands each tensor), over the whole tensor."""

    PRUNING_TYPE = "global"

    def __init__(self, mask: Any) -> None:
        self.mask = _array(mask)

    def compute_mask(self, t: np.ndarray, default_mask: np.ndarray) -> np.ndarray:
        return default_mask * self.mask.astype(default_mask.dtype)


def _array(x: Any) -> np.ndarray:
    return x.data if isinstance(x, Tensor) else np.asarray(x)


# ---- the functions, PyTorch's names --------------------------------------------------------
def identity(module: Module, name: str) -> Module:
    """Reparametrize ``name`` with a mask of ones (e.g. before loading a pruned state dict)."""
    Identity.apply(module, name)
    return module


def random_unstructured(module: Module, name: str, amount: int | float) -> Module:
    """Prune ``amount`` random entries of ``module.<name>``."""
    RandomUnstructured.apply(module, name, amount)
    return module


def l1_unstructured(
    module: Module, name: str, amount: int | float, importance_scores: Any = None
) -> Module:
    """Prune the ``amount`` entries of smallest |w| (or of smallest ``importance_scores``).

    >>> import minillm
    >>> from minillm.nn import Linear
    >>> layer = Linear(4, 2)
    >>> layer.weight.data[...] = [[1, -2, 3, -4], [0.5, 6, -7, 8]]
    >>> _ = l1_unstructured(layer, "weight", amount=0.5)
    >>> layer.weight_mask.data.tolist()
    [[0.0, 0.0, 0.0, 1.0], [0.0, 1.0, 1.0, 1.0]]
    >>> sorted(name for name, _ in layer.named_parameters())
    ['bias', 'weight_orig']
    """
    L1Unstructured.apply(module, name, amount, importance_scores=importance_scores)
    return module


def random_structured(module: Module, name: str, amount: int | float, dim: int) -> Module:
    """Prune ``amount`` random slices along ``dim``."""
    RandomStructured.apply(module, name, amount, dim)
    return module


def ln_structured(
    module: Module, name: str, amount: int | float, n: Any, dim: int, importance_scores: Any = None
) -> Module:
    """Prune the ``amount`` slices along ``dim`` of smallest ``n``-norm."""
    LnStructured.apply(module, name, amount, n, dim, importance_scores=importance_scores)
    return module


def global_unstructured(
    parameters: Iterable[tuple[Module, str]],
    pruning_method: type[BasePruningMethod],
    importance_scores: dict[tuple[Module, str], Any] | None = None,
    **kwargs: Any,
) -> None:
    """Prune ``(module, name)`` pairs together: one ranking of all their entries (by the current,
    masked values), then each tensor gets its slice of the mask.

    >>> import minillm
    >>> from minillm.nn import Linear
    >>> a, b = Linear(2, 1, bias=False), Linear(2, 1, bias=False)
    >>> a.weight.data[...] = [[1.0, 5.0]]; b.weight.data[...] = [[2.0, 3.0]]
    >>> global_unstructured([(a, "weight"), (b, "weight")], L1Unstructured, amount=2)
    >>> a.weight_mask.data.tolist(), b.weight_mask.data.tolist()
    ([[0.0, 1.0]], [[0.0, 1.0]])
    """
    pairs = list(parameters)
    if not pairs:
        raise ValueError("global_unstructured: no (module, name) pairs given")
    scores = importance_scores or {}
    values = [_array(scores.get((m, n), getattr(m, n))) for m, n in pairs]
    flat = np.concatenate([v.reshape(-1).astype(np.float64) for v in values])
    masks = [getattr(m, n + "_mask", None) for m, n in pairs]
    default = np.concatenate([
        (np.ones(v.size) if k is None else k.data.reshape(-1).astype(np.float64))
        for v, k in zip(values, masks)
    ])  # fmt: skip
    method = pruning_method(**kwargs)
    if method.PRUNING_TYPE != "unstructured":
        raise TypeError(f"global_unstructured needs an unstructured method, got "
                        f"{pruning_method.__name__}")  # fmt: skip
    method._tensor_name = "temp"
    final = PruningContainer(method).compute_mask(flat, default)
    start = 0
    for (module, name), v in zip(pairs, values):
        CustomFromMask.apply(module, name, final[start : start + v.size].reshape(v.shape))
        start += v.size


def remove(module: Module, name: str) -> Module:
    """Make the pruning of ``name`` permanent (drop ``*_orig``, ``*_mask`` and the hook)."""
    for key, hook in list(module._forward_pre_hooks.items()):
        if isinstance(hook, BasePruningMethod) and hook._tensor_name == name:
            hook.remove(module)
            del module._forward_pre_hooks[key]
            return module
    raise ValueError(f"Parameter {name!r} of module {type(module).__name__} has to be pruned "
                     "before pruning can be removed")  # fmt: skip


def is_pruned(module: Module) -> bool:
    """True when ``module`` or any submodule carries a pruning hook."""
    return any(
        isinstance(hook, BasePruningMethod)
        for m in module.modules()
        for hook in m._forward_pre_hooks.values()
    )
