"""The plots of a run, drawn from its metrics.jsonl with matplotlib (the ``plot`` extra):
``loss.png`` (training and validation loss) and, with ``--health-every``, ``health.png`` (each
layer's gradient norm and update ratio, ``health.py``).

Read next: ``minillm/training/trainer.py`` (``Trainer.plot``, which turns any failure here into a
one-line note: a plot is never worth a failed run).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from minillm import io
from minillm.training.config import METRICS, writing


def _records(out: Path, keep: Callable[[dict], bool]) -> list[dict]:
    """The readable metric lines of ``out`` that ``keep`` accepts (a line cut short is skipped)."""
    rows = []
    for line in (out / METRICS).read_text().splitlines():
        with contextlib.suppress(ValueError):
            record = json.loads(line)
            if isinstance(record, dict) and keep(record):
                rows.append(record)
    return rows


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> Path:
    """Write ``fig`` to ``path`` as a PNG, atomically, and close it."""
    with writing(path), io.atomic_write(path) as f:
        fig.savefig(f, format="png")
    _pyplot().close(fig)
    return path


def plot_losses(out: Path) -> Path | None:
    """``out/loss.png``: the training loss per step and the validation loss per evaluation, from
    ``out/metrics.jsonl`` (None when it holds no step yet)."""
    rows = _records(out, lambda r: {"step", "loss"} <= r.keys())
    if not rows:
        return None
    fig, ax = _pyplot().subplots(figsize=(7, 4))
    ax.plot([r["step"] for r in rows], [r["loss"] for r in rows], lw=0.8, label="train (batch)")
    ev = [r for r in rows if "val_loss" in r]
    ax.plot([r["step"] for r in ev], [r["val_loss"] for r in ev], "o-", label="validation")
    ax.set_xlabel("step")
    ax.set_ylabel("cross-entropy (nats/token)")
    ax.legend()
    fig.tight_layout()
    return _save(fig, out / "loss.png")


def plot_health(out: Path) -> Path | None:
    """``out/health.png``: each layer's gradient norm and update ratio over the run (log scale),
    with the steps where clipping cut in marked; None when no step recorded its health."""
    rows = _records(out, lambda r: isinstance(r.get("health"), dict) and "step" in r)
    if not rows:
        return None
    fig, (top, bottom) = _pyplot().subplots(2, 1, figsize=(8, 6), sharex=True)
    steps = [r["step"] for r in rows]
    for layer in rows[0]["health"]["grad_norm"]:
        top.plot(steps, [r["health"]["grad_norm"].get(layer, np.nan) for r in rows], label=layer)
        bottom.plot(steps, [r["health"]["update_ratio"].get(layer, np.nan) for r in rows])
    for r in rows:
        if r["health"].get("clipped"):
            top.axvline(r["step"], color="0.85", lw=0.8, zorder=0)
    top.set_yscale("log")
    top.set_ylabel("gradient norm")
    bottom.set_yscale("log")
    bottom.set_ylabel("|update| / |weight|")
    bottom.set_xlabel("step (grey lines: clipped)")
    top.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return _save(fig, out / "health.png")
