"""Dynamic int8 quantization of Linear layers: ``quantize_dynamic`` and ``QuantizedLinear``.

The scheme of ``torch.ao.quantization.quantize_dynamic`` (PyTorch 2.13 marks it deprecated):
weights are quantized once, ahead of time, activations at run time, as they arrive.

* Weight, per output channel, symmetric int8 (``PerChannelMinMaxObserver``):
  ``W[o, :] ~ s_w[o] * Wq[o, :]`` with ``s_w[o] = max_i |W[o, i]| / 127.5``; every weight is off
  by at most ``s_w[o] / 2``.
* Activation, per row, symmetric: each input row gets its own scale ``max|x[n]| / 127`` (PyTorch
  takes one per tensor, from the whole batch), so a row with small values is not crushed by
  another's large ones. The integer products are summed in int32 and rescaled once per output
  (``minillm/kernels/qlinear.py`` has the math and the kernel).
* Weight-only: for large batches the layer can instead dequantize the weight tile by tile to
  float32 and hand each tile to BLAS (``mode="weight_only"``): no activation error at all, the
  weight read at a quarter of float32's bytes. ``mode="auto"`` takes the int8 kernel up to
  ``int8_max_rows()`` rows (all rows where the CPU has VNNI, on which the int8 kernel beat float32
  BLAS at batch 64: see RESULTS.md, "Quantization") and weight-only above.

``quantize_dynamic(model, {nn.Linear})`` returns a deep copy with every matching Linear replaced
by a ``QuantizedLinear``; the original is not touched. A Linear whose weight is shared with a
module that is not replaced (GPT's ``lm_head`` is ``wte``'s matrix) stays float, so the copy keeps
the tie: quantizing one side would silently untie them. A QuantizedLinear stores ``weight_int8``,
``weight_scale`` and ``bias`` as buffers (``state_dict`` saves them; safetensors holds int8), and
its forward runs without a graph: quantized layers are for inference.

One road: ``QuantizedLinear.forward`` -> ``quantized_linear`` (checks, once) -> ``linear_int8``
(arrays; what generation's engine calls directly) -> ``kernels.qlinear``.

Read next: ``minillm/inference/engine.py`` (the quantized GPT at generation time), then
``command.py``.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

from minillm import kernels
from minillm.compress.observers import PerChannelMinMaxObserver
from minillm.compress.qtensor import quantize_per_channel
from minillm.nn.linear import Linear
from minillm.nn.module import Module
from minillm.tensor import Tensor

MODES = ("auto", "int8", "weight_only")


def int8_max_rows() -> int:
    """``mode="auto"`` takes the int8 kernel up to this many rows: all of them with VNNI, 8
    without (asked on first use: importing this module imports no Numba)."""
    from minillm.kernels._numba import HAS_VNNI

    return 1 << 30 if HAS_VNNI else 8


_TILE = 256  # weight rows dequantized at a time by the weight-only path (256 x 4096 x 4 B = 4 MB)


class QuantizedLinear(Module):
    """A Linear with int8 weights (one scale per output row) and run-time int8 activations.

    >>> import minillm
    >>> from minillm.nn import Linear
    >>> _ = minillm.manual_seed(0)
    >>> float_layer = Linear(16, 4)
    >>> q = QuantizedLinear.from_float(float_layer)
    >>> x = minillm.randn(3, 16)
    >>> err = np.abs(q(x).data - float_layer(x).data).max()
    >>> bool(err < 0.02), q.weight_int8.dtype
    (True, dtype('int8'))
    """

    def __init__(
        self, in_features: int, out_features: int, bias: bool = True, dtype: Any = np.float32
    ) -> None:
        super().__init__()
        self.in_features, self.out_features, self.mode = in_features, out_features, "auto"
        dt = np.dtype(dtype)
        self.register_buffer("weight_int8", Tensor(_aligned_int8(out_features, in_features)))
        self.register_buffer("weight_scale", Tensor(np.ones(out_features, dt)))
        self.register_buffer("bias", Tensor(np.zeros(out_features, dt)) if bias else None)
        self._sums: tuple[Any, np.ndarray] | None = None  # ((array, version), its row sums)

    @classmethod
    def from_float(cls, linear: Linear) -> QuantizedLinear:
        """Quantize a float Linear's weight per output channel (symmetric qint8, PyTorch's
        observer and rounding)."""
        w = linear.weight.data
        obs = PerChannelMinMaxObserver(ch_axis=0, dtype="qint8", qscheme="per_channel_symmetric")
        obs(w)
        scale, zero_point = obs.calculate_qparams()
        q = quantize_per_channel(w, scale, zero_point, 0, "qint8")
        layer = cls(linear.in_features, linear.out_features, linear.bias is not None, w.dtype)
        layer.weight_int8.data[...] = q.int_repr()
        layer.weight_scale.data[...] = scale
        if linear.bias is not None:
            layer.bias.data[...] = linear.bias.data
        return layer

    def weight_sums(self) -> np.ndarray:
        """Row sums of the int8 weight (int32), the kernel's zero-point correction, kept until
        the weight changes: replaced, or written in place (``load_state_dict`` bumps its
        version)."""
        key = (self.weight_int8.data, self.weight_int8._version)
        if self._sums is None or self._sums[0][0] is not key[0] or self._sums[0][1] != key[1]:
            self._sums = (key, self.weight_int8.data.sum(axis=1, dtype=np.int32))
        return self._sums[1]

    def dequantized_weight(self) -> np.ndarray:
        """The float weight the int8 one stands for, ``s_w[o] * Wq[o, :]``."""
        return (
            self.weight_int8.data.astype(self.weight_scale.dtype) * self.weight_scale.data[:, None]
        )

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return quantized_linear(input, self)

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"bias={self.bias is not None}, dtype=qint8, qscheme=per_channel_symmetric"
        )


def _aligned_int8(rows: int, cols: int) -> np.ndarray:
    """A zeroed (rows, cols) int8 array starting on a 64-byte boundary: the kernel's 64-byte
    loads then never straddle two cache lines (when cols is a multiple of 64, no row does)."""
    n = rows * cols
    buf = np.zeros(n + 64, np.int8)
    start = -buf.ctypes.data % 64
    return buf[start : start + n].reshape(rows, cols)


def quantized_linear(input: Any, layer: QuantizedLinear) -> Tensor:  # noqa: A002
    """``layer(input)``: check the input once, then run ``linear_int8`` on its array (no graph)."""
    x = input.data if isinstance(input, Tensor) else np.asarray(input)
    if x.dtype.kind != "f":
        raise TypeError(f"QuantizedLinear expects a float input, got {x.dtype}")
    if x.ndim == 0 or x.shape[-1] != layer.in_features:
        raise ValueError(
            f"QuantizedLinear({layer.in_features} -> {layer.out_features}): input of shape "
            f"{x.shape} does not end in {layer.in_features}"
        )
    rows = np.ascontiguousarray(x.reshape(-1, layer.in_features), dtype=layer.weight_scale.dtype)
    out = np.empty((rows.shape[0], layer.out_features), rows.dtype)
    linear_int8(out, rows, layer, layer.mode)
    return Tensor(out.reshape(*x.shape[:-1], layer.out_features))


def linear_int8(
    out: np.ndarray, x: np.ndarray, layer: Any, mode: str = "auto", with_bias: bool = True
) -> None:
    """``out = x W^T + b`` for C-contiguous (N, I) ``x`` into (N, O) ``out``, with the layer's
    int8 weight: the int8 kernel, or weight-only (dequantized tiles, BLAS) for large batches.
    ``with_bias=False`` leaves the bias out (generation's engine adds it in its next kernel)."""
    N = x.shape[0]
    wq, ws = layer.weight_int8.data, layer.weight_scale.data
    if with_bias and layer.bias is not None:
        b = layer.bias.data
    else:
        b = _zeros(wq.shape[0], out.dtype)
    if mode == "int8" or (mode == "auto" and int8_max_rows() >= N):
        xu = np.empty(x.shape, np.uint8)
        xs = np.empty(N, x.dtype)
        kernels.qlinear.quantize_rows(xu, xs, x)
        kernels.qlinear.int8_linear(out, xu, xs, wq, layer.weight_sums(), ws, b)
        return
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    for o in range(0, wq.shape[0], _TILE):  # weight-only: dequantize a tile, one BLAS product
        tile = wq[o : o + _TILE].astype(x.dtype) * ws[o : o + _TILE, None]
        np.matmul(x, tile.T, out=out[:, o : o + _TILE])
    out += b


_ZEROS: dict[tuple[int, np.dtype], np.ndarray] = {}


def _zeros(n: int, dtype: np.dtype) -> np.ndarray:
    """A read-only zero bias, made once per size."""
    key = (n, np.dtype(dtype))
    if key not in _ZEROS:
        z = np.zeros(n, dtype)
        z.flags.writeable = False
        _ZEROS[key] = z
    return _ZEROS[key]


def _tied_elsewhere(model: Module, replaced: set[int]) -> set[int]:
    """ids of the weights held by a module that is not going to be replaced."""
    return {
        id(p)
        for m in model.modules()
        if id(m) not in replaced
        for p in m._parameters.values()
        if p is not None
    }


def quantize_dynamic(
    model: Module, qconfig_spec: Any = None, dtype: Any = "int8", inplace: bool = False
) -> Module:
    """A copy of ``model`` whose Linear layers (the types in ``qconfig_spec``, default
    ``{Linear}``) hold int8 weights and quantize their inputs at run time.

    ``dtype`` is "int8" (or ``qint8``), as in PyTorch. ``inplace=True`` changes ``model`` itself.

    >>> import minillm
    >>> from minillm.nn import Linear, ReLU, Sequential
    >>> net = Sequential(Linear(8, 16), ReLU(), Linear(16, 2))
    >>> qnet = quantize_dynamic(net, {Linear}, dtype="int8")
    >>> type(qnet[0]).__name__, type(net[0]).__name__
    ('QuantizedLinear', 'Linear')
    """
    if dtype not in ("int8", "qint8") and getattr(dtype, "name", None) != "qint8":
        raise ValueError(f"quantize_dynamic: only int8 (qint8) is supported, got {dtype!r}")
    types = tuple(qconfig_spec) if qconfig_spec is not None else (Linear,)
    if not all(isinstance(t, type) and issubclass(t, Linear) for t in types):
        raise ValueError(f"quantize_dynamic: qconfig_spec may name Linear types only, got {types}")
    target = model if inplace else copy.deepcopy(model)
    chosen = {id(m) for m in target.modules() if isinstance(m, types)}
    kept = _tied_elsewhere(target, chosen)
    for parent in list(target.modules()):
        for name, child in list(parent._modules.items()):
            if child is not None and id(child) in chosen and id(child.weight) not in kept:
                setattr(parent, name, QuantizedLinear.from_float(child))
    return target
