"""What a training run is: its settings, the files of its folder, the errors it can end with.

``TrainConfig`` holds every setting; the CLI builds one flag per field, with the field's sentence as
its help. ``PRESETS`` are named starting points. A run folder holds ``RUN_FILES``; its
``config.json`` records the settings the run last ran with, which ``--resume`` starts from.

Read next: ``minillm/training/trainer.py`` (the loop these settings drive).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from minillm.models.gpt import GPTConfig
from minillm.rundir import describe_write_error

CHECKPOINT = "ckpt.safetensors"
CONFIG = "config.json"
TOKENIZER = "tokenizer.json"
METRICS = "metrics.jsonl"


def _setting(default: Any, text: str, **extra: Any) -> Any:
    """A TrainConfig field with the sentence (and ``choices``) that the CLI shows for its flag."""
    return dataclasses.field(default=default, metadata={"help": text, **extra})


@dataclass
class TrainConfig:
    """Everything a run needs; the CLI flags map one to one onto these fields."""

    data: str | None = _setting(
        None,
        "a UTF-8 text file, or a folder of them, to train on; none: the built-in Python docs",
        metavar="PATH",
    )
    include: str | None = _setting(
        None,
        "with a folder --data: only files matching these comma-separated globs ('*.py,*.md')",
        metavar="GLOBS",
    )
    clean: str | None = _setting(
        None,
        "cleaning steps run on the corpus before tokenizing, in order ('nfkc,lower'; the names "
        "are minillm.text.STEPS)",
        metavar="STEPS",
    )
    out_dir: str = _setting(
        "out", "the run's folder: config, tokenizer, checkpoint, metrics", metavar="PATH"
    )
    tokenizer: str = _setting("char", "how text becomes tokens", choices=("char", "bpe"))
    vocab_size: int = _setting(
        512, "the BPE vocabulary to learn (a char vocabulary is the corpus's characters)"
    )
    n_layer: int = _setting(4, "how many transformer blocks the model stacks")
    n_head: int = _setting(4, "attention heads per block (must divide --n-embd)")
    n_embd: int = _setting(128, "the width C of every token's vector")
    block_size: int = _setting(64, "the context length T, in tokens")
    dropout: float = _setting(0.0, "dropout probability while training, in [0, 1)")
    bias: bool = _setting(True, "biases in the Linear and LayerNorm layers")
    batch_size: int = _setting(16, "windows per micro-batch")
    grad_accum: int = _setting(1, "micro-batches whose gradients add up to one optimizer step")
    lr: float = _setting(2e-3, "the peak learning rate, reached after the warmup")
    min_lr: float = _setting(2e-4, "the learning rate the cosine decay ends at")
    warmup: int = _setting(100, "steps of linear learning-rate warmup")
    max_steps: int = _setting(2000, "optimizer steps in the whole run")
    weight_decay: float = _setting(0.1, "AdamW's decoupled weight decay on the Linear weights")
    beta1: float = _setting(0.9, "AdamW's first-moment decay")
    beta2: float = _setting(0.99, "AdamW's second-moment decay")
    grad_clip: float = _setting(
        1.0, "the largest global gradient norm; larger ones are scaled down"
    )
    eval_interval: int = _setting(250, "steps between evaluations, and checkpoints")
    eval_iters: int = _setting(20, "batches per split that an evaluation averages")
    val_fraction: float = _setting(0.1, "the end of the corpus held out for validation")
    health_every: int = _setting(
        0,
        "every N steps, log each layer's gradient norm and update/weight ratio, and whether "
        "clipping cut in, to metrics.jsonl (and health.png); 0: never",
    )
    seed: int = _setting(1337, "the seed of every random draw: same seed, same run")
    threads: int = _setting(0, "threads for BLAS and the kernels; 0: the libraries' defaults")
    sample_tokens: int = _setting(300, "tokens to sample at the end of the run; 0: none")
    stop_after: int = _setting(
        0, "stop (with a checkpoint) after this many steps of this invocation; 0: run to the end"
    )

    def __post_init__(self) -> None:
        positive = ("n_layer", "n_head", "n_embd", "block_size", "batch_size", "grad_accum",
                    "max_steps", "eval_interval", "eval_iters")  # fmt: skip
        for name in positive:
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        for name in ("warmup", "threads", "sample_tokens", "stop_after", "seed", "health_every"):
            if int(getattr(self, name)) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.n_embd % self.n_head:
            raise ValueError(f"n_head ({self.n_head}) must divide n_embd ({self.n_embd})")
        if self.tokenizer not in ("char", "bpe"):
            raise ValueError(f"tokenizer must be 'char' or 'bpe', got {self.tokenizer!r}")
        if self.tokenizer == "bpe" and self.vocab_size < 257:
            raise ValueError(f"a BPE vocab_size must exceed the 256 bytes, got {self.vocab_size}")
        if not (math.isfinite(self.lr) and self.lr > 0 and 0 <= self.min_lr <= self.lr):
            raise ValueError(f"need lr > 0 and 0 <= min_lr <= lr, got lr={self.lr}, "
                             f"min_lr={self.min_lr}")  # fmt: skip
        if not 0.0 < self.val_fraction < 1.0:
            raise ValueError(f"val_fraction must be in (0, 1), got {self.val_fraction}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if not (self.grad_clip > 0 and math.isfinite(self.grad_clip)):
            raise ValueError(f"grad_clip must be > 0, got {self.grad_clip}")
        if self.clean is not None:
            from minillm.text.pipeline import parse_steps

            self.clean = ",".join(parse_steps(self.clean))  # checked, and spelled one way
        for name in ("weight_decay", "beta1", "beta2"):
            if not math.isfinite(getattr(self, name)) or getattr(self, name) < 0:
                raise ValueError(f"{name} must be a finite number >= 0, got {getattr(self, name)}")

    @classmethod
    def of_run(cls, out_dir: str | Path) -> dict[str, Any]:
        """The settings the run in ``out_dir`` last ran with (what ``--resume`` starts from),
        each checked to have its field's type (a hand-edited config.json is named, not trusted).
        """
        path = Path(out_dir) / CONFIG
        saved = read_run_config(Path(out_dir))["train"]
        values = {}
        for field in dataclasses.fields(cls):
            if field.name not in saved:
                continue
            value, default = saved[field.name], field.default
            kind = type(default) if default is not None else str
            ok = (type(value) is kind or (kind is float and type(value) is int)
                  or (value is None and default is None))  # fmt: skip
            if not ok:
                raise TrainingError(
                    f"{path}: {field.name} must be {kind.__name__}"
                    f"{' or null' if default is None else ''}, got {value!r}"
                )
            values[field.name] = float(value) if kind is float else value
        return values

    def model_config(self, vocab_size: int) -> GPTConfig:
        return GPTConfig(
            vocab_size=vocab_size,
            block_size=self.block_size,
            n_layer=self.n_layer,
            n_head=self.n_head,
            n_embd=self.n_embd,
            dropout=self.dropout,
            bias=self.bias,
        )


@dataclass
class Teacher:
    """A trained GPT whose softened predictions a student learns besides the labels
    (``minillm distill``): the Trainer's loss becomes ``distillation_loss(student, teacher,
    targets, temperature, alpha)`` (``minillm/nn/distillation.py``); validation stays plain
    cross-entropy, so a distilled run's loss reads like any other's. ``source`` names the
    teacher's run folder in the student's config.json."""

    model: Any
    tokenizer: Any
    source: str
    temperature: float = 2.0
    alpha: float = 0.5

    def __post_init__(self) -> None:
        if not (math.isfinite(self.temperature) and self.temperature > 0):
            raise ValueError(f"temperature must be > 0, got {self.temperature}")
        if not 0.0 <= self.alpha <= 1.0:
            raise ValueError(f"alpha must be in [0, 1], got {self.alpha}")
        self.model.eval()  # no dropout: the teacher's targets are its best guess, and draw no RNG

    def check(self, tokenizer: Any, block_size: int) -> None:
        """The student must read the teacher's tokens, and no longer windows than it saw."""
        if tokenizer.to_dict() != self.tokenizer.to_dict():
            raise ValueError(
                f"the student's tokenizer ({type(tokenizer).__name__}, {tokenizer.vocab_size} "
                f"tokens) is not the teacher's in {self.source}: distill on the teacher's corpus "
                "with its --tokenizer, --vocab-size and --clean"
            )
        if block_size > self.model.config.block_size:
            raise ValueError(f"--block-size {block_size} exceeds the teacher's "
                             f"{self.model.config.block_size}")  # fmt: skip

    def describe(self) -> dict[str, Any]:
        return {"teacher": self.source, "temperature": self.temperature, "alpha": self.alpha}


PRESETS: dict[str, dict[str, Any]] = {
    # two to three minutes on 2 cores: a character-level model of the Python docs
    "tiny": {},
    # a bigger model for a longer run (tens of minutes)
    "small": {
        "n_layer": 6,
        "n_head": 6,
        "n_embd": 192,
        "block_size": 128,
        "batch_size": 32,
        "lr": 1e-3,
        "min_lr": 1e-4,
        "warmup": 100,
        "max_steps": 3000,
        "eval_interval": 500,
        "dropout": 0.1,
    },
}

# What a run folder holds (--overwrite removes these), and the settings a resume cannot change:
# the model's shape, and how the text becomes train and validation tokens. The corpus itself is
# checked by its SHA-256 (of the text as read, before --clean), so --data may name it by another
# path (from another folder, say).
RUN_FILES = (CHECKPOINT, CONFIG, TOKENIZER, METRICS, "loss.png", "health.png")
FIXED_ON_RESUME = (
    "clean",
    "tokenizer",
    "vocab_size",
    "n_layer",
    "n_head",
    "n_embd",
    "block_size",
    "bias",
    "val_fraction",
    "seed",
)  # fmt: skip  (the checkpoint restores the seeded stream)


class TrainingError(RuntimeError):
    """The run cannot start or go on: a bad checkpoint, a failed write, a changed corpus."""


class DivergedError(TrainingError):
    """The loss or the gradients became NaN or infinite."""


def run_state(out: Path) -> str:
    """What ``out`` holds: ``"none"`` (no run file), ``"run"`` (a minillm run: a readable
    config.json, or a checkpoint), or ``"foreign"`` (files by those names that are not ours)."""
    present = [name for name in RUN_FILES if (out / name).exists()]
    if not present:
        return "none"
    if (out / CONFIG).exists():
        try:
            read_run_config(out)
            return "run"
        except TrainingError:
            return "foreign"
    return "run" if (out / CHECKPOINT).exists() else "foreign"


def read_run_config(out: Path) -> dict[str, Any]:
    """``out/config.json``, checked to hold the ``train`` and ``model`` settings of a run."""
    path = out / CONFIG
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing")
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, OSError) as e:
        raise TrainingError(f"{path} is not readable JSON ({e})") from None
    if not (isinstance(saved, dict) and isinstance(saved.get("train"), dict)
            and isinstance(saved.get("model"), dict)):  # fmt: skip
        raise TrainingError(f"{path} lacks the 'train' and 'model' settings of a minillm run")
    return saved


@contextlib.contextmanager
def writing(path: Path) -> Iterator[None]:
    """Turn a failed write of ``path`` into a TrainingError naming it and the free space."""
    try:
        yield
    except OSError as e:
        raise TrainingError(describe_write_error(path, e)) from None
