"""``minillm.nn.utils``: what acts on a model's parameters from outside, as in ``torch.nn.utils``.

``clip_grad.py`` clips gradients between backward and step (``clip_grad_norm_``,
``clip_grad_value_``, importable from here as before); ``prune.py`` is ``minillm.nn.utils.prune``,
PyTorch's pruning API with its reparametrization (``weight_orig`` and ``weight_mask``).

Read next: ``clip_grad.py``, then ``prune.py``.
"""

from __future__ import annotations

from minillm.nn.utils import prune
from minillm.nn.utils.clip_grad import (
    Params,
    clip_grad_norm_,
    clip_grad_value_,
    clip_grads_with_norm_,
)

__all__ = ["Params", "clip_grad_norm_", "clip_grad_value_", "clip_grads_with_norm_", "prune"]
