"""The backward pass: from a scalar's gradient to every leaf's ``.grad``, and ``autograd.grad``.

``run_backward`` sorts the recorded graph topologically *without recursion* (a chain of 100,000
ops works), applies the chain rule node by node (each op's ``backward`` on arrays, or its
``backward_graph`` on Tensors for ``create_graph=True``), sums gradients back to broadcast input
shapes (``unbroadcast``: ops never write broadcasting logic), runs gradient hooks and frees each
node's saved arrays. The pass is one generator, ``backward_pass``: ``run_backward`` exhausts it,
and ``loss.backward_steps()`` (``minillm/backward_steps.py``) walks it one node at a time.
``grad`` returns gradients instead of accumulating them. ``queue_callback``
runs a function once the next backward pass is complete (data-parallel training averages the
gradients across processes there).

The pieces an op needs (``Function``, ``Context``, grad mode, version counters) are in
``minillm/autograd.py``, which re-exports this module's public names.

Read next: ``minillm/tensor.py`` (``Tensor.backward``).
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from minillm.autograd import _check_finite, _check_versions, _Modes, constant, enable_grad

if TYPE_CHECKING:
    from minillm.tensor import Tensor


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


# Functions to call once, when the next backward pass has accumulated every ``.grad``
# (``queue_callback``). Data-parallel training averages the gradients across processes this way, so
# that when ``loss.backward()`` returns they are already the same on every rank.
_AFTER_BACKWARD: list[Any] = []


def queue_callback(fn: Any) -> None:
    """Call ``fn()`` once, at the end of the next ``backward()`` (after every ``.grad`` is
    accumulated; ``autograd.grad``, which accumulates nothing, leaves it queued).

    >>> import minillm
    >>> x = minillm.tensor([3.0], requires_grad=True)
    >>> queue_callback(lambda: print("grad is", x.grad.tolist()))
    >>> (x * x).sum().backward()
    grad is [6.0]
    """
    _AFTER_BACKWARD.append(fn)


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

    The pass itself is the generator ``backward_pass``, run to its end here; ``backward_steps``
    (``minillm/backward_steps.py``) runs the same generator one node at a time.
    """
    steps = backward_pass(root, grad, retain_graph, capture)
    if isinstance(grad, _tensor.Tensor):
        with enable_grad():
            for _ in steps:
                pass
    else:
        for _ in steps:
            pass


def backward_pass(
    root: Tensor, grad: Any, retain_graph: bool = False, capture: dict[int, Any] | None = None
) -> Iterator[tuple[Tensor, Any, tuple[Tensor, ...], tuple[Any, ...] | None]]:
    """The backward pass as a generator: after each node it yields ``(node, g, inputs, in_grads)``
    (``g`` the node's whole gradient, after its hooks; ``in_grads`` what its op's backward returned,
    one per input, before ``unbroadcast``), then ``(leaf, g, (), None)`` as each leaf accumulates.
    Exhausting it is ``run_backward`` (whose docstring describes the pass)."""
    graph = isinstance(grad, _tensor.Tensor)
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
        parents = ctx.parents
        for parent, need, pg in zip(parents, ctx.needs_input_grad, in_grads):
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
        yield node, g, parents, in_grads
    for leaf, g in leaf_grads.values():
        if hooks and id(leaf) in _HOOKS:
            g = _run_hooks(leaf, g)
        if capture is None:
            _accumulate_leaf(leaf, g)
        elif id(leaf) in capture:
            capture[id(leaf)] = g
        yield leaf, g, (), None
    while capture is None and _AFTER_BACKWARD:
        _AFTER_BACKWARD.pop(0)()


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


# As at the end of minillm/autograd.py: bind the tensor *module*; Tensor is looked up at run time.
from minillm import tensor as _tensor  # noqa: E402
