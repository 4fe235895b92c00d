"""The loss curve of a run, drawn from its metrics.jsonl with matplotlib (the ``plot`` extra).

Read next: ``minillm/training/trainer.py`` (``Trainer.plot``, which turns any failure here into a
one-line note: a plot is never worth a failed run).
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

from minillm import io
from minillm.training.config import METRICS, writing


def plot_losses(out: Path) -> Path | None:
    """``out/loss.png``: the training loss per step and the validation loss per evaluation, from
    ``out/metrics.jsonl`` (None when it holds no step yet)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = []
    for line in (out / METRICS).read_text().splitlines():
        with contextlib.suppress(ValueError):
            record = json.loads(line)
            if isinstance(record, dict) and {"step", "loss"} <= record.keys():
                rows.append(record)
    if not rows:
        return None
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot([r["step"] for r in rows], [r["loss"] for r in rows], lw=0.8, label="train (batch)")
    ev = [r for r in rows if "val_loss" in r]
    ax.plot([r["step"] for r in ev], [r["val_loss"] for r in ev], "o-", label="validation")
    ax.set_xlabel("step")
    ax.set_ylabel("cross-entropy (nats/token)")
    ax.legend()
    fig.tight_layout()
    path = out / "loss.png"
    with writing(path), io.atomic_write(path) as f:
        fig.savefig(f, format="png")
    plt.close(fig)
    return path
