"""The ``minillm.*`` function form of every op: ``minillm.exp(x)`` is ``x.exp()``.

Arguments may be Tensors, arrays or Python numbers. Ops that combine several tensors (``cat``,
``stack``, ``where``, ``one_hot``, ``pad``) live here, composed from the primitives in
``minillm/ops``.
"""

from __future__ import annotations

import builtins  # this module defines any, all, abs, sum, ... of its own
from collections.abc import Sequence
from typing import Any

import numpy as np

from minillm.ops import elementwise as E
from minillm.ops import linalg as L
from minillm.ops import movement as M
from minillm.tensor import Tensor, _axis, _wrap
from minillm.tensor import as_tensor as _t


def _pair(a: Any, b: Any, true_divide: bool = False) -> tuple[Tensor, Tensor]:
    """Lift two operands exactly as the operators do (``Tensor._pair``): a Python scalar takes
    the other operand's dtype, and an integer tensor meeting a float computes in that float."""
    if isinstance(a, Tensor):
        return a._pair(b, true_divide)
    b, a = _t(b)._pair(a, true_divide)
    return a, b


def add(a: Any, b: Any) -> Tensor:
    return E.Add.apply(*_pair(a, b))


def sub(a: Any, b: Any) -> Tensor:
    return E.Sub.apply(*_pair(a, b))


def mul(a: Any, b: Any) -> Tensor:
    return E.Mul.apply(*_pair(a, b))


def div(a: Any, b: Any, *, rounding_mode: str | None = None) -> Tensor:
    if rounding_mode is not None:
        return _t(a).div(b, rounding_mode=rounding_mode)
    return E.Div.apply(*_pair(a, b, true_divide=True))


def pow(a: Any, exponent: Any) -> Tensor:  # noqa: A001 - PyTorch's name
    if isinstance(exponent, (int, float)) and not isinstance(exponent, bool):
        return _t(a).pow(exponent)
    return E.Pow.apply(*_pair(a, exponent))


def maximum(a: Any, b: Any) -> Tensor:
    return E.Maximum.apply(*_pair(a, b))


def minimum(a: Any, b: Any) -> Tensor:
    return E.Minimum.apply(*_pair(a, b))


def matmul(a: Any, b: Any) -> Tensor:
    a, b = _pair(a, b)
    return a @ b


def neg(x: Any) -> Tensor:
    return -_t(x)


def exp(x: Any) -> Tensor:
    return _t(x).exp()


def log(x: Any) -> Tensor:
    return _t(x).log()


def sqrt(x: Any) -> Tensor:
    return _t(x).sqrt()


def abs(x: Any) -> Tensor:  # noqa: A001
    return _t(x).abs()


def clamp(x: Any, min: float | None = None, max: float | None = None) -> Tensor:  # noqa: A002
    return _t(x).clamp(min, max)


def relu(x: Any) -> Tensor:
    return _t(x).relu()


def sigmoid(x: Any) -> Tensor:
    return _t(x).sigmoid()


def tanh(x: Any) -> Tensor:
    return _t(x).tanh()


def gelu(x: Any, approximate: str = "none") -> Tensor:
    return _t(x).gelu(approximate)


def sum(x: Any, axis: Any = None, keepdims: bool = False, **kw: Any) -> Tensor:  # noqa: A001
    return _t(x).sum(axis, keepdims, **kw)


def mean(x: Any, axis: Any = None, keepdims: bool = False, **kw: Any) -> Tensor:
    return _t(x).mean(axis, keepdims, **kw)


def var(x: Any, axis: Any = None, keepdims: bool = False, correction: int = 1, **kw: Any) -> Tensor:
    return _t(x).var(axis, keepdims, correction, **kw)


def std(x: Any, axis: Any = None, keepdims: bool = False, correction: int = 1, **kw: Any) -> Tensor:
    return _t(x).std(axis, keepdims, correction, **kw)


def max(x: Any, axis: Any = None, keepdims: bool = False, **kw: Any) -> Tensor:  # noqa: A001
    """The largest value over ``axis``; with a tensor as second argument, elementwise ``maximum``
    (as ``torch.max(a, b)``)."""
    if isinstance(axis, Tensor):
        return maximum(x, axis)
    return _t(x).max(axis, keepdims, **kw)


def min(x: Any, axis: Any = None, keepdims: bool = False, **kw: Any) -> Tensor:  # noqa: A001
    """The smallest value over ``axis``; with a tensor as second argument, elementwise
    ``minimum`` (as ``torch.min(a, b)``)."""
    if isinstance(axis, Tensor):
        return minimum(x, axis)
    return _t(x).min(axis, keepdims, **kw)


def logsumexp(x: Any, axis: Any = None, keepdims: bool = False, **kw: Any) -> Tensor:
    return _t(x).logsumexp(axis, keepdims, **kw)


def softmax(x: Any, axis: int = -1, **kw: Any) -> Tensor:
    return _t(x).softmax(axis, **kw)


def log_softmax(x: Any, axis: int = -1, **kw: Any) -> Tensor:
    return _t(x).log_softmax(axis, **kw)


def argmax(x: Any, axis: int | None = None, keepdims: bool = False, **kw: Any) -> Tensor:
    return _t(x).argmax(axis, keepdims, **kw)


def argmin(x: Any, axis: int | None = None, keepdims: bool = False, **kw: Any) -> Tensor:
    return _t(x).argmin(axis, keepdims, **kw)


def reshape(x: Any, *shape: Any) -> Tensor:
    return _t(x).reshape(*shape)


def permute(x: Any, *axes: Any) -> Tensor:
    return _t(x).permute(*axes)


def transpose(x: Any, dim0: int = -2, dim1: int = -1) -> Tensor:
    return _t(x).transpose(dim0, dim1)


def expand(x: Any, *shape: Any) -> Tensor:
    return _t(x).expand(*shape)


def broadcast_to(x: Any, shape: Any) -> Tensor:
    return _t(x).expand(shape)


def squeeze(x: Any, axis: Any = None, **kw: Any) -> Tensor:
    return _t(x).squeeze(axis, **kw)


def unsqueeze(x: Any, axis: int | None = None, **kw: Any) -> Tensor:
    return _t(x).unsqueeze(axis, **kw)


def flatten(x: Any, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    return _t(x).flatten(start_dim, end_dim)


def split(
    x: Any, split_size_or_sections: int | list[int], axis: int = 0, **kw: Any
) -> tuple[Tensor, ...]:
    return _t(x).split(split_size_or_sections, axis, **kw)


def chunk(x: Any, chunks: int, axis: int = 0, **kw: Any) -> tuple[Tensor, ...]:
    return _t(x).chunk(chunks, axis, **kw)


def tril(x: Any, diagonal: int = 0) -> Tensor:
    return _t(x).tril(diagonal)


def triu(x: Any, diagonal: int = 0) -> Tensor:
    return _t(x).triu(diagonal)


def masked_fill(x: Any, mask: Any, value: float) -> Tensor:
    return _t(x).masked_fill(mask, value)


def cat(tensors: Sequence[Any], axis: int = 0, *, dim: int | None = None) -> Tensor:
    """Join tensors along an existing axis.

    >>> import minillm
    >>> minillm.cat([minillm.zeros(2, 1), minillm.ones(2, 2)], axis=1).shape
    (2, 3)
    """
    return M.Cat.apply(*[_t(t) for t in tensors], axis=_axis(axis, dim))


def stack(tensors: Sequence[Any], axis: int = 0, *, dim: int | None = None) -> Tensor:
    """Join same-shaped tensors along a new axis."""
    ts = [_t(t) for t in tensors]
    if not ts:
        raise ValueError("stack: expected at least one tensor")
    if builtins.any(t.shape != ts[0].shape for t in ts):
        raise ValueError(f"stack: all tensors must have one shape, got {[t.shape for t in ts]}")
    axis = _axis(axis, dim)
    return cat([t.unsqueeze(axis) for t in ts], axis=axis % (ts[0].ndim + 1))


def where(condition: Any, x: Any, y: Any) -> Tensor:
    """``x`` where ``condition`` is True, else ``y``; all three broadcast together."""
    x, y = _pair(x, y)
    return E.Where.apply(_t(condition), x, y)


def pad(x: Any, pad: Sequence[int], value: float = 0.0) -> Tensor:
    """Constant padding with PyTorch's ``pad`` order: (left, right) of the last axis first.

    >>> import minillm
    >>> minillm.pad(minillm.ones(2, 2), (1, 0, 0, 1)).shape
    (3, 3)
    """
    return M.Pad.apply(_t(x), pad=tuple(int(p) for p in pad), value=value)


def one_hot(indices: Any, num_classes: int = -1) -> Tensor:
    """int64 one-hot rows for integer class indices (``num_classes=-1`` means max index + 1).

    >>> import minillm
    >>> minillm.one_hot(minillm.tensor([0, 2]), 3).tolist()
    [[1, 0, 0], [0, 0, 1]]
    """
    idx = _t(indices).data
    if idx.dtype.kind not in "iu":
        raise TypeError(f"one_hot: indices must be integers, got dtype {idx.dtype}")
    if idx.size and idx.min() < 0:
        raise ValueError(f"one_hot: class indices must be non-negative, found {idx.min()}")
    top = int(idx.max()) + 1 if idx.size else 0
    n = top if num_classes == -1 else num_classes
    if top > n:
        raise ValueError(f"one_hot: class index {top - 1} is out of range for num_classes={n}")
    return _wrap((idx[..., None] == np.arange(n)).astype(np.int64))


# ------------------------------------------------------------------------ the pointwise family
def sin(x: Any) -> Tensor:
    return _t(x).sin()


def cos(x: Any) -> Tensor:
    return _t(x).cos()


def tan(x: Any) -> Tensor:
    return _t(x).tan()


def asin(x: Any) -> Tensor:
    return _t(x).asin()


def acos(x: Any) -> Tensor:
    return _t(x).acos()


def atan(x: Any) -> Tensor:
    return _t(x).atan()


def sinh(x: Any) -> Tensor:
    return _t(x).sinh()


def cosh(x: Any) -> Tensor:
    return _t(x).cosh()


def asinh(x: Any) -> Tensor:
    return _t(x).asinh()


def acosh(x: Any) -> Tensor:
    return _t(x).acosh()


def atanh(x: Any) -> Tensor:
    return _t(x).atanh()


def log1p(x: Any) -> Tensor:
    return _t(x).log1p()


def expm1(x: Any) -> Tensor:
    return _t(x).expm1()


def log2(x: Any) -> Tensor:
    return _t(x).log2()


def log10(x: Any) -> Tensor:
    return _t(x).log10()


def exp2(x: Any) -> Tensor:
    return _t(x).exp2()


def reciprocal(x: Any) -> Tensor:
    return _t(x).reciprocal()


def square(x: Any) -> Tensor:
    return _t(x).square()


def rsqrt(x: Any) -> Tensor:
    return _t(x).rsqrt()


def erf(x: Any) -> Tensor:
    return _t(x).erf()


def floor(x: Any) -> Tensor:
    return _t(x).floor()


def ceil(x: Any) -> Tensor:
    return _t(x).ceil()


def trunc(x: Any) -> Tensor:
    return _t(x).trunc()


def sign(x: Any) -> Tensor:
    return _t(x).sign()


def isnan(x: Any) -> Tensor:
    return _t(x).isnan()


def isinf(x: Any) -> Tensor:
    return _t(x).isinf()


def isfinite(x: Any) -> Tensor:
    return _t(x).isfinite()


def logical_not(x: Any) -> Tensor:
    return _t(x).logical_not()


def fmod(a: Any, b: Any) -> Tensor:
    return _t(a).fmod(b)


def remainder(a: Any, b: Any) -> Tensor:
    return _t(a).remainder(b)


def logaddexp(a: Any, b: Any) -> Tensor:
    return _t(a).logaddexp(b)


def logical_and(a: Any, b: Any) -> Tensor:
    return _t(a).logical_and(b)


def logical_or(a: Any, b: Any) -> Tensor:
    return _t(a).logical_or(b)


def logical_xor(a: Any, b: Any) -> Tensor:
    return _t(a).logical_xor(b)


def round(x: Any, decimals: int = 0) -> Tensor:  # noqa: A001
    return _t(x).round(decimals)


def clip(x: Any, min: float | None = None, max: float | None = None) -> Tensor:  # noqa: A002
    return _t(x).clamp(min, max)


def floor_divide(a: Any, b: Any) -> Tensor:
    return _t(a) // b


def lerp(start: Any, end: Any, weight: Any) -> Tensor:
    return _t(start).lerp(end, weight)


def nan_to_num(
    x: Any, nan: float = 0.0, posinf: float | None = None, neginf: float | None = None
) -> Tensor:
    return _t(x).nan_to_num(nan, posinf, neginf)


def isclose(
    a: Any, b: Any, rtol: float = 1e-5, atol: float = 1e-8, equal_nan: bool = False
) -> Tensor:
    return _t(a).isclose(b, rtol, atol, equal_nan)


def allclose(
    a: Any, b: Any, rtol: float = 1e-5, atol: float = 1e-8, equal_nan: bool = False
) -> bool:
    return _t(a).allclose(b, rtol, atol, equal_nan)


# ----------------------------------------------------------------- reductions, order, indexing
def prod(x: Any, axis: Any = None, keepdims: bool = False, **kw: Any) -> Tensor:
    return _t(x).prod(axis, keepdims, **kw)


def cumsum(x: Any, dim: int) -> Tensor:
    return _t(x).cumsum(dim=dim)


def cumprod(x: Any, dim: int) -> Tensor:
    return _t(x).cumprod(dim=dim)


def any(x: Any, axis: Any = None, keepdims: bool = False, **kw: Any) -> Tensor:  # noqa: A001
    return _t(x).any(axis, keepdims, **kw)


def all(x: Any, axis: Any = None, keepdims: bool = False, **kw: Any) -> Tensor:  # noqa: A001
    return _t(x).all(axis, keepdims, **kw)


def var_mean(x: Any, axis: Any = None, keepdims: bool = False, correction: int = 1, **kw: Any):
    return _t(x).var_mean(axis, keepdims, correction, **kw)


def std_mean(x: Any, axis: Any = None, keepdims: bool = False, correction: int = 1, **kw: Any):
    return _t(x).std_mean(axis, keepdims, correction, **kw)


def sort(x: Any, dim: int = -1, descending: bool = False, stable: bool = False):
    return _t(x).sort(dim, descending)


def argsort(x: Any, dim: int = -1, descending: bool = False, stable: bool = False) -> Tensor:
    return _t(x).argsort(dim, descending)


def topk(x: Any, k: int, dim: int = -1, largest: bool = True, sorted: bool = True):  # noqa: A002
    return _t(x).topk(k, dim, largest, sorted)


def gather(x: Any, dim: int, index: Any) -> Tensor:
    return _t(x).gather(dim, index)


def scatter(x: Any, dim: int, index: Any, src: Any) -> Tensor:
    return _t(x).scatter(dim, index, src)


def scatter_add(x: Any, dim: int, index: Any, src: Any) -> Tensor:
    return _t(x).scatter_add(dim, index, src)


def index_select(x: Any, dim: int, index: Any) -> Tensor:
    return _t(x).index_select(dim, index)


def masked_select(x: Any, mask: Any) -> Tensor:
    return _t(x).masked_select(mask)


def nonzero(x: Any, *, as_tuple: bool = False) -> Any:
    return _t(x).nonzero(as_tuple=as_tuple)


def flip(x: Any, dims: Any) -> Tensor:
    return _t(x).flip(dims)


def roll(x: Any, shifts: Any, dims: Any = None) -> Tensor:
    return _t(x).roll(shifts, dims)


def repeat_interleave(x: Any, repeats: Any, dim: int | None = None) -> Tensor:
    return _t(x).repeat_interleave(repeats, dim)


def unflatten(x: Any, dim: int, sizes: Any) -> Tensor:
    return _t(x).unflatten(dim, sizes)


def diagonal(x: Any, offset: int = 0, dim1: int = 0, dim2: int = 1) -> Tensor:
    return _t(x).diagonal(offset, dim1, dim2)


def diag(x: Any, diagonal: int = 0) -> Tensor:
    """A 2-D tensor's ``diagonal``-th diagonal (1-D), or a 1-D tensor as that diagonal of a
    square matrix (zeros elsewhere), as ``torch.diag``."""
    x = _t(x)
    if x.ndim == 2:
        return x.diagonal(diagonal)
    if x.ndim != 1:
        raise ValueError(f"diag: expected a 1-D or 2-D tensor, got shape {x.shape}")
    n, k = x.shape[0], builtins.abs(diagonal)
    square = x * _wrap(np.eye(n, dtype=x.dtype))  # column j holds x[j] on the diagonal
    widths = (k, 0, 0, k) if diagonal > 0 else (0, k, k, 0)  # (left, right, top, bottom)
    return M.Pad.apply(square, pad=widths, value=0.0)


def einsum(equation: str, *operands: Any) -> Tensor:
    """Sums of products named by letters: ``einsum("bij,bjk->bik", a, b)`` is a batched matmul,
    ``"ij->ji"`` a transpose, ``"i,i->"`` a dot product, ``"...ij,...jk->...ik"`` a matmul over
    any (broadcast) batch axes. Each letter names one axis; no letter twice in one operand.

    >>> import minillm
    >>> einsum("i,i->", minillm.tensor([1.0, 2.0]), minillm.tensor([3.0, 4.0])).item()
    11.0
    """
    ops = operands[0] if len(operands) == 1 and isinstance(operands[0], (list, tuple)) else operands
    tensors = [_t(o) for o in ops]
    subs, out, shapes = L.parse_einsum(equation, [t.shape for t in tensors])
    tensors = [t if t.shape == s else t.expand(s) for t, s in zip(tensors, shapes)]
    return L.Einsum.apply(*tensors, subs=subs, out=out)


def mm(a: Any, b: Any) -> Tensor:
    return _t(a).mm(b)


def bmm(a: Any, b: Any) -> Tensor:
    return _t(a).bmm(b)


def mv(a: Any, b: Any) -> Tensor:
    return _t(a).mv(b)


def dot(a: Any, b: Any) -> Tensor:
    return _t(a).dot(b)


def outer(a: Any, b: Any) -> Tensor:
    return _t(a).outer(b)


def amax(x: Any, dim: Any = None, keepdim: bool = False) -> Tensor:
    return _t(x).amax(dim, keepdim)


def amin(x: Any, dim: Any = None, keepdim: bool = False) -> Tensor:
    return _t(x).amin(dim, keepdim)


def norm(x: Any, p: Any = "fro", dim: Any = None, keepdim: bool = False) -> Tensor:
    return _t(x).norm(p, dim, keepdim)


def movedim(x: Any, source: Any, destination: Any) -> Tensor:
    return _t(x).movedim(source, destination)


def swapaxes(x: Any, axis0: int, axis1: int) -> Tensor:
    return _t(x).transpose(axis0, axis1)


def narrow(x: Any, dim: int, start: int, length: int) -> Tensor:
    return _t(x).narrow(dim, start, length)


def select(x: Any, dim: int, index: int) -> Tensor:
    return _t(x).select(dim, index)


def clamp_min(x: Any, min: float) -> Tensor:  # noqa: A002
    return _t(x).clamp(min=min)


def clamp_max(x: Any, max: float) -> Tensor:  # noqa: A002
    return _t(x).clamp(max=max)


def trace(x: Any) -> Tensor:
    return _t(x).trace()
