"""The ``minillm`` command: ``train`` teaches a GPT a corpus, ``generate`` samples from it.

    minillm train                       # about three minutes: a char-level GPT of the Python docs
    minillm train --preset small --tokenizer bpe --out-dir out-small
    minillm train --resume              # continue the run in out/ bit for bit
    minillm generate --prompt "def " --max-new-tokens 200 --temperature 0.8 --top-k 20
    minillm generate --prompt "The " --trace --trace-json trace.json

Also ``python -m minillm ...``. Read next: ``minillm/training.py`` and
``minillm/inference/generate.py``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import Any


def _add_train_args(p: argparse.ArgumentParser) -> None:
    from minillm.training import PRESETS, TrainConfig

    defaults = TrainConfig()
    p.add_argument(
        "--preset",
        choices=sorted(PRESETS),
        default="tiny",
        help="a starting configuration; explicit flags override it (default: tiny)",
    )
    p.add_argument("--resume", action="store_true", help="continue the run saved in --out-dir")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    for field in dataclasses.fields(TrainConfig):
        flag = "--" + field.name.replace("_", "-")
        default = getattr(defaults, field.name)
        kind = type(default) if default is not None else str
        if kind is bool:
            p.add_argument(
                flag,
                type=lambda s: s.lower() in ("1", "true", "yes"),
                default=None,
                metavar="BOOL",
                help=f"(default {default})",
            )
        else:
            p.add_argument(flag, type=kind, default=None, help=f"(default {default})")


def _train_config(args: argparse.Namespace) -> Any:
    """The settings: a preset (with --resume, the run's saved settings), then the given flags."""
    from minillm.training import PRESETS, TrainConfig

    out_dir = args.out_dir if args.out_dir is not None else TrainConfig.out_dir
    values = TrainConfig.of_run(out_dir) if args.resume else dict(PRESETS[args.preset])
    for field in dataclasses.fields(TrainConfig):
        given = getattr(args, field.name)
        if given is not None:
            values[field.name] = given
    return TrainConfig(**values)


def _load_model(out_dir: Path) -> tuple[Any, Any]:
    from minillm import io
    from minillm.models import GPT, GPTConfig
    from minillm.tokenizers import load_tokenizer
    from minillm.training import CHECKPOINT, CONFIG, TOKENIZER

    for name in (CHECKPOINT, CONFIG, TOKENIZER):
        if not (out_dir / name).exists():
            raise FileNotFoundError(
                f"{out_dir / name} not found: train a model first "
                f"(minillm train --out-dir {out_dir})"
            )
    config = json.loads((out_dir / CONFIG).read_text())["model"]
    model = GPT(GPTConfig(**config))
    io.load_checkpoint(out_dir / CHECKPOINT, model=model, restore_rng=False)
    model.eval()
    return model, load_tokenizer(out_dir / TOKENIZER)


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


def sample_text(model: Any, tokenizer: Any, prompt: str, max_new_tokens: int, **kw: Any) -> str:
    """Decode ``max_new_tokens`` sampled tokens after ``prompt`` (prompt included)."""
    from minillm.inference import generate

    ids = tokenizer.encode(prompt)
    return tokenizer.decode(ids + generate(model, ids, max_new_tokens, **kw))


def cmd_train(args: argparse.Namespace) -> int:
    from minillm.training import Trainer, TrainingError

    try:
        cfg = _train_config(args)
        trainer = Trainer(cfg, resume=args.resume)
    except (FileNotFoundError, ValueError, TrainingError) as e:
        print(f"minillm train: {e}", file=sys.stderr)
        return 2
    n = trainer.model.num_parameters()
    print(
        f"corpus {trainer.corpus_name}: {len(trainer.train_ids):,} train / "
        f"{len(trainer.val_ids):,} val tokens, vocabulary {trainer.tokenizer.vocab_size}; "
        f"model {n / 1e6:.2f}M parameters; out_dir {cfg.out_dir}"
    )
    try:
        result = trainer.run(progress=not args.no_progress)
    except TrainingError as e:
        print(f"minillm train: {e}", file=sys.stderr)
        return 1
    if result["interrupted"]:
        return 130
    if "val_loss" in result:
        print(f"done: step {result['step']}, val loss {result['val_loss']:.4f}")
    if cfg.sample_tokens > 0:
        trainer.model.eval()
        print("--- a sample ---")
        prompt = "\n"
        try:
            trainer.tokenizer.encode(prompt)
        except ValueError:  # a character vocabulary without newlines: start from its first one
            prompt = trainer.tokenizer.decode([0])
        print(sample_text(trainer.model, trainer.tokenizer, prompt, cfg.sample_tokens,
                          temperature=0.8, top_k=40, seed=cfg.seed))  # fmt: skip
    return 0


def cmd_generate(args: argparse.Namespace) -> int:
    import numpy as np

    from minillm.inference import GPTEngine, PrefixCache, Timeline, generate, stream

    try:
        model, tokenizer = _load_model(Path(args.out_dir))
    except (FileNotFoundError, ValueError) as e:
        print(f"minillm generate: {e}", file=sys.stderr)
        return 2
    model = GPTEngine(model)
    # Load the kernels once before the clock starts, so the timeline shows steady-state ticks
    # rather than the one-off cost of importing Numba and reading its compiled code.
    model.decode(np.zeros(1, dtype=np.int64), model.new_cache(1))
    timeline = Timeline() if args.trace else None
    options = dict(
        temperature=args.temperature,
        top_k=args.top_k,
        top_p=args.top_p,
        seed=args.seed,
        use_cache=not args.no_cache,
        timeline=timeline,
    )
    if args.prompts:
        prompts = [ln for ln in Path(args.prompts).read_text(encoding="utf-8").splitlines() if ln]
        if not prompts:
            print(
                f"minillm generate: {args.prompts} has no prompts (one per line)", file=sys.stderr
            )
            return 2
        try:
            encoded = [tokenizer.encode(p) for p in prompts]
        except ValueError as e:
            print(f"minillm generate: a prompt can't be encoded: {e}", file=sys.stderr)
            return 2
        cache = PrefixCache() if not args.no_cache else None
        outs = generate(model, encoded, args.max_new_tokens, prefix_cache=cache, **options)
        for prompt, ids, out in zip(prompts, encoded, outs):
            print(f"=== {prompt!r}")
            print(tokenizer.decode(ids + out))
    else:
        try:
            ids = tokenizer.encode(args.prompt)
        except ValueError as e:
            print(f"minillm generate: the prompt can't be encoded: {e}", file=sys.stderr)
            return 2
        if not ids:
            print("minillm generate: the prompt is empty; give at least one token", file=sys.stderr)
            return 2
        _print_stream(tokenizer, stream(model, [ids], args.max_new_tokens, **options), ids)
    if timeline is not None:
        print(timeline.table())
        if args.trace_json:
            timeline.save_chrome_trace(args.trace_json)
            print(f"chrome trace written to {args.trace_json}")
        if args.trace_png and timeline.plot(args.trace_png):
            print(f"timeline plot written to {args.trace_png}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="minillm", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train", help="train a GPT on a corpus")
    _add_train_args(train)
    train.set_defaults(func=cmd_train)

    gen = sub.add_parser("generate", help="sample text from a trained GPT")
    gen.add_argument("--out-dir", default="out", help="the training run's folder (default: out)")
    gen.add_argument("--prompt", default="\n")
    gen.add_argument("--prompts", metavar="FILE", help="a file of prompts, one per line (batched)")
    gen.add_argument("--max-new-tokens", type=int, default=200)
    gen.add_argument("--temperature", type=float, default=0.8)
    gen.add_argument("--top-k", type=int, default=None)
    gen.add_argument("--top-p", type=float, default=None)
    gen.add_argument("--seed", type=int, default=None)
    gen.add_argument("--no-cache", action="store_true", help="recompute the context every token")
    gen.add_argument("--trace", action="store_true", help="print the per-tick timeline")
    gen.add_argument("--trace-json", metavar="PATH", help="with --trace: write a Chrome trace")
    gen.add_argument("--trace-png", metavar="PATH", help="with --trace: plot the timeline")
    gen.set_defaults(func=cmd_generate)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
