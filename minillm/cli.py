"""The ``minillm`` command: ``train`` teaches a GPT a corpus, ``generate`` samples from it.

``tune`` searches training settings (``minillm/tuning/``); ``quantize``, ``prune`` and
``distill`` make a trained model smaller (``minillm/compress/command.py``).

    minillm train                       # 2-3 minutes: a char-level GPT of the Python docs
    minillm train --preset small --tokenizer bpe --out-dir out-small
    minillm train --resume              # continue the run in out/ bit for bit
    minillm generate --prompt "def " --max-new-tokens 200 --temperature 0.8 --top-k 20
    minillm generate --prompt "The " --trace --trace-json trace.json

Also ``python -m minillm ...``. Every bad input is refused before any work starts, with one line on
stderr and exit status 2; a run that diverges exits 1; one stopped by Ctrl-C or SIGTERM saves a
checkpoint and exits 130 or 143. Read next: ``minillm/training/trainer.py`` and
``minillm/inference/generate.py``.
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
from pathlib import Path
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
    from minillm.training import DivergedError, Trainer, TrainingError

    machine.keep_freed_memory()  # this process is ours: reuse freed step arrays (no page faults)

    try:
        cfg = _train_config(args)
        trainer = Trainer(cfg, resume=args.resume, overwrite=args.overwrite, log=say)
    except (OSError, ValueError, TrainingError) as e:
        return _fail("train", e)
    with trainer:
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
        try:
            result = trainer.run(progress=False if args.no_progress else None)
        except DivergedError as e:
            return _fail("train", e, EXIT_DIVERGED)
        except TrainingError as e:
            return _fail("train", e)
        except KeyboardInterrupt as e:  # a second Ctrl-C or SIGTERM during a step
            message = f"aborted during step {trainer.step}. {trainer.kept()}"
            return _fail("train", message, _signal_status(e))
        if result["interrupted"]:
            return 128 + int(result["interrupted"])
        if "val_loss" in result:
            extra = ""
            if "val_bits_per_char" in result:
                extra = (f" (perplexity {result['val_perplexity']:.2f}, "
                         f"{result['val_bits_per_char']:.3f} bits/char)")  # fmt: skip
            say(f"done: step {result['step']}, val loss {result['val_loss']:.4f}{extra}")
        if cfg.sample_tokens > 0:
            _print_training_sample(trainer, cfg)
    return 0


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
def _load_model(out_dir: Path) -> tuple[Any, Any]:
    """The trained model and its tokenizer, every file checked against the others first."""
    import numpy as np

    from minillm import io
    from minillm.models import GPT, GPTConfig
    from minillm.tokenizers import load_tokenizer
    from minillm.training import CHECKPOINT, CONFIG, TOKENIZER, TrainingError, read_run_config

    for name in (CHECKPOINT, CONFIG, TOKENIZER):
        if not (out_dir / name).exists():
            raise FileNotFoundError(
                f"{out_dir / name} not found: train a model first "
                f"(minillm train --out-dir {out_dir})"
            )
    try:
        settings = read_run_config(out_dir)["model"]
    except TrainingError as e:
        raise ValueError(str(e)) from None
    for name, value in settings.items():  # a hand-edited file: every setting of its own type
        kind = {"dropout": (int, float), "bias": (bool,)}.get(name, (int,))
        if type(value) not in kind or (kind == (int,) and isinstance(value, bool)):
            raise ValueError(f"{out_dir / CONFIG}: model setting {name} is {value!r}, not a "
                             f"{'number' if name == 'dropout' else kind[0].__name__}")  # fmt: skip
    try:
        config = GPTConfig(**settings)
    except TypeError as e:
        raise ValueError(f"{out_dir / CONFIG}: bad model settings ({e})") from None
    tokenizer = load_tokenizer(out_dir / TOKENIZER)
    if tokenizer.vocab_size != config.vocab_size:
        raise ValueError(
            f"{out_dir / TOKENIZER} has {tokenizer.vocab_size} tokens but the model in "
            f"{out_dir / CONFIG} has vocab_size {config.vocab_size}: the tokenizer is another run's"
        )
    from minillm.compress.checkpoint import prepare_model

    model = prepare_model(GPT(config), out_dir)  # int8 layers for an int8 run folder
    io.load_checkpoint(out_dir / CHECKPOINT, model=model, restore_rng=False)
    for name, value in model.state_dict().items():
        if not np.isfinite(value.data).all():
            raise ValueError(f"{out_dir / CHECKPOINT}: tensor {name} holds NaN or infinity")
    model.eval()
    return model, tokenizer


def _read_prompts(path: Path) -> list[str]:
    """One prompt per non-empty line of a UTF-8 text file."""
    raw = path.read_bytes()
    nul = raw.find(b"\0")
    if nul >= 0:
        raise ValueError(f"--prompts {path}: not a text file (a NUL byte at offset {nul})")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(f"--prompts {path}: not UTF-8 text (byte offset {e.start}: "
                         f"{e.reason})") from None  # fmt: skip
    prompts = [line for line in text.splitlines() if line]
    if not prompts:
        raise ValueError(f"--prompts {path} has no prompts (one per line)")
    return prompts


def _print_stream(tokenizer: Any, tokens: Any, prompt_ids: list[int]) -> None:
    """Print the prompt, then text as tokens arrive (one row).

    Only the tokens not yet printed are decoded each tick, so streaming stays linear in the length.
    A byte-level token can end in the middle of a UTF-8 character; such tokens are held back until
    the character completes.
    """
    sys.stdout.write(tokenizer.decode(prompt_ids))
    pending: list[int] = []
    for token in tokens:
        pending.append(int(token[0]))
        text = tokenizer.decode(pending)
        if not text.endswith("\ufffd"):
            sys.stdout.write(text)
            sys.stdout.flush()
            pending = []
    sys.stdout.write(tokenizer.decode(pending) + "\n")


def cmd_generate(args: argparse.Namespace) -> int:
    import numpy as np

    from minillm import machine
    from minillm.inference import GPTEngine, PrefixCache, Timeline, generate, stream

    warning = machine.set_threads(args.threads)
    if warning:
        print(f"minillm generate: warning: {warning}", file=sys.stderr)
    try:
        for flag, path in (("--trace-json", args.trace_json), ("--trace-png", args.trace_png)):
            if path is None:
                continue
            if not path or Path(path).is_dir():
                raise ValueError(f"{flag} {path!r}: give a file name, not a folder")
            if not Path(path).resolve().parent.is_dir():
                raise ValueError(f"{flag} {path}: its folder does not exist")
        if args.trace_png and Path(args.trace_png).suffix.lower() not in (".png", ".svg", ".pdf"):
            raise ValueError(f"--trace-png {args.trace_png}: name a .png, .svg or .pdf file")
        model, tokenizer = _load_model(Path(args.out_dir))
        prompts = _read_prompts(Path(args.prompts)) if args.prompts else [args.prompt]
    except (OSError, ValueError) as e:
        return _fail("generate", e)
    try:
        encoded = [tokenizer.encode(p) for p in prompts]
    except ValueError as e:
        return _fail("generate", f"a prompt can't be encoded: {e}")
    if any(not ids for ids in encoded):
        return _fail("generate", "a prompt is empty; give at least one token")
    from minillm.compress.command import quantize_for_generate

    model = GPTEngine(quantize_for_generate(model, args.quantize))
    # Load the kernels once before the clock starts, so the timeline shows steady-state ticks
    # rather than the one-off cost of importing Numba and reading its compiled code.
    model.forward(np.zeros((1, 1), dtype=np.int64), model.new_cache(1))
    trace = args.trace or args.trace_json is not None or args.trace_png is not None
    timeline = Timeline() if trace else None
    options = dict(
        temperature=args.temperature,
        top_k=args.top_k,
        top_p=args.top_p,
        greedy=args.greedy,
        seed=args.seed,
        use_cache=not args.no_cache,
        timeline=timeline,
    )
    try:
        if args.prompts:
            cache = PrefixCache() if not args.no_cache else None
            outs = generate(model, encoded, args.max_new_tokens, prefix_cache=cache, **options)
            for prompt, ids, out in zip(prompts, encoded, outs):
                print(f"=== {prompt!r}")
                print(tokenizer.decode(ids + out))
        else:
            tokens = stream(model, encoded, args.max_new_tokens, **options)
            _print_stream(tokenizer, tokens, encoded[0])
    except FloatingPointError as e:
        print()
        return _fail("generate", e)
    if timeline is not None:
        print(timeline.table())
        try:
            if args.trace_json:
                timeline.save_chrome_trace(args.trace_json)
                print(f"chrome trace written to {args.trace_json}")
            if args.trace_png and timeline.plot(args.trace_png):
                print(f"timeline plot written to {args.trace_png}")
        except OSError as e:
            from minillm.rundir import describe_write_error

            return _fail("generate", describe_write_error(e.filename or args.trace_json, e))
    return 0


def _add_generate_args(g: argparse.ArgumentParser) -> None:
    g.add_argument("--out-dir", default="out", help="the training run's folder (default: out)")
    g.add_argument("--prompt", default="\n", help="the text to continue (default: a newline)")
    g.add_argument(
        "--prompts",
        metavar="FILE",
        help="a UTF-8 file of prompts, one per line, generated as one batch that shares "
        "a prefix cache (default: none; --prompt is used)",
    )
    g.add_argument(
        "--max-new-tokens",
        type=_number(int, 0),
        default=200,
        help="tokens to generate after the prompt (default: 200)",
    )
    g.add_argument(
        "--temperature",
        type=_number(float, 0.0),
        default=0.8,
        help="divides the logits: below 1 is surer, above 1 more varied, 0 is greedy "
        "(default: 0.8)",
    )
    g.add_argument(
        "--top-k",
        type=_number(int, 1),
        default=None,
        help="sample only from the k most likely tokens (default: all)",
    )
    g.add_argument(
        "--top-p",
        type=_number(float, 0.0, 1.0, open_low=True),
        default=None,
        help="sample only from the most likely tokens whose probabilities sum to p, "
        "in (0, 1] (default: all)",
    )
    g.add_argument(
        "--greedy", action="store_true", help="always take the most likely token (default: sample)"
    )
    g.add_argument(
        "--seed",
        type=_number(int, 0),
        default=None,
        help="seed of the sampler: the same seed gives the same text (default: random)",
    )
    g.add_argument(
        "--threads",
        type=_number(int, 0),
        default=0,
        help="threads for BLAS and the kernels; 0: the libraries' defaults (default: 0)",
    )
    g.add_argument(
        "--no-cache",
        action="store_true",
        help="recompute the whole context every token instead of using the KV cache",
    )
    g.add_argument(
        "--trace",
        action="store_true",
        help="print the per-tick timeline: what each forward pass computed and cost",
    )
    g.add_argument(
        "--trace-json",
        metavar="PATH",
        help="also write the timeline as a Chrome trace (chrome://tracing) to PATH; implies "
        "--trace (default: none)",
    )
    g.add_argument(
        "--trace-png",
        metavar="PATH",
        help="also plot the timeline to PATH, with matplotlib; implies --trace (default: none)",
    )
    from minillm.compress.command import add_generate_quantize_args

    add_generate_quantize_args(g)


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
    gen = sub.add_parser(
        "generate",
        help="sample text from a trained GPT",
        description="Sample text from the GPT trained in --out-dir.",
    )
    _add_generate_args(gen)
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
