"""Elementwise primitives: each output element depends on the matching element of each input.

Inputs may broadcast against each other; backward returns gradients of the *output's* shape and the
engine sums them back to each input's shape (``minillm.autograd.unbroadcast``). Each docstring gives
the forward formula and its local derivative; ``backward`` applies it to arrays, and
``backward_graph`` writes it again with Tensor ops, for gradients of gradients (``create_graph``).
Constants are Python floats so float32 inputs stay float32 (NumPy 2 promotes a float32 array
times an ``np.float64`` scalar to float64).

Read next: ``reduce.py``.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from minillm import kernels
from minillm.autograd import Context, Function, constant

if TYPE_CHECKING:
    from minillm.tensor import Tensor

Grads = tuple[np.ndarray | None, ...]
TensorGrads = tuple["Tensor | None", ...]


def ieee() -> np.errstate:
    """Compute silently, as IEEE arithmetic and PyTorch do: ln 0 = -inf, sqrt(-1) = NaN,
    1/0 = inf, e^1000 = inf, with no NumPy RuntimeWarning. (About 2 us per use, so the hot
    arithmetic of + - * does without it: only its true overflows warn.)"""
    return np.errstate(divide="ignore", over="ignore", invalid="ignore")


def _broadcast_error(op: str, *arrays: np.ndarray) -> ValueError:
    """The error for operands NumPy cannot broadcast, naming the op and every shape."""
    shapes = " and ".join(str(a.shape) for a in arrays)
    return ValueError(f"{op}: shapes {shapes} do not broadcast together")


class Add(Function):
    """y = a + b;  dy/da = 1, dy/db = 1."""

    @staticmethod
    def forward(ctx: Context, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        try:
            return a + b
        except ValueError:
            raise _broadcast_error("add", a, b) from None

    @staticmethod
    def backward(ctx: Context, g: np.ndarray) -> Grads:
        return g, g

    @staticmethod
    def backward_graph(ctx: Context, g: Tensor, out: Tensor) -> TensorGrads:
        return g, g


class Sub(Function):
    """y = a - b;  dy/da = 1, dy/db = -1."""

    @staticmethod
    def forward(ctx: Context, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        try:
            return a - b
        except ValueError:
            raise _broadcast_error("sub", a, b) from None

    @staticmethod
    def backward(ctx: Context, g: np.ndarray) -> Grads:
        return g, (-g if ctx.needs_input_grad[1] else None)

    @staticmethod
    def backward_graph(ctx: Context, g: Tensor, out: Tensor) -> TensorGrads:
        return g, -g


class Mul(Function):
    """y = a * b;  dy/da = b, dy/db = a."""

    @staticmethod
    def forward(ctx: Context, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(a, b)
        try:
            return a * b
        except ValueError:
            raise _broadcast_error("mul", a, b) from None

    @staticmethod
    def backward(ctx: Context, g: np.ndarray) -> Grads:
        a, b = ctx.saved_tensors
        ga, gb = ctx.needs_input_grad
        return (g * b if ga else None), (g * a if gb else None)

    @staticmethod
    def backward_graph(ctx: Context, g: Tensor, out: Tensor) -> TensorGrads:
        a, b = ctx.parents
        return g * b, g * a


class Div(Function):
    """y = a / b;  dy/da = 1/b, dy/db = -a/b^2."""

    @staticmethod
    def forward(ctx: Context, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        with ieee():
            ctx.save_for_backward(a, b)
            try:
                return a / b
            except ValueError:
                raise _broadcast_error("div", a, b) from None

    @staticmethod
    def backward(ctx: Context, g: np.ndarray) -> Grads:
        with ieee():
            a, b = ctx.saved_tensors
            ga = g / b
            gb = -ga * a / b if ctx.needs_input_grad[1] else None
            return ga, gb

    @staticmethod
    def backward_graph(ctx: Context, g: Tensor, out: Tensor) -> TensorGrads:
        a, b = ctx.parents
        ga = g / b
        return ga, -ga * a / b


class Neg(Function):
    """y = -x;  dy/dx = -1."""

    @staticmethod
    def forward(ctx: Context, x: np.ndarray) -> np.ndarray:
        return -x

    @staticmethod
    def backward(ctx: Context, g: np.ndarray) -> Grads:
        return (-g,)

    @staticmethod
    def backward_graph(ctx: Context, g: Tensor, out: Tensor) -> TensorGrads:
        return (-g,)


class PowScalar(Function):
    """y = x^p for a constant p;  dy/dx = p x^(p-1)."""

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, *, exponent: float) -> np.ndarray:
        with ieee():
            ctx.save_for_backward(x)
            ctx.exponent = exponent
            return x**exponent

    @staticmethod
    def backward(ctx: Context, g: np.ndarray) -> Grads:
        with ieee():
            (x,) = ctx.saved_tensors
            p = ctx.exponent
            if p == 0:
                return (np.zeros_like(g),)
            return (g * p * x ** (p - 1),)

    @staticmethod
    def backward_graph(ctx: Context, g: Tensor, out: Tensor) -> TensorGrads:
        (x,) = ctx.parents
        p = ctx.exponent
        return (g * 0.0,) if p == 0 else (g * p * x ** (p - 1),)


class Pow(Function):
    """y = a^b;  dy/da = b a^(b-1) (0 where b = 0),  dy/db = a^b ln a (0 where a = 0 and b >= 0).

    The zero cases follow PyTorch.
    """

    @staticmethod
    def forward(ctx: Context, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        with ieee():
            try:
                out = a**b
            except ValueError:
                raise _broadcast_error("pow", a, b) from None
            ctx.save_for_backward(a, b, out)
            return out

    @staticmethod
    def backward(ctx: Context, g: np.ndarray) -> Grads:
        a, b, out = ctx.saved_tensors
        ga = None
        if ctx.needs_input_grad[0]:
            with ieee():
                ga = g * b * a ** (b - 1)
            # a^0 is constant, so its derivative is 0 even at a = 0, where b a^(b-1) is 0 * inf
            ga = np.where(b == 0, 0.0, ga).astype(ga.dtype, copy=False)
        gb = None
        if ctx.needs_input_grad[1]:
            with ieee():
                gb = g * out * np.log(a)
            gb = np.where((a == 0) & (b >= 0), 0.0, gb).astype(gb.dtype, copy=False)
        return ga, gb

    @staticmethod
    def backward_graph(ctx: Context, g: Tensor, out: Tensor) -> TensorGrads:
        a, b = ctx.parents
        # the masks of backward's zero cases are constants; away from them the formulas are smooth.
        # b a^(b-1) needs its mask only where it is 0 * inf (a = 0): elsewhere it is already 0 at
        # b = 0, and masking there would hide its derivative with respect to b (1/a).
        ga = Where.apply(constant((b.data == 0) & (a.data == 0)), g * 0.0, g * b * a ** (b - 1.0))
        gb = Where.apply(constant((a.data == 0) & (b.data >= 0)), g * 0.0, g * out * a.log())
        return ga, gb


class Exp(Function):
    """y = e^x;  dy/dx = y."""

    @staticmethod
    def forward(ctx: Context, x: np.ndarray) -> np.ndarray:
        with ieee():
            y = np.exp(x)
            ctx.save_for_backward(y)
            return y

    @staticmethod
    def backward(ctx: Context, g: np.ndarray) -> Grads:
        (y,) = ctx.saved_tensors
        return (g * y,)

    @staticmethod
    def backward_graph(ctx: Context, g: Tensor, out: Tensor) -> TensorGrads:
        return (g * out,)


class Log(Function):
    """y = ln x;  dy/dx = 1/x."""

    @staticmethod
    def forward(ctx: Context, x: np.ndarray) -> np.ndarray:
        with ieee():
            ctx.save_for_backward(x)
            return np.log(x)

    @staticmethod
    def backward(ctx: Context, g: np.ndarray) -> Grads:
        with ieee():
            (x,) = ctx.saved_tensors
            return (g / x,)

    @staticmethod
    def backward_graph(ctx: Context, g: Tensor, out: Tensor) -> TensorGrads:
        return (g / ctx.parents[0],)


class Sqrt(Function):
    """y = sqrt x;  dy/dx = 1 / (2 y)."""

    @staticmethod
    def forward(ctx: Context, x: np.ndarray) -> np.ndarray:
        with ieee():
            y = np.sqrt(x)
            ctx.save_for_backward(y)
            return y

    @staticmethod
    def backward(ctx: Context, g: np.ndarray) -> Grads:
        with ieee():
            (y,) = ctx.saved_tensors
            return (g / (2.0 * y),)

    @staticmethod
    def backward_graph(ctx: Context, g: Tensor, out: Tensor) -> TensorGrads:
        return (g / (2.0 * out),)


class Abs(Function):
    """y = |x|;  dy/dx = sign x (0 at x = 0, as PyTorch)."""

    @staticmethod
    def forward(ctx: Context, x: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(x)
        return np.abs(x)

    @staticmethod
    def backward(ctx: Context, g: np.ndarray) -> Grads:
        (x,) = ctx.saved_tensors
        return (g * np.sign(x),)

    @staticmethod
    def backward_graph(ctx: Context, g: Tensor, out: Tensor) -> TensorGrads:
        return (g * constant(np.sign(ctx.parents[0].data)),)  # sign x is locally constant


class Clamp(Function):
    """y = min(max(x, lo), hi);  dy/dx = 1 where lo <= x <= hi, else 0."""

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, *, min: float | None, max: float | None) -> np.ndarray:  # noqa: A002
        if min is None and max is None:
            raise ValueError("clamp: at least one of min and max must be given")
        ctx.save_for_backward(x)
        ctx.bounds = (min, max)
        return np.clip(x, min, max)

    @staticmethod
    def inside(x: np.ndarray, lo: float | None, hi: float | None) -> np.ndarray:
        """Where lo <= x <= hi: the elements the clamp passes through."""
        inside = np.ones(x.shape, dtype=bool)
        if lo is not None:
            inside &= x >= lo
        if hi is not None:
            inside &= x <= hi
        return inside

    @staticmethod
    def backward(ctx: Context, g: np.ndarray) -> Grads:
        (x,) = ctx.saved_tensors
        return (g * Clamp.inside(x, *ctx.bounds),)

    @staticmethod
    def backward_graph(ctx: Context, g: Tensor, out: Tensor) -> TensorGrads:
        inside = Clamp.inside(ctx.parents[0].data, *ctx.bounds)
        return (g * constant(inside.astype(g.dtype)),)


class Maximum(Function):
    """y = max(a, b);  the gradient goes to the larger input, split in half on ties (PyTorch)."""

    @staticmethod
    def forward(ctx: Context, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(a, b)
        try:
            return np.maximum(a, b)
        except ValueError:
            raise _broadcast_error("maximum", a, b) from None

    @staticmethod
    def backward(ctx: Context, g: np.ndarray) -> Grads:
        a, b = ctx.saved_tensors
        share = ((a > b) + 0.5 * (a == b)).astype(g.dtype)
        return g * share, g * (1.0 - share)

    @staticmethod
    def backward_graph(ctx: Context, g: Tensor, out: Tensor) -> TensorGrads:
        a, b = ctx.parents
        share = ((a.data > b.data) + 0.5 * (a.data == b.data)).astype(g.dtype)
        return g * constant(share), g * constant(1.0 - share)


class Minimum(Function):
    """y = min(a, b);  the gradient goes to the smaller input, split in half on ties (PyTorch)."""

    @staticmethod
    def forward(ctx: Context, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(a, b)
        try:
            return np.minimum(a, b)
        except ValueError:
            raise _broadcast_error("minimum", a, b) from None

    @staticmethod
    def backward(ctx: Context, g: np.ndarray) -> Grads:
        a, b = ctx.saved_tensors
        share = ((a < b) + 0.5 * (a == b)).astype(g.dtype)
        return g * share, g * (1.0 - share)

    @staticmethod
    def backward_graph(ctx: Context, g: Tensor, out: Tensor) -> TensorGrads:
        a, b = ctx.parents
        share = ((a.data < b.data) + 0.5 * (a.data == b.data)).astype(g.dtype)
        return g * constant(share), g * constant(1.0 - share)


class ReLU(Function):
    """y = max(x, 0);  dy/dx = 1 where x > 0, else 0."""

    @staticmethod
    def forward(ctx: Context, x: np.ndarray) -> np.ndarray:
        y = np.maximum(x, 0)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx: Context, g: np.ndarray) -> Grads:
        (y,) = ctx.saved_tensors
        return (g * (y > 0),)

    @staticmethod
    def backward_graph(ctx: Context, g: Tensor, out: Tensor) -> TensorGrads:
        return (g * constant((out.data > 0).astype(g.dtype)),)


class Sigmoid(Function):
    """y = 1 / (1 + e^-x), computed as (1 + tanh(x/2)) / 2, which cannot overflow.

    dy/dx = y (1 - y).
    """

    @staticmethod
    def forward(ctx: Context, x: np.ndarray) -> np.ndarray:
        y = 0.5 * (1.0 + np.tanh(0.5 * x))
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx: Context, g: np.ndarray) -> Grads:
        (y,) = ctx.saved_tensors
        return (g * y * (1.0 - y),)

    @staticmethod
    def backward_graph(ctx: Context, g: Tensor, out: Tensor) -> TensorGrads:
        return (g * out * (1.0 - out),)


class Tanh(Function):
    """y = tanh x;  dy/dx = 1 - y^2."""

    @staticmethod
    def forward(ctx: Context, x: np.ndarray) -> np.ndarray:
        y = np.tanh(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx: Context, g: np.ndarray) -> Grads:
        (y,) = ctx.saved_tensors
        return (g * (1.0 - y * y),)

    @staticmethod
    def backward_graph(ctx: Context, g: Tensor, out: Tensor) -> TensorGrads:
        return (g * (1.0 - out * out),)


class GELU(Function):
    """y = x Phi(x) (``approximate="none"``) or its tanh approximation; see ``kernels/gelu.py``."""

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, *, approximate: str = "none") -> np.ndarray:
        if approximate not in ("none", "tanh"):
            raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
        # the kernel walks flat views; asarray(order="C") keeps a 0-d input 0-d, unlike
        # ascontiguousarray, which returns at least 1-d
        x = np.asarray(x, order="C")
        ctx.save_for_backward(x)
        ctx.tanh = approximate == "tanh"
        out = np.empty_like(x)
        kernels.gelu.gelu_forward(out.reshape(-1), x.reshape(-1), ctx.tanh)
        return out

    @staticmethod
    def backward(ctx: Context, g: np.ndarray) -> Grads:
        (x,) = ctx.saved_tensors
        g = np.asarray(g, dtype=x.dtype, order="C")
        dx = np.empty_like(x)
        kernels.gelu.gelu_backward(dx.reshape(-1), g.reshape(-1), x.reshape(-1), ctx.tanh)
        return (dx,)

    @staticmethod
    def backward_graph(ctx: Context, g: Tensor, out: Tensor) -> TensorGrads:
        (x,) = ctx.parents
        if not ctx.tanh:  # d/dx x Phi(x) = Phi(x) + x phi(x)
            cdf = 0.5 * (1.0 + (x * (1.0 / math.sqrt(2.0))).erf())
            pdf = (x * x * -0.5).exp() * (1.0 / math.sqrt(2.0 * math.pi))
            return (g * (cdf + x * pdf),)
        c = math.sqrt(2.0 / math.pi)  # y = x (1 + tanh u) / 2, u = c (x + 0.044715 x^3)
        t = ((x + 0.044715 * x * x * x) * c).tanh()
        du = c * (1.0 + 3.0 * 0.044715 * x * x)
        return (g * (0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * du),)


class Where(Function):
    """y = a where cond else b;  dy/da = cond, dy/db = not cond (cond gets no gradient)."""

    @staticmethod
    def forward(ctx: Context, cond: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        cond = cond.astype(bool, copy=False)
        ctx.save_for_backward(cond)
        try:
            return np.where(cond, a, b)
        except ValueError:
            raise _broadcast_error("where", cond, a, b) from None

    @staticmethod
    def backward(ctx: Context, g: np.ndarray) -> Grads:
        (cond,) = ctx.saved_tensors
        zero = np.zeros((), dtype=g.dtype)
        ga = np.where(cond, g, zero) if ctx.needs_input_grad[1] else None
        gb = np.where(cond, zero, g) if ctx.needs_input_grad[2] else None
        return None, ga, gb

    @staticmethod
    def backward_graph(ctx: Context, g: Tensor, out: Tensor) -> TensorGrads:
        cond = constant(ctx.saved_tensors[0])
        zero = constant(np.zeros((), dtype=g.dtype))
        return None, Where.apply(cond, g, zero), Where.apply(cond, zero, g)


class Cast(Function):
    """y = x converted to another dtype;  the gradient is converted back to x's dtype."""

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, *, dtype: np.dtype) -> np.ndarray:
        ctx.src = x.dtype
        return x.astype(dtype)

    @staticmethod
    def backward(ctx: Context, g: np.ndarray) -> Grads:
        return (g.astype(ctx.src),)

    @staticmethod
    def backward_graph(ctx: Context, g: Tensor, out: Tensor) -> TensorGrads:
        return (Cast.apply(g, dtype=ctx.src),)
