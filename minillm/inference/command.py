"""The ``minillm generate`` command: load a run folder, check every flag, stream the text.

``load_model(out_dir)`` reads a run's config, tokenizer and checkpoint (an int8 run folder gets
its int8 layers back) and is also what ``quantize``, ``prune`` and ``distill`` load with;
``cmd_generate`` validates the flags before anything is printed, builds the ``GPTEngine`` (or a
``Batch`` for ``--prompts FILE``), and streams tokens as they come, with the per-tick timeline on
``--trace``. Bad input exits 2 with one line, through ``minillm.cli._fail``.

Read next: ``minillm/inference/generate.py`` (the loop that produces the tokens).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from minillm.cli import _fail, _number


def load_model(out_dir: Path) -> tuple[Any, Any]:
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


def read_prompts(path: Path) -> list[str]:
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


def print_stream(tokenizer: Any, tokens: Any, prompt_ids: list[int]) -> None:
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
        model, tokenizer = load_model(Path(args.out_dir))
        prompts = read_prompts(Path(args.prompts)) if args.prompts else [args.prompt]
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
            print_stream(tokenizer, tokens, encoded[0])
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


def add_generate_args(g: argparse.ArgumentParser) -> None:
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
