"""Training a GPT from the command line's settings: ``config.py`` (the settings and a run's
files), then ``trainer.py`` (the loop, checkpoints and failure handling), ``resume.py`` (what
``--resume`` checks and restores), ``signals.py`` (stopping on Ctrl-C or SIGTERM), ``plot.py``
(the loss curve) and ``distributed.py`` (the same run on several processes).

Read next: ``minillm/training/config.py``.
"""

from __future__ import annotations

from minillm.training.config import (
    CHECKPOINT,
    CONFIG,
    METRICS,
    PRESETS,
    TOKENIZER,
    DivergedError,
    Teacher,
    TrainConfig,
    TrainingError,
    read_run_config,
)
from minillm.training.trainer import Trainer, build_tokenizer

__all__ = [
    "CHECKPOINT",
    "CONFIG",
    "METRICS",
    "PRESETS",
    "TOKENIZER",
    "DivergedError",
    "Teacher",
    "TrainConfig",
    "Trainer",
    "TrainingError",
    "build_tokenizer",
    "read_run_config",
]
