"""What ``--resume`` checks before anything changes, and what it restores.

A resumed run must be the run it claims to continue: the folder holds its config, tokenizer and
checkpoint; the corpus hashes to the same SHA-256; the settings that shape the model and the data
(``FIXED_ON_RESUME``) are unchanged. The checkpoint's tensors are checked to be finite and its
optimizer moments to be whole before the Trainer uses them, and metric lines logged after the
checkpoint (steps that will be redone) are dropped.

Read next: ``minillm/training/trainer.py`` (which calls these in ``_setup``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from minillm import io
from minillm.tensor import Tensor
from minillm.training.config import (
    CHECKPOINT,
    CONFIG,
    FIXED_ON_RESUME,
    METRICS,
    TOKENIZER,
    TrainConfig,
    TrainingError,
    read_run_config,
    writing,
)


def check_resumable(
    out: Path, cfg: TrainConfig, corpus_name: str, corpus_hash: str
) -> dict[str, Any]:
    """Check the folder can be resumed with these settings; return its saved model config."""
    for name in (CONFIG, TOKENIZER):
        if not (out / name).exists():
            raise FileNotFoundError(
                f"--resume: {out / name} is missing; start a fresh run without --resume"
            )
    if not (out / CHECKPOINT).exists():
        raise FileNotFoundError(
            f"--resume: {out / CHECKPOINT} is missing: the run stopped before its first "
            f"checkpoint (at step {cfg.eval_interval}); start over with --overwrite"
        )
    saved_run = read_run_config(out)
    if saved_run.get("corpus_sha256", corpus_hash) != corpus_hash:
        raise TrainingError(
            f"--resume: the corpus {corpus_name} is not the text this run started on "
            "(its SHA-256 differs); resume with the same text or start a fresh run"
        )
    saved = saved_run["train"]
    changed = [
        f"{k}: checkpoint {saved.get(k)!r} vs now {getattr(cfg, k)!r}"
        for k in FIXED_ON_RESUME
        if saved.get(k) != getattr(cfg, k)
    ]
    if changed:
        raise TrainingError("--resume with a different model or data: " + "; ".join(changed))
    return saved_run["model"]


def load_checkpoint(out: Path, model: Any, optimizer: Any, cfg: TrainConfig) -> int:
    """Load the checkpoint into the model and optimizer, checked; return its step."""
    path = out / CHECKPOINT
    try:
        state = io.load_checkpoint(path, model=model, optimizer=optimizer)
    except (io.SafetensorsError, io.CheckpointError) as e:
        raise TrainingError(f"--resume: {e}") from None
    step = state["step"]
    if type(step) is not int or step < 0:
        raise TrainingError(f"--resume: {path} has step {step!r}, not a whole number >= 0")
    for name, value in model.state_dict().items():
        if not np.isfinite(value.data).all():
            raise TrainingError(f"--resume: {path}: tensor {name} holds NaN or infinity")
    for p, moments in optimizer.state.items():
        missing = {"step", "exp_avg", "exp_avg_sq"} - moments.keys()
        if moments and missing:
            raise TrainingError(f"--resume: {path}: the optimizer state of a parameter of "
                                f"shape {p.shape} lacks {sorted(missing)}")  # fmt: skip
        for key, value in moments.items():
            array = np.asarray(value.data if isinstance(value, Tensor) else value)
            bad = not np.isfinite(array).all() or (key == "exp_avg_sq" and (array < 0).any())
            if bad or (key == "step" and array.min() < 0):
                raise TrainingError(
                    f"--resume: {path}: the optimizer's {key} for a parameter of shape "
                    f"{p.shape} is not finite, or negative where it cannot be"
                )
    # The checkpoint restored the optimizer's settings as they were; those of this invocation
    # (say --weight-decay or --beta1 given with --resume) are the ones written to config.json.
    c = cfg
    decay, no_decay = optimizer.param_groups
    decay["weight_decay"], no_decay["weight_decay"] = c.weight_decay, 0.0
    for group in optimizer.param_groups:
        group["betas"] = (c.beta1, c.beta2)
    return step


def trim_metrics(out: Path, step: int) -> None:
    """Drop metric lines logged after the checkpoint (steps that will be redone)."""
    path = out / METRICS
    kept = []
    for line in path.read_text().splitlines() if path.exists() else []:
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut short when the process died mid-write
        if isinstance(record, dict) and isinstance(record.get("step"), int) \
                and record["step"] < step:  # fmt: skip
            kept.append(line)
    with writing(path), io.atomic_write(path, "w") as f:
        f.write("".join(line + "\n" for line in kept))
