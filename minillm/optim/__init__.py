"""Optimizers and learning-rate schedules, with PyTorch's names, defaults and update formulas.

``Optimizer`` (``optimizer.py``) holds the parameter groups, the per-parameter state and the
checkpoint format; each subclass adds one update rule: ``SGD`` (``sgd.py``), ``Adam``/``AdamW``
(``adam.py``), ``RMSprop`` (``rmsprop.py``). Schedules live in ``minillm.optim.lr_scheduler``.

>>> import minillm
>>> from minillm.optim import AdamW
>>> from minillm.optim.lr_scheduler import WarmupCosineLR
>>> w = minillm.tensor([1.0, -2.0], requires_grad=True)
>>> opt = AdamW([w], lr=0.1, weight_decay=0.0)
>>> sched = WarmupCosineLR(opt, warmup_steps=2, max_steps=10)
>>> for _ in range(10):
...     opt.zero_grad()
...     (w * w).sum().backward()
...     opt.step()
...     sched.step()
>>> bool((w.abs() < minillm.tensor([1.0, 2.0])).data.all())
True
"""

from __future__ import annotations

from minillm.optim import lr_scheduler
from minillm.optim.adam import Adam, AdamW
from minillm.optim.optimizer import Optimizer
from minillm.optim.rmsprop import RMSprop
from minillm.optim.sgd import SGD

__all__ = ["SGD", "Adam", "AdamW", "Optimizer", "RMSprop", "lr_scheduler"]
