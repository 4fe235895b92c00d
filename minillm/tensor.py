"""Tensor: an ``np.ndarray`` plus what reverse-mode autograd needs to know about it.

A Tensor holds ``data`` (the array), ``grad`` (a Tensor, filled by ``backward``), whether it
requires a gradient, and, if an op produced it while grad mode was on, that op's context (``_ctx``),
which links it to its inputs. That link is the whole computation graph: ``backward()`` walks it
(``minillm/autograd.py``).

Every method here is a one-liner over a primitive in ``minillm/ops`` or a short composition of them
(mean = sum / n, var, std, squeeze, stack, split, masked_fill, ...). Composites carry no derivative
code.

Dtypes: Python floats become float32 (as in PyTorch); a float64 NumPy array stays float64, which is
what gradient checks use; integer and bool tensors hold indices and masks and never require grad. A
Python scalar operand takes the tensor's dtype, so ``x * 0.5`` stays float32. Binary ops broadcast
exactly as NumPy does.

Read next: ``minillm/ops/__init__.py``; factories are in ``minillm/creation.py``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import special

DEFAULT_FLOAT = np.dtype(np.float32)
_FLOAT64 = np.dtype(np.float64)


def as_array(data: Any, dtype: Any = None) -> np.ndarray:
    """Convert ``data`` to a Tensor's ndarray with minillm's default dtypes (no needless copy).

    >>> as_array([1.0, 2.0]).dtype
    dtype('float32')
    >>> as_array(np.zeros(2)).dtype
    dtype('float64')
    """
    if isinstance(data, Tensor):
        arr = data.data
    else:
        arr = np.asarray(data)
        if (
            dtype is None
            and arr.dtype == _FLOAT64
            and not isinstance(data, (np.ndarray, np.generic))
        ):
            arr = arr.astype(DEFAULT_FLOAT)  # Python floats default to float32
    if dtype is not None:
        arr = arr.astype(dtype, copy=False)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"a tensor holds bool, integer or floating data, not dtype {arr.dtype}")
    return arr


def as_tensor(data: Any, dtype: Any = None) -> Tensor:
    """``data`` itself if it is a Tensor (of ``dtype``, when given), else a new Tensor around it
    (an ndarray's memory is shared, not copied), as ``torch.as_tensor``.

    >>> t = Tensor([1.0])
    >>> as_tensor(t) is t, as_tensor([1, 2]).dtype
    (True, dtype('int64'))
    """
    if isinstance(data, Tensor):
        return data if dtype is None or np.dtype(dtype) == data.dtype else data.to(dtype)
    return Tensor(data, dtype=dtype)


def _wrap(data: np.ndarray) -> Tensor:
    """A leaf Tensor around ``data`` with no checks: the fast path for internal constants."""
    t = Tensor.__new__(Tensor)
    t.data, t.grad, t._requires_grad, t._ctx, t._retains_grad = data, None, False, None, False
    t._version_box = None
    return t


def _axis(axis: Any, dim: Any) -> Any:
    """Accept PyTorch's ``dim=`` wherever NumPy's ``axis=`` is the primary name."""
    return axis if dim is None else dim


# The Tensor's methods come in families, one mixin class per file, each importing the helpers above
# (so they must exist before this import) and the ops (which need no Tensor at import time).
from minillm.tensor_convert import ConvertMethods  # noqa: E402
from minillm.tensor_inplace import InplaceMethods  # noqa: E402
from minillm.tensor_math import MathMethods  # noqa: E402
from minillm.tensor_reduce import ReduceMethods  # noqa: E402
from minillm.tensor_shape import ShapeMethods  # noqa: E402


class Tensor(ConvertMethods, MathMethods, ReduceMethods, ShapeMethods, InplaceMethods):
    """An n-dimensional array that records the operations applied to it, for ``backward()``.

    >>> import minillm
    >>> x = minillm.tensor([1.0, 2.0, 3.0], requires_grad=True)
    >>> y = (x * x).sum()
    >>> y.backward()
    >>> x.grad
    tensor([2., 4., 6.])
    """

    __slots__ = (
        "__weakref__", "_ctx", "_requires_grad", "_retains_grad", "_version_box", "data", "grad"
    )  # fmt: skip

    def __init__(self, data: Any, requires_grad: bool = False, dtype: Any = None) -> None:
        self.data: np.ndarray = as_array(data, dtype)
        self.grad: Tensor | None = None
        self._ctx: Any = None
        self._retains_grad = False
        self._requires_grad = False
        self._version_box = None  # see minillm.autograd.Version
        if requires_grad:
            self.requires_grad_(True)

    # ---------------------------------------------------------------- attributes
    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    def size(self, dim: int | None = None) -> tuple[int, ...] | int:
        """The shape, or its length along ``dim``, as PyTorch (``numel()`` counts elements)."""
        return self.data.shape if dim is None else self.data.shape[dim]

    def numel(self) -> int:
        """Number of elements."""
        return self.data.size

    @property
    def T(self) -> Tensor:  # noqa: N802 - NumPy's and PyTorch's name
        """All axes reversed (the matrix transpose for 2-D)."""
        return self.permute(*reversed(range(self.ndim)))

    @property
    def requires_grad(self) -> bool:
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, flag: bool) -> None:
        self.requires_grad_(flag)

    @property
    def is_leaf(self) -> bool:
        """True for tensors made by the user rather than by a recorded op."""
        return self._ctx is None

    @property
    def grad_fn(self) -> type | None:
        """The Function class that produced this tensor, or None for a leaf."""
        return None if self._ctx is None else self._ctx.fn

    # ---------------------------------------------------------------- autograd
    def requires_grad_(self, flag: bool = True) -> Tensor:
        """Set whether this leaf records operations for backward; returns self."""
        if flag and self.data.dtype.kind != "f":
            raise TypeError(
                f"only floating-point tensors can require gradients, but this tensor has dtype "
                f"{self.data.dtype}; integer and bool tensors hold indices and masks"
            )
        if not flag and self._ctx is not None:
            raise RuntimeError(
                "requires_grad can only be turned off on a leaf; use detach() instead"
            )
        self._requires_grad = bool(flag)
        return self

    def register_hook(self, hook: Any) -> Any:
        """Call ``hook(grad)`` when this tensor's gradient is computed, before it is used or
        accumulated; a hook that returns a tensor replaces the gradient. Returns a handle whose
        ``remove()`` takes the hook off.

        >>> import minillm
        >>> x = minillm.tensor([1.0, 2.0], requires_grad=True)
        >>> h = x.register_hook(lambda g: g * 10)
        >>> (x * x).sum().backward()
        >>> x.grad.tolist()
        [20.0, 40.0]
        """
        from minillm.autograd import add_hook

        if not self._requires_grad:
            raise RuntimeError("register_hook on a tensor that does not require grad")
        return add_hook(self, hook)

    def retain_grad(self) -> None:
        """Keep ``.grad`` on this non-leaf tensor after backward (leaves keep theirs anyway)."""
        if not self._requires_grad:
            raise RuntimeError("retain_grad() on a tensor that does not require grad")
        if self._ctx is not None:
            self._retains_grad = True

    def backward(
        self, gradient: Any = None, retain_graph: bool | None = None, create_graph: bool = False
    ) -> None:
        """Accumulate d(self)/d(leaf) into the ``.grad`` of every leaf that requires grad.

        ``gradient`` is dL/d(self); it may be omitted only when self has one element (it is then 1).
        The graph is freed afterwards unless ``retain_graph=True`` (default: ``create_graph``).
        ``create_graph=True`` records the backward pass too: each ``.grad`` then has a graph of
        its own and can be differentiated again (see ``minillm.autograd.grad``).
        """
        from minillm.autograd import run_backward

        if not self._requires_grad:
            raise RuntimeError(
                "backward(): this tensor does not require grad, so it has no graph. Was it "
                "computed under no_grad(), or from tensors none of which had requires_grad=True?"
            )
        if gradient is None:
            if self.data.size != 1:
                raise RuntimeError(
                    f"backward(): a gradient can be implied only for a one-element output, but "
                    f"this tensor has shape {self.shape}. Pass gradient= a tensor of that shape "
                    f"(for example minillm.ones_like(t)), or reduce it first (t.sum().backward())."
                )
            grad = np.ones(self.data.shape, dtype=self.data.dtype)
        else:
            grad = as_array(gradient, self.data.dtype)
            if grad.shape != self.shape:
                raise ValueError(
                    f"backward(): gradient has shape {grad.shape}, expected {self.shape}"
                )
        if create_graph:
            keep = gradient if isinstance(gradient, Tensor) else None
            grad = keep if keep is not None and keep.dtype == grad.dtype else _wrap(grad)
        run_backward(self, grad, create_graph if retain_graph is None else retain_graph)

    def backward_steps(self, gradient: Any = None, retain_graph: bool = False) -> Any:
        """``backward()`` one node at a time, as steps (``minillm/backward_steps.py``)."""
        from minillm.backward_steps import backward_steps

        return backward_steps(self, gradient, retain_graph)

    def detach(self) -> Tensor:
        """A new leaf sharing this tensor's data (and version counter), cut from the graph."""
        out = _wrap(self.data)
        out._version_box = A.version_of(self)
        return out

    @property
    def _version(self) -> int:
        """How many in-place changes this tensor's storage has seen (PyTorch's ``t._version``)."""
        return 0 if self._version_box is None else self._version_box.value

    def _bump_version(self) -> None:
        """Record an in-place change of the storage (done by every in-place op, and optimizers)."""
        A.version_of(self).value += 1

    def __array_ufunc__(self, ufunc: np.ufunc, method: str, *inputs: Any, **kwargs: Any) -> Any:
        """NumPy meeting a Tensor. ``p.data -= lr * p.grad`` writes into a raw array (the
        Tensors lend theirs: untracked, like PyTorch's ``.data``); ``ndarray + tensor`` gives the
        Tensor operator's answer (its reflected form), exactly as ``tensor + ndarray`` would; and
        a one-input ufunc minillm has (``np.exp(t)``, ``np.cos(t)``) is that op, recorded."""
        out = kwargs.get("out")
        if method != "__call__":
            return NotImplemented
        if out is not None:
            if not all(type(o) is np.ndarray for o in out):
                return NotImplemented
            return ufunc(*[x.data if isinstance(x, Tensor) else x for x in inputs], **kwargs)
        if ufunc in _METHOD_OF and len(inputs) == 1 and not kwargs:  # np.cos(t) is t.cos()
            return getattr(inputs[0], _METHOD_OF[ufunc])()
        if ufunc not in _OPERATOR_OF or len(inputs) != 2 or kwargs:
            return NotImplemented
        a, b = inputs
        if isinstance(a, Tensor):
            return _OPERATOR_OF[ufunc](a, b)
        return _REFLECTED_OF[ufunc](b, a)

    def __len__(self) -> int:
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.data.shape[0]

    def __iter__(self) -> Any:
        return (self[i] for i in range(len(self)))

    def __bool__(self) -> bool:
        return bool(self.item())

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __repr__(self) -> str:
        body = np.array2string(self.data, separator=", ", prefix="tensor(", precision=4)
        extra = ""
        if self.data.dtype not in (DEFAULT_FLOAT, np.dtype(np.int64), np.dtype(bool)):
            extra += f", dtype={self.data.dtype}"
        if self._ctx is not None:
            extra += f", grad_fn=<{self._ctx.fn.__name__}>"
        elif self._requires_grad:
            extra += ", requires_grad=True"
        return f"tensor({body}{extra})"

    __hash__ = object.__hash__  # == is elementwise, so hashing is by identity (as in PyTorch)

    # ---------------------------------------------------------------- arithmetic
    def _lift(self, other: Any) -> Tensor:
        """Turn an operand into a Tensor.

        A Python scalar takes this tensor's dtype (weak scalar).
        """
        if isinstance(other, Tensor):
            return other
        if isinstance(other, np.generic) and other.ndim == 0:
            other = other.item()  # a NumPy scalar is as weak as the Python number it holds
        if isinstance(other, (bool, int, float)):
            dtype = self.data.dtype
            if dtype.kind != "f" and isinstance(other, float):
                dtype = DEFAULT_FLOAT
            elif dtype.kind == "b" and not isinstance(other, bool):
                dtype = np.dtype(np.int64)
            return _wrap(np.array(other, dtype=dtype))
        return Tensor(other)

    def _pair(self, other: Any, true_divide: bool = False) -> tuple[Tensor, Tensor]:
        """(self, other) as Tensors for arithmetic, with PyTorch's promotion of integer tensors.

        An integer or bool tensor meeting a float (a Python float is float32) computes in that float
        dtype, and integer division gives float32, as in PyTorch; NumPy alone would give float64 and
        silently double every later op's cost.
        """
        other = self._lift(other)
        if self.data.dtype.kind in "biu" and other.data.dtype.kind == "f":
            return self.astype(other.data.dtype), other  # int64 * float32 stays float32
        if other.data.dtype.kind in "biu" and self.data.dtype.kind == "f":
            return self, other.astype(self.data.dtype)
        if true_divide and self.data.dtype.kind in "biu":
            return self.astype(DEFAULT_FLOAT), other.astype(DEFAULT_FLOAT)
        return self, other

    def __add__(self, other: Any) -> Tensor:
        return E.Add.apply(*self._pair(other))

    def __radd__(self, other: Any) -> Tensor:
        a, b = self._pair(other)
        return E.Add.apply(b, a)

    def __sub__(self, other: Any) -> Tensor:
        return E.Sub.apply(*self._pair(other))

    def __rsub__(self, other: Any) -> Tensor:
        a, b = self._pair(other)
        return E.Sub.apply(b, a)

    def __mul__(self, other: Any) -> Tensor:
        return E.Mul.apply(*self._pair(other))

    def __rmul__(self, other: Any) -> Tensor:
        a, b = self._pair(other)
        return E.Mul.apply(b, a)

    def __truediv__(self, other: Any) -> Tensor:
        return E.Div.apply(*self._pair(other, true_divide=True))

    def __rtruediv__(self, other: Any) -> Tensor:
        a, b = self._pair(other, true_divide=True)
        return E.Div.apply(b, a)

    def __pow__(self, exponent: Any) -> Tensor:
        return self.pow(exponent)

    def __rpow__(self, base: Any) -> Tensor:
        a, b = self._pair(base)
        return E.Pow.apply(b, a)

    def __matmul__(self, other: Any) -> Tensor:
        return L.MatMul.apply(self, self._lift(other))

    def __rmatmul__(self, other: Any) -> Tensor:
        return L.MatMul.apply(self._lift(other), self)

    def __neg__(self) -> Tensor:
        return E.Neg.apply(self)

    def __abs__(self) -> Tensor:
        return E.Abs.apply(self)

    # comparisons: no gradient, a bool tensor
    def _compare(self, other: Any, ufunc: np.ufunc) -> Tensor:
        b = self._lift(other).data
        try:
            return _wrap(ufunc(self.data, b))
        except ValueError:
            raise ValueError(
                f"{ufunc.__name__}: shapes {self.shape} and {b.shape} do not broadcast together"
            ) from None

    def __lt__(self, other: Any) -> Tensor:
        return self._compare(other, np.less)

    def __le__(self, other: Any) -> Tensor:
        return self._compare(other, np.less_equal)

    def __gt__(self, other: Any) -> Tensor:
        return self._compare(other, np.greater)

    def __ge__(self, other: Any) -> Tensor:
        return self._compare(other, np.greater_equal)

    def __eq__(self, other: Any) -> Tensor:  # type: ignore[override]
        return self._compare(other, np.equal)

    def __ne__(self, other: Any) -> Tensor:  # type: ignore[override]
        return self._compare(other, np.not_equal)

    def add(self, other: Any) -> Tensor:
        return self + other

    def sub(self, other: Any) -> Tensor:
        return self - other

    def mul(self, other: Any) -> Tensor:
        return self * other

    def neg(self) -> Tensor:
        return -self

    def matmul(self, other: Any) -> Tensor:
        return self @ other

    def pow(self, exponent: Any) -> Tensor:
        """``self ** exponent`` for a constant (int or float) or a Tensor exponent."""
        if isinstance(exponent, np.generic) and exponent.ndim == 0:
            exponent = exponent.item()
        if isinstance(exponent, (int, float)) and not isinstance(exponent, bool):
            base = self
            if self.data.dtype.kind in "biu" and (isinstance(exponent, float) or exponent < 0):
                base = self.astype(DEFAULT_FLOAT)  # int ** 0.5 and int ** -1 are float32
            return E.PowScalar.apply(base, exponent=exponent)
        return E.Pow.apply(*self._pair(exponent))

    def __getitem__(self, index: Any) -> Tensor:
        index = _plain_index(index)
        select = _select_first(index)
        if select is not None:  # PyTorch's axis placement: ints select first, then the arrays
            first, rest = select
            return M.GetItem.apply(M.GetItem.apply(self, index=first), index=rest)
        return M.GetItem.apply(self, index=index)

    def __setitem__(self, index: Any, value: Any) -> None:
        index = _plain_index(index)
        raw = value.data if isinstance(value, Tensor) else value

        def assign(arr: np.ndarray) -> None:
            arr[index] = raw

        self._inplace(
            "item assignment",
            lambda t: M.SetItem.apply(t, self._lift(value).astype(t.dtype), index=index),
            (value,),
            assign,
        )


def _select_first(index: Any) -> tuple[tuple[Any, ...], tuple[Any, ...]] | None:
    """Split an index that mixes ints with index arrays into (ints and slices, then the arrays).

    NumPy counts an int as an index array, so in ``x[0, :, [1, 2]]`` the int and the list are
    "separated by a slice" and their axis goes first: shape (2, 3) for x of shape (2, 3, 4).
    PyTorch selects with the int first, then indexes the rest: (3, 2). Applying the ints and
    slices first, then the arrays on what is left, gives PyTorch's placement. None when the index
    has no such mix (the common case, left to NumPy alone).
    """
    if not isinstance(index, tuple):
        return None
    is_int = [isinstance(i, (int, np.integer)) and not isinstance(i, bool) for i in index]
    is_array = [isinstance(i, np.ndarray) and i.ndim > 0 for i in index]
    if not any(is_int) or not any(is_array):
        return None
    first = tuple(slice(None) if arr else i for i, arr in zip(index, is_array))
    rest = tuple(
        i if arr else (Ellipsis if i is Ellipsis else slice(None))
        for i, arr, integer in zip(index, is_array, is_int)
        if not integer
    )
    return first, rest


def _plain_index(index: Any) -> Any:
    """Replace Tensors inside an index by their arrays, so NumPy indexing applies unchanged."""
    if isinstance(index, Tensor):
        return index.data
    if isinstance(index, tuple):
        return tuple(
            i.data if isinstance(i, Tensor) else np.asarray(i) if isinstance(i, list) else i
            for i in index
        )
    if isinstance(index, list):
        return np.asarray(index)
    return index


# The ops import Function from minillm.autograd, which imports Tensor from this module. Binding them
# here, after Tensor exists, keeps the import order one-way at load time; methods look them up at
# call time.
import operator as _op  # noqa: E402

from minillm import autograd as A  # noqa: E402
from minillm.ops import elementwise as E  # noqa: E402
from minillm.ops import linalg as L  # noqa: E402
from minillm.ops import movement as M  # noqa: E402

# NumPy ufuncs and the Tensor operators they stand for: forward (tensor first) and reflected
# (tensor second: ``ndarray < tensor`` is ``tensor > ndarray``).
_OPERATOR_OF = {np.add: _op.add, np.subtract: _op.sub, np.multiply: _op.mul,
                np.true_divide: _op.truediv, np.power: _op.pow, np.matmul: _op.matmul,
                np.less: _op.lt, np.less_equal: _op.le, np.greater: _op.gt,
                np.greater_equal: _op.ge, np.equal: _op.eq, np.not_equal: _op.ne}  # fmt: skip
_METHOD_OF = {np.negative: "neg", np.absolute: "abs", np.exp: "exp", np.log: "log",
              np.sqrt: "sqrt", np.tanh: "tanh", np.sin: "sin", np.cos: "cos", np.tan: "tan",
              np.arcsin: "asin", np.arccos: "acos", np.arctan: "atan", np.sinh: "sinh",
              np.cosh: "cosh", np.arcsinh: "asinh", np.arccosh: "acosh", np.arctanh: "atanh",
              np.log1p: "log1p", np.expm1: "expm1", np.log2: "log2", np.log10: "log10",
              np.exp2: "exp2", np.reciprocal: "reciprocal", np.square: "square",
              np.floor: "floor", np.ceil: "ceil", np.trunc: "trunc", np.sign: "sign",
              np.rint: "round", np.isnan: "isnan", np.isinf: "isinf", np.isfinite: "isfinite",
              np.logical_not: "logical_not", special.erf: "erf"}  # fmt: skip
_REFLECTED_OF = {np.add: Tensor.__radd__, np.subtract: Tensor.__rsub__,
                 np.multiply: Tensor.__rmul__, np.true_divide: Tensor.__rtruediv__,
                 np.power: Tensor.__rpow__, np.matmul: Tensor.__rmatmul__,
                 np.less: Tensor.__gt__, np.less_equal: Tensor.__ge__, np.greater: Tensor.__lt__,
                 np.greater_equal: Tensor.__le__, np.equal: Tensor.__eq__,
                 np.not_equal: Tensor.__ne__}  # fmt: skip
