"""``loss.backward_steps()``: the backward pass one node at a time, to watch the chain rule work.

What this module owns: ``BackwardStep`` (one node of the pass: its op, its output shape, the op's
local derivative as its docstring states it, the gradient that arrived and the gradients it sent
to each input) and ``backward_steps``, an iterator over them. It computes nothing itself: it runs
the engine's own generator, ``backprop.backward_pass``, which ``backward()`` runs to its end, so
exhausting the steps leaves exactly the ``.grad``s that ``backward()`` would (hooks, retained
gradients, ``unbroadcast``, leaf accumulation and ``queue_callback`` included). Stopping early
leaves the pass half done: leaves accumulate only at the end.

Read next: ``minillm/backprop.py`` (``backward_pass``), then ``minillm/viz.py`` (the graph drawn).
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from minillm.backprop import backward_pass, unbroadcast
from minillm.tensor import Tensor, as_array

# A derivative in an op's docstring: "dy/dx", "d loss / d x", "dx = ...", "dW[r] =", "gradient".
_DERIVATIVE = re.compile(r"\bd\s*\w*\s*/\s*d|\bd[A-Za-z]\w*(\[\w+\])?\s*=|gradient")


def formula(fn: type) -> str:
    """The local derivative of the op ``fn``, as its docstring states it.

    The first paragraph when it states the derivative (``y = a * b;  dy/da = b, dy/db = a.``),
    else that paragraph's first line and the first later paragraph that does (``Linear``), else
    the first line.

    >>> from minillm.ops.elementwise import Mul
    >>> formula(Mul)
    'y = a * b;  dy/da = b, dy/db = a.'
    >>> from minillm.ops.linalg import Linear
    >>> formula(Linear).split(";")[1].strip()[:28]
    'dx = G W,  dW = G^T x,  db ='
    """
    doc = inspect.getdoc(fn) or fn.__name__
    paragraphs = [" ".join(line.strip() for line in p.splitlines()) for p in doc.split("\n\n")]
    first = paragraphs[0]
    if _DERIVATIVE.search(first):
        return first
    for later in paragraphs[1:]:
        if _DERIVATIVE.search(later):
            return f"{first.rstrip('.')};  {later.split('. ')[0].rstrip('.')}"
    return first


@dataclass(frozen=True)
class BackwardStep:
    """One node of the backward pass.

    Attributes:
        index: its place in the pass (0 is the tensor ``backward_steps`` was called on).
        op: the op's Function name, or ``"AccumulateGrad"`` when a leaf's ``.grad`` is added to.
        shape: the node's shape.
        formula: the op's local derivative, from its docstring (``formula``).
        grad_out: the node's whole gradient (dL/dnode, after its hooks), read-only.
        grad_inputs: the gradient sent to each input (summed to its shape), None where the input
            needs none; empty for a leaf.
        tensor: the node itself.
        inputs: the op's input tensors (empty for a leaf).
    """

    index: int
    op: str
    shape: tuple[int, ...]
    formula: str
    grad_out: np.ndarray
    grad_inputs: tuple[np.ndarray | None, ...]
    tensor: Tensor
    inputs: tuple[Tensor, ...]

    def __str__(self) -> str:
        sent = ", ".join("-" if g is None else f"{_norm(g):.4g}" for g in self.grad_inputs)
        line = f"{self.index:3d} {self.op} {self.shape}: {self.formula}\n"
        line += f"    |grad_out| = {_norm(self.grad_out):.4g}"
        return line + (f"  ->  |grad_inputs| = [{sent}]" if self.grad_inputs else "")


def _norm(a: np.ndarray) -> float:
    return float(np.sqrt(np.sum(np.square(a, dtype=np.float64))))


def _readonly(a: np.ndarray) -> np.ndarray:
    """A view that cannot be written: the engine may still be using the array."""
    view = np.asarray(a).view()
    view.flags.writeable = False
    return view


def backward_steps(
    tensor: Tensor, gradient: Any = None, retain_graph: bool = False
) -> Iterator[BackwardStep]:
    """Run ``tensor.backward(gradient, retain_graph)`` one node at a time, yielding each step.

    Exhausting the iterator leaves exactly the ``.grad``s ``backward()`` leaves (it is the same
    pass). First-order only: ``create_graph`` has no step-by-step form.

    >>> import minillm
    >>> x = minillm.tensor([1.0, 2.0], requires_grad=True)
    >>> for step in (x * x).sum().backward_steps():
    ...     print(step.op, step.shape, step.grad_out.tolist())
    Sum () 1.0
    Mul (2,) [1.0, 1.0]
    AccumulateGrad (2,) [2.0, 4.0]
    >>> x.grad
    tensor([2., 4.])
    """
    if not tensor.requires_grad:
        raise RuntimeError(
            "backward_steps(): this tensor does not require grad, so it has no graph"
        )
    if gradient is None:
        if tensor.data.size != 1:
            raise RuntimeError(
                f"backward_steps(): a gradient can be implied only for a one-element output, but "
                f"this tensor has shape {tensor.shape}; pass gradient="
            )
        grad = np.ones(tensor.shape, dtype=tensor.dtype)
    else:
        grad = as_array(gradient, tensor.dtype)  # as Tensor.backward reads it
        if grad.shape != tensor.shape:
            raise ValueError(
                f"backward_steps(): gradient has shape {grad.shape}, not {tensor.shape}"
            )
    return _steps(backward_pass(tensor, grad, retain_graph))


def _steps(pass_: Iterator[tuple[Tensor, Any, tuple[Tensor, ...], Any]]) -> Iterator[BackwardStep]:
    for i, (node, g, inputs, in_grads) in enumerate(pass_):
        if in_grads is None:  # a leaf accumulating its gradient
            op, text, sent = "AccumulateGrad", "leaf.grad += g (the first g is copied)", ()
        else:
            fn = node._ctx.fn
            op, text = fn.__name__, formula(fn)
            needs = node._ctx.needs_input_grad
            sent = tuple(
                None if not need or pg is None else _readonly(unbroadcast(pg, x.shape))
                for x, need, pg in zip(inputs, needs, in_grads)
            )
        yield BackwardStep(i, op, node.shape, text, _readonly(g), sent, node, tuple(inputs))
