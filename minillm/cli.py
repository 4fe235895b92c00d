"""The ``minillm`` command: ``train`` teaches a GPT a corpus, ``generate`` samples from it.

``tune`` searches training settings (``minillm/tuning/``); ``quantize``, ``prune`` and
``distill`` make a trained model smaller (``minillm/compress/command.py``); ``attention`` and
``embed`` show a pretrained BERT's attention maps and write sentence embeddings
(``minillm/models/command.py``).

    minillm train                       # 2-3 minutes: a char-level GPT of the Python docs
    minillm train --preset small --tokenizer bpe --out-dir out-small
    minillm train --resume              # continue the run in out/ bit for bit
    minillm generate --prompt "def " --max-new-tokens 200 --temperature 0.8 --top-k 20
    minillm generate --prompt "The " --trace --trace-json trace.json

Also ``python -m minillm ...``. Every bad input is refused before any work starts, with one line on
stderr and exit status 2; a run that diverges exits 1; one stopped by Ctrl-C or SIGTERM saves a
checkpoint and exits 130 or 143. ``generate`` lives in ``minillm/inference/command.py``. Read
next: ``minillm/training/trainer.py`` and ``minillm/inference/command.py``.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import math
import os
import signal
import sys
from collections.abc import Callable
from typing import Any, NoReturn

EXIT_USAGE, EXIT_DIVERGED = 2, 1


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (the usage of ``train`` alone is 30 lines)."""

    def error(self, message: str) -> NoReturn:
        print(f"{self.prog}: error: {message} (see {self.prog} --help)", file=sys.stderr)
        sys.exit(EXIT_USAGE)


def _fail(command: str, message: object, status: int = EXIT_USAGE) -> int:
    """Print one line, ``minillm COMMAND: message``, to stderr; return the exit status."""
    if isinstance(message, OSError) and message.filename and message.strerror:
        message = f"{message.filename}: {message.strerror}"  # not "[Errno 2] No such file ..."
    print(f"minillm {command}: {' '.join(str(message).split())}", file=sys.stderr)
    return status


# ------------------------------------------------------------------------------ flag parsing
def _boolean(text: str) -> bool:
    value = text.strip().lower()
    if value in ("1", "true", "yes"):
        return True
    if value in ("0", "false", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected true/false, 1/0 or yes/no, got {text!r}")


def _number(
    kind: type, low: float | None = None, high: float | None = None, open_low: bool = False
) -> Callable[[str], Any]:
    """A flag type: an int or float within bounds, NaN refused (``open_low`` excludes ``low``)."""

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            noun = "a whole number" if kind is int else "a number"
            raise argparse.ArgumentTypeError(f"expected {noun}, got {text!r}") from None
        if kind is float and not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
        if low is not None and (value <= low if open_low else value < low):
            raise argparse.ArgumentTypeError(
                f"must be {'>' if open_low else '>='} {low}, got {text}"
            )
        if high is not None and value > high:
            raise argparse.ArgumentTypeError(f"must be <= {high}, got {text}")
        return value

    return parse


_METAVARS = {int: "N", float: "X"}


def _add_train_args(p: argparse.ArgumentParser) -> None:
    from minillm.training import PRESETS

    p.add_argument(
        "--preset",
        choices=sorted(PRESETS),
        default=None,
        help="a starting configuration; flags given override it (default: tiny)",
    )
    mode = p.add_mutually_exclusive_group()
    mode.add_argument(
        "--resume",
        action="store_true",
        help="continue the run saved in --out-dir, with its own settings; flags "
        "given (say --max-steps) change them for this and later resumes",
    )
    mode.add_argument(
        "--overwrite",
        action="store_true",
        help="start a new run in an --out-dir that holds one, deleting its "
        "checkpoint, config, tokenizer, metrics and loss plot",
    )
    p.add_argument(
        "--no-progress",
        action="store_true",
        help="plain log lines instead of a progress bar (the default off a terminal)",
    )
    p.add_argument(
        "--nproc",
        type=_number(int, 1),
        default=1,
        metavar="N",
        help="train in N processes on this machine (shared memory); data parallel (the default "
        "--parallel): each on --batch-size windows, the same run as one process with N times "
        "the batch (default: 1)",
    )
    p.add_argument(
        "--backend",
        choices=("shm", "mpi"),
        default="shm",
        help="mpi: this process is one rank of a run started by mpiexec -n N (pip install -e "
        '".[mpi]"); shm: --nproc processes of this machine (default: shm)',
    )
    p.add_argument(
        "--parallel",
        choices=("data", "tensor", "pipeline"),
        default="data",
        help="with --nproc N: how the processes share the work. data: each holds the whole "
        "model and a share of the batch; tensor: each holds a slice of every layer (heads, MLP "
        "units); pipeline: each holds some of the layers, fed --grad-accum micro-batches "
        "(default: data)",
    )
    p.add_argument(
        "--model-parallel",
        type=_number(int, 1),
        default=None,
        metavar="K",
        help="with --parallel tensor|pipeline: processes per copy of the model; the --nproc / K "
        "copies train data parallel (default: all of --nproc)",
    )
    p.add_argument(
        "--schedule",
        choices=("1f1b", "gpipe"),
        default="1f1b",
        help="with --parallel pipeline: the order of the micro-batches' forwards and backwards "
        "(default: 1f1b)",
    )
    p.add_argument(
        "--max-restarts",
        type=_number(int, 0),
        default=0,
        metavar="K",
        help="with --nproc: when a process dies, restart all from the last checkpoint, up to K "
        "times (default: 0)",
    )
    add_setting_flags(p)


def add_setting_flags(p: argparse.ArgumentParser, skip: tuple[str, ...] = ()) -> None:
    """One flag per TrainConfig field (default None: "not given"), its help the field's."""
    from minillm.training import PRESETS, TrainConfig

    for field in dataclasses.fields(TrainConfig):
        if field.name in skip:
            continue
        flag = "--" + field.name.replace("_", "-")
        default = field.default
        presets = [
            f"{name} preset: {values[field.name]}"
            for name, values in PRESETS.items()
            if field.name in values
        ]
        shown = "; ".join([f"default: {'none' if default is None else default}", *presets])
        options: dict[str, Any] = {"default": None, "help": f"{field.metadata['help']} ({shown})"}
        if isinstance(default, bool):
            options.update(type=_boolean, metavar="BOOL")
        elif "choices" in field.metadata:
            options.update(choices=field.metadata["choices"])
        else:
            kind = type(default) if default is not None else str
            parse = _number(float) if kind is float else kind  # finite floats only
            options.update(type=parse, metavar=field.metadata.get("metavar", _METAVARS.get(kind)))
        p.add_argument(flag, **options)


def _train_config(args: argparse.Namespace) -> Any:
    """The settings: a preset (with --resume, the run's saved settings), then the given flags."""
    from minillm.rundir import check_out_dir
    from minillm.training import PRESETS, TrainConfig

    out_dir = args.out_dir if args.out_dir is not None else TrainConfig.out_dir
    check_out_dir(out_dir)
    if args.resume:
        if args.preset is not None:
            raise ValueError("--preset starts a new run; --resume continues with the run's own")
        try:
            values = TrainConfig.of_run(out_dir)
        except FileNotFoundError as e:
            raise FileNotFoundError(f"--resume: {e}; start a fresh run without --resume") from None
    else:
        values = dict(PRESETS[args.preset or "tiny"])
    for field in dataclasses.fields(TrainConfig):
        given = getattr(args, field.name)
        if given is not None:
            values[field.name] = given
    values["out_dir"] = out_dir  # where the run is now, even if its folder was moved
    return TrainConfig(**values)


# ------------------------------------------------------------------------------ train
def sample_text(model: Any, tokenizer: Any, prompt: str, max_new_tokens: int, **kw: Any) -> str:
    """Decode ``max_new_tokens`` sampled tokens after ``prompt`` (prompt included)."""
    from minillm.inference import generate

    ids = tokenizer.encode(prompt)
    return tokenizer.decode(ids + generate(model, ids, max_new_tokens, **kw))


def say(*parts: object) -> None:
    """``print`` for a long run: if the reader of stdout goes away (``minillm train | head``),
    the run goes on with stdout discarded, instead of dying without a checkpoint."""
    try:
        print(*parts, flush=True)
    except (BrokenPipeError, OSError, AttributeError, ValueError):  # gone, full, or closed
        with contextlib.suppress(OSError, AttributeError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        if sys.stdout is None or sys.stdout.closed:
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - for the rest of the run


def cmd_train(args: argparse.Namespace) -> int:
    from minillm import machine
    from minillm.training import Trainer, TrainingError

    machine.keep_freed_memory()  # this process is ours: reuse freed step arrays (no page faults)

    try:
        cfg = _train_config(args)
        layout = _layout(args)
        if args.backend == "mpi" or args.nproc > 1 or args.max_restarts > 0:
            from minillm.training import distributed

            if args.backend == "mpi":
                if args.nproc > 1 or args.max_restarts > 0:
                    raise ValueError("--backend mpi takes its process count from mpiexec -n, "
                                     "and mpiexec restarts nothing: drop --nproc and "
                                     "--max-restarts")  # fmt: skip
                return distributed.run_mpi(cfg, args.resume, args.overwrite, args.no_progress,
                                           layout)  # fmt: skip
            return distributed.launch(cfg, args.resume, args.overwrite, args.no_progress,
                                      args.nproc, args.max_restarts, layout)  # fmt: skip
        trainer = Trainer(cfg, resume=args.resume, overwrite=args.overwrite, log=say)
    except (OSError, ValueError, ImportError, TrainingError) as e:
        return _fail("train", e)
    with trainer:
        return train_with(trainer, cfg, args.no_progress, say)


def _layout(args: argparse.Namespace) -> Any:
    """The --parallel/--model-parallel/--schedule flags as a Layout (model_parallel 0: all the
    processes, once mpiexec has said how many)."""
    from minillm.training.model_parallel import Layout

    if args.schedule != "1f1b" and args.parallel != "pipeline":
        raise ValueError("--schedule needs --parallel pipeline")
    if args.parallel == "data":
        if args.model_parallel is not None:
            raise ValueError("--model-parallel needs --parallel tensor or --parallel pipeline")
        return Layout()
    if args.backend == "shm" and args.nproc < 2:
        raise ValueError(f"--parallel {args.parallel} splits the model across processes: "
                         "give --nproc N (N >= 2) or run under mpiexec")  # fmt: skip
    K = args.model_parallel
    if K is None:
        K = args.nproc if args.backend == "shm" else 0
    return Layout(args.parallel, K, args.schedule)


def train_with(trainer: Any, cfg: Any, no_progress: bool, say: Callable[..., None]) -> int:
    """Run a built Trainer to the end, saying what it does (``say``: only rank 0 speaks)."""
    if trainer.finished:
        if trainer.step == cfg.max_steps:
            say(f"{cfg.out_dir} is already at step {trainer.step} of {cfg.max_steps}; pass "
                "--max-steps to go further")  # fmt: skip
        else:
            say(f"{cfg.out_dir} is already at step {trainer.step}, past --max-steps "
                f"{cfg.max_steps}; pass a larger --max-steps to go further")  # fmt: skip
        return 0
    n = trainer.model.num_parameters()
    say(
        f"corpus {trainer.corpus_name}: {len(trainer.train_ids):,} train / "
        f"{len(trainer.val_ids):,} val tokens, vocabulary {trainer.tokenizer.vocab_size}; "
        f"model {n / 1e6:.2f}M parameters; out_dir {cfg.out_dir}"
    )
    status, result = run_to_end("train", trainer, no_progress)
    if status is not None:
        return status
    if "val_loss" in result:
        extra = ""
        if "val_bits_per_char" in result:
            extra = (f" (perplexity {result['val_perplexity']:.2f}, "
                     f"{result['val_bits_per_char']:.3f} bits/char)")  # fmt: skip
        say(f"done: step {result['step']}, val loss {result['val_loss']:.4f}{extra}")
    if cfg.sample_tokens > 0 and trainer.ranks.main:
        _print_training_sample(trainer, cfg)
    return 0


def run_to_end(command: str, trainer: Any, no_progress: bool) -> tuple[int | None, dict]:
    """``trainer.run()`` for a command: (None, the result) when it finished, else (the exit
    status, {}) with its one line said: 1 diverged, 2 a training error, 128 + the signal when
    stopped (after a checkpoint) or aborted by a second signal."""
    from minillm.training import DivergedError, TrainingError

    # with several processes only rank 0 speaks (they all end alike)
    main_rank = getattr(getattr(trainer, "ranks", None), "main", True)
    fail = _fail if main_rank else (lambda command, message, status=EXIT_USAGE: status)
    try:
        result = trainer.run(progress=False if no_progress else None)
    except DivergedError as e:
        return fail(command, e, EXIT_DIVERGED), {}
    except TrainingError as e:
        return fail(command, e), {}
    except KeyboardInterrupt as e:  # a second Ctrl-C or SIGTERM during a step
        message = f"aborted during step {trainer.step}. {trainer.kept()}"
        return fail(command, message, _signal_status(e)), {}
    if result["interrupted"]:
        return 128 + int(result["interrupted"]), {}
    return None, result


def _print_training_sample(trainer: Any, cfg: Any) -> None:
    trainer.model.eval()
    say("--- a sample ---")
    prompt = "\n"
    try:
        trainer.tokenizer.encode(prompt)
    except ValueError:  # a character vocabulary without newlines: start from its first one
        prompt = trainer.tokenizer.decode([0])
    text = sample_text(trainer.model, trainer.tokenizer, prompt, cfg.sample_tokens,
                       temperature=0.8, top_k=40, seed=cfg.seed)  # fmt: skip
    say(text)
    say(f"--- end of the sample; more with: minillm generate --out-dir {cfg.out_dir} ---")


# ------------------------------------------------------------------------------ generate
def build_parser() -> argparse.ArgumentParser:
    from minillm import __version__

    parser = _Parser(prog="minillm", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"minillm {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    train = sub.add_parser(
        "train",
        help="train a GPT on a corpus",
        description=(
            "Train a GPT on a corpus. Writes config.json, tokenizer.json, ckpt.safetensors, "
            "metrics.jsonl and loss.png to --out-dir."
        ),
    )
    _add_train_args(train)
    train.set_defaults(func=cmd_train)
    from minillm.inference.command import add_generate_args, cmd_generate

    gen = sub.add_parser(
        "generate",
        help="sample text from a trained GPT",
        description="Sample text from the GPT trained in --out-dir.",
    )
    add_generate_args(gen)
    gen.set_defaults(func=cmd_generate)
    from minillm.tuning.command import add_tune_args, cmd_tune

    tune = sub.add_parser(
        "tune",
        help="search training settings by short runs",
        description=(
            "Search the training settings named by --space with short training runs, ranked by "
            "validation loss. Writes study.json, trials.jsonl, results.md, objective.png, "
            "params.png and one run folder per trial to --out-dir."
        ),
    )
    add_tune_args(tune)
    tune.set_defaults(func=cmd_tune)
    from minillm.compress.command import add_prune_args, add_quantize_args, cmd_prune, cmd_quantize

    quantize = sub.add_parser(
        "quantize",
        help="write an int8 copy of a trained GPT",
        description=(
            "Quantize the transformer Linear layers of the run in --out-dir to int8 and write "
            "the run folder --to, which minillm generate loads."
        ),
    )
    add_quantize_args(quantize)
    quantize.set_defaults(func=cmd_quantize)
    prune = sub.add_parser(
        "prune",
        help="zero the smallest weights of a trained GPT",
        description=(
            "Prune the transformer Linear weights of the run in --out-dir (l1: per layer; "
            "global: across layers) and write the run folder --to."
        ),
    )
    add_prune_args(prune)
    prune.set_defaults(func=cmd_prune)
    from minillm.compress.command import add_distill_args, cmd_distill

    distill = sub.add_parser(
        "distill",
        help="train a smaller GPT from a trained one",
        description=(
            "Train a new GPT in --out-dir (the flags of minillm train) on alpha * T^2 * "
            "KL(teacher || student) + (1 - alpha) * cross-entropy against the logits of the "
            "trained run --teacher, reading its corpus with its tokenizer."
        ),
    )
    add_distill_args(distill)
    distill.set_defaults(func=cmd_distill)
    from minillm.models.command import add_attention_args, add_embed_args, cmd_attention, cmd_embed

    attention = sub.add_parser(
        "attention",
        help="show a pretrained BERT's attention weights for a text",
        description=(
            "Print the WordPiece tokens of TEXT and the attention map of one head (or the mean "
            "of a layer's heads) of a pretrained BERT: rows are queries, columns keys."
        ),
    )
    add_attention_args(attention)
    attention.set_defaults(func=cmd_attention)
    embed = sub.add_parser(
        "embed",
        help="write sentence embeddings of a pretrained BERT",
        description=(
            "Embed sentences (TEXT arguments, or FILE arguments with one sentence per line) with "
            "a sentence-transformers BERT and write the (N, dim) float32 matrix to --out."
        ),
    )
    add_embed_args(embed)
    embed.set_defaults(func=cmd_embed)
    return parser


def _on_sigterm(signum: int, frame: Any) -> None:
    """SIGTERM unwinds like Ctrl-C (every ``finally`` runs: locks released, temp files removed)."""
    raise KeyboardInterrupt(signum)


def _signal_status(interrupt: KeyboardInterrupt) -> int:
    """128 + the signal's number: 130 for Ctrl-C, 143 for SIGTERM (the shell's convention)."""
    signum = interrupt.args[0] if interrupt.args and isinstance(interrupt.args[0], int) else 2
    return 128 + signum


def main(argv: list[str] | None = None) -> int:
    import threading

    try:
        args = build_parser().parse_args(argv)
    except SystemExit as e:  # a usage error (already printed), --help or --version
        return e.code if isinstance(e.code, int) else EXIT_USAGE
    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _on_sigterm) if in_main else None
    try:
        return int(args.func(args))
    except KeyboardInterrupt as e:
        name = "SIGTERM" if _signal_status(e) == 128 + signal.SIGTERM else "Ctrl-C"
        return _fail(args.command, f"stopped by {name}", _signal_status(e))
    except BrokenPipeError:  # `minillm generate | head`: the reader left, which is no error
        # (train never gets here: its ``say`` keeps the run going with stdout discarded)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        return 0
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
