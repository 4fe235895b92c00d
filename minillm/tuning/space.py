"""The ``--space`` strings of ``minillm tune``: which training settings to vary, and how.

One string per setting, ``name=distribution(arguments)``:

    lr=loguniform(1e-4,3e-3)      a float, log-uniform between the bounds (Real, "log-uniform")
    dropout=uniform(0,0.2)        a float, uniform between the bounds     (Real)
    n_layer=int(1,4)              an integer, both bounds included        (Integer)
    batch_size=logint(8,64)       an integer, log-uniform                 (Integer, "log-uniform")
    n_embd=choice(64,128)         one of the listed values                (Categorical)

``name`` is a ``TrainConfig`` field (``n_embd`` or ``n-embd``), and values take the field's type:
an integer setting cannot be uniform, a boolean takes true/false. The result is a list of
``minillm.model_selection`` dimensions, each named, so the grid, random and Bayesian proposers
all read the same space. For a grid, a continuous range becomes ``grid_points`` values
(geometric for a log range) and an integer range every integer if there are few enough.

Read next: ``minillm/tuning/pruners.py`` (stopping hopeless trials early).
"""

from __future__ import annotations

import dataclasses
import math
import re
from typing import Any

import numpy as np

from minillm.model_selection.space import Categorical, Dimension, Integer, Real
from minillm.training.config import TrainConfig

NOT_TUNABLE = ("data", "include", "out_dir", "max_steps", "stop_after", "eval_interval",
               "eval_iters", "sample_tokens", "threads")  # fmt: skip
_SPEC = re.compile(r"^\s*([A-Za-z_][\w-]*)\s*=\s*([a-z]+)\s*\((.*)\)\s*$")


def tunable_fields() -> dict[str, Any]:
    """Field name -> its default, for every setting a study may vary."""
    return {f.name: f.default for f in dataclasses.fields(TrainConfig) if f.name not in NOT_TUNABLE}


def _value(text: str, default: Any, name: str) -> Any:
    text = text.strip()
    if isinstance(default, bool):
        if text.lower() in ("true", "1", "yes"):
            return True
        if text.lower() in ("false", "0", "no"):
            return False
        raise ValueError(f"{name} is true or false, got {text!r}")
    if isinstance(default, int):
        try:
            return int(text)
        except ValueError:
            raise ValueError(f"{name} is a whole number, got {text!r}") from None
    if isinstance(default, float):
        try:
            value = float(text)
        except ValueError:
            raise ValueError(f"{name} is a number, got {text!r}") from None
        if not math.isfinite(value):
            raise ValueError(f"{name} must be finite, got {text!r}")
        return value
    return text


def parse_dimension(spec: str) -> Dimension:
    """One ``name=distribution(arguments)`` string as a named dimension, or a ValueError that
    quotes it and says what is wrong."""
    match = _SPEC.match(spec)
    if not match:
        raise ValueError(
            f"--space {spec!r}: expected name=distribution(arguments), e.g. "
            "lr=loguniform(1e-4,3e-3) or n_embd=choice(64,128)"
        )
    name, kind, inside = match.group(1).replace("-", "_"), match.group(2), match.group(3)
    fields = tunable_fields()
    if name not in fields:
        raise ValueError(
            f"--space {spec!r}: {name!r} is not a setting a study can vary; choose from "
            f"{', '.join(sorted(fields))}"
        )
    default = fields[name]
    args = [a for a in inside.split(",")] if inside.strip() else []
    try:
        if kind == "choice":
            values = [_value(a, default, name) for a in args]
            if not values or len(set(values)) != len(values):
                raise ValueError("choice needs one or more distinct values")
            return Categorical(values, name=name)
        if kind not in ("loguniform", "uniform", "int", "logint"):
            raise ValueError(
                f"unknown distribution {kind!r}; use loguniform, uniform, int, logint or choice"
            )
        if len(args) != 2:
            raise ValueError(f"{kind} takes two bounds, got {len(args)} arguments")
        integer = kind in ("int", "logint")
        if isinstance(default, bool) or (isinstance(default, int) and not integer):
            raise ValueError(f"{name} is an integer setting: use int(a,b), logint(a,b) or choice")
        if isinstance(default, str) or default is None:
            raise ValueError(f"{name} takes one of a list of values: use choice(...)")
        low, high = (_value(a, 0 if integer else 0.0, name) for a in args)
        prior = "log-uniform" if kind.startswith("log") else "uniform"
        return (Integer if integer else Real)(low, high, prior=prior, name=name)
    except ValueError as error:
        raise ValueError(f"--space {spec!r}: {error}") from None


def parse_space(specs: list[str]) -> list[Dimension]:
    """Every ``--space`` string, each setting at most once."""
    if not specs:
        raise ValueError("give at least one --space, e.g. --space 'lr=loguniform(1e-4,3e-3)'")
    dimensions = [parse_dimension(s) for s in specs]
    names = [d.name for d in dimensions]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValueError(f"--space names {twice[0]} more than once")
    return dimensions


def grid_values(dimension: Dimension, points: int) -> list:
    """The values a grid tries along one dimension."""
    if isinstance(dimension, Categorical):
        return list(dimension.categories)
    low, high = dimension.bounds
    log = dimension.prior == "log-uniform"
    if isinstance(dimension, Integer) and high - low + 1 <= points:
        return list(range(low, high + 1))
    values = np.geomspace(low, high, points) if log else np.linspace(low, high, points)
    if isinstance(dimension, Integer):
        return sorted({int(v) for v in np.round(values)})
    return [float(v) for v in values]


def as_setting(dimension: Dimension, value: Any) -> Any:
    """A proposed value in the type its TrainConfig field has (NumPy scalars become Python)."""
    if isinstance(value, np.generic):
        value = value.item()
    default = tunable_fields()[dimension.name]
    if isinstance(default, float) and not isinstance(default, bool):
        return float(value)
    return value
