"""Gradient clipping, between backward and step: ``clip_grad_norm_`` (``clip_grads_with_norm_``
for a norm computed elsewhere), ``clip_grad_value_``.

``clip_grad_norm_`` treats all gradients as one long vector ``g`` and, when its norm exceeds
``max_norm``, scales every gradient by ``max_norm / (||g|| + 1e-6)`` — the direction is kept, only
the step shrinks (Pascanu et al., 2013). The small constant is PyTorch's: it keeps the division safe
and makes the clipped norm land just under ``max_norm``. ``clip_grad_value_`` clamps each element
to ``[-clip_value, clip_value]`` instead, which changes the direction.

Read next: ``prune.py`` (pruning), then ``minillm/optim/``.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from minillm.tensor import Tensor

Params = Tensor | Iterable[Tensor]


def _grads(parameters: Params) -> list[Tensor]:
    params = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    return [p.grad for p in params if p.grad is not None]


def clip_grad_norm_(
    parameters: Params,
    max_norm: float,
    norm_type: float = 2.0,
    error_if_nonfinite: bool = False,
) -> Tensor:
    """Scale gradients in place so that their total ``norm_type``-norm is at most ``max_norm``.

    Returns the total norm *before* clipping (handy to log). ``norm_type`` may be ``inf`` (the
    largest absolute element). A NaN or infinite total norm raises when ``error_if_nonfinite``.

    >>> import minillm
    >>> w = minillm.tensor([3.0, 4.0], requires_grad=True)
    >>> (w * w).sum().backward()          # grad = (6, 8), norm 10
    >>> float(clip_grad_norm_([w], max_norm=1.0))
    10.0
    >>> round(float((w.grad * w.grad).sum().sqrt()), 4)
    1.0
    """
    params = [parameters] if isinstance(parameters, Tensor) else list(parameters)  # (once)
    grads = _grads(params)
    norm_type = float(norm_type)
    if not grads:
        return Tensor(np.array(0.0, dtype=np.float32))
    dtype = grads[0].dtype
    if norm_type == np.inf:
        total = max(float(np.abs(g.data).max()) if g.data.size else 0.0 for g in grads)
    else:
        per_param = [np.linalg.norm(g.data.ravel().astype(np.float64), norm_type) for g in grads]
        total = float(np.linalg.norm(np.array(per_param), norm_type))
    if error_if_nonfinite and not np.isfinite(total):
        raise RuntimeError(
            f"clip_grad_norm_: the total norm of order {norm_type} of the gradients is {total}, "
            f"so they cannot be clipped; set error_if_nonfinite=False to clip anyway"
        )
    clip_grads_with_norm_(params, max_norm, total)
    return Tensor(np.array(total, dtype=dtype))


def clip_grads_with_norm_(parameters: Params, max_norm: float, total_norm: float) -> None:
    """The second half of ``clip_grad_norm_``: scale the gradients by ``max_norm / (total_norm +
    1e-6)`` when that is below 1, for a ``total_norm`` computed elsewhere (across processes, when
    each holds part of the model: ``minillm.parallel.ddp.clip_grad_norm_``).

    >>> import minillm
    >>> w = minillm.tensor([3.0, 4.0], requires_grad=True)
    >>> (w * w).sum().backward()          # grad = (6, 8), norm 10
    >>> clip_grads_with_norm_([w], 5.0, 10.0); [round(g, 4) for g in w.grad.tolist()]
    [3.0, 4.0]
    """
    coef = max_norm / (float(total_norm) + 1e-6)
    if not coef >= 1.0:  # also when the norm is NaN: the gradients become NaN, as in PyTorch
        for g in _grads(parameters):
            g.data *= g.data.dtype.type(coef)


def clip_grad_value_(parameters: Params, clip_value: float) -> None:
    """Clamp every gradient element to ``[-clip_value, clip_value]`` in place.

    >>> import minillm
    >>> w = minillm.tensor([3.0, -4.0], requires_grad=True)
    >>> (w * w).sum().backward()
    >>> clip_grad_value_([w], 1.0); w.grad.tolist()
    [1.0, -1.0]
    """
    if clip_value < 0:
        raise ValueError(f"clip_grad_value_: clip_value must be non-negative, got {clip_value}")
    for g in _grads(parameters):
        np.clip(g.data, -clip_value, clip_value, out=g.data)
