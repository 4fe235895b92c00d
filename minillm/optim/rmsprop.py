"""RMSprop (Hinton, Coursera lecture 6e): divide each step by a running RMS of the gradient.

For parameter ``p`` with gradient ``g`` (PyTorch's formulation, step by step):

    g <- -g                                   if maximize
    g <- g + wd * p                           (L2 penalty folded into the gradient)
    s <- alpha * s + (1 - alpha) * g^2        running mean of g^2
    a <- alpha * a + (1 - alpha) * g          centered only: running mean of g
    r <- sqrt(s - a^2) + eps   if centered  else  sqrt(s) + eps
    b <- mu * b + g / r;  p <- p - lr * b     with momentum mu > 0
    p <- p - lr * g / r                       without

Centering divides by an estimate of the gradient's standard deviation rather than its RMS
(Graves, 2013). Unlike Adam there is no bias correction, so early steps are large: at the first
step ``s = (1 - alpha) g^2`` and the step is ``lr / sqrt(1 - alpha)`` (10 lr for alpha = 0.99).
Read next: ``minillm/optim/lr_scheduler/``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from minillm.optim.optimizer import Optimizer, check_nonnegative
from minillm.tensor import Tensor


class RMSprop(Optimizer):
    """RMSprop, optionally centered and with momentum.

    Args:
        params: Tensors or param-group dicts.
        lr: learning rate.
        alpha: decay rate of the running averages.
        eps: added to the denominator for numerical stability.
        weight_decay: L2 penalty ``wd``, added to the gradient as ``wd * p``.
        momentum: momentum factor ``mu`` (0 turns momentum off).
        centered: normalize by the running variance of the gradient instead of its mean square.
        maximize: ascend the objective instead of descending it.

    >>> import minillm
    >>> w = minillm.tensor([1.0], requires_grad=True)
    >>> opt = RMSprop([w], lr=0.01, alpha=0.75)
    >>> w.grad = minillm.tensor([5.0])
    >>> opt.step()                        # 1 - 0.01 * 5 / sqrt(0.25 * 25)
    >>> round(w.item(), 4)
    0.98
    """

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict[str, Any]],
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        momentum: float = 0.0,
        centered: bool = False,
        *,
        maximize: bool = False,
    ) -> None:
        defaults = {
            "lr": lr,
            "alpha": alpha,
            "eps": eps,
            "weight_decay": weight_decay,
            "momentum": momentum,
            "centered": centered,
            "maximize": maximize,
        }
        super().__init__(params, defaults)

    def _check_options(self, options: dict[str, Any]) -> None:
        super()._check_options(options)
        for name in ("alpha", "eps", "weight_decay", "momentum"):
            if name in options:
                check_nonnegative(name, options[name])

    def _update(self, p: Tensor, grad: np.ndarray, state: dict[str, Any], group: dict) -> None:
        lr, alpha, eps = group["lr"], group["alpha"], group["eps"]
        wd, mu = group["weight_decay"], group["momentum"]
        if not state:
            state["step"] = 0
            state["square_avg"] = Tensor(np.zeros_like(p.data))
        # Buffers an option needs are made on first use, so options may also be switched on later.
        if mu > 0 and "momentum_buffer" not in state:
            state["momentum_buffer"] = Tensor(np.zeros_like(p.data))
        if group["centered"] and "grad_avg" not in state:
            state["grad_avg"] = Tensor(np.zeros_like(p.data))
        state["step"] += 1
        g = -grad if group["maximize"] else grad
        if wd != 0:
            g = g + wd * p.data
        s = state["square_avg"].data
        s *= alpha
        s += (1.0 - alpha) * g * g
        if group["centered"]:
            a = state["grad_avg"].data
            a *= alpha
            a += (1.0 - alpha) * g
            r = np.sqrt(s - a * a) + eps
        else:
            r = np.sqrt(s) + eps
        if mu > 0:
            b = state["momentum_buffer"].data
            b *= mu
            b += g / r
            p.data -= lr * b
        else:
            p.data -= lr * g / r
