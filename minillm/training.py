"""The training loop behind ``minillm train``: a GPT learns a corpus, with trustworthy checkpoints.

One step:
    for each of grad_accum micro-batches:    x, y = random windows       (B, T) each
        loss = model(x, y) / grad_accum;     loss.backward()              gradients add up
    clip the global gradient norm;  lr = warmup-then-cosine(step);  AdamW step;  zero the gradients

Around it: validation loss every ``eval_interval`` steps, one JSON line per step in
``out_dir/metrics.jsonl``, a checkpoint (model, optimizer, RNG state, step) written atomically at
every evaluation and at the end, a progress bar with loss, tokens/s and MFU (model FLOPs
utilization: the fraction of the machine's measured float32 matmul peak that the model's FLOPs
reach), and a loss curve PNG when matplotlib is installed.

What can go wrong, and what happens:
* Ctrl-C: the step in flight finishes, a checkpoint is written, and the run exits cleanly
  (``--resume`` continues it); a second Ctrl-C aborts at once;
* a NaN/Inf loss: the run stops with a message naming the step; the last good checkpoint is kept;
* ``--resume``: continues bit for bit where the checkpoint left off (the batches, dropout masks and
  updates are the ones an uninterrupted run would have made; a test proves it).

Read next: ``minillm/cli.py`` (the flags) and ``minillm/models/gpt.py`` (the model).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

import minillm
from minillm import io, kernels, nn
from minillm.data.corpus import read_corpus
from minillm.data.windows import encode_cached, random_windows, split_by_position
from minillm.models.gpt import GPT, GPTConfig
from minillm.optim.lr_scheduler import warmup_cosine
from minillm.tokenizers import ByteLevelBPETokenizer, CharTokenizer, Tokenizer, load_tokenizer

CHECKPOINT = "ckpt.safetensors"
CONFIG = "config.json"
TOKENIZER = "tokenizer.json"
METRICS = "metrics.jsonl"


@dataclass
class TrainConfig:
    """Everything a run needs; the CLI flags map one to one onto these fields."""

    data: str | None = None  # a UTF-8 file or folder; None = the built-in Python docs corpus
    out_dir: str = "out"
    tokenizer: str = "char"  # "char" or "bpe"
    vocab_size: int = 512  # BPE only; a char tokenizer's vocabulary is the corpus's characters
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    block_size: int = 64
    dropout: float = 0.0
    bias: bool = True
    batch_size: int = 16
    grad_accum: int = 1
    lr: float = 2e-3
    min_lr: float = 2e-4
    warmup: int = 100
    max_steps: int = 2000
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.99
    grad_clip: float = 1.0
    eval_interval: int = 250
    eval_iters: int = 20
    val_fraction: float = 0.1
    seed: int = 1337
    threads: int = 0  # 0 = leave the libraries' defaults
    sample_tokens: int = 300
    stop_after: int = (
        0  # stop (with a checkpoint) after this many steps of this run; 0 = run to max_steps
    )

    def __post_init__(self) -> None:
        positive = ("n_layer", "n_head", "n_embd", "block_size", "batch_size", "grad_accum",
                    "max_steps", "eval_interval", "eval_iters")  # fmt: skip
        for name in positive:
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        for name in ("warmup", "threads", "sample_tokens", "stop_after"):
            if int(getattr(self, name)) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.tokenizer not in ("char", "bpe"):
            raise ValueError(f"tokenizer must be 'char' or 'bpe', got {self.tokenizer!r}")
        if self.tokenizer == "bpe" and self.vocab_size < 257:
            raise ValueError(f"a BPE vocab_size must exceed the 256 bytes, got {self.vocab_size}")
        if not (self.lr > 0 and 0 <= self.min_lr <= self.lr):
            raise ValueError(f"need lr > 0 and 0 <= min_lr <= lr, got lr={self.lr}, "
                             f"min_lr={self.min_lr}")  # fmt: skip
        if not 0.0 < self.val_fraction < 1.0:
            raise ValueError(f"val_fraction must be in (0, 1), got {self.val_fraction}")
        if not self.grad_clip > 0:
            raise ValueError(f"grad_clip must be > 0, got {self.grad_clip}")

    @classmethod
    def of_run(cls, out_dir: str | Path) -> dict[str, Any]:
        """The settings a run in ``out_dir`` was started with (what ``--resume`` starts from)."""
        path = Path(out_dir) / CONFIG
        if not path.exists():
            raise FileNotFoundError(
                f"--resume: {path} is missing; start a fresh run without --resume"
            )
        saved = json.loads(path.read_text())["train"]
        known = {f.name for f in dataclasses.fields(cls)}
        return {k: v for k, v in saved.items() if k in known}

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


PRESETS: dict[str, dict[str, Any]] = {
    # about three minutes on 2 cores: a character-level model of the Python docs
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


class TrainingError(RuntimeError):
    """The run cannot go on (a non-finite loss, a checkpoint that does not match the flags)."""


def set_threads(threads: int) -> None:
    """Limit BLAS and Numba to ``threads`` threads (0 leaves the defaults)."""
    if threads <= 0:
        return
    from threadpoolctl import threadpool_limits

    threadpool_limits(threads)
    kernels.set_num_threads(threads)


def measure_peak_flops(n: int = 1024, repeats: int = 7) -> float:
    """The float32 matrix-multiply rate this process achieves, FLOP/s (best of ``repeats``)."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    best = math.inf
    a @ b  # warm up
    for _ in range(repeats):
        t0 = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best


def build_tokenizer(cfg: TrainConfig, text: str) -> Tokenizer:
    if cfg.tokenizer == "char":
        return CharTokenizer.from_text(text)
    if cfg.tokenizer == "bpe":
        return ByteLevelBPETokenizer.train(text, cfg.vocab_size)
    raise ValueError(f"tokenizer must be 'char' or 'bpe', got {cfg.tokenizer!r}")


def _write_json(path: Path, data: Any) -> None:
    with io.atomic_write(path) as f:
        f.write(json.dumps(data, indent=2).encode("utf-8"))


class Trainer:
    """Owns one run: its data, model, optimizer, step counter and output folder."""

    def __init__(self, cfg: TrainConfig, resume: bool = False, log: Any = print) -> None:
        self.cfg, self.log = cfg, log
        self.out = Path(cfg.out_dir)
        set_threads(cfg.threads)
        minillm.manual_seed(cfg.seed)
        text, self.corpus_name = read_corpus(cfg.data, exclude=self.out)
        self.corpus_hash = hashlib.sha256(text.encode("utf-8")).hexdigest()
        if resume:
            self._check_resumable()
            self.tokenizer = load_tokenizer(self.out / TOKENIZER)
        else:
            self.tokenizer = build_tokenizer(cfg, text)
        ids = encode_cached(text, self.tokenizer, self.out / "cache")
        self.train_ids, self.val_ids = split_by_position(ids, cfg.val_fraction)
        for split, part in (("training", self.train_ids), ("validation", self.val_ids)):
            if len(part) < cfg.block_size + 1:
                raise ValueError(
                    f"the {split} split has {len(part)} tokens, fewer than block_size + 1 = "
                    f"{cfg.block_size + 1}; use more text, another val_fraction or a smaller "
                    "block_size"
                )
        self.model = GPT(cfg.model_config(self.tokenizer.vocab_size))
        self.optimizer = self.model.configure_optimizers(
            cfg.weight_decay, cfg.lr, (cfg.beta1, cfg.beta2)
        )
        self.step = 0
        if resume:
            state = io.load_checkpoint(
                self.out / CHECKPOINT, model=self.model, optimizer=self.optimizer
            )
            self.step = int(state["step"])
            self._trim_metrics()
        else:
            self.out.mkdir(parents=True, exist_ok=True)
            self.tokenizer.save(self.out / TOKENIZER)
            config = {"train": dataclasses.asdict(cfg), "model": self.model.config.to_dict(),
                      "corpus_sha256": self.corpus_hash}  # fmt: skip
            _write_json(self.out / CONFIG, config)
            (self.out / CHECKPOINT).unlink(
                missing_ok=True
            )  # never resume into another run's weights
            (self.out / METRICS).write_text("")
        self.tokens_per_step = cfg.batch_size * cfg.block_size * cfg.grad_accum
        self.flops_per_step = self.model.flops_per_token() * self.tokens_per_step

    # ------------------------------------------------------------------ resume bookkeeping
    def _check_resumable(self) -> None:
        for name in (CHECKPOINT, CONFIG, TOKENIZER):
            if not (self.out / name).exists():
                raise FileNotFoundError(
                    f"--resume: {self.out / name} is missing; start a fresh run without --resume"
                )
        saved_run = json.loads((self.out / CONFIG).read_text())
        if saved_run.get("corpus_sha256", self.corpus_hash) != self.corpus_hash:
            raise TrainingError(
                f"--resume: the corpus {self.corpus_name} is not the text this run started on "
                "(its SHA-256 differs); resume with the same text or start a fresh run"
            )
        saved = saved_run["train"]
        fixed = (
            "tokenizer",
            "vocab_size",
            "n_layer",
            "n_head",
            "n_embd",
            "block_size",
            "bias",
            "data",
        )
        changed = [
            f"{k}: checkpoint {saved[k]!r} vs now {getattr(self.cfg, k)!r}"
            for k in fixed
            if saved.get(k) != getattr(self.cfg, k)
        ]
        if changed:
            raise TrainingError("--resume with a different model or data: " + "; ".join(changed))

    def _trim_metrics(self) -> None:
        """Drop metric lines logged after the checkpoint (steps that will be redone)."""
        path = self.out / METRICS
        kept = []
        for line in path.read_text().splitlines() if path.exists() else []:
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut short when the process died mid-write
            if record["step"] < self.step:
                kept.append(line)
        with io.atomic_write(path, "w") as f:
            f.write("".join(line + "\n" for line in kept))

    # ------------------------------------------------------------------ the loop
    def lr_at(self, step: int) -> float:
        c = self.cfg
        return warmup_cosine(step, c.lr, c.warmup, c.max_steps, c.min_lr)

    def train_step(self) -> tuple[float, float]:
        """One optimizer step; returns (loss, gradient norm before clipping)."""
        c = self.cfg
        lr = self.lr_at(self.step)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        total = 0.0
        for _ in range(c.grad_accum):
            x, y = random_windows(self.train_ids, c.batch_size, c.block_size)
            _, loss = self.model(x, y)
            (loss * (1.0 / c.grad_accum)).backward()
            total += loss.item() / c.grad_accum
        if not math.isfinite(total):
            raise TrainingError(
                f"the loss became {total} at step {self.step}; stopping. The last good checkpoint "
                f"is kept in {self.out / CHECKPOINT} (try a lower --lr or more --warmup)"
            )
        norm = nn.utils.clip_grad_norm_(self.model.parameters(), c.grad_clip)
        if not math.isfinite(float(norm)):
            raise TrainingError(
                f"the gradient norm became {float(norm)} at step {self.step}; stopping before the "
                f"update. The last good checkpoint is kept in {self.out / CHECKPOINT}"
            )
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return total, float(norm)

    @minillm.no_grad()
    def evaluate(self) -> dict[str, float]:
        """Mean loss over ``eval_iters`` batches of each split, from a generator of their own."""
        self.model.eval()
        rng = np.random.default_rng(self.cfg.seed + self.step)  # leaves the training stream alone
        result = {}
        for split, ids in (("train", self.train_ids), ("val", self.val_ids)):
            losses = []
            for _ in range(self.cfg.eval_iters):
                x, y = random_windows(ids, self.cfg.batch_size, self.cfg.block_size, rng)
                losses.append(self.model(x, y)[1].item())
            result[f"{split}_loss"] = float(np.mean(losses))
        self.model.train()
        return result

    def save(self) -> None:
        io.save_checkpoint(
            self.out / CHECKPOINT, model=self.model, optimizer=self.optimizer, step=self.step
        )

    def _log_metrics(self, record: dict[str, Any]) -> None:
        with open(self.out / METRICS, "a") as f:
            f.write(json.dumps(record) + "\n")

    def run(self, progress: bool = True) -> dict[str, Any]:
        """Train from ``self.step`` to ``max_steps`` (or ``stop_after`` more); return final metrics.

        Ctrl-C (SIGINT) asks the loop to stop after the step in flight: a checkpoint is written and
        the result has ``interrupted: True``. A second Ctrl-C aborts at once.
        """
        from tqdm import tqdm

        c = self.cfg
        peak = measure_peak_flops()
        end = c.max_steps if c.stop_after <= 0 else min(c.max_steps, self.step + c.stop_after)
        bar = tqdm(
            total=c.max_steps,
            initial=self.step,
            disable=not progress,
            unit="step",
            dynamic_ncols=True,
        )
        last_eval: dict[str, float] = {}
        with _StopOnSigint(bar.write) as stop:
            try:
                while self.step < end and not stop.requested:
                    t0 = time.perf_counter()
                    loss, norm = self.train_step()
                    dt = time.perf_counter() - t0
                    self.step += 1
                    tok_s, mfu = self.tokens_per_step / dt, self.flops_per_step / dt / peak
                    record = {
                        "step": self.step - 1,
                        "loss": loss,
                        "lr": self.lr_at(self.step - 1),
                        "grad_norm": norm,
                        "tokens_per_s": tok_s,
                        "mfu": mfu,
                    }
                    if self.step % c.eval_interval == 0 or self.step == end:
                        last_eval = self.evaluate()
                        if not all(math.isfinite(v) for v in last_eval.values()):
                            raise TrainingError(
                                f"evaluation after step {self.step} gave {last_eval}: the weights "
                                f"diverged. The last good checkpoint is kept in "
                                f"{self.out / CHECKPOINT} (try a lower --lr)"
                            )
                        record.update(last_eval)
                        self.save()
                        bar.write(
                            f"step {self.step}: train loss {last_eval['train_loss']:.4f}, "
                            f"val loss {last_eval['val_loss']:.4f}"
                        )
                    self._log_metrics(record)
                    bar.set_postfix(loss=f"{loss:.3f}", tok_s=f"{tok_s:,.0f}", mfu=f"{mfu:.1%}")
                    bar.update(1)
            finally:
                bar.close()
                self.plot()
        if stop.requested and self.step < end:
            self.save()
            self.log(
                f"interrupted: saved a checkpoint at step {self.step} in {self.out}; "
                f"continue with --resume"
            )
            return {"step": self.step, "interrupted": True, **last_eval}
        return {"step": self.step, "interrupted": False, **last_eval}

    def plot(self) -> Path | None:
        """Write ``out_dir/loss.png`` from metrics.jsonl if matplotlib is installed."""
        try:
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError:
            return None
        rows = [json.loads(ln) for ln in (self.out / METRICS).read_text().splitlines() if ln]
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
        path = self.out / "loss.png"
        tmp = self.out / ".loss.png.tmp.png"
        fig.savefig(tmp)
        plt.close(fig)
        os.replace(tmp, path)
        return path


class _StopOnSigint:
    """While active, a first Ctrl-C only sets ``requested``; a second raises KeyboardInterrupt."""

    def __init__(self, say: Any) -> None:
        self.say, self.requested, self.previous = say, False, None

    def _handler(self, signum: int, frame: Any) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        self.say("Ctrl-C: finishing this step, then saving a checkpoint (Ctrl-C again to abort)")

    def __enter__(self) -> _StopOnSigint:
        if threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGINT, self._handler)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)
