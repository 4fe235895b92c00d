"""Adam (Kingma & Ba, 2015) and AdamW (Loshchilov & Hutter, 2019): adaptive moment estimation.

For parameter ``p`` with gradient ``g`` at step ``t = 1, 2, ...`` (PyTorch's formulation):

    g <- -g                                  if maximize
    p <- p * (1 - lr * wd)                   AdamW: decay decoupled from the gradient
    g <- g + wd * p                          Adam: L2 penalty folded into the gradient
    m <- b1 * m + (1 - b1) * g               first moment (running mean of g)
    v <- b2 * v + (1 - b2) * g^2             second moment (running mean of g^2)
    v_max <- max(v_max, v)                   amsgrad only; then v_max replaces v below
    denom <- sqrt(v) / sqrt(1 - b2^t) + eps
    p <- p - lr / (1 - b1^t) * m / denom

The bias corrections ``1 - b^t`` undo the pull of the zero initial moments toward 0, so the first
step is ``m/sqrt(v) = g/|g|``: every coordinate moves by about ``lr`` against its gradient's sign.
AdamW's decay shrinks weights at the same rate whatever their gradient scale; Adam's L2 penalty is
divided by ``sqrt(v)`` like the gradient, so heavily-updated weights are barely decayed.

The update, amsgrad included, is one fused pass over flat arrays, the ``adam_step`` kernel
(``minillm/kernels/adam.py``); non-contiguous or half-precision parameters take its NumPy twin.
Read next: ``minillm/optim/rmsprop.py`` and ``minillm/optim/lr_scheduler/``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from minillm import kernels
from minillm.optim.explain import StepExplanation, find_group, gradient_of
from minillm.optim.optimizer import Optimizer, check_beta, check_nonnegative
from minillm.tensor import Tensor


class Adam(Optimizer):
    """Adam: per-coordinate steps scaled by running estimates of the gradient's mean and size.

    Args:
        params: Tensors or param-group dicts.
        lr: learning rate.
        betas: decay rates ``(b1, b2)`` of the first and second moment averages, each in [0, 1).
        eps: added to the denominator for numerical stability.
        weight_decay: ``wd``; an L2 penalty in Adam, a decoupled shrink in AdamW.
        amsgrad: divide by the running maximum of ``v`` (Reddi et al., 2018).
        maximize: ascend the objective instead of descending it.
        decoupled_weight_decay: decay as AdamW does (``AdamW`` sets this).

    >>> import minillm
    >>> w = minillm.tensor([1.0, -1.0], requires_grad=True)
    >>> opt = Adam([w], lr=0.1)
    >>> (w * minillm.tensor([3.0, -0.01])).sum().backward()
    >>> opt.step()                        # first step: -lr * sign(g), whatever |g|
    >>> w
    tensor([ 0.9, -0.9], requires_grad=True)
    """

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict[str, Any]],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
        decoupled_weight_decay: bool = False,
    ) -> None:
        defaults = {
            "lr": lr,
            "betas": tuple(betas),
            "eps": eps,
            "weight_decay": weight_decay,
            "amsgrad": amsgrad,
            "maximize": maximize,
            "decoupled_weight_decay": decoupled_weight_decay,
        }
        super().__init__(params, defaults)

    def _check_options(self, options: dict[str, Any]) -> None:
        super()._check_options(options)
        for name in ("eps", "weight_decay"):
            if name in options:
                check_nonnegative(name, options[name])
        if "betas" in options:
            betas = options["betas"]
            if len(betas) != 2:
                raise ValueError(f"betas must be a pair (beta1, beta2), got {betas!r}")
            check_beta("beta1 (betas[0])", betas[0])
            check_beta("beta2 (betas[1])", betas[1])

    def _update(self, p: Tensor, grad: np.ndarray, state: dict[str, Any], group: dict) -> None:
        if not state:
            state["step"] = 0
            state["exp_avg"] = Tensor(np.zeros_like(p.data))
            state["exp_avg_sq"] = Tensor(np.zeros_like(p.data))
        if group["amsgrad"] and "max_exp_avg_sq" not in state:  # also when switched on later
            state["max_exp_avg_sq"] = Tensor(np.zeros_like(p.data))
        state["step"] += 1
        lr, (beta1, beta2), eps, wd = (
            group["lr"],
            group["betas"],
            group["eps"],
            group["weight_decay"],
        )
        decoupled = group["decoupled_weight_decay"]
        g = -grad if group["maximize"] else grad
        m, v = state["exp_avg"].data, state["exp_avg_sq"].data
        v_max = state["max_exp_avg_sq"].data if group["amsgrad"] else None
        args = (float(lr), float(beta1), float(beta2), float(eps), float(wd), state["step"])
        if p.data.flags.c_contiguous and p.dtype in (np.float32, np.float64):
            # The kernel wants flat contiguous arrays of one dtype; reshape(-1) of a contiguous
            # array is a view, so the kernel writes straight into the parameter and the moments.
            g = np.ascontiguousarray(g, dtype=p.dtype).reshape(-1)
            flat = (p.data.reshape(-1), g, m.reshape(-1), v.reshape(-1))
            vm = None if v_max is None else v_max.reshape(-1)
            kernels.adam.adam_step(*flat, *args, bool(decoupled), vm)
        else:
            # non-contiguous or float16: the kernel's NumPy twin works on any layout
            kernels.adam.adam_step.ref(p.data, g, m, v, *args, bool(decoupled), v_max)

    def explain(self, param: Tensor) -> StepExplanation:
        """What the last ``step()`` did to ``param``, term by term, in float64; changes nothing.

        The moments and the step count come from the state, the gradient from ``param.grad``
        (call it before ``zero_grad``), the value before the step is solved back from the rule
        (``minillm/optim/explain.py``).

        >>> import minillm
        >>> w = minillm.tensor([2.0], requires_grad=True)
        >>> opt = AdamW([w], lr=0.1, weight_decay=0.5)
        >>> w.grad = minillm.tensor([1.0])
        >>> opt.step()
        >>> e = opt.explain(w)
        >>> [round(float(x[0]), 6) for x in (e.update, e.decay, e.param_before, e.param_after)]
        [0.1, 0.1, 2.0, 1.8]
        """
        group = find_group(self, param)
        state = self.state.get(param)
        if not state:
            raise ValueError("explain: no step() has updated this parameter yet")
        t, lr, (beta1, beta2), eps, wd = (
            state["step"], self._lr_of_last_step(param), group["betas"], group["eps"],
            group["weight_decay"]
        )  # fmt: skip
        decoupled = group["decoupled_weight_decay"]
        g = gradient_of(param)
        g = -g if group["maximize"] else g
        m = np.asarray(state["exp_avg"].data, dtype=np.float64)
        v = np.asarray(state["exp_avg_sq"].data, dtype=np.float64)
        v_used = (
            np.asarray(state["max_exp_avg_sq"].data, dtype=np.float64) if group["amsgrad"] else v
        )
        bc1, bc2 = 1.0 - beta1**t, 1.0 - beta2**t
        denom = np.sqrt(v_used) / math.sqrt(bc2) + eps
        update = lr / bc1 * m / denom
        after = np.asarray(param.data, dtype=np.float64)
        # after = before * shrink - update, with shrink = 1 - lr wd for AdamW (1 for Adam)
        before = (after + update) / (1.0 - lr * wd if decoupled else 1.0)
        zeros = np.zeros_like(after)
        decay = lr * wd * before if decoupled else zeros
        l2_term = zeros if decoupled else wd * before
        return StepExplanation(
            optimizer="AdamW" if decoupled else "Adam",
            step=t,
            lr=float(lr),
            grad=gradient_of(param),
            effective_grad=g + l2_term,
            l2_term=l2_term,
            update=update,
            decay=decay,
            weight_decay="none" if wd == 0 else ("decoupled" if decoupled else "L2"),
            param_before=before,
            param_after=after,
            details={
                "exp_avg m": m,
                "exp_avg_sq v" + (" (max)" if group["amsgrad"] else ""): v_used,
                "bias_correction1 1-b1^t": bc1,
                "bias_correction2 1-b2^t": bc2,
                "denom sqrt(v/bc2)+eps": denom,
            },
        )


class AdamW(Adam):
    """Adam with decoupled weight decay: ``p *= 1 - lr * wd`` before the Adam step.

    Same arguments as ``Adam``; ``weight_decay`` defaults to 0.01 (as in PyTorch).

    >>> import minillm
    >>> w = minillm.tensor([2.0], requires_grad=True)
    >>> opt = AdamW([w], lr=0.1, weight_decay=0.5)
    >>> w.grad = minillm.tensor([1.0])
    >>> opt.step()                        # 2 * (1 - 0.1*0.5) - 0.1
    >>> round(w.item(), 4)
    1.8
    """

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict[str, Any]],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
    ) -> None:
        super().__init__(
            params,
            lr,
            betas,
            eps,
            weight_decay,
            amsgrad,
            maximize=maximize,
            decoupled_weight_decay=True,
        )
