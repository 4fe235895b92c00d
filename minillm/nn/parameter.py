"""Parameter: a Tensor that a Module treats as one of its learnable weights.

A ``Parameter`` is an ordinary leaf ``Tensor`` with two differences: it requires a gradient by
default, and assigning one to a Module attribute (``self.weight = Parameter(...)``) registers it, so
``parameters()``, ``state_dict()`` and optimizers find it. Operations on a Parameter return plain
Tensors: only the leaf itself is a Parameter.

Read next: ``minillm/nn/module.py``, which does the registering.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from minillm.tensor import Tensor


class Parameter(Tensor):
    """A learnable leaf tensor; ``requires_grad=True`` unless told otherwise.

    Built from a Tensor it shares that tensor's array (no copy), as in PyTorch, so initializing the
    array in place initializes the parameter.

    Args:
        data: a Tensor, an array or nested lists (an empty float32 array when omitted).
        requires_grad: whether the optimizer should train it.

    >>> import minillm
    >>> w = Parameter(minillm.zeros(2, 3))
    >>> w.requires_grad, w.shape
    (True, (2, 3))
    >>> type(w * 2).__name__  # results of operations are plain Tensors
    'Tensor'
    """

    # Tensor declares __slots__; an empty tuple keeps a Parameter free of a per-object __dict__.
    __slots__ = ()

    def __init__(self, data: Any = None, requires_grad: bool = True) -> None:
        if data is None:
            data = np.empty(0, dtype=np.float32)
        super().__init__(data, requires_grad=requires_grad)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()

    def __deepcopy__(self, memo: dict[int, Any]) -> Parameter:
        # A copy of the array and the flag; a gradient is transient state and is copied too, as
        # torch does, so a deep-copied model (an EMA, a teacher) starts out identical.
        out = Parameter(self.data.copy(), requires_grad=self.requires_grad)
        if self.grad is not None:
            out.grad = Tensor(self.grad.data.copy())
        memo[id(self)] = out
        return out

    def __reduce_ex__(self, protocol: Any) -> Any:
        return (_rebuild_parameter, (self.data, self.requires_grad))


def _rebuild_parameter(data: np.ndarray, requires_grad: bool) -> Parameter:
    return Parameter(data, requires_grad=requires_grad)
