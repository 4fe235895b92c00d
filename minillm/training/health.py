"""Network health during training: how large each layer's gradient is, how far each step moves
its weights, and when clipping cut in (``minillm train --health-every N``).

Every N steps the trainer records, per layer (the parameters of one block, or of one top-level
module such as ``transformer.wte``):

    grad_norm     ||g||, the gradient before clipping        shows vanishing or exploding layers
    update_ratio  ||w_after - w_before|| / ||w_before||      ~1e-3 is typical with Adam; far
                                                             smaller: stuck; far larger: unstable
and ``clipped``, whether the global norm exceeded ``--grad-clip`` (so every gradient was scaled
down). The record goes into metrics.jsonl under ``"health"``, and ``health.png`` plots both
quantities per layer over the run (``plot.py``, the ``plot`` extra).

Read next: ``minillm/training/trainer.py`` (``train_step`` measures it) and
``minillm/nn/utils/clip_grad.py``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def layer_of(name: str) -> str:
    """The layer a parameter belongs to: its name up to the block number, if it has one, else
    without its last part.

    >>> layer_of("transformer.h.3.attn.c_attn.weight"), layer_of("transformer.wte.weight")
    ('transformer.h.3', 'transformer.wte')
    """
    parts = name.split(".")
    for i, part in enumerate(parts):
        if part.isdigit():
            return ".".join(parts[: i + 1])
    return ".".join(parts[:-1]) or name


def _norms(arrays: dict[str, np.ndarray]) -> dict[str, float]:
    squares: dict[str, float] = {}
    for name, a in arrays.items():
        layer = layer_of(name)
        squares[layer] = squares.get(layer, 0.0) + float(np.sum(np.square(a, dtype=np.float64)))
    return {layer: math.sqrt(v) for layer, v in squares.items()}


class HealthProbe:
    """Measures one step: ``before()`` after backward (gradients, weights), ``after()`` once the
    optimizer has stepped; ``record`` is then the step's health."""

    def __init__(self, model: Any) -> None:
        self.params = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
        self.record: dict[str, Any] = {}

    def before(self) -> None:
        grads = {n: p.grad.data for n, p in self.params if p.grad is not None}
        self.grad_norm = _norms(grads)
        self.weights = {n: p.data.copy() for n, p in self.params}

    def after(self, global_norm: float, clip: float) -> dict[str, Any]:
        moved = {n: p.data - self.weights[n] for n, p in self.params}
        moves, sizes = _norms(moved), _norms(self.weights)
        ratio = {layer: moves[layer] / sizes[layer] if sizes[layer] > 0 else 0.0 for layer in moves}
        self.record = {"grad_norm": self.grad_norm, "update_ratio": ratio,
                       "clipped": bool(global_norm > clip)}  # fmt: skip
        self.weights = {}
        return self.record
