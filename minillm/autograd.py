"""Reverse-mode automatic differentiation: the engine under every Tensor.

What this module owns:

* **grad mode** — ``no_grad()``, ``enable_grad()``, ``set_grad_enabled(flag)``: whether new ops are
  recorded;
* **Function / Context** — the contract every primitive op follows. ``forward(ctx, *arrays,
  **params)`` computes an ``np.ndarray`` from ``np.ndarray`` inputs; ``backward(ctx, grad_out)``
  returns one gradient per array input (``None`` where ``ctx.needs_input_grad[i]`` is false). Both
  run on arrays, never on Tensors: that is what keeps them fast;
* **higher-order gradients** — ``backward(create_graph=True)`` and ``grad(..., create_graph=True)``
  run a second, slower road: each op's ``backward_graph(ctx, g, out)``, the same derivative written
  with Tensor ops, so the backward pass is itself recorded and can be differentiated again (a
  Hessian-vector product is ``grad`` of ``grad``);
* **the backward pass** — ``run_backward`` sorts the recorded graph topologically *without
  recursion* (a chain of 100,000 ops works), applies the chain rule node by node, sums gradients
  back to broadcast input shapes (``unbroadcast``: ops never write broadcasting logic) and frees
  each node's saved arrays;
* **anomaly mode** — ``detect_anomaly()``: the first NaN/Inf produced by a forward or backward names
  its op;
* **version counters** — every in-place change of a tensor (``x += 1``, ``x.mul_(2)``, ``x[0] = 5``,
  an optimizer step) bumps a counter shared by the tensor and its views. A recorded op remembers the
  version of each array it saved; if one changed before backward, the gradient would be silently
  wrong, so ``backward()`` raises instead, naming the op (PyTorch's rule).

The math: for ``y = f(x)`` and a scalar loss ``L``, ``dL/dx = (dy/dx)^T dL/dy``. A Function's
``backward`` is exactly that vector-Jacobian product, computed without ever forming the Jacobian.

Read next: ``minillm/ops/elementwise.py`` for the simplest Functions, then ``minillm/tensor.py``.
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from minillm.tensor import Tensor


# --------------------------------------------------------------------------------------------------
# Grad mode and anomaly mode
# --------------------------------------------------------------------------------------------------
class _Modes:
    """Process-wide switches. A plain class attribute is the cheapest flag to read on every op."""

    grad_enabled: bool = True
    anomaly: bool = False


def is_grad_enabled() -> bool:
    """Return True when new operations are being recorded for backward."""
    return _Modes.grad_enabled


class _Switch(contextlib.ContextDecorator):
    """Set a ``_Modes`` flag for a block and restore it afterwards; also works as a decorator.

    The previous values live on a stack, so one instance can be entered again before it exits (a
    decorated function that recurses, or a nested ``with`` of the same object).
    """

    flag = "grad_enabled"
    value = False

    def __enter__(self) -> None:
        self.__dict__.setdefault("_saved", []).append(getattr(_Modes, self.flag))
        setattr(_Modes, self.flag, self.value)

    def __exit__(self, *exc: object) -> None:
        setattr(_Modes, self.flag, self._saved.pop())


class no_grad(_Switch):  # noqa: N801
    """Record nothing inside: outputs do not require grad. Works as ``with`` and as a decorator.

    >>> import minillm
    >>> x = minillm.ones(3, requires_grad=True)
    >>> with minillm.no_grad():
    ...     y = (x * x).sum()
    >>> y.requires_grad
    False
    """


class enable_grad(_Switch):  # noqa: N801
    """Record operations again inside a ``no_grad`` region."""

    value = True


class set_grad_enabled(_Switch):  # noqa: N801 - PyTorch's name
    """Turn graph recording on or off: as a call, a ``with`` block, or a decorator.

    Called on its own it takes effect at once (as ``torch.set_grad_enabled``); as a decorator it
    changes nothing until the function runs.

    >>> import minillm
    >>> x = minillm.ones(2, requires_grad=True)
    >>> with minillm.set_grad_enabled(False):
    ...     y = x * 2
    >>> y.requires_grad
    False
    """

    def __init__(self, mode: bool) -> None:
        self.value = bool(mode)
        self._undo: bool | None = _Modes.grad_enabled  # what the switch below replaced
        _Modes.grad_enabled = self.value

    def __enter__(self) -> None:
        if self._undo is not None:  # ``with set_grad_enabled(m):``, already switched by __init__
            self.__dict__.setdefault("_saved", []).append(self._undo)
            self._undo = None
        else:
            super().__enter__()

    def __call__(self, func: Any) -> Any:
        if self._undo is not None:  # decorating is not a call: undo the switch
            _Modes.grad_enabled, self._undo = self._undo, None
        return super().__call__(func)


class AnomalyError(FloatingPointError):
    """A forward output or backward gradient held NaN/Inf while ``detect_anomaly`` was on."""


class detect_anomaly(_Switch):  # noqa: N801
    """Check forward outputs and backward gradients for NaN/Inf; raise at the first, naming its op.

    Slower (one ``isfinite`` scan per op), so use it to hunt a NaN, not to train.

    >>> import minillm
    >>> x = minillm.tensor([-1.0], requires_grad=True)
    >>> with minillm.detect_anomaly():  # doctest: +ELLIPSIS
    ...     x.log()
    Traceback (most recent call last):
    ...
    minillm.autograd.AnomalyError: Log forward produced NaN/Inf in its output of shape (1,) ...
    """

    flag = "anomaly"
    value = True


def _check_finite(
    array: np.ndarray, fn: type, where: str, input_shapes: list[tuple[int, ...]]
) -> None:
    if array.dtype.kind in "fc" and not np.isfinite(array).all():
        shapes = ", ".join(str(s) for s in input_shapes)
        raise AnomalyError(
            f"{fn.__name__} {where} produced NaN/Inf in its output of shape {array.shape} "
            f"(inputs: {shapes})"
        )


# --------------------------------------------------------------------------------------------------
# Version counters
# --------------------------------------------------------------------------------------------------
class Version:
    """How many times a storage was changed in place; shared by a tensor and its views.

    Tensors get one lazily (``None`` means version 0, never shared), so ops that nobody changes in
    place cost nothing. ``shared`` is True once a view shares it.
    """

    __slots__ = ("shared", "value")

    def __init__(self) -> None:
        self.value, self.shared = 0, False


def version_of(t: Tensor) -> Version:
    """``t``'s version counter, created on first use."""
    if t._version_box is None:
        t._version_box = Version()
    return t._version_box


def _remember_versions(ctx: Context, inputs: tuple[Tensor, ...], out: Tensor) -> None:
    """For each array ``ctx`` saved that *is* (or views) an input's or the output's array, note
    that tensor's version, so backward can tell if it was changed in place meanwhile. A saved copy
    needs no check: nothing can change it. Inputs are found again through ``ctx.parents`` (no box
    needed until someone changes them); the output, which ctx must not hold, through its box."""
    checks = []
    for array in ctx.saved_tensors:
        base = getattr(array, "base", None)
        if array is out.data:
            box = version_of(out)
            checks.append((-1, box.value, box))
            continue
        for i, t in enumerate(inputs):
            if array is t.data or (base is not None and base is t.data):
                box = t._version_box
                checks.append((i, 0 if box is None else box.value, None))
                break
    ctx.versions = checks


def _check_versions(ctx: Context) -> None:
    for i, expected, box in ctx.versions:
        if box is None:
            box = ctx.parents[i]._version_box
        now = 0 if box is None else box.value
        if now != expected:
            role = "output" if i < 0 else f"input {i}"
            raise RuntimeError(
                f"backward through {ctx.fn.__name__}: its {role}, saved for backward, was changed "
                f"in place afterwards (it is at version {now}; expected version {expected}). The "
                f"gradient would be wrong: use an out-of-place op, or change a .clone() instead."
            )


# --------------------------------------------------------------------------------------------------
# Function and Context
# --------------------------------------------------------------------------------------------------
class Context:
    """What one recorded op remembers between its forward and its backward.

    ``saved_tensors`` (arrays stored by ``save_for_backward``), ``needs_input_grad`` (one bool per
    array input), plus any attribute the op sets in forward (an axis, a shape, a mask). The engine
    adds ``fn`` (the Function class) and ``parents`` (the input Tensors) when the op is recorded.
    """

    saved_tensors: tuple[np.ndarray, ...]

    def __init__(self, needs_input_grad: tuple[bool, ...]) -> None:
        self.needs_input_grad = needs_input_grad
        self.saved_tensors = ()
        self.freed = False
        self.versions: list[tuple[int, int, Version | None]] = []

    def save_for_backward(self, *arrays: np.ndarray) -> None:
        """Keep these arrays for backward (save only what it needs: they live until then)."""
        self.saved_tensors = arrays


class Function:
    """A differentiable primitive. Subclass it and write two static methods on raw ndarrays.

    ``forward(ctx, *arrays, **params) -> ndarray`` and ``backward(ctx, grad_out) -> tuple``
    returning one gradient per array input, each of the *output's* broadcast shape or the input's
    own shape: the engine sums it back to the input shape. Call it as ``MyOp.apply(*tensors,
    **params)``.

    >>> import numpy as np
    >>> import minillm
    >>> from minillm.autograd import Function
    >>> class Cube(Function):
    ...     '''y = x^3,  dy/dx = 3 x^2'''
    ...     @staticmethod
    ...     def forward(ctx, x):
    ...         ctx.save_for_backward(x)
    ...         return x**3
    ...     @staticmethod
    ...     def backward(ctx, g):
    ...         (x,) = ctx.saved_tensors
    ...         return (3 * x**2 * g,)
    >>> x = minillm.tensor([2.0], requires_grad=True)
    >>> Cube.apply(x).sum().backward()
    >>> x.grad
    tensor([12.])

    For gradients of gradients (``create_graph=True``) an op also writes ``backward_graph(ctx, g,
    out)``: the same vector-Jacobian product, but with Tensor ops on the Tensors ``g`` (the
    output's gradient), ``ctx.parents`` (the inputs) and ``out`` (the output), so that autograd
    records it. For ``Cube``: ``return (3 * ctx.parents[0] ** 2 * g,)``.
    """

    @staticmethod
    def forward(ctx: Context, *arrays: np.ndarray, **params: Any) -> np.ndarray:
        raise NotImplementedError

    @staticmethod
    def backward(ctx: Context, grad_out: np.ndarray) -> tuple[np.ndarray | None, ...]:
        raise NotImplementedError

    @staticmethod
    def backward_graph(ctx: Context, g: Tensor, out: Tensor) -> tuple[Tensor | None, ...]:
        raise NotImplementedError(
            f"create_graph=True: {ctx.fn.__name__} has no differentiable backward "
            f"(backward_graph), so its gradient cannot be differentiated again; build the "
            f"computation from elementwise, reduction, movement and matmul ops instead"
        )

    @classmethod
    def apply(cls, *inputs: Tensor, **params: Any) -> Tensor:
        """Run forward on the inputs' arrays; record the op if grad mode is on and one needs it."""
        needs = tuple([t._requires_grad for t in inputs])
        record = _Modes.grad_enabled and True in needs
        ctx = Context(needs if record else (False,) * len(needs))
        data = cls.forward(ctx, *[t.data for t in inputs], **params)
        if type(data) is not np.ndarray:  # NumPy reductions return scalars for 0-d results
            data = np.asarray(data)
        if _Modes.anomaly:
            _check_finite(data, cls, "forward", [t.shape for t in inputs])
        Tensor = _tensor.Tensor
        out = Tensor.__new__(Tensor)
        out.data = data
        out.grad = None
        out._retains_grad = False
        out._version_box = None
        # A view (reshape, permute, expand, basic indexing) shares its input's storage, so it
        # shares its version counter: changing either in place changes both.
        if data.base is not None and inputs and np.may_share_memory(data, inputs[0].data):
            box = out._version_box = version_of(inputs[0])
            box.shared = True
        if record:
            ctx.fn = cls
            ctx.parents = inputs
            out._requires_grad = True
            out._ctx = ctx
            if ctx.saved_tensors:
                _remember_versions(ctx, inputs, out)
        else:
            out._requires_grad = False
            out._ctx = None
        return out


# --------------------------------------------------------------------------------------------------
# The backward pass
# --------------------------------------------------------------------------------------------------
def unbroadcast(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum ``grad`` down to ``shape``: the adjoint of NumPy broadcasting.

    Broadcasting copies an input along new leading axes and along axes of size 1, so its backward
    sums over exactly those axes.

    >>> unbroadcast(np.ones((2, 3, 4)), (3, 1)).tolist()
    [[8.0], [8.0], [8.0]]
    """
    if grad.shape == shape:
        return grad
    lead = grad.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, n in enumerate(shape) if n == 1 and grad.shape[lead + i] != 1
    )
    if axes:
        grad = grad.sum(axis=axes, keepdims=True)
    return grad.reshape(shape)


def _topological_order(root: Tensor) -> list[Tensor]:
    """Every recorded tensor reachable from ``root``, each after all tensors that consume it.

    Iterative depth-first search with an explicit stack, so graph depth is bounded by memory, not by
    Python's recursion limit.
    """
    order: list[Tensor] = []
    expanded_ids: set[int] = set()
    stack: list[tuple[Tensor, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if children_done:  # every input of node is already in order: node can follow them
            order.append(node)
            continue
        if id(node) in expanded_ids:  # reached again by another path: already placed or pending
            continue
        expanded_ids.add(id(node))
        stack.append((node, True))
        parents = node._ctx.parents if not node._ctx.freed else ()
        for p in parents:
            if p._ctx is not None and id(p) not in expanded_ids:
                stack.append((p, False))
    order.reverse()  # post-order reversed: consumers before producers
    return order


def constant(array: Any) -> Tensor:
    """A Tensor that does not require grad around ``array``: a mask or a locally constant factor
    inside a ``backward_graph`` (the sign in |x|'s derivative, the arg-max positions of a max)."""
    return _tensor._wrap(np.asarray(array))


def _accumulate_leaf(leaf: Tensor, grad: np.ndarray | Tensor) -> None:
    """Add ``grad`` into ``leaf.grad`` (as PyTorch: leaves accumulate across backward calls)."""
    if isinstance(grad, _tensor.Tensor):  # create_graph: .grad keeps its graph, so no in-place add
        leaf.grad = grad if leaf.grad is None else leaf.grad + grad
    elif leaf.grad is None:
        # A copy, because ``grad`` may be shared with other inputs or be a read-only broadcast view.
        leaf.grad = _tensor.Tensor(np.array(grad, dtype=leaf.data.dtype, copy=True))
    else:  # in place, as PyTorch: the sum keeps the leaf's dtype, and a 0-d grad stays an array
        np.add(leaf.grad.data, grad, out=leaf.grad.data, casting="unsafe")


# --------------------------------------------------------------------------------------------------
# Hooks
# --------------------------------------------------------------------------------------------------
# Tensor.register_hook's functions, by the id of their tensor. Kept here, not on the Tensor, so a
# tensor without hooks (nearly all of them) carries nothing; a finalizer drops the entry when the
# tensor dies. (Not a WeakKeyDictionary: that compares keys with ==, which is elementwise here.)
_HOOKS: dict[int, list[Any]] = {}


class HookHandle:
    """What ``register_hook`` returns; ``remove()`` takes the hook off again."""

    def __init__(self, key: int, hook: Any) -> None:
        self._key, self._hook = key, hook

    def remove(self) -> None:
        hooks = _HOOKS.get(self._key, [])
        if self._hook in hooks:
            hooks.remove(self._hook)


def add_hook(tensor: Tensor, hook: Any) -> HookHandle:
    key = id(tensor)
    if key not in _HOOKS:
        _HOOKS[key] = []
        weakref.finalize(tensor, _HOOKS.pop, key, None)
    _HOOKS[key].append(hook)
    return HookHandle(key, hook)


def _run_hooks(t: Tensor, g: np.ndarray | Tensor) -> np.ndarray | Tensor:
    """Call ``t``'s hooks with its whole gradient (a Tensor); one may return a replacement."""
    graph = isinstance(g, _tensor.Tensor)
    for hook in list(_HOOKS.get(id(t), ())):
        new = hook(g if graph else _tensor._wrap(g))
        if new is not None:
            if graph:
                new = new if isinstance(new, _tensor.Tensor) else constant(new)
            else:
                new = new.data if isinstance(new, _tensor.Tensor) else np.asarray(new)
            if new.shape != g.shape:
                raise ValueError(f"a gradient hook returned shape {new.shape}, expected {g.shape}")
            g = new
    return g


def run_backward(
    root: Tensor,
    grad: np.ndarray | Tensor,
    retain_graph: bool = False,
    capture: dict[int, Any] | None = None,
) -> None:
    """Propagate ``grad`` (dL/droot) to every leaf requiring grad, in reverse topological order.

    Each tensor's gradient is complete before it is used: non-leaves are summed in ``grads``
    until their turn in the order, leaves in ``leaf_grads`` until the end, where each leaf's
    hooks see its whole gradient and ``.grad`` accumulates it. With ``capture`` (a dict from the
    ids of the wanted tensors, as ``autograd.grad`` passes), those tensors' gradients are put
    there instead, and no ``.grad`` anywhere is touched.

    ``grad`` an ndarray runs each op's ``backward`` on arrays. ``grad`` a Tensor is
    ``create_graph=True``: every gradient is a Tensor, each op's ``backward_graph`` computes it
    with recorded Tensor ops, and the same loop (``+`` to sum, ``unbroadcast``) then records too.
    """
    if isinstance(grad, _tensor.Tensor):
        with enable_grad():
            return _backward_pass(root, grad, retain_graph, capture, graph=True)
    return _backward_pass(root, grad, retain_graph, capture, graph=False)


def _backward_pass(
    root: Tensor, grad: Any, retain_graph: bool, capture: dict[int, Any] | None, graph: bool
) -> None:
    grads: dict[int, Any] = {id(root): grad}
    leaf_grads: dict[int, tuple[Tensor, np.ndarray]] = {}
    hooks = bool(_HOOKS)
    check = _Modes.anomaly

    if root._ctx is None:  # a leaf: backward on it just accumulates
        leaf_grads[id(root)] = (root, grad)
    for node in _topological_order(root) if root._ctx is not None else ():
        g = grads.pop(id(node), None)
        if g is None:
            continue
        ctx = node._ctx
        if ctx.freed:
            raise RuntimeError(
                "Trying to backward through the graph a second time: its saved arrays were "
                "freed by the first backward. Pass retain_graph=True to the first backward() to "
                "keep them."
            )
        if hooks and id(node) in _HOOKS:
            g = _run_hooks(node, g)
        if capture is not None:
            if id(node) in capture:
                capture[id(node)] = g
        elif node._retains_grad:
            _accumulate_leaf(node, g)
        if ctx.versions:
            _check_versions(ctx)
        in_grads = ctx.fn.backward_graph(ctx, g, node) if graph else ctx.fn.backward(ctx, g)
        if not retain_graph:
            ctx.saved_tensors = ()
            ctx.freed = True
        for parent, need, pg in zip(ctx.parents, ctx.needs_input_grad, in_grads):
            if not need or pg is None:
                continue
            if pg.shape != parent.data.shape:
                pg = unbroadcast(pg, parent.data.shape)
            if check:
                pg_data = pg.data if graph else pg
                _check_finite(pg_data, ctx.fn, "backward", [p.shape for p in ctx.parents])
            if parent._ctx is None:
                prev = leaf_grads.get(id(parent))
                leaf_grads[id(parent)] = (parent, pg if prev is None else prev[1] + pg)
            else:
                key = id(parent)
                prev = grads.get(key)
                grads[key] = pg if prev is None else prev + pg
        if not retain_graph:
            ctx.parents = ()
    for leaf, g in leaf_grads.values():
        if hooks and id(leaf) in _HOOKS:
            g = _run_hooks(leaf, g)
        if capture is None:
            _accumulate_leaf(leaf, g)
        elif id(leaf) in capture:
            capture[id(leaf)] = g


def grad(
    outputs: Tensor | Sequence[Tensor],
    inputs: Tensor | Sequence[Tensor],
    grad_outputs: Any = None,
    retain_graph: bool | None = None,
    create_graph: bool = False,
    allow_unused: bool = False,
) -> tuple[Tensor | None, ...]:
    """The gradients of ``outputs`` with respect to ``inputs``, returned, not accumulated:
    no ``.grad`` is touched (``torch.autograd.grad``).

    ``grad_outputs`` gives dL/doutput for each output (needed unless it has one element).
    ``retain_graph`` keeps the graph for another backward (default: ``create_graph``).
    ``create_graph`` records the backward pass itself, so the returned gradients require grad and
    can be differentiated again (``grad`` of ``grad`` is a Hessian-vector product).
    An input the outputs do not depend on raises unless ``allow_unused`` (then its entry is None).

    >>> import minillm
    >>> x = minillm.tensor([1.0, 2.0], requires_grad=True)
    >>> (g,) = grad((x * x).sum(), x)
    >>> g.tolist(), x.grad is None
    ([2.0, 4.0], True)
    """
    outs = [outputs] if isinstance(outputs, _tensor.Tensor) else list(outputs)
    ins = [inputs] if isinstance(inputs, _tensor.Tensor) else list(inputs)
    if grad_outputs is None or isinstance(grad_outputs, _tensor.Tensor):
        grad_outputs = [grad_outputs] * len(outs) if grad_outputs is None else [grad_outputs]
    if len(grad_outputs) != len(outs):
        raise ValueError(f"grad: {len(grad_outputs)} grad_outputs for {len(outs)} outputs")
    for t in ins:
        if not t.requires_grad:
            raise RuntimeError("grad: every input must require grad")
    keep = create_graph if retain_graph is None else bool(retain_graph)
    total: dict[int, Any] = {}
    for i, (out, g) in enumerate(zip(outs, grad_outputs)):
        if not out.requires_grad:
            raise RuntimeError(f"grad: output {i} does not require grad (it has no graph)")
        if g is None:
            if out.data.size != 1:
                raise RuntimeError(f"grad: output {i} has shape {out.shape}; pass grad_outputs")
            g = np.ones(out.shape, dtype=out.dtype)
        if create_graph:  # the gradient stays a Tensor (one that requires grad is differentiated)
            g = g if isinstance(g, _tensor.Tensor) else constant(np.asarray(g, dtype=out.dtype))
        else:
            g = g.data if isinstance(g, _tensor.Tensor) else np.asarray(g, dtype=out.dtype)
        if g.shape != out.shape:
            raise ValueError(f"grad: grad_outputs[{i}] has shape {g.shape}, expected {out.shape}")
        capture: dict[int, Any] = dict.fromkeys(map(id, ins))
        run_backward(out, g, retain_graph=keep or i < len(outs) - 1, capture=capture)
        for k, v in capture.items():
            if v is not None:
                total[k] = v if k not in total else total[k] + v
    result = []
    for j, t in enumerate(ins):
        if id(t) not in total:
            if not allow_unused:
                raise RuntimeError(f"grad: input {j} was not used to compute the outputs; pass "
                                   "allow_unused=True to get None for it")  # fmt: skip
            result.append(None)
        elif create_graph:
            result.append(total[id(t)])
        else:
            result.append(_tensor.Tensor(np.array(total[id(t)], dtype=t.dtype)))
    return tuple(result)


# Tensor's module imports the ops, which import this module. Binding the *module* (not its Tensor)
# keeps either import order working: Tensor is looked up when an op runs, long after both loaded.
from minillm import tensor as _tensor  # noqa: E402
