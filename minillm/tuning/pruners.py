"""Stopping hopeless trials early: the median rule and successive halving.

A trial reports its validation loss at every evaluation step. A pruner looks at what the other
trials reported at the same step and answers "stop?":

    median    stop if this trial's best loss so far is worse than the median of the *finished*
              trials' losses at this step (Google Vizier's median stopping rule; Optuna's
              MedianPruner). Nothing is stopped before ``startup`` trials have finished, nor at a
              trial's first evaluation.
    halving   asynchronous successive halving (ASHA, Li et al. 2020): rungs at the evaluation
              steps r, r*eta, r*eta^2, ...; at a rung a trial goes on only if its loss is among the
              best 1/eta of every loss recorded at that rung so far (at least the best one), so
              about 1/eta of the trials reach each next rung and the budget goes to the good ones.
    none      never stop.

Neither rule stops a trial while its learning rate is still warming up (steps <= ``warmup``):
before the peak, losses mostly say how large the learning rate is, not how good the setting is.
Curves are ``{step: val_loss}`` dicts; each trial's own curve is compared with the others' at the
same step. "The other trials" are those recorded when the trial started (with ``--jobs``, the
trials still running then are not among them).

Read next: ``minillm/tuning/study.py`` (the study that runs trials and asks these).
"""

from __future__ import annotations

from typing import Any

import numpy as np

PRUNERS = ("median", "halving", "none")


class Pruner:
    """Answers ``should_stop(step, curve)`` for one trial, given the other trials' curves."""

    def __init__(self, kind: str, others: list[dict[str, Any]], eval_interval: int,
                 warmup: int = 0, startup: int = 5, eta: int = 3) -> None:  # fmt: skip
        if kind not in PRUNERS:
            raise ValueError(f"prune must be one of {', '.join(PRUNERS)}, got {kind!r}")
        self.kind, self.eval_interval, self.warmup = kind, eval_interval, warmup
        self.startup, self.eta = startup, eta
        self.finished = [t["curve"] for t in others if t["state"] == "complete"]
        self.every = [t["curve"] for t in others if t["state"] in ("complete", "pruned")]

    def rungs(self, max_steps: int) -> list[int]:
        """The steps at which successive halving decides: eval_interval times 1, eta, eta^2..."""
        steps, r = [], self.eval_interval
        while r < max_steps:
            steps.append(r)
            r *= self.eta
        return steps

    def should_stop(self, step: int, curve: dict[int, float], max_steps: int) -> bool:
        loss = curve[step]
        if self.kind == "none" or step >= max_steps or step <= self.warmup:
            return False
        if self.kind == "median":
            if len(self.finished) < self.startup or len(curve) < 2:
                return False
            at_step = [c[step] for c in self.finished if step in c]
            return bool(at_step) and min(curve.values()) > float(np.median(at_step))
        if step not in self.rungs(max_steps):
            return False
        competing = sorted([c[step] for c in self.every if step in c] + [loss])
        keep = max(len(competing) // self.eta, 1)
        return loss > competing[keep - 1]
