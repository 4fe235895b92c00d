"""In-place operations on a Tensor, and the version counter that keeps them honest.

``x += 1``, ``x.add_(y)``, ``x.mul_(2)``, ``x.copy_(y)``, ``x.fill_(0)``, ``x.clamp_(...)``,
``x.masked_fill_(...)``, ``x.uniform_()``, ``x.normal_()`` and ``x[i] = v`` all go through one road,
``_inplace``: write the new value into the tensor's own storage (so views and optimizers that hold
the array see it) and bump its version counter (``minillm/autograd.py``), so that a backward that
needs the old value raises instead of computing a wrong gradient.

PyTorch's rules: a leaf that requires grad may be changed in place only under ``no_grad`` (that is
what an optimizer step is); while gradients are recorded, an in-place op on any other tensor is
recorded like its out-of-place twin, and the tensor becomes that op's output.

Read next: ``minillm/tensor_math.py``.
"""

from __future__ import annotations

import operator as _op
from typing import TYPE_CHECKING, Any

import numpy as np

from minillm.tensor import _wrap

if TYPE_CHECKING:
    from minillm.tensor import Tensor

from minillm import autograd as A
from minillm import tensor as _tensor  # Tensor itself is defined after this module loads


class InplaceMethods:
    """Mixed into ``Tensor``; see ``minillm/tensor.py``."""

    __slots__ = ()

    def _inplace(self, name: str, compute: Any, operands: tuple = (), direct: Any = None) -> Tensor:
        """Change this tensor in place to ``compute(self)``; the one road of every in-place op.

        ``compute`` builds the new value with ordinary (recorded) ops. When no gradient is being
        recorded, ``direct(array)`` (if given) writes it straight into the storage instead. When
        one is (this tensor, or an operand, requires grad, outside ``no_grad``), the op is
        recorded as PyTorch does: the old value becomes an input node, and this tensor becomes
        the op's output. Either way the version counter goes up, so a backward that needs the old
        value raises instead of computing a wrong gradient.
        """
        recording = A.is_grad_enabled() and (
            self._requires_grad
            or any(isinstance(o, _tensor.Tensor) and o._requires_grad for o in operands)
        )
        if recording and self._requires_grad and self._ctx is None:
            raise RuntimeError(
                f"{name}: a leaf tensor that requires grad cannot be changed in place while "
                f"gradients are recorded (its gradient would no longer match its value); do it "
                f"under minillm.no_grad(), as an optimizer step does, or use an out-of-place op"
            )
        if not recording:
            if direct is not None:
                _write_errors(name, self, lambda: direct(self.data))
            else:
                with A.no_grad():
                    result = compute(self)
                _write_errors(name, self, lambda: np.copyto(self.data, result.data, "same_kind"))
            self._bump_version()
            return self
        box = self._version_box
        if self.data.base is not None and box is not None and box.shared:
            raise RuntimeError(
                f"{name}: changing a view in place while gradients are recorded is not "
                f"supported (its base would need a new history too); use an out-of-place op "
                f"(y = y + 1) or change a .clone()"
            )
        before = _wrap(self.data.copy())  # the old value, as a node of the graph
        before._ctx, before._requires_grad = self._ctx, self._requires_grad
        result = compute(before)
        _write_errors(name, self, lambda: np.copyto(self.data, result.data, "same_kind"))
        self._bump_version()
        self._ctx, self._requires_grad = result._ctx, result._requires_grad
        return self

    def _binary_inplace(
        self, name: str, operator: Any, ufunc: np.ufunc, other: Any, alpha: Any = 1
    ) -> Tensor:
        """``self = self (op) alpha * other`` in place: ``operator`` (``+``, ...) when recording,
        else ``ufunc`` writing straight into the storage."""
        if alpha != 1:
            other = other * alpha
        raw = other.data if isinstance(other, _tensor.Tensor) else other
        return self._inplace(
            name,
            lambda t: operator(t, other),
            (other,),
            lambda arr: ufunc(arr, raw, out=arr, casting="same_kind"),
        )

    def add_(self, other: Any, *, alpha: Any = 1) -> Tensor:
        """``self += alpha * other`` in place; returns self."""
        return self._binary_inplace("add_", _op.add, np.add, other, alpha)

    def sub_(self, other: Any, *, alpha: Any = 1) -> Tensor:
        """``self -= alpha * other`` in place; returns self."""
        return self._binary_inplace("sub_", _op.sub, np.subtract, other, alpha)

    def mul_(self, other: Any) -> Tensor:
        return self._binary_inplace("mul_", _op.mul, np.multiply, other)

    def div_(self, other: Any) -> Tensor:
        return self._binary_inplace("div_", _op.truediv, np.true_divide, other)

    def __iadd__(self, other: Any) -> Tensor:
        return self._binary_inplace("+=", _op.add, np.add, other)

    def __isub__(self, other: Any) -> Tensor:
        return self._binary_inplace("-=", _op.sub, np.subtract, other)

    def __imul__(self, other: Any) -> Tensor:
        return self._binary_inplace("*=", _op.mul, np.multiply, other)

    def __itruediv__(self, other: Any) -> Tensor:
        return self._binary_inplace("/=", _op.truediv, np.true_divide, other)

    def clamp_(self, min: float | None = None, max: float | None = None) -> Tensor:  # noqa: A002
        """Clamp in place to [min, max]; returns self."""
        return self._inplace("clamp_", lambda t: t.clamp(min, max))

    clip_ = clamp_

    def masked_fill_(self, mask: Any, value: float) -> Tensor:
        """Set ``value`` where ``mask`` is True, in place; returns self."""
        return self._inplace("masked_fill_", lambda t: t.masked_fill(mask, value), (mask,))

    def copy_(self, src: Any) -> Tensor:
        """Copy ``src`` (broadcast to this shape, cast to this dtype) into this tensor in place.

        The gradient flows to ``src``; the old value is overwritten, so it receives none.
        """
        src = self._lift(src)
        return self._inplace(
            "copy_", lambda t: src.astype(t.dtype).expand(t.shape), (src,),
            lambda arr: np.copyto(arr, src.data, casting="unsafe"),
        )  # fmt: skip

    def fill_(self, value: Any) -> Tensor:
        """Set every element to ``value`` in place; returns self."""
        return self._inplace("fill_", lambda t: _wrap(np.full(t.shape, value, dtype=t.dtype)),
                             direct=lambda arr: arr.fill(value))  # fmt: skip

    def zero_(self) -> Tensor:
        """Fill with zeros in place (typically ``p.grad.zero_()``); returns self."""
        return self.fill_(0)

    def uniform_(self, a: float = 0.0, b: float = 1.0) -> Tensor:
        """Fill in place with draws from U(a, b) (minillm's generator); returns self."""
        from minillm.random import generator

        return self._inplace("uniform_", lambda t: _wrap(
            generator().uniform(a, b, t.shape).astype(t.dtype)))  # fmt: skip

    def normal_(self, mean: float = 0.0, std: float = 1.0) -> Tensor:
        """Fill in place with draws from N(mean, std^2) (minillm's generator); returns self."""
        from minillm.random import generator

        return self._inplace("normal_", lambda t: _wrap(
            generator().normal(mean, std, t.shape).astype(t.dtype)))  # fmt: skip


def _write_errors(name: str, t: Tensor, write: Any) -> None:
    """Run ``write()`` (into ``t``'s storage), turning NumPy's complaints into PyTorch's kind."""
    try:
        write()
    except TypeError as e:  # NumPy's UFuncTypeError: a float result into an integer tensor
        raise RuntimeError(
            f"{name}: the result can't be stored in place in a tensor of dtype {t.dtype} ({e})"
        ) from None
    except ValueError as e:
        if not t.data.flags.writeable:
            raise RuntimeError(
                f"{name}: this tensor is a read-only broadcast view (from expand); change a "
                f".clone() instead"
            ) from None
        raise RuntimeError(
            f"{name}: the result does not fit this tensor of shape {t.shape} ({e})"
        ) from None
