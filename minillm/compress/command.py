"""The ``minillm quantize`` and ``minillm prune`` commands, and generate's ``--quantize`` flag.

    minillm quantize --out-dir out --to out-int8      # int8 Linear layers; generate loads it
    minillm generate --out-dir out-int8 --prompt "def "
    minillm generate --out-dir out --quantize int8    # quantize on load, nothing written
    minillm prune --out-dir out --to out-pruned --amount 0.5 --method global
    minillm distill --teacher out --out-dir out-small --n-layer 2 --n-embd 64

``quantize`` replaces every transformer Linear by an int8 one (``quantize_dynamic``; the output
head stays tied to ``wte``) and writes a run folder (``checkpoint.py``), printing each layer's
largest weight error beside its bound, scale / 2. ``prune`` zeroes the ``--amount`` smallest
weights of every transformer Linear, layer by layer (``l1``) or ranked across all of them
(``global``), makes it permanent and writes a run folder that ``generate`` loads as it is.
``distill`` trains a new, smaller GPT with the main job's Trainer, its loss the distillation
loss against a trained teacher's logits (``minillm.training.Teacher``); the student reads the
teacher's corpus with its tokenizer (the data flags default to the teacher's), and its folder is
an ordinary run. Bad input exits 2 with one line (``minillm.cli._fail``).

Read next: ``minillm/nn/utils/prune.py``.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

QUANTIZE_CHOICES = ("none", "int8")
PRUNE_METHODS = ("l1", "global")


def _amount(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1), got {text!r}") from None
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), got {text}")
    return value


def _check_target(src: Path, dst: Path) -> None:
    """``dst`` must be new or empty, and not the source run."""
    if dst.resolve() == src.resolve():
        raise ValueError(f"--to {dst} is the source run itself; name a new folder")
    if dst.exists() and (not dst.is_dir() or any(dst.iterdir())):
        raise ValueError(f"--to {dst} already exists and is not empty; name a new folder")


def _transformer_linears(model: Any) -> list[tuple[str, Any]]:
    from minillm.nn import Linear

    return [(n, m) for n, m in model.transformer.named_modules() if isinstance(m, Linear)]


# ------------------------------------------------------------------------------ quantize
def add_quantize_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out-dir", default="out", help="the trained run to quantize (default: out)")
    p.add_argument("--to", required=True, help="the new run folder to write (required)")


def layer_errors(float_model: Any, quantized: Any) -> list[tuple[str, float, float]]:
    """Per quantized layer: (name, max |dequant(W) - W|, its bound max(scale) / 2)."""
    rows = []
    fl = dict(float_model.named_modules())
    for name, m in quantized.named_modules():
        if hasattr(m, "weight_int8"):
            err = np.abs(m.dequantized_weight() - fl[name].weight.data).max()
            rows.append((name, float(err), float(m.weight_scale.data.max() / 2)))
    return rows


def cmd_quantize(args: argparse.Namespace) -> int:
    from minillm.cli import _fail
    from minillm.compress.checkpoint import write_run
    from minillm.compress.dynamic import quantize_dynamic
    from minillm.inference.command import load_model

    src, dst = Path(args.out_dir), Path(args.to)
    try:
        _check_target(src, dst)
        model, _ = load_model(src)
    except (OSError, ValueError) as e:
        return _fail("quantize", e)
    if not any(hasattr(m, "weight_int8") for m in model.modules()) and not _transformer_linears(
        model
    ):
        return _fail("quantize", f"{src}: the model has no Linear layers to quantize")
    if any(hasattr(m, "weight_int8") for m in model.modules()):
        return _fail("quantize", f"{src} is already quantized")
    qmodel = quantize_dynamic(model)
    errors = layer_errors(model, qmodel)
    try:
        write_run(qmodel, src, dst, {"quantized": "int8", "scheme": "per-channel symmetric "
                                     "int8 weights, per-row dynamic int8 activations"})  # fmt: skip
    except OSError as e:
        return _fail("quantize", e)
    size = sum(v.data.nbytes for v in model.state_dict().values())
    qsize = sum(v.data.nbytes for v in qmodel.state_dict().values())
    worst = max(errors, key=lambda r: r[1] / r[2])
    print(f"quantized {len(errors)} Linear layers to int8: weights {size / 1e6:.2f} MB -> "
          f"{qsize / 1e6:.2f} MB; largest error {worst[1]:.3g} ({worst[0]}, bound "
          f"scale/2 = {worst[2]:.3g})")  # fmt: skip
    print(f"written to {dst}; sample with: minillm generate --out-dir {dst}")
    return 0


# ------------------------------------------------------------------------------ generate flag
def add_generate_quantize_args(g: argparse.ArgumentParser) -> None:
    """``--quantize int8`` for ``minillm generate``."""
    g.add_argument(
        "--quantize",
        choices=QUANTIZE_CHOICES,
        default="none",
        help="run the Linear layers in int8 (quantized on load; default: none)",
    )


def quantize_for_generate(model: Any, quantize: str) -> Any:
    """The model generate should run: int8 layers for ``quantize="int8"`` (a model already
    quantized, from an int8 run folder, is returned as it is)."""
    if quantize not in QUANTIZE_CHOICES:
        raise ValueError(f"--quantize must be one of {QUANTIZE_CHOICES}, got {quantize!r}")
    if quantize == "none" or any(hasattr(m, "weight_int8") for m in model.modules()):
        return model
    from minillm.compress.dynamic import quantize_dynamic

    return quantize_dynamic(model)


# ------------------------------------------------------------------------------ prune
def add_prune_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out-dir", default="out", help="the trained run to prune (default: out)")
    p.add_argument("--to", required=True, help="the new run folder to write (required)")
    p.add_argument("--amount", type=_amount, default=0.5,
                   help="the fraction of weights to zero, in [0, 1) (default: 0.5)")  # fmt: skip
    p.add_argument("--method", choices=PRUNE_METHODS, default="l1",
                   help="l1: the smallest |w| of each layer; global: the smallest across all "
                   "layers (default: l1)")  # fmt: skip


def prune_model(model: Any, amount: float, method: str) -> float:
    """Prune every transformer Linear weight of ``model`` in place, permanently; return the
    fraction of those weights that are zero."""
    from minillm.nn.utils import prune

    layers = [m for _, m in _transformer_linears(model)]
    if method == "global":
        prune.global_unstructured([(m, "weight") for m in layers], prune.L1Unstructured,
                                  amount=amount)  # fmt: skip
    else:
        for m in layers:
            prune.l1_unstructured(m, "weight", amount=amount)
    for m in layers:
        prune.remove(m, "weight")
    zeros = sum(int((m.weight.data == 0).sum()) for m in layers)
    return zeros / sum(m.weight.data.size for m in layers)


def cmd_prune(args: argparse.Namespace) -> int:
    from minillm.cli import _fail
    from minillm.compress.checkpoint import write_run
    from minillm.inference.command import load_model

    src, dst = Path(args.out_dir), Path(args.to)
    if args.method not in PRUNE_METHODS:
        return _fail("prune", f"--method must be one of {', '.join(PRUNE_METHODS)}")
    try:
        _check_amount_value(args.amount)
        _check_target(src, dst)
        model, _ = load_model(src)
    except (OSError, ValueError) as e:
        return _fail("prune", e)
    if any(hasattr(m, "weight_int8") for m in model.modules()):
        return _fail("prune", f"{src} is quantized; prune the float run, then quantize")
    sparsity = prune_model(model, args.amount, args.method)
    try:
        write_run(model, src, dst, {"pruned": args.method, "amount": args.amount,
                                    "sparsity": sparsity})  # fmt: skip
    except OSError as e:
        return _fail("prune", e)
    print(f"pruned ({args.method}, amount {args.amount}): {sparsity:.1%} of the Linear weights "
          f"are zero; written to {dst}")  # fmt: skip
    return 0


def _check_amount_value(amount: Any) -> None:
    if not isinstance(amount, float) or not 0.0 <= amount < 1.0:
        raise ValueError(f"--amount must be a number in [0, 1), got {amount!r}")


# ------------------------------------------------------------------------------ distill
# what the student reads, as the teacher did, unless a flag says otherwise
INHERITED = ("data", "include", "clean", "tokenizer", "vocab_size", "val_fraction", "block_size")


def _float_in(low: float, high: float, open_low: bool) -> Any:
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not (low < value if open_low else low <= value) or not value <= high:
            raise argparse.ArgumentTypeError(f"must be in {'(' if open_low else '['}{low}, "
                                             f"{high}], got {text}")  # fmt: skip
        return value

    return parse


def add_distill_args(p: argparse.ArgumentParser) -> None:
    from minillm.cli import add_setting_flags

    p.add_argument("--teacher", required=True, help="the trained run to learn from (required)")
    p.add_argument("--temperature", type=_float_in(0.0, 1e6, open_low=True), default=2.0,
                   help="softens both distributions; > 0 (default: 2.0)")  # fmt: skip
    p.add_argument("--alpha", type=_float_in(0.0, 1.0, open_low=False), default=0.5,
                   help="the weight of the teacher's term; 1 - alpha is the labels' (default: "
                   "0.5)")  # fmt: skip
    p.add_argument("--overwrite", action="store_true",
                   help="start over in an --out-dir that holds a run, deleting it")  # fmt: skip
    p.add_argument("--no-progress", action="store_true",
                   help="plain log lines instead of a progress bar")  # fmt: skip
    add_setting_flags(p, skip=("sample_tokens", "stop_after"))


def student_config(args: argparse.Namespace, teacher_settings: dict[str, Any]) -> Any:
    """The student's TrainConfig: the given flags, else the teacher's data settings, else the
    defaults. Raises ValueError for a missing --out-dir or one that is the teacher's."""
    from minillm.training import TrainConfig

    if args.out_dir is None:
        raise ValueError("--out-dir is required: the student's new run folder")
    if Path(args.out_dir).resolve() == Path(args.teacher).resolve():
        raise ValueError(f"--out-dir {args.out_dir} is the teacher's run; name a new folder")
    values = {k: teacher_settings[k] for k in INHERITED if k in teacher_settings}
    for field in dataclasses.fields(TrainConfig):
        given = getattr(args, field.name, None)
        if given is not None:
            values[field.name] = given
    return TrainConfig(**{**values, "sample_tokens": 0})


def cmd_distill(args: argparse.Namespace) -> int:
    from minillm.cli import _fail, run_to_end, say
    from minillm.inference.command import load_model
    from minillm.training import Teacher, TrainConfig, Trainer, TrainingError

    src = Path(args.teacher)
    try:
        if not src.is_dir():
            raise FileNotFoundError(f"--teacher {src}: no such run folder")
        cfg = student_config(args, TrainConfig.of_run(src))
        model, tokenizer = load_model(src)
        if any(hasattr(m, "weight_int8") for m in model.modules()):
            raise ValueError(f"--teacher {src} is quantized; distill from the float run")
        teacher = Teacher(model, tokenizer, str(src), args.temperature, args.alpha)
        trainer = Trainer(cfg, overwrite=args.overwrite, log=say, teacher=teacher)
    except (OSError, ValueError, TrainingError) as e:
        return _fail("distill", e)
    with trainer:
        t, n = model.config, trainer.model.num_parameters()
        say(f"distilling {src} ({model.num_parameters() / 1e6:.2f}M parameters, {t.n_layer} "
            f"blocks of width {t.n_embd}) into {cfg.out_dir} ({n / 1e6:.2f}M, {cfg.n_layer} of "
            f"width {cfg.n_embd}); T = {args.temperature}, alpha = {args.alpha}; the training "
            "loss is the distillation loss, the val loss the labels' cross-entropy")  # fmt: skip
        status, result = run_to_end("distill", trainer, args.no_progress)
        if status is not None:
            return status
        if "val_loss" in result:
            say(f"done: step {result['step']}, the student's val loss {result['val_loss']:.4f}; "
                f"sample with: minillm generate --out-dir {cfg.out_dir}")  # fmt: skip
    return 0
