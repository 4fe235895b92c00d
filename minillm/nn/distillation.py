"""Knowledge distillation's loss (Hinton, Vinyals and Dean, 2015, "Distilling the Knowledge in a
Neural Network"): a small student learns the teacher's whole distribution, not only the labels.

    soft = T^2 * KL( softmax(teacher / T) || softmax(student / T) )     (batchmean)
    hard = cross_entropy(student, targets)
    loss = alpha * soft + (1 - alpha) * hard

A temperature T > 1 flattens both distributions so the teacher's small probabilities (which
wrong answers it finds plausible) carry signal; the soft term's gradient shrinks as 1/T^2, and
the T^2 factor restores its scale so alpha means the same at every temperature. Built from
``Tensor.log_softmax``, ``kl_div`` (``log_target=True``: both sides as log-probabilities) and
``cross_entropy``, so its gradient is theirs (gradchecked in ``tests/test_distill.py``).

Read next: ``minillm/compress/command.py``.
"""

from __future__ import annotations

from typing import Any

from minillm.nn.losses import cross_entropy, kl_div
from minillm.tensor import Tensor
from minillm.tensor import as_tensor as _t


def distillation_loss(
    student_logits: Any,
    teacher_logits: Any,
    targets: Any,
    temperature: float = 2.0,
    alpha: float = 0.5,
    ignore_index: int = -100,
) -> Tensor:
    """``alpha T^2 KL(p_teacher || p_student) + (1 - alpha) CE(student, targets)``, per row.

    Logits are (N, C) (or (B, T, C), flattened to rows); targets are N class indices. The
    teacher is treated as a constant (its logits are detached).

    >>> import minillm
    >>> s = minillm.tensor([[2.0, 0.0, -1.0]])
    >>> round(float(distillation_loss(s, s, minillm.tensor([0]), alpha=1.0)), 6)  # same: no KL
    0.0
    """
    s, t = _t(student_logits), _t(teacher_logits).detach()
    if s.shape != t.shape:
        raise ValueError(
            f"distillation_loss: student logits {s.shape} and teacher logits {t.shape} differ"
        )
    if not temperature > 0:
        raise ValueError(f"distillation_loss: temperature must be > 0, got {temperature}")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"distillation_loss: alpha must be in [0, 1], got {alpha}")
    C = s.shape[-1]
    s2, t2 = s.reshape(-1, C), t.reshape(-1, C)
    soft = kl_div(
        (s2 / temperature).log_softmax(dim=-1),
        (t2 / temperature).log_softmax(dim=-1),
        reduction="batchmean",
        log_target=True,
    )
    hard = cross_entropy(s2, _t(targets).reshape(-1), ignore_index=ignore_index)
    return soft * (alpha * temperature**2) + hard * (1.0 - alpha)
