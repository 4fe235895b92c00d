"""``minillm.compress``: make a trained model smaller and faster: int8 quantization, distillation.

Read in this order: ``qtensor.py`` (quantized tensors with PyTorch's semantics), ``observers.py``
(choosing scale and zero point), ``dynamic.py`` (``quantize_dynamic``: int8 Linear layers, whose
kernel is ``minillm/kernels/qlinear.py``), ``checkpoint.py`` (an int8 run folder that
``minillm generate`` loads) and ``command.py`` (``minillm quantize | prune``). Pruning lives in
``minillm/nn/utils/prune.py`` (``minillm.nn.utils.prune``, as in PyTorch) and the distillation
loss in ``minillm/nn/distillation.py``; both are re-exported here.
"""

from __future__ import annotations

from minillm.compress.dynamic import QuantizedLinear, linear_int8, quantize_dynamic
from minillm.compress.observers import MinMaxObserver, PerChannelMinMaxObserver, calculate_qparams
from minillm.compress.qtensor import (
    QDtype,
    QTensor,
    dequantize,
    qint8,
    quantize_per_channel,
    quantize_per_tensor,
    quint8,
)
from minillm.nn.distillation import distillation_loss
from minillm.nn.utils import prune

__all__ = [
    "MinMaxObserver",
    "PerChannelMinMaxObserver",
    "QDtype",
    "QTensor",
    "QuantizedLinear",
    "calculate_qparams",
    "dequantize",
    "distillation_loss",
    "linear_int8",
    "prune",
    "qint8",
    "quantize_dynamic",
    "quantize_per_channel",
    "quantize_per_tensor",
    "quint8",
]
