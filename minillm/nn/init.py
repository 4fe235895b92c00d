"""Weight initialization: fill a tensor in place with draws scaled to keep activations healthy.

Every function writes into ``tensor.data`` directly (no graph is recorded, so it is safe on a
Parameter that requires grad), draws from ``minillm.random.generator()`` (so ``manual_seed`` makes
it reproducible), keeps the tensor's dtype, and returns the tensor.

The scaled schemes pick a standard deviation from the layer's fan (for a weight of shape
``(out, in, *kernel)``: ``fan_in = in * prod(kernel)``, ``fan_out = out * prod(kernel)``):

* Xavier/Glorot (2010): ``std = gain * sqrt(2 / (fan_in + fan_out))`` — keeps variance through
  linear or tanh layers in both directions;
* Kaiming/He (2015): ``std = gain / sqrt(fan)`` — keeps variance through ReLU-family layers;
* a uniform distribution on ``[-b, b]`` has ``std = b / sqrt(3)``, so ``b = sqrt(3) * std``.

Read next: ``minillm/nn/linear.py``, whose default is ``kaiming_uniform_(a=sqrt(5))``.
"""

from __future__ import annotations

import math

import numpy as np

from minillm.random import generator
from minillm.tensor import Tensor

_LINEAR = ("linear", "identity", "conv1d", "conv2d", "conv3d", "sigmoid")


def _fill(tensor: Tensor, values: np.ndarray | float) -> Tensor:
    """Write ``values`` into ``tensor`` in place, in its own dtype; return it."""
    tensor.data[...] = values
    return tensor


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The factor by which a nonlinearity shrinks the std of its input, to be undone at init.

    >>> round(calculate_gain("relu"), 4), calculate_gain("tanh")
    (1.4142, 1.6666666666666667)
    """
    if nonlinearity in _LINEAR:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3.0
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else param
        if isinstance(slope, bool) or not isinstance(slope, (int, float)):
            raise ValueError(f"calculate_gain: negative_slope {slope!r} is not a number")
        return math.sqrt(2.0 / (1.0 + slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4.0
    raise ValueError(
        f"calculate_gain: unsupported nonlinearity {nonlinearity!r}; choose from "
        f"{[*_LINEAR, 'tanh', 'relu', 'leaky_relu', 'selu']}"
    )


def calculate_fan_in_and_fan_out(tensor: Tensor) -> tuple[int, int]:
    """``(fan_in, fan_out)`` of a weight shaped ``(out, in, *kernel)``.

    >>> import minillm
    >>> calculate_fan_in_and_fan_out(minillm.zeros(3, 5))
    (5, 3)
    """
    if tensor.ndim < 2:
        raise ValueError(
            f"fan in and fan out need a tensor with at least 2 dimensions, got shape {tensor.shape}"
        )
    receptive = int(np.prod(tensor.shape[2:]))
    return tensor.shape[1] * receptive, tensor.shape[0] * receptive


def _fan(tensor: Tensor, mode: str) -> int:
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = calculate_fan_in_and_fan_out(tensor)
    fan = fan_in if mode == "fan_in" else fan_out
    if fan == 0:
        raise ValueError(f"cannot initialize a tensor with zero {mode} (shape {tensor.shape})")
    return fan


def uniform_(tensor: Tensor, a: float = 0.0, b: float = 1.0) -> Tensor:
    """Fill with draws from U(a, b).

    >>> import minillm
    >>> t = uniform_(minillm.zeros(1000), -2.0, 2.0)
    >>> bool(t.data.min() >= -2 and t.data.max() < 2)
    True
    """
    if not a <= b:
        raise ValueError(f"uniform_: expected a <= b, got a={a}, b={b}")
    return _fill(tensor, generator().uniform(a, b, tensor.shape))


def normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0) -> Tensor:
    """Fill with draws from N(mean, std^2).

    >>> import minillm
    >>> round(float(normal_(minillm.zeros(10000), 3.0, 0.1).mean()), 1)
    3.0
    """
    if std < 0:
        raise ValueError(f"normal_: std must be non-negative, got {std}")
    return _fill(tensor, mean + std * generator().standard_normal(tensor.shape))


def trunc_normal_(
    tensor: Tensor, mean: float = 0.0, std: float = 1.0, a: float = -2.0, b: float = 2.0
) -> Tensor:
    """Fill with N(mean, std^2) draws conditioned on lying in ``[a, b]`` (absolute bounds).

    Rejection sampling: draw, then redraw only the values outside ``[a, b]`` until none remain —
    exact, and fast whenever the interval holds a reasonable share of the mass (as at init).

    >>> import minillm
    >>> t = trunc_normal_(minillm.zeros(1000), std=1.0, a=-0.5, b=0.5)
    >>> bool(abs(t.data).max() <= 0.5)
    True
    """
    if not a < b:
        raise ValueError(f"trunc_normal_: expected a < b, got a={a}, b={b}")
    if std <= 0:
        raise ValueError(f"trunc_normal_: std must be positive, got {std}")
    gen = generator()
    values = mean + std * gen.standard_normal(tensor.shape)
    bad = (values < a) | (values > b)
    for _ in range(10_000):
        n = int(bad.sum())
        if n == 0:
            return _fill(tensor, values)
        values[bad] = mean + std * gen.standard_normal(n)
        bad = (values < a) | (values > b)
    raise ValueError(
        f"trunc_normal_: [{a}, {b}] holds too little of N({mean}, {std}^2) to sample by rejection"
    )


def zeros_(tensor: Tensor) -> Tensor:
    """Fill with 0.

    >>> import minillm
    >>> zeros_(minillm.ones(2)).tolist()
    [0.0, 0.0]
    """
    return _fill(tensor, 0.0)


def ones_(tensor: Tensor) -> Tensor:
    """Fill with 1.

    >>> import minillm
    >>> ones_(minillm.zeros(2)).tolist()
    [1.0, 1.0]
    """
    return _fill(tensor, 1.0)


def constant_(tensor: Tensor, val: float) -> Tensor:
    """Fill with ``val``.

    >>> import minillm
    >>> constant_(minillm.zeros(2), 0.5).tolist()
    [0.5, 0.5]
    """
    return _fill(tensor, val)


def xavier_uniform_(tensor: Tensor, gain: float = 1.0) -> Tensor:
    """Glorot uniform: U(-b, b) with ``b = gain * sqrt(6 / (fan_in + fan_out))``.

    >>> import minillm
    >>> w = xavier_uniform_(minillm.zeros(30, 20))
    >>> bool(abs(w.data).max() <= (6 / 50) ** 0.5)
    True
    """
    if tensor.numel() == 0:  # nothing to draw (and no fan to divide by), as in PyTorch
        return tensor
    fan_in, fan_out = calculate_fan_in_and_fan_out(tensor)
    std = gain * math.sqrt(2.0 / (fan_in + fan_out))
    bound = math.sqrt(3.0) * std
    return uniform_(tensor, -bound, bound)


def xavier_normal_(tensor: Tensor, gain: float = 1.0) -> Tensor:
    """Glorot normal: N(0, std^2) with ``std = gain * sqrt(2 / (fan_in + fan_out))``.

    >>> import minillm
    >>> w = xavier_normal_(minillm.zeros(100, 100))
    >>> round(float(w.std()), 1)  # sqrt(2 / 200)
    0.1
    """
    if tensor.numel() == 0:  # nothing to draw (and no fan to divide by), as in PyTorch
        return tensor
    fan_in, fan_out = calculate_fan_in_and_fan_out(tensor)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)))


def kaiming_uniform_(
    tensor: Tensor, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu"
) -> Tensor:
    """He uniform: U(-b, b) with ``b = gain * sqrt(3 / fan)``; ``a`` is the leaky-ReLU slope.

    ``Linear`` uses ``a=sqrt(5)``, which makes ``b = 1 / sqrt(fan_in)``.

    >>> import minillm
    >>> w = kaiming_uniform_(minillm.zeros(8, 16), a=5 ** 0.5)
    >>> bool(abs(w.data).max() <= 0.25)
    True
    """
    if tensor.numel() == 0:  # nothing to draw (and no fan to divide by), as in PyTorch
        return tensor
    std = calculate_gain(nonlinearity, a) / math.sqrt(_fan(tensor, mode))
    bound = math.sqrt(3.0) * std
    return uniform_(tensor, -bound, bound)


def kaiming_normal_(
    tensor: Tensor, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu"
) -> Tensor:
    """He normal: N(0, std^2) with ``std = gain / sqrt(fan)``.

    >>> import minillm
    >>> w = kaiming_normal_(minillm.zeros(200, 200), nonlinearity="relu")
    >>> round(float(w.std()), 2)  # sqrt(2 / 200)
    0.1
    """
    if tensor.numel() == 0:  # nothing to draw (and no fan to divide by), as in PyTorch
        return tensor
    std = calculate_gain(nonlinearity, a) / math.sqrt(_fan(tensor, mode))
    return normal_(tensor, 0.0, std)
