"""Loss functions: a prediction and a target in, one number (or one per element) out.

Every loss computes a per-element loss ``l`` and then reduces it: ``reduction="none"`` returns
``l``, ``"sum"`` its sum, ``"mean"`` its mean — except that a loss with class ``weight`` and
class-index targets divides by the *total weight of the counted targets*, ``sum_n w[y_n]``, not by
their number (PyTorch's rule: a weighted mean is a true weighted average). Targets equal to
``ignore_index`` count for nothing, neither in the sum nor in the divisor.

The math, for logits ``x`` over ``C`` classes and ``log p = log_softmax(x)``:

* cross entropy, class index ``y``:    ``l = -w[y] log p[y]``; with label smoothing ``e``,
  ``l = (1 - e) (-w[y] log p[y]) + (e / C) sum_c (-w[c] log p[c])``;
* cross entropy, class probabilities ``q``: ``l = -sum_c w[c] q'[c] log p[c]``, where
  ``q' = (1 - e) q + e / C``;
* binary cross entropy with logits: ``l = (1 - t) x + (1 + (pw - 1) t) softplus(-x)``, where
  ``softplus(-x) = log(1 + e^-x) = logsumexp(0, -x)`` never overflows;
* KL divergence ``D(target || input)`` with ``input`` in log space: ``l = t (log t - input)``.

Cross entropy with class indices and no ``weight`` — the language-model case — goes to the fused
op ``minillm.ops.fused.CrossEntropy`` (``cross_entropy_reference`` is the same loss from
primitives); every other case is composed here from Tensor methods.

Read next: ``minillm/nn/loss_modules.py`` (the same losses as Modules).
"""

from __future__ import annotations

from typing import Any

import numpy as np

import minillm.functions as _functions
from minillm.ops import fused
from minillm.tensor import Tensor, _wrap
from minillm.tensor import as_tensor as _t

_REDUCTIONS = ("none", "mean", "sum")


def _check_reduction(reduction: str, allowed: tuple[str, ...] = _REDUCTIONS) -> None:
    if reduction not in allowed:
        raise ValueError(f"reduction must be one of {allowed}, got {reduction!r}")


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


def _same_shape(name: str, input: Tensor, target: Tensor) -> None:  # noqa: A002
    if input.shape != target.shape:
        raise ValueError(
            f"{name}: target shape {target.shape} must equal input shape {input.shape}"
        )


# --------------------------------------------------------------------------------------------------
# Class-index losses: nll_loss and cross_entropy
# --------------------------------------------------------------------------------------------------
def _rows(x: Tensor, target: Tensor, name: str) -> tuple[Tensor, np.ndarray]:
    """View ``(N, C, d1, ...)`` scores as ``(M, C)`` rows and ``(N, d1, ...)`` targets as ``(M,)``.

    The class axis is axis 1 (axis 0 for an unbatched ``(C,)`` input with a 0-d target).
    """
    if target.dtype.kind not in "iu":
        raise TypeError(f"{name}: class-index targets must be integers, got dtype {target.dtype}")
    if x.ndim == 0:
        raise ValueError(f"{name}: input must have a class dimension, got a 0-d tensor")
    expected = () if x.ndim == 1 else (x.shape[0],) + x.shape[2:]
    if target.shape != expected:
        raise ValueError(
            f"{name}: input of shape {x.shape} needs class-index targets of shape "
            f"{expected}, got {target.shape}"
        )
    c = x.shape[0 if x.ndim == 1 else 1]
    if x.ndim <= 2:
        rows = x.reshape(-1, c)
    else:  # move the class axis last, then flatten everything else
        rows = x.permute(0, *range(2, x.ndim), 1).reshape(-1, c)
    return rows, target.data.reshape(-1).astype(np.int64, copy=False)


def _valid_targets(t: np.ndarray, c: int, ignore_index: int, name: str) -> np.ndarray:
    """Boolean mask of counted targets; any other target outside ``[0, C)`` is an error."""
    valid = t != ignore_index
    bad = valid & ((t < 0) | (t >= c))
    if bad.any():
        raise IndexError(
            f"{name}: target {t[bad][0]} is out of range for {c} classes "
            f"(ignore_index={ignore_index})"
        )
    return valid


def _check_weight(weight: Tensor | None, c: int, name: str) -> None:
    if weight is not None and weight.shape != (c,):
        raise ValueError(
            f"{name}: weight must have shape ({c},) (one per class), got {weight.shape}"
        )


def nll_loss(
    input: Any,  # noqa: A002
    target: Any,
    weight: Tensor | None = None,
    ignore_index: int = -100,
    reduction: str = "mean",
) -> Tensor:
    """Negative log likelihood of class indices given log-probabilities: ``l = -w[y] input[y]``.

    ``input`` is ``(N, C)``, ``(N, C, d1, ...)`` or ``(C,)``; ``target`` is ``(N,)``,
    ``(N, d1, ...)`` or ``()``. ``reduction="mean"`` divides by the summed weights of the counted
    targets (their number when ``weight`` is None).

    >>> import minillm
    >>> logp = minillm.tensor([[-0.5, -1.0], [-2.0, -0.1]])
    >>> round(float(nll_loss(logp, minillm.tensor([0, 1]))), 4)
    0.3
    """
    _check_reduction(reduction)
    x, target = _t(input), _t(target)
    rows, t = _rows(x, target, "nll_loss")
    c = rows.shape[1]
    _check_weight(weight, c, "nll_loss")
    valid = _valid_targets(t, c, ignore_index, "nll_loss")
    safe = np.where(valid, t, 0)
    picked = rows[np.arange(len(t)), safe]  # (M,) log-probability of each target
    mask = _wrap(valid.astype(x.dtype))
    w = mask if weight is None else weight[safe] * mask  # (M,) weight of each counted target
    loss = -(picked * w)
    if reduction == "none":
        return loss.reshape(target.shape)
    if reduction == "sum":
        return loss.sum()
    with np.errstate(invalid="ignore", divide="ignore"):  # all targets ignored: 0/0 = NaN (PyTorch)
        return loss.sum() / w.sum()


def _cross_entropy_indices(
    x: Tensor,
    target: Tensor,
    weight: Tensor | None,
    ignore_index: int,
    reduction: str,
    label_smoothing: float,
) -> Tensor:
    """Cross entropy for class indices composed from Tensor methods (any ``weight``).

    The fused op computes the same thing for ``weight=None``; a test checks that the two agree.
    """
    rows, t = _rows(x, target, "cross_entropy")
    c = rows.shape[1]
    _check_weight(weight, c, "cross_entropy")
    logp = rows.log_softmax(dim=1)  # (M, C)
    nll = nll_loss(logp, _wrap(t), weight, ignore_index, reduction)
    if label_smoothing == 0.0:
        return nll.reshape(target.shape) if reduction == "none" else nll
    valid = _valid_targets(t, c, ignore_index, "cross_entropy")
    mask = _wrap(valid.astype(x.dtype))
    # The smoothing term spreads e/C of the target mass over every class: -sum_c w[c] log p[c].
    smooth = -((logp if weight is None else logp * weight).sum(dim=1)) * mask  # (M,)
    if reduction == "none":
        smooth_red = smooth.reshape(target.shape)
        nll = nll.reshape(target.shape)
    elif reduction == "sum":
        smooth_red = smooth.sum()
    else:  # normalized like the nll term: by the weight (or count) of the counted targets
        denom = mask.sum() if weight is None else (weight[np.where(valid, t, 0)] * mask).sum()
        with np.errstate(invalid="ignore", divide="ignore"):
            smooth_red = smooth.sum() / denom
    return nll * (1.0 - label_smoothing) + smooth_red * (label_smoothing / c)


def _cross_entropy_probs(
    x: Tensor, target: Tensor, weight: Tensor | None, reduction: str, label_smoothing: float
) -> Tensor:
    """Cross entropy against class probabilities (soft targets), composed from Tensor methods.

    ``mean`` divides by the number of rows, not by any weight (as PyTorch).
    """
    class_axis = 0 if x.ndim == 1 else 1
    c = x.shape[class_axis]
    _check_weight(weight, c, "cross_entropy")
    logp = x.log_softmax(dim=class_axis)
    q = target if label_smoothing == 0.0 else target * (1.0 - label_smoothing) + label_smoothing / c
    prod = logp * q
    if weight is not None:  # broadcast (C,) along the class axis
        prod = prod * weight.reshape((c,) + (1,) * (x.ndim - class_axis - 1))
    return _reduce(-prod.sum(dim=class_axis), reduction)


def cross_entropy(
    input: Any,  # noqa: A002
    target: Any,
    weight: Tensor | None = None,
    ignore_index: int = -100,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> Tensor:
    """Cross entropy between logits and class indices or class probabilities (PyTorch semantics).

    ``input`` holds unnormalized logits of shape ``(N, C)``, ``(N, C, d1, ...)`` or ``(C,)``.
    ``target`` is either integer class indices of shape ``(N,)``, ``(N, d1, ...)`` or ``()``, or
    floating class probabilities of the same shape as ``input``. ``weight`` (shape ``(C,)``)
    rescales each class; ``ignore_index`` marks index targets to skip; ``label_smoothing`` in
    ``[0, 1]`` mixes the target with the uniform distribution.

    >>> import minillm
    >>> logits = minillm.tensor([[2.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    >>> round(float(cross_entropy(logits, minillm.tensor([0, 2]))), 4)
    0.6691
    """
    _check_reduction(reduction)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1], got {label_smoothing}")
    x, target = _t(input), _t(target)
    if target.dtype.kind == "f":
        _same_shape("cross_entropy (probability targets)", x, target)
        if ignore_index != -100:
            raise ValueError(
                f"cross_entropy: ignore_index={ignore_index} applies to class-index targets only, "
                f"but the target holds class probabilities (dtype {target.dtype})"
            )
        return _cross_entropy_probs(x, target, weight, reduction, label_smoothing)
    if weight is not None:
        return _cross_entropy_indices(x, target, weight, ignore_index, reduction, label_smoothing)
    if x.dtype.kind != "f":
        raise TypeError(f"cross_entropy: input must hold floating-point logits, not {x.dtype}")
    rows, t = _rows(x, target, "cross_entropy")
    _valid_targets(t, rows.shape[1], ignore_index, "cross_entropy")
    loss = fused.CrossEntropy.apply(
        rows,
        _wrap(t),
        ignore_index=int(ignore_index),
        label_smoothing=float(label_smoothing),
        reduction=reduction,
    )
    return loss.reshape(target.shape) if reduction == "none" else loss


def cross_entropy_reference(
    input: Any,  # noqa: A002
    target: Any,
    ignore_index: int = -100,
    label_smoothing: float = 0.0,
    reduction: str = "mean",
) -> Tensor:
    """What the fused op computes for (N, C) logits and index targets, from primitives:
    ``(1 - eps) * -log_softmax[target] + eps * mean(-log_softmax)`` on the counted rows."""
    x, t = _t(input), _t(target).data
    keep = t != ignore_index
    logp = x.log_softmax(-1)
    picked = logp[np.arange(x.shape[0]), np.where(keep, t, 0)]
    rows = (-picked * (1.0 - label_smoothing) - logp.mean(-1) * label_smoothing) * _wrap(
        keep.astype(x.dtype))  # fmt: skip
    if reduction == "none":
        return rows
    return rows.sum() if reduction == "sum" else rows.sum() / float(keep.sum())


# --------------------------------------------------------------------------------------------------
# Regression and binary losses
# --------------------------------------------------------------------------------------------------
def mse_loss(input: Any, target: Any, reduction: str = "mean") -> Tensor:  # noqa: A002
    """Squared error ``(input - target)^2``, reduced.

    >>> import minillm
    >>> float(mse_loss(minillm.tensor([1.0, 3.0]), minillm.tensor([0.0, 0.0])))
    5.0
    """
    _check_reduction(reduction)
    diff = _t(input) - _t(target)
    return _reduce(diff * diff, reduction)


def l1_loss(input: Any, target: Any, reduction: str = "mean") -> Tensor:  # noqa: A002
    """Absolute error ``|input - target|``, reduced.

    >>> import minillm
    >>> float(l1_loss(minillm.tensor([1.0, -3.0]), minillm.tensor([0.0, 0.0])))
    2.0
    """
    _check_reduction(reduction)
    return _reduce((_t(input) - _t(target)).abs(), reduction)


def huber_loss(input: Any, target: Any, reduction: str = "mean", delta: float = 1.0) -> Tensor:  # noqa: A002
    """Squared error near zero, absolute beyond ``delta``: ``d^2 / 2`` for ``|d| < delta``, else
    ``delta (|d| - delta / 2)``, with ``d = input - target`` (the two meet smoothly at ``delta``).

    >>> import minillm
    >>> huber_loss(minillm.tensor([0.5, 3.0]), minillm.zeros(2), reduction="none").tolist()
    [0.125, 2.5]
    """
    _check_reduction(reduction)
    if not delta > 0:
        raise ValueError(f"huber_loss: delta must be positive, got {delta}")
    a = (_t(input) - _t(target)).abs()
    small = a < delta
    loss = (a * a * 0.5).where(small, (a - 0.5 * delta) * delta)
    return _reduce(loss, reduction)


def smooth_l1_loss(input: Any, target: Any, reduction: str = "mean", beta: float = 1.0) -> Tensor:  # noqa: A002
    """``huber_loss / beta``: ``d^2 / (2 beta)`` for ``|d| < beta``, else ``|d| - beta / 2``
    (``beta = 0`` is the L1 loss).

    >>> import minillm
    >>> smooth_l1_loss(minillm.tensor([0.5, 3.0]), minillm.zeros(2), reduction="none").tolist()
    [0.125, 2.5]
    """
    _check_reduction(reduction)
    if beta < 0:
        raise ValueError(f"smooth_l1_loss: beta must be >= 0, got {beta}")
    if beta == 0:
        return l1_loss(input, target, reduction)
    return huber_loss(input, target, reduction, delta=beta) / float(beta)


def binary_cross_entropy(
    input: Any,  # noqa: A002
    target: Any,
    weight: Tensor | None = None,
    reduction: str = "mean",
) -> Tensor:
    """``-w (t log p + (1 - t) log(1 - p))`` for probabilities ``p``; each log is clamped at -100.

    The clamp (PyTorch's) keeps ``p = 0`` or ``1`` finite. Prefer
    ``binary_cross_entropy_with_logits``, which is exact where ``p`` would round to 0 or 1.

    >>> import minillm
    >>> round(float(binary_cross_entropy(minillm.tensor([0.8]), minillm.tensor([1.0]))), 4)
    0.2231
    """
    _check_reduction(reduction)
    p, t = _t(input), _t(target)
    _same_shape("binary_cross_entropy", p, t)
    floor = float(np.exp(-100.0))  # log(max(p, e^-100)) == max(log p, -100), and never log(0)
    log_p = p.clamp(min=floor).log()
    log_1mp = (1.0 - p).clamp(min=floor).log()
    loss = -(t * log_p + (1.0 - t) * log_1mp)
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


def _softplus_neg(x: Tensor) -> Tensor:
    """``log(1 + e^-x)`` as ``logsumexp([0, -x])``: no overflow, and smooth at 0 (slope -1/2).

    The form ``max(-x, 0) + log(1 + e^-|x|)`` is as stable, but its two kinks at 0 would each give
    a zero subgradient there, so its gradient at the common point ``x = 0`` would be wrong.
    """
    zero = _wrap(np.zeros(x.shape, dtype=x.dtype))
    return _functions.stack([zero, -x], axis=-1).logsumexp(dim=-1)


def binary_cross_entropy_with_logits(
    input: Any,  # noqa: A002
    target: Any,
    weight: Tensor | None = None,
    reduction: str = "mean",
    pos_weight: Tensor | None = None,
) -> Tensor:
    """Sigmoid plus binary cross entropy in one stable formula, for logits ``x`` of any size.

    ``l = w ((1 - t) x + (1 + (pos_weight - 1) t) log(1 + e^-x))``. ``pos_weight`` (broadcast
    along the last axis, one per class) scales the positive term to trade recall for precision.

    >>> import minillm
    >>> x = minillm.tensor([1000.0, -1000.0])
    >>> binary_cross_entropy_with_logits(x, minillm.tensor([1.0, 0.0])).tolist()
    0.0
    """
    _check_reduction(reduction)
    x, t = _t(input), _t(target)
    _same_shape("binary_cross_entropy_with_logits", x, t)
    sp = _softplus_neg(x)
    if pos_weight is None:
        loss = (1.0 - t) * x + sp
    else:
        loss = (1.0 - t) * x + (1.0 + (pos_weight - 1.0) * t) * sp
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


def kl_div(
    input: Any,  # noqa: A002
    target: Any,
    reduction: str = "mean",
    log_target: bool = False,
) -> Tensor:
    """Pointwise KL divergence ``t (log t - input)`` with ``input`` given as log-probabilities.

    With ``log_target=True`` the target is log-probabilities too: ``l = e^t (t - input)``. Terms
    with ``t = 0`` are 0. ``reduction="batchmean"`` divides the sum by the batch size (the true KL
    divergence per sample); ``"mean"`` divides by the number of elements, as PyTorch does.

    >>> import minillm
    >>> p = minillm.tensor([[0.5, 0.5]])
    >>> float(kl_div(p.log(), p, reduction="batchmean"))
    0.0
    """
    _check_reduction(reduction, (*_REDUCTIONS, "batchmean"))
    x, t = _t(input), _t(target)
    if log_target:
        loss = t.exp() * (t - x)
    else:
        positive = _wrap(t.data > 0)
        log_t = t.where(positive, 1.0).log()  # log 1 = 0 where t = 0: the term 0 * log 0 is 0
        loss = t * (log_t - x)
    if reduction == "batchmean":
        return loss.sum() / (x.shape[0] if x.ndim else 1)
    return _reduce(loss, reduction)
