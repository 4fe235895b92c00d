"""The op table: one row per op, and the single source the op tests are driven from.

Each row (``Op``) names an op and gives

* ``fn`` — the minillm op, called as ``fn(*tensors, **params)``;
* ``ref`` — an independent NumPy reference, ``ref(*arrays, **params)`` (naive formulas on purpose:
  ``exp(x) / sum exp(x)``, not minillm's max-shifted form);
* ``domains`` — one per input, so ``arity == len(domains)``: a domain name (below) or a function
  ``shape -> strategy of arrays``;
* ``cases`` — a strategy for ``(input_shapes, params)``: shapes (broadcasting ones included) and the
  op's parameters (axis, keepdims, exponent, index, ...), drawn together because they depend on each
  other;
* ``torch`` — the same op in PyTorch, ``torch(torch_module, *torch_tensors, **params)``, for the
  parity tests (the module is passed in so this file never imports torch);
* ``grad`` — False for ops without a gradient (argmax, one_hot, comparisons);
* ``composed`` — for a fused op, its ``*_reference`` (the same math from primitives, in the
  source beside it): ``tests/test_ops.py`` holds the two equal, forward and gradients.

Domains. Finite differences are only valid away from kinks, so the domains keep inputs off them:

* ``"real"``, ``"positive"``, ``"nonzero"``, ``"unit"`` — ``minillm.testing.DOMAINS``;
* ``"grid"`` — multiples of 0.01 in [-3, 3];
* ``"off_grid"`` — odd multiples of 0.005 in [-3, 3]: never 0, never a clamp bound, never equal to a
  ``"grid"`` value (so ``maximum(grid, off_grid)`` has no ties);
* ``"distinct"`` — ``"grid"`` values, all different within the array (max/min/std have no ties);
* ``"mask"`` — booleans (never differentiated).

``tests/test_ops.py`` checks forward against ``ref``, runs ``gradcheck`` and checks float32 in,
float32 out; ``tests/test_torch_parity.py`` checks forward and gradients against ``torch``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from hypothesis import reject
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minillm as mi
from minillm.testing import broadcastable_shapes, shapes, tensors

Shape = tuple[int, ...]
Params = dict[str, Any]
Case = tuple[tuple[Shape, ...], Params]
ArrayStrategy = Callable[[Shape], st.SearchStrategy[np.ndarray]]
Domain = str | ArrayStrategy

FLOAT_DOMAINS = ("real", "positive", "nonzero", "unit", "grid", "off_grid", "distinct")

_GRID = st.integers(-300, 300).map(lambda i: i / 100)
_OFF_GRID = st.integers(-300, 299).map(lambda i: i / 100 + 0.005)


@dataclass(frozen=True)
class Op:
    """One row of the table; see the module docstring for the meaning of each field."""

    name: str
    fn: Callable[..., Any]
    ref: Callable[..., Any]
    domains: tuple[Domain, ...]
    cases: st.SearchStrategy[Case]
    torch: Callable[..., Any] | None = None
    grad: bool = True
    torch_tol: float = 1e-10  # looser only where torch itself rounds (a float32 constant)
    composed: Callable[..., Any] | None = None  # a fused op's *_reference, from primitives
    double: bool = True  # False where an op has no second derivative (the attention kernels)

    @property
    def arity(self) -> int:
        return len(self.domains)

    def differentiable_inputs(self) -> tuple[bool, ...]:
        """Which inputs are floating (checked by gradcheck) rather than masks or indices."""
        return (
            tuple(d in FLOAT_DOMAINS or getattr(d, "is_float", False) for d in self.domains)
            if self.grad
            else (False,) * self.arity
        )


def arrays(domain: Domain, shape: Shape) -> st.SearchStrategy[np.ndarray]:
    """Float64 arrays (or bool masks, or a custom domain's arrays) of ``shape`` from ``domain``."""
    if callable(domain):
        return domain(shape)
    if domain == "mask":
        return hnp.arrays(np.bool_, shape)
    if domain == "grid":
        return tensors(shape, _GRID).map(lambda t: t.data)
    if domain == "off_grid":
        return tensors(shape, _OFF_GRID).map(lambda t: t.data)
    if domain == "distinct":
        return tensors(shape, _GRID, unique=True).map(lambda t: t.data)
    return tensors(shape, domain).map(lambda t: t.data)


@st.composite
def draw_inputs(draw: st.DrawFn, op: Op) -> tuple[list[np.ndarray], Params]:
    """Draw one test case for ``op``: its input arrays and its params."""
    in_shapes, params = draw(op.cases)
    assert len(in_shapes) == op.arity, f"{op.name}: cases gave {len(in_shapes)} shapes"
    return [draw(arrays(d, s)) for d, s in zip(op.domains, in_shapes)], params


# --------------------------------------------------------------------------------------------------
# Case strategies: shapes and params
# --------------------------------------------------------------------------------------------------
def small_shapes(min_dims: int = 0, max_dims: int = 3, min_side: int = 1) -> st.SearchStrategy:
    return shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=4)


def no_params(shape_tuples: st.SearchStrategy[tuple[Shape, ...]]) -> st.SearchStrategy[Case]:
    return shape_tuples.map(lambda s: (tuple(s), {}))


def one(shape_st: st.SearchStrategy[Shape]) -> st.SearchStrategy[tuple[Shape]]:
    return shape_st.map(lambda s: (s,))


def with_params(
    shape_tuples: st.SearchStrategy[tuple[Shape, ...]],
    params: Callable[[tuple[Shape, ...]], st.SearchStrategy[Params]],
) -> st.SearchStrategy[Case]:
    """Cases whose params depend on the drawn shapes (an axis must exist, ...)."""
    return shape_tuples.flatmap(lambda s: params(tuple(s)).map(lambda p: (tuple(s), p)))


UNARY = no_params(one(small_shapes()))
BINARY = no_params(broadcastable_shapes(2, max_dims=3, max_side=3))
TERNARY = broadcastable_shapes(3, max_dims=3, max_side=3)


def axis_choices(ndim: int, min_count: int = 1, sizes: Shape = ()) -> st.SearchStrategy[Any]:
    """None, an int axis (negative too), or a non-empty tuple of distinct axes.

    With ``min_count`` > 1, only axes over which at least that many elements are reduced.
    """
    options: list[st.SearchStrategy[Any]] = [st.none()]
    if ndim:
        options.append(st.integers(-ndim, ndim - 1))
        options.append(st.lists(st.integers(0, ndim - 1), min_size=1, unique=True).map(tuple))
    axis = st.one_of(*options)
    if min_count > 1:

        def count(a: Any) -> int:
            axes = range(ndim) if a is None else ((a,) if isinstance(a, int) else a)
            return math.prod(sizes[i] for i in axes)

        axis = axis.filter(lambda a: count(a) >= min_count)
    return axis


def reduce_cases(min_dims: int = 0, min_side: int = 1) -> st.SearchStrategy[Case]:
    return with_params(
        one(small_shapes(min_dims=min_dims, min_side=min_side)),
        lambda s: st.fixed_dictionaries(
            {"axis": axis_choices(len(s[0])), "keepdims": st.booleans()}
        ),
    )


def var_cases() -> st.SearchStrategy[Case]:
    """Reduce at least 2 elements, so N - correction > 0 and the variance is positive."""
    return with_params(
        one(small_shapes(min_dims=1, min_side=1).filter(lambda s: max(s) >= 2)),
        lambda s: st.fixed_dictionaries(
            {
                "axis": axis_choices(len(s[0]), min_count=2, sizes=s[0]),
                "keepdims": st.booleans(),
                "correction": st.sampled_from([0, 1]),
            }
        ),
    )


def single_axis_cases(min_dims: int = 1) -> st.SearchStrategy[Case]:
    return with_params(
        one(small_shapes(min_dims=min_dims)),
        lambda s: st.fixed_dictionaries({"axis": st.integers(-len(s[0]), len(s[0]) - 1)}),
    )


@st.composite
def matmul_shapes(draw: st.DrawFn) -> tuple[Shape, Shape]:
    """1-D and 2-D operands and batched ones whose batch axes broadcast, as ``np.matmul``."""
    m, k, n = draw(st.integers(1, 3)), draw(st.integers(1, 4)), draw(st.integers(1, 3))
    batch_a, batch_b = draw(broadcastable_shapes(2, max_dims=2, max_side=3))
    a = (k,) if draw(st.booleans()) and not batch_a else batch_a + (m, k)
    b = (k,) if draw(st.booleans()) and not batch_b else batch_b + (k, n)
    return a, b


@st.composite
def reshape_target(draw: st.DrawFn, shape: Shape) -> Shape:
    """A shape with the same number of elements, possibly with one -1."""
    size = math.prod(shape)
    divisors = [d for d in range(1, size + 1) if size % d == 0]
    d = draw(st.sampled_from(divisors))
    target = draw(st.sampled_from([(size,), (d, size // d), (size // d, 1, d), (1, size)]))
    if draw(st.booleans()):
        i = draw(st.integers(0, len(target) - 1))
        target = target[:i] + (-1,) + target[i + 1 :]
    return target


@st.composite
def expand_target(draw: st.DrawFn, shape: Shape, allow_minus_one: bool) -> Shape:
    """A shape ``shape`` broadcasts to: new leading axes, and size-1 axes stretched."""
    lead = tuple(draw(st.lists(st.integers(1, 3), max_size=2)))
    body = []
    for n in shape:
        if n == 1:
            body.append(draw(st.sampled_from([1, 2, 3])))
        elif allow_minus_one and draw(st.booleans()):
            body.append(-1)  # keep this size
        else:
            body.append(n)
    return lead + tuple(body)


def _resolve(target: Shape, shape: Shape) -> Shape:
    lead = len(target) - len(shape)
    return tuple(shape[i - lead] if n == -1 else n for i, n in enumerate(target))


@st.composite
def cat_shapes(draw: st.DrawFn, count: int = 3) -> Case:
    ndim = draw(st.integers(1, 3))
    base = list(draw(shapes(min_dims=ndim, max_dims=ndim, max_side=3)))
    axis = draw(st.integers(-ndim, ndim - 1))
    out = []
    for _ in range(count):
        base[axis] = draw(st.integers(1, 3))
        out.append(tuple(base))
    return tuple(out), {"axis": axis}


@st.composite
def split_cases(draw: st.DrawFn, kind: str) -> Case:
    shape = draw(small_shapes(min_dims=1))
    axis = draw(st.integers(-len(shape), len(shape) - 1))
    n = shape[axis]
    if kind == "chunk":
        return (shape,), {"chunks": draw(st.integers(1, 4)), "axis": axis}
    if draw(st.booleans()):
        size: Any = draw(st.integers(1, n + 1))
    else:
        cuts = sorted(draw(st.lists(st.integers(0, n), max_size=3)))
        size = [b - a for a, b in zip([0, *cuts], [*cuts, n])]
    return (shape,), {"size": size, "axis": axis}


@st.composite
def squeeze_cases(draw: st.DrawFn) -> Case:
    shape = tuple(draw(st.lists(st.sampled_from([1, 1, 2, 3]), max_size=4)))
    ndim = len(shape)
    return (shape,), {"axis": draw(axis_choices(ndim))}


@st.composite
def masked_fill_cases(draw: st.DrawFn) -> Case:
    """The mask broadcasts *to* x's shape (PyTorch's rule): a suffix of it, some axes set to 1."""
    shape = draw(small_shapes())
    start = draw(st.integers(0, len(shape)))
    mask = tuple(1 if draw(st.booleans()) else n for n in shape[start:])
    return (shape, mask), {"value": draw(st.sampled_from([0.0, -1.5, 2.25]))}


@st.composite
def pad_cases(draw: st.DrawFn) -> Case:
    shape = draw(small_shapes(min_dims=1))
    pairs = draw(st.integers(1, len(shape)))
    pad = tuple(draw(st.lists(st.integers(0, 2), min_size=2 * pairs, max_size=2 * pairs)))
    return (shape,), {"pad": pad, "value": draw(st.sampled_from([0.0, 1.5]))}


@st.composite
def index_cases(draw: st.DrawFn, kind: str) -> Case:
    """Indices for ``x[index]``: basic (ints, slices with any step, None, ...), int arrays with
    repeats on one axis, one int array per axis (broadcast together), or a boolean mask.
    """
    shape = draw(small_shapes(min_dims=0 if kind == "basic" else 1))
    if kind == "basic":
        index: Any = draw(hnp.basic_indices(shape, allow_newaxis=True, allow_ellipsis=True))
    elif kind == "int_array":
        axis = draw(st.integers(0, len(shape) - 1))
        n = shape[axis]
        idx_shape = draw(shapes(min_dims=1, max_dims=2, max_side=4))
        idx = draw(hnp.arrays(np.int64, idx_shape, elements=st.integers(-n, n - 1)))
        index = (slice(None),) * axis + (idx,)
    elif kind == "int_arrays":
        index = draw(hnp.integer_array_indices(shape, dtype=np.int64))
    else:
        k = draw(st.integers(1, len(shape)))
        index = draw(hnp.arrays(np.bool_, shape[:k]))
    return (shape,), {"index": index}


@st.composite
def tri_cases(draw: st.DrawFn) -> Case:
    return (draw(small_shapes(min_dims=2)),), {"diagonal": draw(st.integers(-2, 2))}


def int_indices(shape: Shape) -> st.SearchStrategy[np.ndarray]:
    """Class indices in [0, 5) for one_hot."""
    return hnp.arrays(np.int64, shape, elements=st.integers(0, 4))


# --------------------------------------------------------------------------------------------------
# NumPy references and torch translations that need more than a lambda
# --------------------------------------------------------------------------------------------------
_ERF = np.vectorize(math.erf, otypes=[np.float64])


def gelu_ref(a: np.ndarray, approximate: str) -> np.ndarray:
    if approximate == "tanh":
        return 0.5 * a * (1 + np.tanh(math.sqrt(2 / math.pi) * (a + 0.044715 * a**3)))
    return 0.5 * a * (1 + _ERF(a / math.sqrt(2)))


def logsumexp_ref(a: np.ndarray, axis: Any, keepdims: bool) -> np.ndarray:
    return np.log(np.sum(np.exp(a), axis=axis, keepdims=keepdims))


def softmax_ref(a: np.ndarray, axis: int) -> np.ndarray:
    e = np.exp(a)
    return e / e.sum(axis=axis, keepdims=True)


def _split_points(n: int, size: Any) -> list[int]:
    if isinstance(size, int):
        return list(range(size, n, size))
    return list(np.cumsum(size)[:-1])


def weighted_cat_ref(pieces: list[np.ndarray], axis: int) -> np.ndarray:
    """Piece i times (i + 1), joined again: a gradient sent to the wrong piece shows up."""
    return np.concatenate([p * (i + 1) for i, p in enumerate(pieces)], axis=axis)


def weighted_cat(pieces: Any, axis: int) -> Any:
    """The minillm (or torch) side of ``weighted_cat_ref``."""
    scaled = [p * float(i + 1) for i, p in enumerate(pieces)]
    return (
        mi.cat(scaled, axis=axis) if isinstance(scaled[0], mi.Tensor) else _torch_cat(scaled, axis)
    )


def _torch_cat(pieces: list[Any], axis: int) -> Any:
    import torch

    return torch.cat(pieces, dim=axis)


def chunk_size(n: int, chunks: int) -> int:
    return max(-(-n // chunks), 1)


def torch_dims(x: Any, axis: Any) -> Any:
    """torch's ``dim`` for NumPy's ``axis``: None (all axes) spelled out as every axis."""
    return tuple(range(x.ndim)) if axis is None else axis


def torch_index(torch: Any, index: Any) -> Any:
    """Translate a NumPy index for torch; torch has no negative-step slices, so skip those."""
    parts = index if isinstance(index, tuple) else (index,)
    out = []
    for p in parts:
        if isinstance(p, slice) and p.step is not None and p.step < 0:
            reject()
        out.append(torch.from_numpy(p) if isinstance(p, np.ndarray) else p)
    return tuple(out) if isinstance(index, tuple) else out[0]


def pow_scalar_cases() -> st.SearchStrategy[Case]:
    return with_params(
        one(small_shapes()),
        lambda s: st.fixed_dictionaries(
            {"exponent": st.sampled_from([-2, -1.5, -1, 0, 0.5, 1, 2, 3, 2.5])}
        ),
    )


def clamp_cases() -> st.SearchStrategy[Case]:
    bounds = st.sampled_from([(-1.0, 1.0), (-0.5, None), (None, 0.25), (0.0, 2.0), (-2.0, -1.0)])
    return with_params(
        one(small_shapes()),
        lambda s: bounds.map(lambda b: {"min": b[0], "max": b[1]}),
    )


def argreduce_cases() -> st.SearchStrategy[Case]:
    # axis=None with keepdims differs between NumPy (all ones) and torch (ignored): not drawn
    return with_params(
        one(small_shapes(min_dims=1)),
        lambda s: st.one_of(
            st.just({"axis": None, "keepdims": False}),
            st.fixed_dictionaries(
                {"axis": st.integers(-len(s[0]), len(s[0]) - 1), "keepdims": st.booleans()}
            ),
        ),
    )


# --------------------------------------------------------------------------------------------------
# The table
# --------------------------------------------------------------------------------------------------
def _binary(name: str, fn: Callable, ref: Callable, tfn: Callable, domains=("real", "real")) -> Op:
    return Op(name, fn, ref, domains, BINARY, tfn)


def _unary(name: str, fn: Callable, ref: Callable, tfn: Callable, domain: str = "real") -> Op:
    return Op(name, fn, ref, (domain,), UNARY, tfn)


ELEMENTWISE = [
    _binary("add", mi.add, np.add, lambda t, a, b: t.add(a, b)),
    _binary("sub", mi.sub, np.subtract, lambda t, a, b: t.sub(a, b)),
    _binary("mul", mi.mul, np.multiply, lambda t, a, b: t.mul(a, b)),
    _binary("div", mi.div, np.divide, lambda t, a, b: t.div(a, b), ("real", "nonzero")),
    _binary("pow", mi.pow, np.power, lambda t, a, b: t.pow(a, b), ("positive", "real")),
    _binary(
        "maximum", mi.maximum, np.maximum, lambda t, a, b: t.maximum(a, b), ("grid", "off_grid")
    ),
    _binary(
        "minimum", mi.minimum, np.minimum, lambda t, a, b: t.minimum(a, b), ("off_grid", "grid")
    ),
    Op(
        "pow_scalar",
        lambda x, exponent: mi.pow(x, exponent),
        lambda a, exponent: np.power(a, float(exponent)),
        ("positive",),
        pow_scalar_cases(),
        lambda t, x, exponent: t.pow(x, exponent),
    ),
    Op(
        "pow_int_negative_base",
        lambda x, exponent: x**exponent,
        lambda a, exponent: a**exponent,
        ("nonzero",),
        with_params(
            one(small_shapes()), lambda s: st.sampled_from([{"exponent": e} for e in (2, 3, -1)])
        ),
        lambda t, x, exponent: x**exponent,
    ),
    _unary("neg", mi.neg, np.negative, lambda t, x: t.neg(x)),
    _unary("exp", mi.exp, np.exp, lambda t, x: t.exp(x)),
    _unary("log", mi.log, np.log, lambda t, x: t.log(x), "positive"),
    _unary("sqrt", mi.sqrt, np.sqrt, lambda t, x: t.sqrt(x), "positive"),
    _unary("abs", mi.abs, np.abs, lambda t, x: t.abs(x), "off_grid"),
    _unary("relu", mi.relu, lambda a: np.maximum(a, 0.0), lambda t, x: t.relu(x), "off_grid"),
    _unary("sigmoid", mi.sigmoid, lambda a: 1 / (1 + np.exp(-a)), lambda t, x: t.sigmoid(x)),
    _unary("tanh", mi.tanh, np.tanh, lambda t, x: t.tanh(x)),
    Op(
        "clamp",
        lambda x, min, max: mi.clamp(x, min, max),  # noqa: A006
        lambda a, min, max: np.clip(a, min, max),  # noqa: A006
        ("off_grid",),
        clamp_cases(),
        lambda t, x, min, max: t.clamp(x, min, max),  # noqa: A006
    ),
    Op(
        "gelu",
        lambda x, approximate: mi.gelu(x, approximate),
        gelu_ref,
        ("real",),
        with_params(
            one(small_shapes()),
            lambda s: st.sampled_from([{"approximate": "none"}, {"approximate": "tanh"}]),
        ),
        lambda t, x, approximate: t.nn.functional.gelu(x, approximate=approximate),
    ),
    Op(
        "where",
        mi.where,
        np.where,
        ("mask", "real", "real"),
        no_params(TERNARY),
        lambda t, c, a, b: t.where(c, a, b),
    ),
    Op(
        "masked_fill",
        lambda x, mask, value: mi.masked_fill(x, mask, value),
        lambda a, mask, value: np.where(mask, value, a),
        ("real", "mask"),
        masked_fill_cases(),
        lambda t, x, mask, value: x.masked_fill(mask, value),
    ),
]


def float_domain(fn: ArrayStrategy) -> ArrayStrategy:
    """Mark a custom domain as floating: its inputs are differentiated like the named ones."""
    fn.is_float = True  # type: ignore[attr-defined]
    return fn


@float_domain
def _above_one(shape: Shape) -> st.SearchStrategy[np.ndarray]:
    """acosh's domain: (1.1, 4.0], away from its singularity at 1."""
    return arrays("positive", shape).map(lambda a: np.asarray(a + 1.0))


@float_domain
def _one_decimal_divisors(shape: Shape) -> st.SearchStrategy[np.ndarray]:
    """Divisors with one decimal, so an ``"off_grid"`` dividend (x.xx5) is never a whole multiple
    of one: fmod and remainder jump there, and finite differences must not straddle a jump."""
    return hnp.arrays(np.float64, shape, elements=st.sampled_from([0.7, -1.3, 2.1, -0.9]))


def _pointwise(name: str, ref: Callable, domain: Domain = "real") -> Op:
    """A row for ``x.name()``, its NumPy reference and torch's function of the same name."""
    return Op(
        name, getattr(mi, name), ref, (domain,), UNARY, lambda t, x, _n=name: getattr(t, _n)(x)
    )


POINTWISE = [
    _pointwise("sin", np.sin),
    _pointwise("cos", np.cos),
    _pointwise("tan", np.tan, "unit"),
    _pointwise("asin", np.arcsin, "unit"),
    _pointwise("acos", np.arccos, "unit"),
    _pointwise("atan", np.arctan),
    _pointwise("sinh", np.sinh),
    _pointwise("cosh", np.cosh),
    _pointwise("asinh", np.arcsinh),
    _pointwise("acosh", np.arccosh, _above_one),
    _pointwise("atanh", np.arctanh, "unit"),
    _pointwise("log1p", np.log1p, "positive"),
    _pointwise("expm1", np.expm1),
    _pointwise("log2", np.log2, "positive"),
    _pointwise("log10", np.log10, "positive"),
    _pointwise("exp2", np.exp2),
    _pointwise("reciprocal", lambda a: 1 / a, "positive"),
    _pointwise("square", lambda a: a * a),
    _pointwise("rsqrt", lambda a: 1 / np.sqrt(a), "positive"),
    _pointwise("erf", lambda a: _ERF(a)),
    _pointwise("floor", np.floor, "off_grid"),
    _pointwise("ceil", np.ceil, "off_grid"),
    _pointwise("round", np.round, "off_grid"),
    _pointwise("trunc", np.trunc, "off_grid"),
    _pointwise("sign", np.sign, "off_grid"),
    _binary(
        "fmod", mi.fmod, np.fmod, lambda t, a, b: t.fmod(a, b), ("off_grid", _one_decimal_divisors)
    ),
    _binary(
        "remainder",
        mi.remainder,
        np.remainder,
        lambda t, a, b: t.remainder(a, b),
        ("off_grid", _one_decimal_divisors),
    ),
    _binary("logaddexp", mi.logaddexp, np.logaddexp, lambda t, a, b: t.logaddexp(a, b)),
    Op(
        "lerp",
        lambda a, b, w: mi.lerp(a, b, w),
        lambda a, b, w: a + w * (b - a),
        ("real", "real", "real"),
        no_params(TERNARY),
        lambda t, a, b, w: t.lerp(*t.broadcast_tensors(a, b), w),
    ),
]

REDUCTIONS = [
    Op(
        "sum",
        lambda x, **p: mi.sum(x, **p),
        lambda a, **p: np.sum(a, **p),
        ("real",),
        reduce_cases(),
        lambda t, x, axis, keepdims: t.sum(x, torch_dims(x, axis), keepdim=keepdims),
    ),
    Op(
        "mean",
        lambda x, **p: mi.mean(x, **p),
        lambda a, **p: np.mean(a, **p),
        ("real",),
        reduce_cases(),
        lambda t, x, axis, keepdims: t.mean(x, torch_dims(x, axis), keepdim=keepdims),
    ),
    Op(
        "max",
        lambda x, **p: mi.max(x, **p),
        lambda a, **p: np.max(a, **p),
        ("distinct",),
        reduce_cases(),
        lambda t, x, axis, keepdims: t.amax(x, torch_dims(x, axis), keepdim=keepdims),
    ),
    Op(
        "min",
        lambda x, **p: mi.min(x, **p),
        lambda a, **p: np.min(a, **p),
        ("distinct",),
        reduce_cases(),
        lambda t, x, axis, keepdims: t.amin(x, torch_dims(x, axis), keepdim=keepdims),
    ),
    Op(
        "var",
        lambda x, axis, keepdims, correction: mi.var(x, axis, keepdims, correction),
        lambda a, axis, keepdims, correction: np.var(
            a, axis=axis, keepdims=keepdims, ddof=correction
        ),
        ("distinct",),
        var_cases(),
        lambda t, x, axis, keepdims, correction: t.var(
            x, dim=axis, keepdim=keepdims, correction=correction
        ),
    ),
    Op(
        "std",
        lambda x, axis, keepdims, correction: mi.std(x, axis, keepdims, correction),
        lambda a, axis, keepdims, correction: np.std(
            a, axis=axis, keepdims=keepdims, ddof=correction
        ),
        ("distinct",),
        var_cases(),
        lambda t, x, axis, keepdims, correction: t.std(
            x, dim=axis, keepdim=keepdims, correction=correction
        ),
    ),
    Op(
        "logsumexp",
        lambda x, **p: mi.logsumexp(x, **p),
        logsumexp_ref,
        ("real",),
        reduce_cases(),
        lambda t, x, axis, keepdims: t.logsumexp(x, torch_dims(x, axis), keepdim=keepdims),
    ),
    Op(
        "softmax",
        lambda x, axis: mi.softmax(x, axis),
        softmax_ref,
        ("real",),
        single_axis_cases(),
        lambda t, x, axis: t.softmax(x, dim=axis),
    ),
    Op(
        "log_softmax",
        lambda x, axis: mi.log_softmax(x, axis),
        lambda a, axis: np.log(softmax_ref(a, axis)),
        ("real",),
        single_axis_cases(),
        lambda t, x, axis: t.log_softmax(x, dim=axis),
    ),
]

LINALG = [
    Op(
        "matmul",
        mi.matmul,
        np.matmul,
        ("real", "real"),
        no_params(matmul_shapes()),
        lambda t, a, b: t.matmul(a, b),
    ),
]

MOVEMENT = [
    Op(
        "reshape",
        lambda x, shape: mi.reshape(x, shape),
        lambda a, shape: np.reshape(a, shape),
        ("real",),
        with_params(
            one(small_shapes()), lambda s: reshape_target(s[0]).map(lambda t: {"shape": t})
        ),
        lambda t, x, shape: x.reshape(shape),
    ),
    Op(
        "view",
        lambda x, shape: x.view(*shape),
        lambda a, shape: np.reshape(a, shape),
        ("real",),
        with_params(
            one(small_shapes()), lambda s: reshape_target(s[0]).map(lambda t: {"shape": t})
        ),
        lambda t, x, shape: x.view(*shape),
    ),
    Op(
        "transpose",
        lambda x, dim0, dim1: mi.transpose(x, dim0, dim1),
        lambda a, dim0, dim1: np.swapaxes(a, dim0, dim1),
        ("real",),
        with_params(
            one(small_shapes(min_dims=1)),
            lambda s: st.fixed_dictionaries(
                {
                    "dim0": st.integers(-len(s[0]), len(s[0]) - 1),
                    "dim1": st.integers(-len(s[0]), len(s[0]) - 1),
                }
            ),
        ),
        lambda t, x, dim0, dim1: t.transpose(x, dim0, dim1),
    ),
    Op(
        "permute",
        lambda x, axes: mi.permute(x, axes),
        lambda a, axes: np.transpose(a, axes),
        ("real",),
        with_params(
            one(small_shapes()),
            lambda s: st.permutations(range(len(s[0]))).map(lambda p: {"axes": tuple(p)}),
        ),
        lambda t, x, axes: x.permute(axes),
    ),
    Op(
        "T",
        lambda x: x.T,
        lambda a: a.T,
        ("real",),
        UNARY,
        lambda t, x: x.permute(tuple(reversed(range(x.ndim)))),  # torch's .T: 2-D only
    ),
    Op(
        "expand",
        lambda x, shape: mi.expand(x, shape),
        lambda a, shape: np.broadcast_to(a, _resolve(shape, a.shape)),
        ("real",),
        with_params(
            one(small_shapes()),
            lambda s: expand_target(s[0], allow_minus_one=True).map(lambda t: {"shape": t}),
        ),
        lambda t, x, shape: x.expand(shape),
    ),
    Op(
        "broadcast_to",
        lambda x, shape: mi.broadcast_to(x, shape),
        lambda a, shape: np.broadcast_to(a, shape),
        ("real",),
        with_params(
            one(small_shapes()),
            lambda s: expand_target(s[0], allow_minus_one=False).map(lambda t: {"shape": t}),
        ),
        lambda t, x, shape: t.broadcast_to(x, shape),
    ),
    Op(
        "squeeze",
        lambda x, axis: mi.squeeze(x, axis),
        lambda a, axis: np.squeeze(a, _squeezable(a.shape, axis)),
        ("real",),
        squeeze_cases(),
        lambda t, x, axis: x.squeeze() if axis is None else x.squeeze(axis),
    ),
    Op(
        "unsqueeze",
        lambda x, axis: mi.unsqueeze(x, axis),
        lambda a, axis: np.expand_dims(a, axis),
        ("real",),
        with_params(
            one(small_shapes()),
            lambda s: st.integers(-len(s[0]) - 1, len(s[0])).map(lambda a: {"axis": a}),
        ),
        lambda t, x, axis: x.unsqueeze(axis),
    ),
    Op(
        "flatten",
        lambda x, start_dim, end_dim: mi.flatten(x, start_dim, end_dim),
        lambda a, start_dim, end_dim: _flatten_ref(a, start_dim, end_dim),
        ("real",),
        with_params(one(small_shapes(min_dims=1)), lambda s: _flatten_params(len(s[0]))),
        lambda t, x, start_dim, end_dim: t.flatten(x, start_dim, end_dim),
    ),
    *[
        Op(
            f"getitem_{kind}",
            lambda x, index: x[index],
            lambda a, index: a[index],
            ("real",),
            index_cases(kind),
            lambda t, x, index: x[torch_index(t, index)],
        )
        for kind in ("basic", "int_array", "int_arrays", "bool_mask")
    ],
    Op(
        "cat",
        lambda a, b, c, axis: mi.cat([a, b, c], axis=axis),
        lambda a, b, c, axis: np.concatenate([a, b, c], axis=axis),
        ("real", "real", "real"),
        cat_shapes(),
        lambda t, a, b, c, axis: t.cat([a, b, c], dim=axis),
    ),
    Op(
        "stack",
        lambda a, b, c, axis: mi.stack([a, b, c], axis=axis),
        lambda a, b, c, axis: np.stack([a, b, c], axis=axis),
        ("real", "real", "real"),
        with_params(
            small_shapes().map(lambda s: (s, s, s)),
            lambda s: st.integers(-len(s[0]) - 1, len(s[0])).map(lambda a: {"axis": a}),
        ),
        lambda t, a, b, c, axis: t.stack([a, b, c], dim=axis),
    ),
    Op(
        "split",
        lambda x, size, axis: weighted_cat(mi.split(x, size, axis), axis),
        lambda a, size, axis: weighted_cat_ref(
            np.split(a, _split_points(a.shape[axis], size), axis=axis), axis
        ),
        ("real",),
        split_cases("split"),
        lambda t, x, size, axis: weighted_cat(t.split(x, size, dim=axis), axis),
    ),
    Op(
        "chunk",
        lambda x, chunks, axis: weighted_cat(mi.chunk(x, chunks, axis), axis),
        lambda a, chunks, axis: weighted_cat_ref(
            np.split(a, _split_points(a.shape[axis], chunk_size(a.shape[axis], chunks)), axis), axis
        ),
        ("real",),
        split_cases("chunk"),
        lambda t, x, chunks, axis: weighted_cat(t.chunk(x, chunks, dim=axis), axis),
    ),
    Op(
        "pad",
        lambda x, pad, value: mi.pad(x, pad, value),
        lambda a, pad, value: _pad_ref(a, pad, value),
        ("real",),
        pad_cases(),
        lambda t, x, pad, value: t.nn.functional.pad(x, pad, value=value),
    ),
    Op(
        "tril",
        lambda x, diagonal: mi.tril(x, diagonal),
        lambda a, diagonal: np.tril(a, diagonal),
        ("real",),
        tri_cases(),
        lambda t, x, diagonal: t.tril(x, diagonal),
    ),
    Op(
        "triu",
        lambda x, diagonal: mi.triu(x, diagonal),
        lambda a, diagonal: np.triu(a, diagonal),
        ("real",),
        tri_cases(),
        lambda t, x, diagonal: t.triu(x, diagonal),
    ),
]


@st.composite
def gather_cases(draw: st.DrawFn, kind: str) -> Case:
    """An input shape, an axis and an index no larger than the input off that axis (PyTorch's
    rule); scatter's index has no repeats along the axis (which write would win is undefined)."""
    shape = draw(small_shapes(min_dims=1))
    axis = draw(st.integers(0, len(shape) - 1))
    idx_shape = tuple(
        draw(st.integers(1, n)) if d != axis else draw(st.integers(1, 4))
        for d, n in enumerate(shape)
    )
    if kind == "scatter":
        idx_shape = tuple(min(m, shape[axis]) if d == axis else m for d, m in enumerate(idx_shape))
        perms = [
            draw(st.permutations(range(shape[axis])))[: idx_shape[axis]]
            for _ in range(math.prod(idx_shape) // idx_shape[axis])
        ]
        index = np.moveaxis(
            np.array(perms, dtype=np.int64).reshape(
                tuple(m for d, m in enumerate(idx_shape) if d != axis) + (idx_shape[axis],)
            ),
            -1,
            axis,
        )
    else:
        index = draw(hnp.arrays(np.int64, idx_shape, elements=st.integers(0, shape[axis] - 1)))
    src = idx_shape if kind != "gather" else None
    return ((shape, src) if src else (shape,)), {"dim": axis, "index": index}


@st.composite
def einsum_cases(draw: st.DrawFn, operands: int) -> Case:
    eq = draw(
        st.sampled_from(
            {
                2: [
                    "ij,jk->ik",
                    "bij,bjk->bik",
                    "i,i->",
                    "ij,j->i",
                    "bhtd,bhsd->bhts",
                    "i,j->ij",
                    "ij,ij",
                    "...ij,...jk->...ik",
                    "...i,...i->...",
                    "...ij,...jk",
                ],
                1: ["ij->ji", "ij->j", "ijk->ki", "ij->", "...ij->...ji", "i...->..."],
            }[operands]
        )
    )
    if "->" not in eq and "..." not in eq:
        eq += "->"  # the reference is given the implicit output the same way
    lhs = eq.split("->")[0]
    batch = draw(small_shapes(max_dims=2)) if "..." in eq else ()
    sizes = {c: draw(st.integers(1, 3)) for c in set(lhs.replace(",", "").replace(".", ""))}

    def shape(sub: str) -> Shape:
        at = sub.find("...")
        letters = [sizes[c] for c in sub.replace("...", "")]
        return tuple(letters) if at < 0 else (*letters[:at], *batch, *letters[at:])

    return tuple(shape(sub) for sub in lhs.split(",")), {"equation": eq}


def _axis_case(min_dims: int = 1) -> st.SearchStrategy[Case]:
    return with_params(
        one(small_shapes(min_dims=min_dims)),
        lambda s: st.integers(-len(s[0]), len(s[0]) - 1).map(lambda a: {"dim": a}),
    )


def _gather_ref(a: np.ndarray, dim: int, index: np.ndarray) -> np.ndarray:
    out = np.empty(index.shape)
    for pos in np.ndindex(index.shape):
        src = list(pos)
        src[dim] = index[pos]
        out[pos] = a[tuple(src)]
    return out


def _scatter_ref(a: np.ndarray, s: np.ndarray, dim: int, index: np.ndarray, add: bool) -> Any:
    out = a.copy()
    for pos in np.ndindex(index.shape):
        dst = list(pos)
        dst[dim] = index[pos]
        out[tuple(dst)] = out[tuple(dst)] + s[pos] if add else s[pos]
    return out


def _squeezable(shape: Shape, axis: Any) -> tuple[int, ...]:
    """The axes ``squeeze(axis)`` drops: the named (or all) axes of size 1, as PyTorch."""
    ndim = len(shape)
    axes = range(ndim) if axis is None else ((axis,) if isinstance(axis, int) else axis)
    return tuple(a % ndim for a in axes if shape[a] == 1)


def _flatten_params(ndim: int) -> st.SearchStrategy[Params]:
    return st.tuples(st.integers(0, ndim - 1), st.integers(0, ndim - 1)).map(
        lambda p: {"start_dim": min(p), "end_dim": max(p) - ndim if p[0] % 2 else max(p)}
    )


def _flatten_ref(a: np.ndarray, start: int, end: int) -> np.ndarray:
    start, end = start % a.ndim, end % a.ndim
    return a.reshape(a.shape[:start] + (math.prod(a.shape[start : end + 1]),) + a.shape[end + 1 :])


def _pad_ref(a: np.ndarray, pad: tuple[int, ...], value: float) -> np.ndarray:
    widths = [(0, 0)] * a.ndim
    for i in range(len(pad) // 2):
        widths[a.ndim - 1 - i] = (pad[2 * i], pad[2 * i + 1])
    return np.pad(a, widths, constant_values=value)


def _comparison(name: str, method: str, ref: Callable) -> Op:
    return Op(
        name,
        lambda a, b: getattr(a, method)(b),
        ref,
        ("grid", "grid"),
        BINARY,
        lambda t, a, b: getattr(a, method)(b),
        grad=False,
    )


def _logical(name: str, ref: Callable) -> Op:
    return Op(
        name,
        getattr(mi, name),
        ref,
        ("mask", "mask"),
        BINARY,
        lambda t, a, b, _n=name: getattr(t, _n)(a, b),
        grad=False,
    )


NON_DIFFERENTIABLE = [
    Op(
        "argsort",
        lambda x, dim: mi.argsort(x, dim),
        lambda a, dim: np.argsort(a, axis=dim),
        ("distinct",),
        _axis_case(),
        lambda t, x, dim: t.argsort(x, dim=dim),
        grad=False,
    ),
    Op(
        "any",
        lambda x: mi.any(x, 0),
        lambda a: np.any(a, 0),
        ("mask",),
        no_params(one(small_shapes(min_dims=1))),
        lambda t, x: t.any(x, 0),
        grad=False,
    ),
    Op(
        "all",
        lambda x: mi.all(x, -1),
        lambda a: np.all(a, -1),
        ("mask",),
        no_params(one(small_shapes(min_dims=1))),
        lambda t, x: t.all(x, -1),
        grad=False,
    ),
    Op(
        "nonzero",
        mi.nonzero,
        lambda a: np.argwhere(a),
        ("mask",),
        no_params(one(small_shapes(min_dims=1))),
        lambda t, x: t.nonzero(x),
        grad=False,
    ),
    _logical("logical_and", np.logical_and),
    _logical("logical_or", np.logical_or),
    _logical("logical_xor", np.logical_xor),
    Op(
        "logical_not",
        mi.logical_not,
        np.logical_not,
        ("mask",),
        UNARY,
        lambda t, x: t.logical_not(x),
        grad=False,
    ),
    Op("invert", lambda x: ~x, np.invert, ("mask",), UNARY, lambda t, x: ~x, grad=False),
    Op(
        "floor_divide",
        mi.floor_divide,
        np.floor_divide,
        ("real", "nonzero"),
        BINARY,
        lambda t, a, b: t.floor_divide(a, b),
        grad=False,
    ),
    Op(
        "isfinite",
        mi.isfinite,
        np.isfinite,
        ("real",),
        UNARY,
        lambda t, x: t.isfinite(x),
        grad=False,
    ),
    Op(
        "argmax",
        lambda x, axis, keepdims: mi.argmax(x, axis, keepdims),
        lambda a, axis, keepdims: np.argmax(a, axis=axis, keepdims=keepdims),
        ("distinct",),
        argreduce_cases(),
        lambda t, x, axis, keepdims: t.argmax(x, dim=axis, keepdim=keepdims),
        grad=False,
    ),
    Op(
        "argmin",
        lambda x, axis, keepdims: mi.argmin(x, axis, keepdims),
        lambda a, axis, keepdims: np.argmin(a, axis=axis, keepdims=keepdims),
        ("distinct",),
        argreduce_cases(),
        lambda t, x, axis, keepdims: t.argmin(x, dim=axis, keepdim=keepdims),
        grad=False,
    ),
    Op(
        "one_hot",
        lambda x, num_classes: mi.one_hot(x, num_classes),
        lambda a, num_classes: (
            a[..., None] == np.arange(a.max(initial=-1) + 1 if num_classes == -1 else num_classes)
        ).astype(np.int64),
        (int_indices,),
        with_params(
            one(small_shapes()),
            lambda s: st.sampled_from([-1, 5, 7]).map(lambda n: {"num_classes": n}),
        ),
        lambda t, x, num_classes: t.nn.functional.one_hot(x, num_classes),
        grad=False,
    ),
    _comparison("lt", "__lt__", np.less),
    _comparison("le", "__le__", np.less_equal),
    _comparison("gt", "__gt__", np.greater),
    _comparison("ge", "__ge__", np.greater_equal),
    _comparison("eq", "__eq__", np.equal),
    _comparison("ne", "__ne__", np.not_equal),
]

SCANS_AND_INDEXING = [
    Op(
        "prod",
        lambda x, **p: mi.prod(x, **p),
        lambda a, **p: np.prod(a, **p),
        ("real",),
        reduce_cases(),
        lambda t, x, axis, keepdims: _torch_prod(t, x, axis, keepdims),
    ),
    Op(
        "cumsum",
        lambda x, dim: mi.cumsum(x, dim),
        lambda a, dim: np.cumsum(a, axis=dim),
        ("real",),
        _axis_case(),
        lambda t, x, dim: t.cumsum(x, dim),
    ),
    Op(
        "cumprod",
        lambda x, dim: mi.cumprod(x, dim),
        lambda a, dim: np.cumprod(a, axis=dim),
        ("real",),
        _axis_case(),
        lambda t, x, dim: t.cumprod(x, dim),
    ),
    Op(
        "sort",
        lambda x, dim: mi.sort(x, dim)[0],
        lambda a, dim: np.sort(a, axis=dim),
        ("distinct",),
        _axis_case(),
        lambda t, x, dim: t.sort(x, dim).values,
    ),
    Op(
        "sort_descending",
        lambda x, dim: mi.sort(x, dim, descending=True)[0],
        lambda a, dim: np.flip(np.sort(a, axis=dim), dim),
        ("distinct",),
        _axis_case(),
        lambda t, x, dim: t.sort(x, dim, descending=True).values,
    ),
    Op(
        "topk",
        lambda x, dim: mi.topk(x, 1, dim)[0],
        lambda a, dim: np.take(np.flip(np.sort(a, axis=dim), dim), [0], axis=dim),
        ("distinct",),
        _axis_case(),
        lambda t, x, dim: t.topk(x, 1, dim).values,
    ),
    Op(
        "gather",
        lambda x, dim, index: mi.gather(x, dim, index),
        _gather_ref,
        ("real",),
        gather_cases("gather"),
        lambda t, x, dim, index: t.gather(x, dim, t.from_numpy(index)),
    ),
    Op(
        "scatter",
        lambda x, s, dim, index: mi.scatter(x, dim, index, s),
        lambda a, s, dim, index: _scatter_ref(a, s, dim, index, False),
        ("real", "real"),
        gather_cases("scatter"),
        lambda t, x, s, dim, index: t.scatter(x, dim, t.from_numpy(index), s),
    ),
    Op(
        "scatter_add",
        lambda x, s, dim, index: mi.scatter_add(x, dim, index, s),
        lambda a, s, dim, index: _scatter_ref(a, s, dim, index, True),
        ("real", "real"),
        gather_cases("scatter_add"),
        lambda t, x, s, dim, index: t.scatter_add(x, dim, t.from_numpy(index), s),
    ),
    *[
        Op(
            f"einsum{n}",
            lambda *xs, equation: mi.einsum(equation, *xs),
            lambda *arrays, equation: np.einsum(equation, *arrays),
            ("real",) * n,
            einsum_cases(n),
            lambda t, *xs, equation: t.einsum(equation, *xs),
        )
        for n in (1, 2)
    ],
    Op(
        "flip",
        lambda x, dim: mi.flip(x, dim),
        lambda a, dim: np.flip(a, dim),
        ("real",),
        _axis_case(),
        lambda t, x, dim: t.flip(x, (dim,)),
    ),
    Op(
        "roll",
        lambda x, dim: mi.roll(x, 2, dim),
        lambda a, dim: np.roll(a, 2, dim),
        ("real",),
        _axis_case(),
        lambda t, x, dim: t.roll(x, 2, dim),
    ),
    Op(
        "repeat",
        lambda x: x.repeat(2, 1, 3),
        lambda a: np.tile(a, (2, 1, 3)),
        ("real",),
        no_params(one(small_shapes(max_dims=3))),
        lambda t, x: x.repeat(2, 1, 3),
    ),
    Op(
        "repeat_interleave",
        lambda x, dim: mi.repeat_interleave(x, 2, dim),
        lambda a, dim: np.repeat(a, 2, axis=dim),
        ("real",),
        _axis_case(),
        lambda t, x, dim: t.repeat_interleave(x, 2, dim),
    ),
    Op(
        "diagonal",
        lambda x: mi.diagonal(x, 1, 0, -1),
        lambda a: np.diagonal(a, 1, 0, -1),
        ("real",),
        no_params(one(small_shapes(min_dims=2))),
        lambda t, x: t.diagonal(x, 1, 0, -1),
    ),
    Op(
        "diag",
        lambda x: mi.diag(x, -1),
        lambda a: np.diag(a, -1),
        ("real",),
        no_params(one(small_shapes(min_dims=1, max_dims=1))),
        lambda t, x: t.diag(x, -1),
    ),
    *[
        Op(
            f"pad_{mode}",
            lambda x, _m=mode: mi.nn.functional.pad(x, (1, 1), mode=_m),
            lambda a, _m=mode: np.pad(
                a,
                [(0, 0)] * (a.ndim - 1) + [(1, 1)],
                mode={"reflect": "reflect", "replicate": "edge", "circular": "wrap"}[_m],
            ),
            ("real",),
            no_params(one(shapes(min_dims=3, max_dims=3, min_side=2, max_side=3))),
            lambda t, x, _m=mode: t.nn.functional.pad(x, (1, 1), mode=_m),
        )
        for mode in ("reflect", "replicate", "circular")
    ],
]


def _activation(name: str, ref: Callable, torch_tol: float = 1e-10, **options: Any) -> Op:
    """A row for ``F.name(x, **options)`` on kink-free inputs, against a NumPy formula."""
    return Op(
        f"F.{name}",
        lambda x: getattr(mi.nn.functional, name)(x, **options),
        ref,
        ("off_grid",),
        UNARY,
        lambda t, x: getattr(t.nn.functional, name)(x, **options),
        torch_tol=torch_tol,
    )


def _np_softplus(a: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, a)


def _np_sigmoid(a: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-a))


_SELU = (1.6732632423543772848170429916717, 1.0507009873554804934193349852946)
ACTIVATIONS = [
    _activation("silu", lambda a: a * _np_sigmoid(a)),
    _activation("softplus", _np_softplus),
    _activation("logsigmoid", lambda a: -_np_softplus(-a)),
    _activation("mish", lambda a: a * np.tanh(_np_softplus(a))),
    _activation("softsign", lambda a: a / (1 + np.abs(a))),
    _activation("leaky_relu", lambda a: np.where(a > 0, a, 0.1 * a), negative_slope=0.1),
    _activation("elu", lambda a: np.where(a > 0, a, 0.5 * np.expm1(a)), alpha=0.5),
    _activation("celu", lambda a: np.where(a > 0, a, 2 * np.expm1(a / 2)), alpha=2.0),
    _activation("selu", lambda a: _SELU[1] * np.where(a > 0, a, _SELU[0] * np.expm1(a))),
    _activation("hardtanh", lambda a: np.clip(a, -1, 1)),
    _activation("relu6", lambda a: np.clip(a, 0, 6)),
    # torch computes x/6 with a float32 constant 1/6 even in float64: 1e-9 apart
    _activation("hardsigmoid", lambda a: np.clip(a / 6 + 0.5, 0, 1), torch_tol=1e-7),
    _activation("hardswish", lambda a: a * np.clip(a / 6 + 0.5, 0, 1), torch_tol=1e-7),
    Op(
        "F.glu",
        lambda x: mi.nn.functional.glu(x, -1),
        lambda a: a[..., : a.shape[-1] // 2] * _np_sigmoid(a[..., a.shape[-1] // 2 :]),
        ("real",),
        no_params(one(small_shapes(min_dims=1)).map(lambda s: (s[0][:-1] + (2 * s[0][-1],),))),
        lambda t, x: t.nn.functional.glu(x, -1),
    ),
    Op(
        "F.normalize",
        lambda x: mi.nn.functional.normalize(x, dim=-1),
        lambda a: a / np.maximum(np.linalg.norm(a, axis=-1, keepdims=True), 1e-12),
        ("nonzero",),
        no_params(one(small_shapes(min_dims=1))),
        lambda t, x: t.nn.functional.normalize(x, dim=-1),
    ),
    Op(
        "F.rms_norm",
        lambda x: mi.nn.functional.rms_norm(x, x.shape[-1:], eps=1e-6),
        lambda a: a / np.sqrt((a * a).mean(-1, keepdims=True) + 1e-6),
        ("real",),
        no_params(one(small_shapes(min_dims=1))),
        lambda t, x: t.nn.functional.rms_norm(x, x.shape[-1:], eps=1e-6),
    ),
    Op(
        "F.softmin",
        lambda x: mi.nn.functional.softmin(x, -1),
        lambda a: softmax_ref(-a, -1),
        ("real",),
        no_params(one(small_shapes(min_dims=1))),
        lambda t, x: t.nn.functional.softmin(x, -1),
    ),
]


def _torch_prod(torch: Any, x: Any, axis: Any, keepdims: bool) -> Any:
    """torch.prod takes one dim at a time: reduce them one by one, last first."""
    dims = sorted(
        {
            d % max(x.ndim, 1)
            for d in (
                range(x.ndim) if axis is None else ((axis,) if isinstance(axis, int) else axis)
            )
        },
        reverse=True,
    )
    for d in dims:
        x = torch.prod(x, dim=d, keepdim=keepdims)
    return x


@st.composite
def _fixed_rank_shapes(draw: st.DrawFn, kind: str) -> Case:
    """Operand shapes for mm (2-D, 2-D), bmm (3-D, 3-D), mv (2-D, 1-D) and outer (1-D, 1-D)."""
    b, m, k, n = (draw(st.integers(1, 3)) for _ in range(4))
    shapes_of = {"mm": ((m, k), (k, n)), "bmm": ((b, m, k), (b, k, n)), "mv": ((m, k), (k,)),
                 "outer": ((m,), (n,))}  # fmt: skip
    return shapes_of[kind], {}


@st.composite
def _narrow_case(draw: st.DrawFn) -> Case:
    shape = draw(small_shapes(min_dims=1))
    dim = draw(st.integers(-len(shape), len(shape) - 1))
    n = shape[dim]
    start = draw(st.integers(0, n - 1))
    return (shape,), {"dim": dim, "start": start, "length": draw(st.integers(0, n - start))}


@st.composite
def _movedim_case(draw: st.DrawFn) -> Case:
    shape = draw(small_shapes(min_dims=1))
    d = len(shape)
    src = draw(st.lists(st.integers(0, d - 1), min_size=1, max_size=d, unique=True))
    dst = draw(st.permutations(range(d)).map(lambda p: p[: len(src)]))
    return (shape,), {"source": tuple(src), "destination": tuple(dst)}


def _norm_ref(a: np.ndarray, p: float, dim: Any, keepdim: bool) -> np.ndarray:
    return np.sum(np.abs(a) ** p, axis=dim, keepdims=keepdim) ** (1.0 / p)


def _huber_ref(a: np.ndarray, b: np.ndarray, delta: float) -> np.ndarray:
    d = np.abs(a - b)
    return np.where(d < delta, 0.5 * d * d, delta * (d - 0.5 * delta))


def _cosine_ref(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = np.broadcast_arrays(a, b)
    return np.sum(a * b, -1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))


EVERYDAY = [
    *(
        Op(
            kind,
            getattr(mi, kind),
            np.outer if kind == "outer" else np.matmul,
            ("real", "real"),
            _fixed_rank_shapes(kind),
            lambda t, a, b, kind=kind: getattr(t, kind)(a, b),
        )
        for kind in ("mm", "bmm", "mv", "outer")
    ),
    Op(
        "norm",
        lambda x, p, dim, keepdim: mi.norm(x, p, dim, keepdim),
        _norm_ref,
        ("nonzero",),
        with_params(
            one(small_shapes()),
            lambda s: st.fixed_dictionaries(
                {
                    "p": st.sampled_from([2, 1, 3, 0.5]),
                    "dim": axis_choices(len(s[0])),
                    "keepdim": st.booleans(),
                }
            ),
        ),
        lambda t, x, p, dim, keepdim: t.linalg.vector_norm(x, p, dim, keepdim),
    ),
    Op(
        "movedim",
        lambda x, **p: mi.movedim(x, **p),
        lambda a, source, destination: np.moveaxis(a, source, destination),
        ("real",),
        _movedim_case(),
        lambda t, x, source, destination: t.movedim(x, source, destination),
    ),
    Op(
        "narrow",
        lambda x, **p: mi.narrow(x, **p),
        lambda a, dim, start, length: np.take(a, np.arange(start, start + length), axis=dim),
        ("real",),
        _narrow_case(),
        lambda t, x, dim, start, length: t.narrow(x, dim, start, length),
    ),
    Op(
        "select",
        lambda x, dim: mi.select(x, dim, -1),
        lambda a, dim: np.take(a, -1, axis=dim),
        ("real",),
        _axis_case(),
        lambda t, x, dim: t.select(x, dim, -1),
    ),
    Op(
        "F.huber_loss",
        lambda a, b: mi.nn.functional.huber_loss(a, b, reduction="none", delta=0.5),
        lambda a, b: _huber_ref(a, b, 0.5),
        ("grid", "off_grid"),
        BINARY,
        lambda t, a, b: t.nn.functional.huber_loss(
            *t.broadcast_tensors(a, b), reduction="none", delta=0.5
        ),
    ),
    Op(
        "F.smooth_l1_loss",
        lambda a, b: mi.nn.functional.smooth_l1_loss(a, b, reduction="none", beta=0.5),
        lambda a, b: _huber_ref(a, b, 0.5) / 0.5,
        ("grid", "off_grid"),
        BINARY,
        lambda t, a, b: t.nn.functional.smooth_l1_loss(
            *t.broadcast_tensors(a, b), reduction="none", beta=0.5
        ),
    ),
    Op(
        "F.cosine_similarity",
        lambda a, b: mi.nn.functional.cosine_similarity(a, b, dim=-1),
        _cosine_ref,
        ("nonzero", "nonzero"),
        no_params(broadcastable_shapes(2, min_dims=1, max_dims=3, max_side=3)),
        lambda t, a, b: t.nn.functional.cosine_similarity(a, b, dim=-1),
    ),
]


def _layer_norm_ref(a: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    mu = a.mean(-1, keepdims=True)
    return (a - mu) / np.sqrt(((a - mu) ** 2).mean(-1, keepdims=True) + 1e-5) * w + b


def _cross_entropy_ref(x: np.ndarray, t: np.ndarray, label_smoothing: float, reduction: str) -> Any:
    logp = x - np.log(np.exp(x).sum(-1, keepdims=True))  # naive on purpose
    rows = -(1 - label_smoothing) * logp[np.arange(len(t)), t] - label_smoothing * logp.mean(-1)
    return rows if reduction == "none" else (rows.sum() if reduction == "sum" else rows.mean())


def _attention_ref(q: np.ndarray, k: np.ndarray, v: np.ndarray, is_causal: bool) -> np.ndarray:
    s = q @ np.swapaxes(k, -1, -2) / math.sqrt(q.shape[-1])
    if is_causal:
        s = np.where(np.tri(*s.shape[-2:], dtype=bool), s, -np.inf)
    return softmax_ref(s, -1) @ v


def _qkv_ref(qkv: np.ndarray, n_head: int, is_causal: bool) -> np.ndarray:
    B, T, C3 = qkv.shape
    heads = qkv.reshape(B, T, 3, n_head, C3 // 3 // n_head).transpose(2, 0, 3, 1, 4)
    y = _attention_ref(heads[0], heads[1], heads[2], is_causal)
    return y.transpose(0, 2, 1, 3).reshape(B, T, C3 // 3)


def _torch_qkv(t: Any, qkv: Any, n_head: int, is_causal: bool) -> Any:
    B, T, C3 = qkv.shape
    heads = qkv.reshape(B, T, 3, n_head, C3 // 3 // n_head).permute(2, 0, 3, 1, 4)
    y = t.nn.functional.scaled_dot_product_attention(*heads, is_causal=is_causal)
    return y.transpose(1, 2).reshape(B, T, C3 // 3)


@st.composite
def _norm_case(draw: st.DrawFn) -> Case:
    x = draw(small_shapes(min_dims=1, min_side=2))
    return (x, x[-1:], x[-1:]), {}


@st.composite
def _classes_case(draw: st.DrawFn) -> Case:
    """(N, C) logits and (N,) targets in [0, 5) (the ``int_indices`` domain), so C >= 5."""
    n, c = draw(st.integers(1, 4)), draw(st.integers(5, 6))
    params = {"label_smoothing": draw(st.sampled_from([0.0, 0.1])),
              "reduction": draw(st.sampled_from(["mean", "sum", "none"]))}  # fmt: skip
    return ((n, c), (n,)), params


@st.composite
def _table_case(draw: st.DrawFn) -> Case:
    """A (V, C) table with V >= 5 (indices are drawn from [0, 5)) and an index array."""
    return ((draw(st.integers(5, 6)), draw(st.integers(1, 3))), draw(small_shapes(max_dims=2))), {}


@st.composite
def _heads_case(draw: st.DrawFn) -> Case:
    b, h, t, d = (draw(st.integers(1, 3)) for _ in range(4))
    return ((b, h, t, d),) * 3, {"is_causal": draw(st.booleans())}


@st.composite
def _packed_case(draw: st.DrawFn) -> Case:
    b, h, t, d = (draw(st.integers(1, 3)) for _ in range(4))
    return ((b, t, 3 * h * d),), {"n_head": h, "is_causal": draw(st.booleans())}


FUSED = [
    Op(
        "F.layer_norm",
        lambda x, w, b: mi.nn.functional.layer_norm(x, x.shape[-1], w, b),
        _layer_norm_ref,
        ("real", "real", "real"),
        _norm_case(),
        lambda t, x, w, b: t.nn.functional.layer_norm(x, (x.shape[-1],), w, b),
        composed=lambda x, w, b: mi.nn.functional.layer_norm_reference(x, x.shape[-1], w, b),
    ),
    Op(
        "F.cross_entropy",
        lambda x, t, **p: mi.nn.functional.cross_entropy(x, t, **p),
        _cross_entropy_ref,
        ("real", int_indices),
        _classes_case(),
        lambda t, x, y, **p: t.nn.functional.cross_entropy(x, y, **p),
        composed=lambda x, t, **p: mi.nn.functional.cross_entropy_reference(x, t, **p),
    ),
    Op(
        "F.embedding",
        lambda w, i: mi.nn.functional.embedding(i, w),
        lambda w, i: w[i],
        ("real", int_indices),
        _table_case(),
        lambda t, w, i: t.nn.functional.embedding(i, w),
        composed=lambda w, i: mi.nn.functional.embedding_reference(i, w),
    ),
    Op(
        "F.scaled_dot_product_attention",
        lambda q, k, v, **p: mi.nn.functional.scaled_dot_product_attention(q, k, v, **p),
        _attention_ref,
        ("real", "real", "real"),
        _heads_case(),
        lambda t, q, k, v, **p: t.nn.functional.scaled_dot_product_attention(q, k, v, **p),
        composed=lambda q, k, v, **p: mi.nn.functional.attention_reference(q, k, v, **p),
        double=False,
    ),
    Op(
        "F.qkv_attention",
        lambda x, **p: mi.nn.functional.qkv_attention(x, **p),
        _qkv_ref,
        ("real",),
        _packed_case(),
        _torch_qkv,
        composed=lambda x, **p: mi.nn.functional.qkv_attention_reference(x, **p),
        double=False,
    ),
]


DIFFERENTIABLE = (
    ELEMENTWISE
    + POINTWISE
    + ACTIVATIONS
    + REDUCTIONS
    + LINALG
    + MOVEMENT
    + SCANS_AND_INDEXING
    + EVERYDAY
    + FUSED
)
OPS = DIFFERENTIABLE + NON_DIFFERENTIABLE
BY_NAME = {op.name: op for op in OPS}
assert len(BY_NAME) == len(OPS), "op names must be unique"
