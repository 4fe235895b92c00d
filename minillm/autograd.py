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
* **the backward pass** — ``run_backward``, ``grad`` and hooks, in ``minillm/backprop.py`` (and
  re-exported here): the recorded graph sorted topologically *without recursion*, the chain rule
  node by node, gradients summed back to broadcast input shapes (``unbroadcast``), saved arrays
  freed;
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
# Constants inside a differentiable backward
# --------------------------------------------------------------------------------------------------
def constant(array: Any) -> Tensor:
    """A Tensor that does not require grad around ``array``: a mask or a locally constant factor
    inside a ``backward_graph`` (the sign in |x|'s derivative, the arg-max positions of a max)."""
    return _tensor._wrap(np.asarray(array))


# Tensor's module imports the ops, which import this module. Binding the *module* (not its Tensor)
# keeps either import order working: Tensor is looked up when an op runs, long after both loaded.
# The backward pass lives in ``minillm/backprop.py``; its public names are this module's API too.
from minillm import tensor as _tensor  # noqa: E402
from minillm.backprop import HookHandle as HookHandle  # noqa: E402
from minillm.backprop import add_hook as add_hook  # noqa: E402
from minillm.backprop import grad as grad  # noqa: E402
from minillm.backprop import queue_callback as queue_callback  # noqa: E402
from minillm.backprop import run_backward as run_backward  # noqa: E402
from minillm.backprop import unbroadcast as unbroadcast  # noqa: E402
