"""``minillm.summary(model, example_input)``: a model's layers as a table, like torchinfo's.

What this module owns: one forward pass of ``example_input`` (under ``no_grad``) with a hook on
every module, which records each call's output shape, parameter count, FLOPs and activation bytes
as a row, and the totals. The result is a ``Summary`` (``rows`` and ``totals``); printing it
prints the table.

What a FLOP is here: 2 per multiply-add, forward only, and only where the weights or the attention
work: a Linear is ``2 in out`` per row (plus 2 per bias element), a norm 2 per parameter per row, a
GPT attention ``2 T C`` for ``q k^T`` and ``2 T C`` for ``p v`` per token (the full T x T square,
the causal mask not subtracted); embeddings (a lookup), activations, residual adds and the
softmax count 0. That is exactly the forward share of ``GPT.flops_per_token()`` (PaLM's appendix
B: ``2 N + 4 L T C`` forward, and that method's ``6 N + 12 L T C`` is forward plus backward,
three times as much), so ``3 * summary(gpt, idx).flops_per_token == gpt.flops_per_token(T)``.
Other modules get rules through ``flop_rules``.

Read next: ``minillm/nn/module.py`` (``register_forward_hook``), ``minillm/models/gpt.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from minillm import nn
from minillm.autograd import no_grad
from minillm.tensor import Tensor

# (module, its positional inputs, its output) -> that call's own FLOPs (children's not included)
FlopRule = Callable[[nn.Module, tuple, Any], int]


def _tensors(value: Any) -> list[Tensor]:
    """The Tensors in a module's output: itself, or those in a tuple/list/dict."""
    if isinstance(value, Tensor):
        return [value]
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, (tuple, list)):
        return [t for v in value for t in _tensors(v)]
    return []


def _per_parameter(module: nn.Module, out: Tensor, width: int) -> int:
    """2 FLOPs per parameter per row of ``width`` outputs: the ``6 N`` convention, forward share."""
    rows = out.numel() // max(width, 1)
    return 2 * rows * sum(p.numel() for p in module.parameters(recurse=False))


def _linear(m: nn.Module, args: tuple, out: Any) -> int:
    return _per_parameter(m, _tensors(out)[0], m.out_features)


def _norm(m: nn.Module, args: tuple, out: Any) -> int:
    return _per_parameter(m, _tensors(out)[0], int(np.prod(m.normalized_shape)))


def _gpt_attention(m: nn.Module, args: tuple, out: Any) -> int:
    B, T, C = _tensors(out)[0].shape
    return 2 * (2 * B * T * T * C)  # q k^T and p v, each 2 T C per token: the full square


def default_flop_rules() -> dict[type, FlopRule]:
    """The FLOP rule of each module type that has one; every other module counts 0 itself.

    >>> from minillm import nn
    >>> nn.Linear in default_flop_rules()
    True
    """
    from minillm.models.gpt import CausalSelfAttention  # models import nn: loaded on first use

    return {
        nn.Linear: _linear,
        nn.LayerNorm: _norm,
        nn.RMSNorm: _norm,
        CausalSelfAttention: _gpt_attention,
    }


@dataclass
class Row:
    """One module call: ``name`` (dotted, as ``named_modules``), ``type``, ``depth`` (how many
    module calls it runs inside: 0 is the model), ``output_shape``, ``params`` (its own
    parameters not counted in an earlier row: a tied weight counts once), ``flops`` (its own,
    children's excluded) and ``activation_bytes`` (its output's)."""

    name: str
    type: str
    depth: int
    output_shape: tuple[int, ...] | list[tuple[int, ...]] | None = None
    params: int = 0
    flops: int = 0
    activation_bytes: int = 0
    is_leaf: bool = True
    tied: bool = False  # it has parameters, all of them already counted (a shared weight)


@dataclass
class Summary:
    """``rows`` (one per module call, in call order, parents before children) and ``totals``.

    ``totals``: ``params`` (each parameter once), ``trainable``, ``param_bytes``, ``flops`` (the
    forward pass), ``tokens`` (token ids in the input, or input rows), ``flops_per_token`` and
    ``activation_bytes`` (the outputs of modules without children).
    """

    rows: list[Row]
    totals: dict[str, Any]

    @property
    def flops_per_token(self) -> float:
        return self.totals["flops_per_token"]

    def __str__(self) -> str:
        head = ("Layer (type)", "Output shape", "Params", "FLOPs", "Act. bytes")
        body = [
            (
                "  " * r.depth + f"{r.name or '(model)'} ({r.type})",
                str(r.output_shape),
                f"{r.params:,}" if r.params else ("tied" if r.tied else "-"),
                f"{r.flops:,}" if r.flops else "-",
                f"{r.activation_bytes:,}",
            )
            for r in self.rows
        ]
        widths = [max(len(line[i]) for line in [head, *body]) for i in range(5)]
        fmt = "  ".join([f"{{:<{widths[0]}}}"] + [f"{{:>{w}}}" for w in widths[1:]])
        rule = "-" * (sum(widths) + 8)
        t = self.totals
        lines = [rule, fmt.format(*head), rule, *(fmt.format(*line) for line in body), rule]
        lines += [
            f"Params: {t['params']:,} ({t['trainable']:,} trainable, {t['param_bytes']:,} bytes)",
            f"Forward FLOPs: {t['flops']:,} ({t['flops_per_token']:,.0f} per token of "
            f"{t['tokens']:,}); backward is about 2x that",
            f"Activation bytes (outputs of leaf modules): {t['activation_bytes']:,}",
            rule,
        ]
        return "\n".join(lines)


def summary(
    model: nn.Module, example_input: Any, flop_rules: dict[type, FlopRule] | None = None
) -> Summary:
    """Run ``model(example_input)`` once and tabulate each module call (see the module docstring).

    Args:
        model: any Module.
        example_input: its input: a Tensor, or a tuple of positional inputs.
        flop_rules: extra or replacement rules, ``{ModuleType: rule(module, args, output)}``.

    >>> import minillm
    >>> from minillm import nn
    >>> mlp = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    >>> s = summary(mlp, minillm.randn(3, 4))
    >>> [(r.name, r.output_shape, r.params, r.flops) for r in s.rows[1:]]
    [('0', (3, 8), 40, 240), ('1', (3, 8), 0, 0), ('2', (3, 2), 18, 108)]
    >>> s.totals["params"], s.totals["flops"], s.flops_per_token
    (58, 348, 116.0)
    """
    rules = {**default_flop_rules(), **(flop_rules or {})}
    args = example_input if isinstance(example_input, tuple) else (example_input,)
    rows: list[Row] = []
    open_rows: dict[int, list[Row]] = {}  # per module, its calls still running (a stack)
    counted: set[int] = set()  # parameters already given to a row
    handles = []

    depth = [0]  # how many module calls are running

    def before(module: nn.Module, inputs: tuple, name: str) -> None:
        mine = list(module.parameters(recurse=False))
        own = [p for p in mine if id(p) not in counted]
        counted.update(id(p) for p in own)
        row = Row(name, type(module).__name__, depth[0], params=sum(p.numel() for p in own))
        row.is_leaf = not any(True for _ in module.children())
        row.tied = bool(mine) and not own
        rows.append(row)
        open_rows.setdefault(id(module), []).append(row)
        depth[0] += 1

    def after(module: nn.Module, inputs: tuple, output: Any) -> None:
        depth[0] -= 1
        row = open_rows[id(module)].pop()
        outs = _tensors(output)
        shapes = [tuple(t.shape) for t in outs]
        row.output_shape = shapes[0] if len(shapes) == 1 else (shapes or None)
        row.activation_bytes = sum(t.data.nbytes for t in outs)
        rule = next((rules[c] for c in type(module).__mro__ if c in rules), None)
        row.flops = int(rule(module, inputs, output)) if rule is not None and outs else 0

    for name, module in model.named_modules():

        def pre(m: nn.Module, inputs: tuple, name: str = name) -> None:
            before(m, inputs, name)

        handles.append(module.register_forward_pre_hook(pre))
        handles.append(module.register_forward_hook(after))
    try:
        with no_grad():
            model(*args)
    finally:
        for h in handles:
            h.remove()
    first = args[0] if args and isinstance(args[0], Tensor) else None
    if first is None:
        tokens = 1
    elif first.dtype.kind in "iu":
        tokens = first.numel()
    else:
        tokens = max(first.numel() // max(first.shape[-1] if first.ndim else 1, 1), 1)
    flops = sum(r.flops for r in rows)
    params = list(model.parameters())
    totals = {
        "params": sum(p.numel() for p in params),
        "trainable": sum(p.numel() for p in params if p.requires_grad),
        "param_bytes": sum(p.data.nbytes for p in params),
        "flops": flops,
        "tokens": tokens,
        "flops_per_token": flops / tokens,
        "activation_bytes": sum(r.activation_bytes for r in rows if r.is_leaf),
    }
    return Summary(rows, totals)
