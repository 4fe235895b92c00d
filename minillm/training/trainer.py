"""The training loop behind ``minillm train``: a GPT learns a corpus, with trustworthy checkpoints.

One step:
    for each of grad_accum micro-batches:    x, y = random windows       (B, T) each
        loss = model(x, y) / grad_accum;     loss.backward()              gradients add up
    clip the global gradient norm;  lr = warmup-then-cosine(step);  AdamW step;  zero the gradients

Given a ``Teacher`` (``minillm distill``), the loss of a micro-batch is the distillation loss
against the teacher's logits instead (``Trainer.loss``); everything else is the same loop.

Around it: validation loss every ``eval_interval`` steps, one JSON line per step in
``out_dir/metrics.jsonl``, a checkpoint (model, optimizer, RNG state, step) written atomically at
every evaluation and at the end, a progress bar (or, off a terminal, plain log lines) with loss,
tokens/s and MFU (the model's FLOP rate as a fraction of the machine's measured float32 matmul
peak, ``minillm/machine.py``), and a loss curve PNG when matplotlib is installed.

What can go wrong, and what happens:
* another run in the same folder: refused, naming its PID (``minillm/rundir.py`` holds the lock);
* a folder that already holds a run: refused unless ``--resume`` or ``--overwrite``;
* Ctrl-C or SIGTERM: the step in flight finishes, a checkpoint is written, and the run exits with
  128 + the signal number (``--resume`` continues it); a second signal aborts at once;
* a NaN/Inf loss: the run stops with a message naming the step and the checkpoint kept;
* a failed write (full disk, read-only folder): a message naming the file and the free space;
  checkpoints are replaced atomically, so the previous one stays whole;
* ``--resume``: every check (settings, corpus, tokenizer, checkpoint shapes and values) passes
  before anything on disk changes; then the run continues bit for bit where the checkpoint left
  off (the batches, dropout masks and updates an uninterrupted run would have made).

Read next: ``minillm/training/resume.py`` (the resume checks), ``minillm/cli.py`` (the flags),
``minillm/models/gpt.py`` (the model) and ``minillm/training/distributed.py`` (several processes).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import math
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

import minillm
from minillm import io, machine, metrics, nn
from minillm.data.corpus import load_corpus
from minillm.data.windows import encode_cached, random_windows, split_by_position
from minillm.models.gpt import GPT
from minillm.nn import functional as F
from minillm.optim.lr_scheduler import warmup_cosine
from minillm.random import fork_rng
from minillm.rundir import (
    RunDirError,
    RunLock,
    check_data_outside,
    check_out_dir,
    describe_write_error,
    remove_empty_run_dir,
    remove_stale_temps,
)
from minillm.tensor import Tensor
from minillm.tokenizers import ByteLevelBPETokenizer, CharTokenizer, Tokenizer, load_tokenizer
from minillm.training.config import (
    CHECKPOINT,
    CONFIG,
    METRICS,
    RUN_FILES,
    TOKENIZER,
    DivergedError,
    Teacher,
    TrainConfig,
    TrainingError,
    run_state,
    writing,
)
from minillm.training.distributed import Ranks
from minillm.training.health import HealthProbe
from minillm.training.plot import plot_health, plot_losses
from minillm.training.resume import check_resumable, load_checkpoint, trim_metrics
from minillm.training.signals import StopOnSignal


def build_tokenizer(cfg: TrainConfig, text: str) -> Tokenizer:
    if cfg.tokenizer == "char":
        return CharTokenizer.from_text(text)
    if cfg.tokenizer == "bpe":
        return ByteLevelBPETokenizer.train(text, cfg.vocab_size)
    raise ValueError(f"tokenizer must be 'char' or 'bpe', got {cfg.tokenizer!r}")


def _write_json(path: Path, data: Any) -> None:
    with writing(path):
        io.write_json(path, data, indent=2)


class Trainer:
    """Owns one run: its data, model, optimizer, step counter and output folder.

    The folder is locked from construction until ``close()`` (or the end of a ``with`` block).
    Before any file of a run is written, replaced or deleted, every check has passed: the folder
    is usable and holds this run or none (a fresh run never overwrites one unless
    ``overwrite``), and for ``resume`` the settings, corpus, tokenizer and checkpoint all fit.
    (The lock file, the folder itself and the token cache, a derived file, may come first.)
    """

    def __init__(
        self,
        cfg: TrainConfig,
        resume: bool = False,
        overwrite: bool = False,
        log: Any = print,
        teacher: Teacher | None = None,
        ranks: Ranks | None = None,
    ) -> None:
        self.cfg, self.log, self.teacher = cfg, log, teacher
        self.ranks = Ranks() if ranks is None else ranks  # data parallel: which process this is
        self.out = check_out_dir(cfg.out_dir)
        if resume and not self.out.is_dir():
            raise FileNotFoundError(
                f"--resume: {self.out} does not exist; start a fresh run without --resume"
            )
        check_data_outside(cfg.data, self.out)
        created = not self.out.exists() and self.ranks.main
        self.lock = RunLock(self.out)
        if self.ranks.main:  # rank 0 owns the folder; the other ranks only read it
            with writing(self.out):
                self.out.mkdir(parents=True, exist_ok=True)
                self.lock.acquire()
        try:
            self._setup(resume, overwrite)
        except BaseException:
            self.close()
            if created:  # a run that never started leaves no folder behind
                remove_empty_run_dir(self.out)
            raise

    def close(self) -> None:
        """Release the folder's lock (idempotent)."""
        self.lock.release()

    def __enter__(self) -> Trainer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ setting up
    def _setup(self, resume: bool, overwrite: bool) -> None:
        cfg, out = self.cfg, self.out
        state = run_state(out) if self.ranks.main else "none"
        if state == "foreign":
            raise RunDirError(
                f"{out} holds files that are not a minillm run "
                f"({', '.join(n for n in RUN_FILES if (out / n).exists())}); choose another "
                "--out-dir (nothing there was changed)"
            )
        if not resume and state == "run" and not overwrite:
            raise RunDirError(
                f"{out} already holds a run; continue it with --resume, or start over with "
                f"--overwrite (which deletes its {', '.join(RUN_FILES)})"
            )
        if self.lock.took_over is not None and self.ranks.main:
            self.log(f"note: PID {self.lock.took_over} ended without releasing {self.lock.path}; "
                     "taking it over")  # fmt: skip
        for tmp in remove_stale_temps(out, RUN_FILES) if self.ranks.main else ():
            self.log(f"note: removed {tmp}, left by a save that was cut short")
        warning = machine.set_threads(cfg.threads)
        if warning:
            self.log(f"warning: {warning}")
        minillm.manual_seed(cfg.seed)
        corpus = load_corpus(cfg.data, exclude=out, include=cfg.include)
        if corpus.note():
            self.log(f"note: {corpus.note()}")
        self.corpus_name = corpus.name
        self.corpus_hash = hashlib.sha256(corpus.text.encode("utf-8")).hexdigest()
        saved_model = (
            check_resumable(self.out, cfg, self.corpus_name, self.corpus_hash) if resume else None
        )
        text = self._cleaned(corpus.text)
        self.tokenizer = self._tokenizer(text, saved_model)
        if self.teacher is not None:
            self.teacher.check(self.tokenizer, cfg.block_size)
        self.model = GPT(cfg.model_config(self.tokenizer.vocab_size))
        self.optimizer = self.model.configure_optimizers(
            cfg.weight_decay, cfg.lr, (cfg.beta1, cfg.beta2)
        )
        self.step, self.saved_step = 0, None
        self._stop: StopOnSignal | None = None  # while run() runs
        self.health: dict[str, Any] | None = None  # the last step's, with --health-every
        self.stop_agreed: int | None = None  # a signal some rank saw before this step's end
        if resume:  # checked before the token cache or anything else is written
            self.step = self.saved_step = load_checkpoint(out, self.model, self.optimizer, cfg)
        self.finished = resume and self.step >= cfg.max_steps
        if self.finished:  # nothing to train, so nothing to read or write
            return
        try:
            ids = encode_cached(text, self.tokenizer, out / "cache", write=self.ranks.main)
        except OSError as e:
            raise TrainingError(describe_write_error(e.filename or out / "cache", e)) from None
        self.train_ids, self.val_ids = split_by_position(ids, cfg.val_fraction)
        # text per token of the validation split, so the loss also reads as bits per character
        # and per byte, comparable between the char and BPE tokenizers
        val_text = self.tokenizer.decode(self.val_ids.tolist())
        self.chars_per_token = len(val_text) / max(len(self.val_ids), 1)
        self.bytes_per_token = len(val_text.encode("utf-8")) / max(len(self.val_ids), 1)
        for split, part in (("training", self.train_ids), ("validation", self.val_ids)):
            if len(part) < cfg.block_size + 1:
                raise ValueError(
                    f"the {split} split has {len(part)} tokens, fewer than block_size + 1 = "
                    f"{cfg.block_size + 1}; use more text, another val_fraction or a smaller "
                    "block_size"
                )
        self.net: nn.Module = self.model  # what the training forward calls (run() may wrap it)
        self.split: Any = None  # this rank's part, with --parallel tensor|pipeline (run())
        self.tokens_per_step = cfg.batch_size * cfg.block_size * cfg.grad_accum
        self.flops_per_step = self.model.flops_per_token() * self.tokens_per_step
        if self.teacher is not None:  # its forward too: a third of its forward + backward
            self.flops_per_step += self.teacher.model.flops_per_token() // 3 * self.tokens_per_step
        self.tokens_per_step *= self.ranks.data_size  # the whole run's (a model group shares rows)
        if not self.ranks.main:
            return
        if resume:
            trim_metrics(out, self.step)
            self._write_config()  # the flags given with --resume hold for the next one too
        else:
            for name in RUN_FILES:  # --overwrite: the old run goes only now, all checks passed
                (out / name).unlink(missing_ok=True)
            self._write_config()  # first: with it the folder is a run, whatever comes after
            with writing(out / TOKENIZER):
                self.tokenizer.save(out / TOKENIZER)
            with writing(out / METRICS):
                (out / METRICS).write_text("")

    def _cleaned(self, text: str) -> str:
        """The corpus after the --clean steps (``minillm/text/pipeline.py``), if any."""
        if self.cfg.clean is None:
            return text
        from minillm.text.pipeline import Pipeline  # imported only for a run that cleans

        cleaned = Pipeline(self.cfg.clean)(text)
        if not cleaned.strip():
            raise ValueError(f"--clean {self.cfg.clean} left no text of corpus {self.corpus_name}")
        return cleaned

    def _tokenizer(self, text: str, saved_model: dict[str, Any] | None) -> Tokenizer:
        if saved_model is None:
            tokenizer = build_tokenizer(self.cfg, text)
            if self.cfg.tokenizer == "bpe" and tokenizer.vocab_size < self.cfg.vocab_size:
                self.log(f"note: BPE reached a vocabulary of {tokenizer.vocab_size}, not the "
                         f"{self.cfg.vocab_size} asked for: the corpus ran out of pairs to "
                         "merge")  # fmt: skip
            return tokenizer
        tokenizer = load_tokenizer(self.out / TOKENIZER)
        if tokenizer.vocab_size != saved_model.get("vocab_size"):
            raise TrainingError(
                f"--resume: {self.out / TOKENIZER} has {tokenizer.vocab_size} tokens, but the "
                f"model in {self.out / CONFIG} has vocab_size {saved_model.get('vocab_size')}: "
                "the tokenizer belongs to another run"
            )
        return tokenizer

    def _write_config(self) -> None:
        train = {**dataclasses.asdict(self.cfg), "stop_after": 0}  # stop_after is per invocation
        run = {"train": train, "model": self.model.config.to_dict(),
               "corpus_sha256": self.corpus_hash}  # fmt: skip
        if self.teacher is not None:
            run["distilled_from"] = self.teacher.describe()
        if self.ranks.world_size > 1:  # a note: a resume may use any number of processes
            run["processes"] = self.ranks.world_size
            run["parallel"] = self.ranks.layout.describe(self.ranks.world_size)
        _write_json(self.out / CONFIG, run)

    # ------------------------------------------------------------------ the loop
    def lr_at(self, step: int) -> float:
        c = self.cfg
        return warmup_cosine(step, c.lr, c.warmup, c.max_steps, c.min_lr)

    def kept(self) -> str:
        """What survives a failure: the last checkpoint, if there is one."""
        if self.saved_step is None:
            return (f"No checkpoint was saved yet (the first comes at step "
                    f"{self.cfg.eval_interval})")  # fmt: skip
        return (
            f"The last good checkpoint (step {self.saved_step}) is kept in {self.out / CHECKPOINT}"
        )

    def train_step(self) -> tuple[float, float]:
        """One optimizer step; returns (loss, gradient norm before clipping)."""
        c = self.cfg
        lr = self.lr_at(self.step)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        # a diverging run overflows on its way to NaN: the checks below say so, in one line
        with np.errstate(over="ignore", invalid="ignore"):
            total = self._pipeline_step() if self._pipelined() else self._accumulate()
        # every rank gets the mean loss, and any rank's stop request, so all decide alike
        seen = None if self._stop is None else self._stop.signal
        total, self.stop_agreed = self.ranks.agree(total, seen)
        if not math.isfinite(total):
            raise DivergedError(f"the loss became {total} at step {self.step}; stopping. "
                                f"{self.kept()} (try a lower --lr or more --warmup)")  # fmt: skip
        probe = None
        if c.health_every and self.step % c.health_every == 0:  # --health-every: this step
            probe = HealthProbe(self.model)
            probe.before()
        with np.errstate(over="ignore", invalid="ignore"):
            if self.split is not None:  # the whole model's norm, from the parts
                norm = self.split.clip_grad_norm_(c.grad_clip)
            else:
                norm = nn.utils.clip_grad_norm_(self.model.parameters(), c.grad_clip)
        if not math.isfinite(float(norm)):
            raise DivergedError(f"the gradient norm became {float(norm)} at step {self.step}; "
                                f"stopping before the update. {self.kept()}")  # fmt: skip
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.health = None if probe is None else probe.after(float(norm), c.grad_clip)
        return total, float(norm)

    def _accumulate(self) -> float:
        """Forward and backward of ``grad_accum`` micro-batches; returns their mean loss."""
        c, total = self.cfg, 0.0
        for micro in range(c.grad_accum):
            x, y = self.ranks.windows(self.train_ids, c.batch_size, c.block_size)
            last = micro == c.grad_accum - 1  # data parallel: average the gradients once
            sync = contextlib.nullcontext() if last or self.net is self.model else \
                self.net.no_sync()  # fmt: skip
            with sync, self.ranks.dropout_stream(c.seed, self.step, micro):
                loss = self.loss(x, y)
                (loss * (1.0 / c.grad_accum)).backward()
            total += loss.item() / c.grad_accum
        return total

    def _pipelined(self) -> bool:
        return self.split is not None and self.split.kind == "pipeline"

    def _pipeline_step(self) -> float:
        """The same micro-batches (drawn in the same order), through the pipeline's schedule."""
        c = self.cfg
        batches = [self.ranks.windows(self.train_ids, c.batch_size, c.block_size)
                   for _ in range(c.grad_accum)]  # fmt: skip
        x, y = (Tensor(np.concatenate([b[i].data for b in batches])) for i in (0, 1))
        with self.ranks.dropout_stream(c.seed, self.step, 0):
            total = self.model.train_step(x, y)
        self.split.average_gradients()  # over the copies of this stage, if any
        return total

    def loss(self, x: Tensor, y: Tensor) -> Tensor:
        """The training loss of a batch: the model's cross-entropy or, with a teacher, the
        distillation loss against the teacher's logits (computed without a graph)."""
        logits, loss = self.net(x, y)
        if self.teacher is None:
            return loss
        with minillm.no_grad():
            teacher_logits, _ = self.teacher.model(x)
        t = self.teacher
        return F.distillation_loss(logits, teacher_logits, y, t.temperature, t.alpha,
                                   ignore_index=-1)  # fmt: skip

    @minillm.no_grad()
    def evaluate(self) -> dict[str, float]:
        """Mean loss over ``eval_iters`` batches of each split, from a generator of their own."""
        self.model.eval()
        rng = np.random.default_rng(self.cfg.seed + self.step)  # leaves the training stream alone
        result = {}
        for split, ids in (("train", self.train_ids), ("val", self.val_ids)):
            losses = []
            for _ in range(self.cfg.eval_iters):
                x, y = self.ranks.windows(ids, self.cfg.batch_size, self.cfg.block_size, rng)
                losses.append(self._eval_loss(x, y))
            result[f"{split}_loss"] = float(np.mean(self.ranks.mean(losses)))
        self.model.train()
        loss = result["val_loss"]
        if math.isfinite(loss):
            result["val_perplexity"] = metrics.perplexity(loss)
            result["val_bits_per_char"] = metrics.bits_per_char(loss, self.chars_per_token)
            result["val_bits_per_byte"] = metrics.bits_per_byte(loss, self.bytes_per_token)
        return result

    def _eval_loss(self, x: Tensor, y: Tensor) -> float:
        if self._pipelined():
            return self.model.evaluate(x, y)  # through the stages; every stage gets the loss
        return self.model(x, y)[1].item()

    def save(self) -> None:
        """Write the checkpoint atomically; never one with NaN or infinite weights."""
        for name, p in self.model.named_parameters():
            if not np.isfinite(p.data).all():
                raise DivergedError(f"parameter {name} holds NaN or infinity after step "
                                    f"{self.step}; not saving it. {self.kept()}")  # fmt: skip
        path = self.out / CHECKPOINT
        model, optimizer = self.model, self.optimizer
        if self.split is not None:  # the whole model and optimizer, as one process saves them
            from minillm.training.model_parallel import Frozen

            model, optimizer = (Frozen(state) for state in self.split.full_state())
        if self.ranks.main:
            with writing(path):
                io.save_checkpoint(path, model=model, optimizer=optimizer, step=self.step)
        self.saved_step = self.step

    def _log_metrics(self, record: dict[str, Any]) -> None:
        if not self.ranks.main:
            return
        with writing(self.out / METRICS), open(self.out / METRICS, "a") as f:
            f.write(json.dumps(record) + "\n")

    def _peak(self) -> machine.PeakFlops:
        """The machine's float32 GEMM peak, measured at this model's matmul shapes (rows = the
        tokens of a micro-batch) plus one large square product, the first time; then cached."""
        c, V = self.cfg, self.tokenizer.vocab_size
        rows, C = c.batch_size * c.block_size, c.n_embd
        return machine.PeakFlops([(rows, C, 3 * C), (rows, C, 4 * C), (rows, 4 * C, C),
                                  (rows, C, V)])  # fmt: skip

    def _warm_up(self) -> None:
        """Compile (or load) the kernels before the clock starts, so step 0's tokens/s and MFU
        are real: one forward and backward of one window, in eval mode (no dropout draw) and
        from a generator of its own, so the training stream is untouched; the gradients go."""
        rows = self.cfg.grad_accum if self._pipelined() else 1  # (a pipeline: one per micro-batch)
        x, y = random_windows(self.train_ids, rows, self.cfg.block_size, np.random.default_rng(0))
        self.model.eval()
        if self._pipelined():
            self.model.train_step(x, y)
        else:
            self.model(x, y)[1].backward()
        self.model.train()
        self.optimizer.zero_grad(set_to_none=True)

    def run(
        self, progress: bool | None = None, on_eval: Callable[[int, dict], bool] | None = None
    ) -> dict[str, Any]:
        """Train from ``self.step`` to ``max_steps`` (or ``stop_after`` more); return final metrics.

        ``on_eval(step, metrics)`` is called after each evaluation (and its checkpoint); when it
        returns True the run stops there, with ``stopped_early`` set in the result (a tuner
        prunes a hopeless trial this way).

        ``progress``: a progress bar (True), plain log lines (False), or a bar only when stdout
        and stderr are both terminals (None). Ctrl-C (SIGINT) or SIGTERM asks the loop to stop
        after the step in flight: a checkpoint is written and the result has ``interrupted`` set to
        the signal's number. A second signal aborts at once (KeyboardInterrupt).
        """
        from tqdm import tqdm

        c = self.cfg
        if progress is None:
            progress = all(s is not None and s.isatty() for s in (sys.stdout, sys.stderr))
        progress = progress and self.ranks.main
        if self.ranks.world_size > 1 and self.net is self.model:  # every rank has got this far
            self.ranks.check_same("tokenizer", self.tokenizer.to_dict())
            self._distribute()
        peak = self._peak()
        self._warm_up()
        end = c.max_steps if c.stop_after <= 0 else min(c.max_steps, self.step + c.stop_after)
        log_every = max(1, c.max_steps // 20)
        bar = tqdm(total=c.max_steps, initial=self.step, disable=not progress, unit="step",
                   dynamic_ncols=True)  # fmt: skip
        say = bar.write if progress else self.log
        last_eval: dict[str, float] = {}
        stopped_early = False
        with StopOnSignal() as stop:
            self._stop = stop
            try:
                while self.step < end and not self._stopping(stop) and not stopped_early:
                    t0 = time.perf_counter()
                    loss, norm = self.train_step()
                    dt = time.perf_counter() - t0
                    self.step += 1
                    rate = self.flops_per_step / dt
                    peak.observe(rate)
                    tok_s, mfu = self.tokens_per_step / dt, rate / peak.flops
                    record = {"step": self.step - 1, "loss": loss, "lr": self.lr_at(self.step - 1),
                              "grad_norm": norm, "tokens_per_s": tok_s, "mfu": mfu}  # fmt: skip
                    if self.health is not None:
                        record["health"] = self.health
                    if self.step % c.eval_interval == 0 or self.step == end:
                        last_eval = self.evaluate()
                        losses = (last_eval["train_loss"], last_eval["val_loss"])
                        if not all(math.isfinite(v) for v in losses):
                            raise DivergedError(
                                f"evaluation after step {self.step} gave {last_eval}: the weights "
                                f"diverged. {self.kept()} (try a lower --lr)"
                            )
                        record.update(last_eval)
                        self.save()
                        say(f"step {self.step}: train loss {last_eval['train_loss']:.4f}, "
                            f"val loss {last_eval['val_loss']:.4f} "
                            f"({last_eval['val_bits_per_char']:.3f} bits/char)")  # fmt: skip
                        stopped_early = on_eval is not None and bool(on_eval(self.step, last_eval))
                    elif not progress and self.step % log_every == 0:
                        say(f"step {self.step}/{c.max_steps}: loss {loss:.4f}, {tok_s:,.0f} tok/s, "
                            f"MFU {mfu:.1%}")  # fmt: skip
                    self._log_metrics(record)
                    bar.set_postfix(loss=f"{loss:.3f}", tok_s=f"{tok_s:,.0f}", mfu=f"{mfu:.1%}")
                    bar.update(1)
                    if self._stopping(stop):  # said here, not in the handler: no reentrant print
                        say(f"{stop.name}: saving a checkpoint at step {self.step} "
                            f"({stop.name} again to abort)")  # fmt: skip
            finally:
                bar.close()
                self._stop = None
            interrupted = stop.signal is not None and self.step < end
            if interrupted:
                self.save()
                self.log(f"interrupted by {signal.Signals(stop.signal).name}: saved a checkpoint "
                         f"at step {self.step} in {self.out}; continue with --resume")  # fmt: skip
        if self.ranks.main:
            self.plot()
            if self.split is not None and self.saved_step is not None:
                self.model = self._whole_model()  # for a sample, in this process alone
        return {"step": self.step, "interrupted": stop.signal if interrupted else None,
                "stopped_early": stopped_early, **last_eval}  # fmt: skip

    def _distribute(self) -> None:
        """Several processes: wrap the model for data parallelism (rank 0's weights, averaged
        gradients), or cut it and its optimizer into this rank's part (``model_parallel.py``)."""
        from minillm.parallel import DistributedDataParallel

        layout, ranks = self.ranks.layout, self.ranks
        if layout.kind == "data":
            self.net = DistributedDataParallel(self.model)
            return
        from minillm.training.model_parallel import Split

        self.split = Split(self.model, self.optimizer, layout, ranks, self.cfg.grad_accum)
        self.model, self.optimizer = self.split.module, self.split.optimizer
        self.net = self.model
        if layout.kind == "tensor" and ranks.data_size > 1:
            self.net = DistributedDataParallel(self.model, process_group=ranks.data_group)
        self.flops_per_step //= layout.model_parallel  # each part does 1/K of the work

    def _whole_model(self) -> GPT:
        """The unsplit model, read back from the checkpoint just written (no process keeps a
        whole copy while the run trains; its fresh weights come from a stream of their own, so
        the run's generator is untouched)."""
        with fork_rng(0):
            model = GPT(self.cfg.model_config(self.tokenizer.vocab_size))
        io.load_checkpoint(self.out / CHECKPOINT, model=model, restore_rng=False)
        return model

    def _stopping(self, stop: StopOnSignal) -> bool:
        """Stop now? One process: on a signal. Several: on the signal all agreed on at the end
        of the step (one seen later waits for the next step, so that every rank stops alike)."""
        if self.ranks.world_size > 1:
            if self.stop_agreed is not None and stop.signal is None:
                stop.signal = self.stop_agreed  # another rank's: this one saw none
            return self.stop_agreed is not None
        return stop.signal is not None

    def plot(self) -> Path | None:
        """Write ``out_dir/loss.png`` from metrics.jsonl. A plot is never worth a failed run: when
        it cannot be made (no matplotlib, a full disk), a one-line note says why, and None."""
        try:
            if self.cfg.health_every:
                plot_health(self.out)
            return plot_losses(self.out)
        except ImportError:
            self.log("note: loss.png skipped: matplotlib is not installed "
                     "(pip install -e \".[plot]\")")  # fmt: skip
        except (TrainingError, OSError, ValueError, KeyError, TypeError) as e:
            self.log(f"note: loss.png skipped: {e}")
        return None
