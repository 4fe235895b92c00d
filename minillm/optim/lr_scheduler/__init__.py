"""Learning-rate schedules: objects that rewrite ``group["lr"]`` of an optimizer once per step.

Usage, as in PyTorch: build the scheduler after the optimizer (construction already performs the
schedule's step 0 and records each group's ``initial_lr``), then call ``optimizer.step()`` and
*then* ``scheduler.step()`` once per step (or epoch). ``get_last_lr()`` returns what was set.

Most schedules here are *chainable*, as PyTorch's are: ``get_lr`` computes the next lr from the
group's current lr (``StepLR`` multiplies by ``gamma`` every ``step_size`` steps), so several
schedulers can act on one optimizer and a hand-edited lr is respected. Where PyTorch has one, a
*closed form* from ``base_lrs`` and ``last_epoch`` is also given (``_closed_form_lr``); SequentialLR
uses it to restart a schedule at 0.

With ``t = last_epoch`` and base lr ``b``:

    LambdaLR           b * f(t)
    StepLR             b * gamma^(t // step_size)
    MultiStepLR        b * gamma^(number of milestones <= t)
    ExponentialLR      b * gamma^t
    CosineAnnealingLR  eta_min + (b - eta_min) (1 + cos(pi t / T_max)) / 2
    LinearLR           b * (start + (end - start) min(t, total) / total)
    OneCycleLR         warm up from max_lr/div_factor to max_lr, anneal to initial/final_div_factor
    ReduceLROnPlateau  lr * factor after ``patience`` steps without improvement of a metric
    WarmupCosineLR     b (t + 1) / warmup, then cosine from b down to min_lr at max_steps

``state_dict()`` holds plain numbers, strings and lists (JSON-able; ReduceLROnPlateau's ``best``
may be infinite). Functions given to LambdaLR cannot be saved and are skipped. Read
``minillm/optim/optimizer.py`` first, then ``base.py``, ``schedules.py``, ``composite.py``.
"""

from minillm.optim.lr_scheduler.base import LRScheduler
from minillm.optim.lr_scheduler.composite import OneCycleLR, ReduceLROnPlateau, SequentialLR
from minillm.optim.lr_scheduler.schedules import (
    CosineAnnealingLR,
    ExponentialLR,
    LambdaLR,
    LinearLR,
    MultiStepLR,
    StepLR,
    WarmupCosineLR,
    warmup_cosine,
)

__all__ = [
    "CosineAnnealingLR",
    "ExponentialLR",
    "LRScheduler",
    "LambdaLR",
    "LinearLR",
    "MultiStepLR",
    "OneCycleLR",
    "ReduceLROnPlateau",
    "SequentialLR",
    "StepLR",
    "WarmupCosineLR",
    "warmup_cosine",
]
