"""Loss modules: ``nn.CrossEntropyLoss()(logits, target)`` is ``F.cross_entropy(logits, target)``.

Each class stores its options (and a class ``weight`` or ``pos_weight`` as a buffer, so it follows
``to()`` and is saved with the model) and calls its function in ``minillm/nn/losses.py``, where the
math and PyTorch's reduction rules are documented.

Read next: ``minillm/nn/utils/clip_grad.py`` (gradient clipping).
"""

from __future__ import annotations

from typing import Any

from minillm.nn import losses
from minillm.nn.module import Module
from minillm.tensor import Tensor


class _Loss(Module):
    """Shared by the loss modules: a ``reduction`` and an optional per-class ``weight`` buffer."""

    def __init__(self, reduction: str = "mean", weight: Tensor | None = None) -> None:
        super().__init__()
        self.reduction = reduction
        self.register_buffer("weight", weight)

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}" if self.reduction != "mean" else ""


class CrossEntropyLoss(_Loss):
    """Cross entropy between logits and class indices or probabilities (``F.cross_entropy``).

    >>> import minillm
    >>> loss = CrossEntropyLoss(label_smoothing=0.1)
    >>> loss(minillm.zeros(4, 3), minillm.tensor([0, 1, 2, 0])).item() > 0
    True
    """

    def __init__(
        self,
        weight: Tensor | None = None,
        ignore_index: int = -100,
        reduction: str = "mean",
        label_smoothing: float = 0.0,
    ) -> None:
        super().__init__(reduction, weight)
        self.ignore_index = ignore_index
        self.label_smoothing = label_smoothing

    def forward(self, input: Tensor, target: Any) -> Tensor:  # noqa: A002
        return losses.cross_entropy(
            input,
            target,
            weight=self.weight,
            ignore_index=self.ignore_index,
            reduction=self.reduction,
            label_smoothing=self.label_smoothing,
        )


class NLLLoss(_Loss):
    """Negative log likelihood of class indices given log-probabilities (``F.nll_loss``).

    >>> import minillm
    >>> round(NLLLoss()(minillm.tensor([[-0.5, -1.0]]), minillm.tensor([1])).item(), 4)
    1.0
    """

    def __init__(
        self, weight: Tensor | None = None, ignore_index: int = -100, reduction: str = "mean"
    ) -> None:
        super().__init__(reduction, weight)
        self.ignore_index = ignore_index

    def forward(self, input: Tensor, target: Any) -> Tensor:  # noqa: A002
        return losses.nll_loss(input, target, self.weight, self.ignore_index, self.reduction)


class MSELoss(_Loss):
    """Mean squared error (``F.mse_loss``).

    >>> import minillm
    >>> MSELoss(reduction="sum")(minillm.ones(3), minillm.zeros(3)).item()
    3.0
    """

    def forward(self, input: Tensor, target: Any) -> Tensor:  # noqa: A002
        return losses.mse_loss(input, target, self.reduction)


class L1Loss(_Loss):
    """Mean absolute error (``F.l1_loss``).

    >>> import minillm
    >>> L1Loss()(minillm.ones(3), minillm.zeros(3)).item()
    1.0
    """

    def forward(self, input: Tensor, target: Any) -> Tensor:  # noqa: A002
        return losses.l1_loss(input, target, self.reduction)


class HuberLoss(_Loss):
    """``F.huber_loss``: squared near zero, absolute beyond ``delta``."""

    def __init__(self, reduction: str = "mean", delta: float = 1.0) -> None:
        super().__init__(reduction)
        self.delta = delta

    def forward(self, input: Tensor, target: Any) -> Tensor:  # noqa: A002
        return losses.huber_loss(input, target, self.reduction, self.delta)


class SmoothL1Loss(_Loss):
    """``F.smooth_l1_loss``: the Huber loss divided by ``beta``."""

    def __init__(self, reduction: str = "mean", beta: float = 1.0) -> None:
        super().__init__(reduction)
        self.beta = beta

    def forward(self, input: Tensor, target: Any) -> Tensor:  # noqa: A002
        return losses.smooth_l1_loss(input, target, self.reduction, self.beta)


class BCELoss(_Loss):
    """Binary cross entropy on probabilities (``F.binary_cross_entropy``).

    >>> import minillm
    >>> round(BCELoss()(minillm.tensor([0.5]), minillm.tensor([1.0])).item(), 4)
    0.6931
    """

    def __init__(self, weight: Tensor | None = None, reduction: str = "mean") -> None:
        super().__init__(reduction, weight)

    def forward(self, input: Tensor, target: Any) -> Tensor:  # noqa: A002
        return losses.binary_cross_entropy(input, target, self.weight, self.reduction)


class BCEWithLogitsLoss(_Loss):
    """Binary cross entropy on logits, (``F.binary_cross_entropy_with_logits``).

    >>> import minillm
    >>> round(BCEWithLogitsLoss()(minillm.zeros(2), minillm.ones(2)).item(), 4)
    0.6931
    """

    def __init__(
        self,
        weight: Tensor | None = None,
        reduction: str = "mean",
        pos_weight: Tensor | None = None,
    ) -> None:
        super().__init__(reduction, weight)
        self.register_buffer("pos_weight", pos_weight)

    def forward(self, input: Tensor, target: Any) -> Tensor:  # noqa: A002
        return losses.binary_cross_entropy_with_logits(
            input, target, self.weight, self.reduction, pos_weight=self.pos_weight
        )


class KLDivLoss(_Loss):
    """KL divergence with log-probability inputs (``F.kl_div``); use ``reduction="batchmean"``.

    >>> import minillm
    >>> p = minillm.tensor([[0.25, 0.75]])
    >>> KLDivLoss(reduction="batchmean")(p.log(), p).item()
    0.0
    """

    def __init__(self, reduction: str = "mean", log_target: bool = False) -> None:
        super().__init__(reduction)
        self.log_target = log_target

    def forward(self, input: Tensor, target: Any) -> Tensor:  # noqa: A002
        return losses.kl_div(input, target, self.reduction, self.log_target)
