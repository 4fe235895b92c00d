"""Stochastic gradient descent, with optional momentum, Nesterov momentum and weight decay.

For parameter ``p`` with gradient ``g``, learning rate ``lr``, momentum ``mu``, dampening ``tau``
and weight decay ``wd`` (PyTorch's formulation, step by step):

    g <- -g                       if maximize
    g <- g + wd * p               (L2 penalty folded into the gradient)
    b <- g                        at the first step (no dampening on the first buffer)
    b <- mu * b + (1 - tau) * g   afterwards
    d <- g + mu * b  if nesterov  else  b        (d = g when mu = 0)
    p <- p - lr * d

Note this differs from Sutskever et al.'s form (``v = mu v + lr g``) by where ``lr`` sits; the two
agree while ``lr`` is constant. Read next: ``minillm/optim/adam.py``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from minillm.optim.explain import StepExplanation, find_group, gradient_of
from minillm.optim.optimizer import Optimizer, check_nonnegative
from minillm.tensor import Tensor


class SGD(Optimizer):
    """Gradient descent with optional (Nesterov) momentum, dampening and weight decay.

    Args:
        params: Tensors or param-group dicts.
        lr: learning rate.
        momentum: momentum factor ``mu`` (0 turns momentum off).
        dampening: ``tau``, how much of each new gradient the buffer does *not* take.
        weight_decay: L2 penalty ``wd``, added to the gradient as ``wd * p``.
        nesterov: look ahead along the momentum (needs ``momentum > 0`` and no dampening).
        maximize: ascend the objective instead of descending it.

    >>> import minillm
    >>> w = minillm.tensor([1.0], requires_grad=True)
    >>> opt = SGD([w], lr=0.1, momentum=0.9)
    >>> for _ in range(2):
    ...     opt.zero_grad()
    ...     (w * 2.0).sum().backward()    # constant gradient 2
    ...     opt.step()
    >>> round(w.item(), 4)                # 1 - 0.1*2 - 0.1*(0.9*2 + 2)
    0.42
    """

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict[str, Any]],
        lr: float = 1e-3,
        momentum: float = 0.0,
        dampening: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
        *,
        maximize: bool = False,
    ) -> None:
        defaults = {
            "lr": lr,
            "momentum": momentum,
            "dampening": dampening,
            "weight_decay": weight_decay,
            "nesterov": nesterov,
            "maximize": maximize,
        }
        super().__init__(params, defaults)

    def _check_options(self, options: dict[str, Any]) -> None:
        super()._check_options(options)
        for name in ("momentum", "weight_decay"):
            if name in options:
                check_nonnegative(name, options[name])
        if options.get("nesterov") and (
            options.get("momentum", 0) <= 0 or options.get("dampening", 0) != 0
        ):
            raise ValueError("Nesterov momentum requires momentum > 0 and dampening = 0")

    def _update(self, p: Tensor, grad: np.ndarray, state: dict[str, Any], group: dict) -> None:
        lr, mu, wd = group["lr"], group["momentum"], group["weight_decay"]
        d = -grad if group["maximize"] else grad
        if wd != 0:
            d = d + wd * p.data
        if mu != 0:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = Tensor(np.array(d, dtype=p.dtype, copy=True))
            else:
                buf.data *= mu
                buf.data += (1.0 - group["dampening"]) * d
            d = d + mu * buf.data if group["nesterov"] else buf.data
        p.data -= lr * d

    def explain(self, param: Tensor) -> StepExplanation:
        """What the last ``step()`` did to ``param``, term by term, in float64; changes nothing.

        Reads ``param.grad`` (call it before ``zero_grad``) and the momentum buffer; SGD keeps
        no step count, so it assumes ``param`` is as the last step left it.

        >>> import minillm
        >>> w = minillm.tensor([1.0], requires_grad=True)
        >>> opt = SGD([w], lr=0.1, weight_decay=0.5)
        >>> w.grad = minillm.tensor([2.0])
        >>> opt.step()                    # d = 2 + 0.5 * 1
        >>> e = opt.explain(w)
        >>> [round(float(x[0]), 6) for x in (e.l2_term, e.update, e.param_after)]
        [0.5, 0.25, 0.75]
        """
        group = find_group(self, param)
        lr, mu, wd = self._lr_of_last_step(param), group["momentum"], group["weight_decay"]
        g = gradient_of(param)
        g = -g if group["maximize"] else g
        after = np.asarray(param.data, dtype=np.float64)
        details: dict[str, Any] = {}
        if mu != 0:
            buf = self.state.get(param, {}).get("momentum_buffer")
            if buf is None:
                raise ValueError("explain: no step() has updated this parameter yet")
            b = details["momentum_buffer b"] = np.asarray(buf.data, dtype=np.float64)
        if mu != 0 and not group["nesterov"]:  # d = b
            before = after + lr * b
            d = b
        else:  # d = g + wd before (+ mu b), and after = before - lr d: solve for before
            known = g + mu * b if mu != 0 else g
            before = (after + lr * known) / (1.0 - lr * wd)
            d = known + wd * before
        details["direction d"] = d
        l2_term = wd * before
        return StepExplanation(
            optimizer="SGD",
            step=None,
            lr=float(lr),
            grad=gradient_of(param),
            effective_grad=g + l2_term,
            l2_term=l2_term,
            update=lr * d,
            decay=np.zeros_like(after),
            weight_decay="L2" if wd else "none",
            param_before=before,
            param_after=after,
            details=details,
        )
