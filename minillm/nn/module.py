"""Module: the base class of every layer and model, and the bookkeeping that makes one a tree.

A Module owns three ordered registries, filled by plain attribute assignment in ``__init__``:

* ``_parameters`` — ``self.weight = Parameter(...)``: learnable tensors;
* ``_buffers`` — ``self.register_buffer("mask", t)``: state that is saved but not trained (a causal
  mask, running statistics); ``persistent=False`` keeps a buffer out of ``state_dict``;
* ``_modules`` — ``self.fc = Linear(...)``: child modules, which makes the model a tree.

Everything else walks that tree: ``named_parameters()`` yields dotted names
(``h.0.attn.c_attn.weight``, the GPT-2 checkpoint names), ``state_dict()`` maps those names to
tensors, ``load_state_dict()`` copies a checkpoint back *into the existing arrays* (so an optimizer
holding the parameters keeps working), ``train()``/``eval()`` flip ``training`` on every module,
``requires_grad_(False)`` freezes, ``apply(fn)`` visits children first. Calling a module runs its
forward pre-hooks, ``forward``, then its forward hooks.

Read next: ``minillm/nn/containers.py`` (Sequential, ModuleList, ModuleDict), then ``linear.py``.
"""

from __future__ import annotations

import itertools
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from typing import Any, NamedTuple

import numpy as np

from minillm.nn.parameter import Parameter
from minillm.tensor import Tensor

_hook_ids = itertools.count()


class IncompatibleKeys(NamedTuple):
    """What ``load_state_dict(strict=False)`` could not match, by name."""

    missing_keys: list[str]
    unexpected_keys: list[str]


class RemovableHandle:
    """Returned by ``register_forward_hook``: ``handle.remove()`` unregisters the hook.

    Also a context manager, so ``with module.register_forward_hook(fn): ...`` removes it on exit.
    """

    def __init__(self, hooks: dict[int, Callable[..., Any]]) -> None:
        self._hooks = hooks
        self.id = next(_hook_ids)

    def remove(self) -> None:
        """Unregister the hook (a second call does nothing)."""
        self._hooks.pop(self.id, None)

    def __enter__(self) -> RemovableHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()


def _addindent(text: str, spaces: int) -> str:
    """Indent every line of ``text`` but the first (a child's repr nested under its name)."""
    lines = text.split("\n")
    return "\n".join([lines[0]] + [" " * spaces + line for line in lines[1:]])


class Module:
    """Base class of layers and models: assign parts in ``__init__``, then write ``forward``.

    >>> import minillm
    >>> from minillm.nn import Linear, Module
    >>> class TwoLayer(Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.fc1 = Linear(4, 8)
    ...         self.fc2 = Linear(8, 2)
    ...     def forward(self, x):
    ...         return self.fc2(self.fc1(x).relu())
    >>> net = TwoLayer()
    >>> [name for name, _ in net.named_parameters()]
    ['fc1.weight', 'fc1.bias', 'fc2.weight', 'fc2.bias']
    >>> net(minillm.randn(3, 4)).shape
    (3, 2)
    >>> net.num_parameters()
    58
    """

    training: bool
    _parameters: dict[str, Parameter | None]
    _buffers: dict[str, Tensor | None]
    _non_persistent_buffers: set[str]
    _modules: dict[str, Module | None]
    _forward_hooks: dict[int, Callable[..., Any]]
    _forward_pre_hooks: dict[int, Callable[..., Any]]

    def __init__(self) -> None:
        # object.__setattr__: our own __setattr__ consults these dicts, so they must exist first.
        for name, value in (
            ("training", True),
            ("_parameters", {}),
            ("_buffers", {}),
            ("_non_persistent_buffers", set()),
            ("_modules", {}),
            ("_forward_hooks", {}),
            ("_forward_pre_hooks", {}),
        ):
            object.__setattr__(self, name, value)

    # ------------------------------------------------------------------ forward and hooks
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """The computation; every subclass defines it. Call the module, not ``forward``."""
        raise NotImplementedError(f"{type(self).__name__} does not define forward()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if not self._forward_pre_hooks and not self._forward_hooks:
            return self.forward(*args, **kwargs)
        for hook in list(self._forward_pre_hooks.values()):
            result = hook(self, args)
            if result is not None:  # a pre-hook may replace the positional inputs
                args = result if isinstance(result, tuple) else (result,)
        output = self.forward(*args, **kwargs)
        for hook in list(self._forward_hooks.values()):
            result = hook(self, args, output)
            if result is not None:  # a hook may replace the output
                output = result
        return output

    def register_forward_hook(self, hook: Callable[..., Any]) -> RemovableHandle:
        """Call ``hook(module, args, output)`` after each forward; a non-None result replaces it.

        >>> import minillm
        >>> from minillm.nn import Linear
        >>> seen = []
        >>> layer = Linear(2, 3)
        >>> handle = layer.register_forward_hook(lambda m, args, out: seen.append(out.shape))
        >>> _ = layer(minillm.ones(5, 2)); handle.remove(); _ = layer(minillm.ones(1, 2))
        >>> seen
        [(5, 3)]
        """
        handle = RemovableHandle(self._forward_hooks)
        self._forward_hooks[handle.id] = hook
        return handle

    def register_forward_pre_hook(self, hook: Callable[..., Any]) -> RemovableHandle:
        """Call ``hook(module, args)`` before every forward; a non-None return replaces ``args``."""
        handle = RemovableHandle(self._forward_pre_hooks)
        self._forward_pre_hooks[handle.id] = hook
        return handle

    # ------------------------------------------------------------------ registration
    def __setattr__(self, name: str, value: Any) -> None:
        if "_parameters" not in self.__dict__:
            if isinstance(value, (Parameter, Module)):
                raise AttributeError(
                    f"cannot assign {type(value).__name__} {name!r} before Module.__init__() is "
                    f"called: call super().__init__() first in {type(self).__name__}.__init__"
                )
            object.__setattr__(self, name, value)
            return
        params, buffers, modules = self._parameters, self._buffers, self._modules
        if isinstance(value, Parameter):
            if name not in params:  # replacing in place keeps the registration order
                self._forget(name)
            params[name] = value
        elif name in params:
            if value is not None:
                raise TypeError(
                    f"cannot assign {type(value).__name__} as parameter {name!r} of "
                    f"{type(self).__name__} (a Parameter or None is expected)"
                )
            params[name] = None
        elif isinstance(value, Module):
            if name not in modules:
                self._forget(name)
            modules[name] = value
        elif name in modules:
            if value is not None:
                raise TypeError(
                    f"cannot assign {type(value).__name__} as child module {name!r} of "
                    f"{type(self).__name__} (a Module or None is expected)"
                )
            modules[name] = None
        elif name in buffers:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(
                    f"cannot assign {type(value).__name__} as buffer {name!r} of "
                    f"{type(self).__name__} (a Tensor or None is expected)"
                )
            buffers[name] = value
        else:
            object.__setattr__(self, name, value)

    def _forget(self, name: str) -> None:
        """Drop ``name`` from every registry and the plain attributes, before re-registering."""
        self.__dict__.pop(name, None)
        self._parameters.pop(name, None)
        self._buffers.pop(name, None)
        self._modules.pop(name, None)
        self._non_persistent_buffers.discard(name)

    def __getattr__(self, name: str) -> Any:
        # Only called when normal lookup fails, i.e. for registered parameters, buffers, children.
        d = self.__dict__
        for registry in ("_parameters", "_buffers", "_modules"):
            if registry in d and name in d[registry]:
                return d[registry][name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __delattr__(self, name: str) -> None:
        for registry in (self._parameters, self._buffers, self._modules):
            if name in registry:
                del registry[name]
                self._non_persistent_buffers.discard(name)
                return
        object.__delattr__(self, name)

    def __dir__(self) -> list[str]:
        extra = [*self._parameters, *self._buffers, *self._modules]
        return sorted(set(super().__dir__()) | set(extra))

    @staticmethod
    def _check_name(name: Any, kind: str) -> None:
        if not isinstance(name, str):
            raise TypeError(f"{kind} name must be a string, got {type(name).__name__}")
        if not name or "." in name:
            raise KeyError(f"{kind} name must be non-empty and contain no '.', got {name!r}")

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Register ``param`` (or a None placeholder, e.g. ``bias=False``) under ``name``."""
        self._check_name(name, "parameter")
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(
                f"register_parameter({name!r}): expected a Parameter or None, got "
                f"{type(param).__name__}; wrap the tensor as Parameter(t)"
            )
        if hasattr(self, name) and name not in self._parameters:
            raise KeyError(f"attribute {name!r} already exists on {type(self).__name__}")
        self._parameters[name] = param

    def register_buffer(self, name: str, tensor: Tensor | None, persistent: bool = True) -> None:
        """Register a non-trained tensor: moved by ``to()``, saved by ``state_dict`` if persistent.

        >>> import minillm
        >>> from minillm.nn import Module
        >>> m = Module()
        >>> m.register_buffer("steps", minillm.zeros(1))
        >>> m.register_buffer("cache", minillm.zeros(4), persistent=False)
        >>> list(m.state_dict())
        ['steps']
        """
        self._check_name(name, "buffer")
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(
                f"register_buffer({name!r}): expected a Tensor or None, got {type(tensor).__name__}"
            )
        if hasattr(self, name) and name not in self._buffers:
            raise KeyError(f"attribute {name!r} already exists on {type(self).__name__}")
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent_buffers.discard(name)
        else:
            self._non_persistent_buffers.add(name)

    def add_module(self, name: str, module: Module | None) -> None:
        """Register ``module`` as a child called ``name`` (what attribute assignment does)."""
        self._check_name(name, "module")
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"add_module({name!r}): {type(module).__name__} is not a Module")
        if hasattr(self, name) and name not in self._modules:
            raise KeyError(f"attribute {name!r} already exists on {type(self).__name__}")
        self._modules[name] = module

    register_module = add_module

    # ------------------------------------------------------------------ walking the tree
    def named_modules(
        self, memo: set[int] | None = None, prefix: str = "", remove_duplicate: bool = True
    ) -> Iterator[tuple[str, Module]]:
        """Yield ``(dotted_name, module)`` for this module (name ``prefix``) and all below it."""
        if memo is None:
            memo = set()
        if remove_duplicate:
            if id(self) in memo:
                return
            memo.add(id(self))
        yield prefix, self
        for name, child in self._modules.items():
            if child is not None:
                sub = f"{prefix}.{name}" if prefix else name
                yield from child.named_modules(memo, sub, remove_duplicate)

    def modules(self) -> Iterator[Module]:
        """Every module in the tree, this one first (each shared module once)."""
        for _, m in self.named_modules():
            yield m

    def named_children(self) -> Iterator[tuple[str, Module]]:
        """Yield ``(name, child)`` for the direct children only."""
        seen: set[int] = set()
        for name, child in self._modules.items():
            if child is not None and id(child) not in seen:
                seen.add(id(child))
                yield name, child

    def children(self) -> Iterator[Module]:
        for _, child in self.named_children():
            yield child

    def _named_members(
        self, registry: str, prefix: str, recurse: bool, remove_duplicate: bool
    ) -> Iterator[tuple[str, Tensor]]:
        walk = (
            self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate)
            if recurse
            else [(prefix, self)]
        )
        seen: set[int] = set()
        for mod_prefix, module in walk:
            for name, value in getattr(module, registry).items():
                if value is None or (remove_duplicate and id(value) in seen):
                    continue
                seen.add(id(value))
                yield (f"{mod_prefix}.{name}" if mod_prefix else name), value

    def named_parameters(
        self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True
    ) -> Iterator[tuple[str, Parameter]]:
        """Yield ``(dotted_name, parameter)``; a parameter shared by two modules appears once."""
        yield from self._named_members("_parameters", prefix, recurse, remove_duplicate)  # type: ignore[misc]

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        """Every parameter (what an optimizer is given), in registration order."""
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(
        self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True
    ) -> Iterator[tuple[str, Tensor]]:
        """Yield ``(dotted_name, buffer)`` for persistent and non-persistent buffers."""
        yield from self._named_members("_buffers", prefix, recurse, remove_duplicate)

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def get_submodule(self, target: str) -> Module:
        """The module at dotted path ``target`` (``""`` is this module)."""
        module = self
        for part in target.split(".") if target else []:
            child = module._modules.get(part)
            if child is None:
                raise AttributeError(
                    f"{type(module).__name__} has no submodule {part!r} (looking up {target!r})"
                )
            module = child
        return module

    def num_parameters(self, trainable_only: bool = False) -> int:
        """Count parameter elements (each shared parameter once); only trainable ones if asked."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad or not trainable_only)

    # ------------------------------------------------------------------ modes and bulk changes
    def train(self, mode: bool = True) -> Module:
        """Set ``training`` on this module and every descendant (Dropout reads it); returns self."""
        if not isinstance(mode, bool):
            raise TypeError(f"train(mode): mode must be a bool, got {type(mode).__name__}")
        for m in self.modules():
            m.training = mode
        return self

    def eval(self) -> Module:
        """``train(False)``: dropout off. (It does not turn off gradients; use ``no_grad`` too.)"""
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        """Set ``requires_grad`` on every parameter; ``requires_grad_(False)`` freezes ."""
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear every parameter's gradient: drop it (default), or fill it with zeros."""
        for p in self.parameters():
            if set_to_none:
                p.grad = None
            elif p.grad is not None:
                p.grad.data[...] = 0

    def apply(self, fn: Callable[[Module], Any]) -> Module:
        """Call ``fn`` on every child (recursively, children first), then on self; returns self.

        >>> from minillm.nn import Linear, Sequential, init
        >>> net = Sequential(Linear(2, 2), Linear(2, 1))
        >>> def zero_bias(m):
        ...     if isinstance(m, Linear):
        ...         init.zeros_(m.bias)
        >>> float(net.apply(zero_bias)[1].bias.sum())
        0.0
        """
        for child in self.children():
            child.apply(fn)
        fn(self)
        return self

    def to(self, dtype: Any = None) -> Module:
        """Convert floating parameters and buffers (and their gradients) to ``dtype`` in place.

        A device string such as ``"cpu"`` is accepted and ignored: minillm runs on the CPU.
        """
        if dtype is None or (isinstance(dtype, str) and dtype == "cpu"):
            return self
        dtype = np.dtype(dtype)
        if dtype.kind != "f":
            raise TypeError(f"to(): only floating dtypes are supported, got {dtype}")
        # Rebinding .data keeps each Parameter object, so an optimizer's references stay valid.
        for t in itertools.chain(self.parameters(), self.buffers()):
            if t.data.dtype.kind == "f":
                t.data = t.data.astype(dtype)
                if t.grad is not None:
                    t.grad.data = t.grad.data.astype(dtype)
        return self

    def double(self) -> Module:
        return self.to(np.float64)

    def float(self) -> Module:
        return self.to(np.float32)

    # ------------------------------------------------------------------ checkpoints
    def state_dict(
        self,
        destination: dict[str, Tensor] | None = None,
        prefix: str = "",
        keep_vars: bool = False,
    ) -> OrderedDict[str, Tensor]:
        """An ordered ``{dotted_name: tensor}`` of parameters and persistent buffers.

        The tensors share memory with the module but are detached (``keep_vars=True`` returns the
        Parameters themselves).

        >>> from minillm.nn import Linear, Sequential
        >>> list(Sequential(Linear(2, 3), Linear(3, 1)).state_dict())
        ['0.weight', '0.bias', '1.weight', '1.bias']
        """
        out: OrderedDict[str, Tensor] = OrderedDict() if destination is None else destination  # type: ignore[assignment]
        for name, p in self._parameters.items():
            if p is not None:
                out[prefix + name] = p if keep_vars else p.detach()
        for name, b in self._buffers.items():
            if b is not None and name not in self._non_persistent_buffers:
                out[prefix + name] = b if keep_vars else b.detach()
        for name, child in self._modules.items():
            if child is not None:
                child.state_dict(out, prefix + name + ".", keep_vars)
        return out

    def load_state_dict(
        self, state_dict: Mapping[str, Any], strict: bool = True
    ) -> IncompatibleKeys:
        """Copy ``state_dict``'s arrays into this module's parameters and buffers, in place.

        Every problem is collected and reported at once, by name, before anything is copied: shape
        mismatches always raise; missing and unexpected keys raise when ``strict`` (otherwise they
        are returned). Values may be Tensors or arrays; they are cast to each parameter's dtype.

        >>> from minillm.nn import Linear
        >>> a, b = Linear(3, 2), Linear(3, 2)
        >>> b.load_state_dict(a.state_dict())
        IncompatibleKeys(missing_keys=[], unexpected_keys=[])
        >>> bool((a.weight == b.weight).data.all())
        True
        """
        if not isinstance(state_dict, Mapping):
            raise TypeError(
                f"load_state_dict expects a mapping of names to arrays, got "
                f"{type(state_dict).__name__}"
            )
        own = self.state_dict(keep_vars=True)
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        arrays: dict[str, np.ndarray] = {}
        mismatched = []
        for key, target in own.items():
            if key not in state_dict:
                continue
            value = state_dict[key]
            array = value.data if isinstance(value, Tensor) else np.asarray(value)
            if array.shape != target.shape:
                mismatched.append(
                    f"size mismatch for {key}: copying a param with shape {array.shape} from "
                    f"checkpoint, the shape in current model is {target.shape}."
                )
            arrays[key] = array
        errors = []
        if strict and missing:
            errors.append("Missing key(s) in state_dict: " + ", ".join(map(repr, missing)) + ".")
        if strict and unexpected:
            errors.append(
                "Unexpected key(s) in state_dict: " + ", ".join(map(repr, unexpected)) + "."
            )
        errors += mismatched
        if errors:
            raise RuntimeError(
                f"Error(s) in loading state_dict for {type(self).__name__}:\n\t"
                + "\n\t".join(errors)
            )
        for key, array in arrays.items():
            own[key].data[...] = array  # in place: optimizers keep pointing at the same arrays
            own[key]._bump_version()
        return IncompatibleKeys(missing, unexpected)

    # ------------------------------------------------------------------ printing
    def extra_repr(self) -> str:
        """The text between the parentheses of this module's one-line repr (override it)."""
        return ""

    def __repr__(self) -> str:
        extra = self.extra_repr()
        lines = extra.split("\n") if extra else []
        children = [
            f"({name}): {_addindent(repr(child), 2)}" for name, child in self._modules.items()
        ]
        body = lines + children
        if not body:
            return f"{type(self).__name__}()"
        if len(lines) == 1 and not children:
            return f"{type(self).__name__}({extra})"
        return f"{type(self).__name__}(\n  " + "\n  ".join(body) + "\n)"
