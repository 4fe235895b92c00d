"""``minillm.nn``: layers, models' building blocks and losses, shaped like ``torch.nn``.

Read in this order: ``parameter.py`` (a Tensor that is learned), ``module.py`` (the tree of
parameters, buffers and children, ``state_dict``, hooks), ``containers.py``, the layers
(``linear.py``, ``activation.py``, ``dropout.py``, ``embedding.py``, ``normalization.py``),
``functional.py`` and ``losses.py`` (the math, imported as ``F``), ``loss_modules.py``, ``init.py``
(weight initialization) and ``utils/`` (gradient clipping, pruning), then ``distillation.py``.
"""

from __future__ import annotations

from minillm.nn import functional, init, utils
from minillm.nn.activation import (
    CELU,
    ELU,
    GELU,
    GLU,
    SELU,
    Hardsigmoid,
    Hardswish,
    Hardtanh,
    LeakyReLU,
    LogSigmoid,
    LogSoftmax,
    Mish,
    ReLU,
    ReLU6,
    Sigmoid,
    SiLU,
    Softmax,
    Softmin,
    Softplus,
    Softsign,
    Tanh,
)
from minillm.nn.containers import ModuleDict, ModuleList, Sequential
from minillm.nn.dropout import Dropout
from minillm.nn.embedding import Embedding
from minillm.nn.linear import Flatten, Identity, Linear
from minillm.nn.loss_modules import (
    BCELoss,
    BCEWithLogitsLoss,
    CrossEntropyLoss,
    HuberLoss,
    KLDivLoss,
    L1Loss,
    MSELoss,
    NLLLoss,
    SmoothL1Loss,
)
from minillm.nn.module import IncompatibleKeys, Module, RemovableHandle
from minillm.nn.normalization import LayerNorm, RMSNorm
from minillm.nn.parameter import Parameter

__all__ = [
    "CELU",
    "ELU",
    "GELU",
    "GLU",
    "SELU",
    "BCELoss",
    "BCEWithLogitsLoss",
    "CrossEntropyLoss",
    "Dropout",
    "Embedding",
    "Flatten",
    "Hardsigmoid",
    "Hardswish",
    "Hardtanh",
    "HuberLoss",
    "Identity",
    "IncompatibleKeys",
    "KLDivLoss",
    "L1Loss",
    "LayerNorm",
    "LeakyReLU",
    "Linear",
    "LogSigmoid",
    "LogSoftmax",
    "MSELoss",
    "Mish",
    "Module",
    "ModuleDict",
    "ModuleList",
    "NLLLoss",
    "Parameter",
    "RMSNorm",
    "ReLU",
    "ReLU6",
    "RemovableHandle",
    "Sequential",
    "SiLU",
    "Sigmoid",
    "SmoothL1Loss",
    "Softmax",
    "Softmin",
    "Softplus",
    "Softsign",
    "Tanh",
    "functional",
    "init",
    "utils",
]
