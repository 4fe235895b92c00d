"""Tools to test a differentiable op, minillm's or yours: ``gradcheck``, ``gradgradcheck`` (second
derivatives, through ``create_graph=True``) and Hypothesis strategies.

``gradcheck`` compares the gradients autograd computes with central finite differences in float64,

    dy/dx_j ~ (f(x + eps e_j) - f(x - eps e_j)) / (2 eps)     (error O(eps^2)),

as the full Jacobian when it is small, and otherwise as random projections: for random directions
``u`` (per input) and ``v`` (over the output), autograd's ``<v, J u>`` is one backward pass and an
inner product, and the numeric one is a single central difference along ``u`` — any wrong entry of
``J`` shows up with probability 1.

The strategies (``shapes``, ``broadcastable_shapes``, ``tensors``) need Hypothesis (the ``test``
extra), which is imported only when they are called.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from minillm.tensor import Tensor

FULL_JACOBIAN_LIMIT = (
    4096  # input elements x output elements up to which the whole Jacobian is built
)


class GradcheckError(AssertionError):
    """Analytic and numeric gradients disagree; the message names the input and worst element."""


def _prepare(inputs: Sequence[Any]) -> list[Tensor]:
    """Fresh float64 leaves for inputs that require grad; other inputs pass through unchanged."""
    prepared = []
    for x in inputs:
        t = x if isinstance(x, Tensor) else Tensor(x)
        if t.requires_grad:
            t = Tensor(t.data.astype(np.float64), requires_grad=True)
        prepared.append(t)
    return prepared


def _checked(inputs: Sequence[Any], name: str) -> tuple[list[Tensor], list[int]]:
    """The prepared inputs and the positions of those to differentiate (at least one)."""
    prepared = _prepare(inputs)
    diff = [k for k, t in enumerate(prepared) if t.requires_grad]
    if not diff:
        raise ValueError(f"{name}: no input has requires_grad=True, so there is nothing to check")
    return prepared, diff


def _output(fn: Callable[..., Tensor], inputs: list[Tensor]) -> Tensor:
    out = fn(*inputs)
    if not isinstance(out, Tensor):
        raise TypeError(f"gradcheck: fn must return a Tensor, got {type(out).__name__}")
    return out


def _evaluate(fn: Callable[..., Tensor], inputs: list[Tensor]) -> np.ndarray:
    from minillm.autograd import no_grad

    with no_grad():
        return np.array(_output(fn, inputs).data, dtype=np.float64)


def _vjp(
    fn: Callable[..., Tensor], inputs: list[Tensor], cotangent: np.ndarray
) -> list[np.ndarray]:
    """Autograd's v^T J for each input that requires grad (zeros where the output ignores it)."""
    for t in inputs:
        t.grad = None
    out = _output(fn, inputs)
    if out.requires_grad:
        out.backward(cotangent.astype(out.dtype))
    return [
        np.zeros_like(t.data) if t.grad is None else t.grad.data for t in inputs if t.requires_grad
    ]


def _fail(k: int, what: str, analytic: float, numeric: float) -> GradcheckError:
    return GradcheckError(
        f"gradcheck failed for input {k}: worst element {what}: analytic {analytic!r} vs numeric "
        f"{numeric!r} (difference {abs(analytic - numeric):.3g})"
    )


def gradcheck(
    fn: Callable[..., Tensor],
    inputs: Sequence[Any],
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    n_projections: int = 3,
    seed: int = 0,
) -> bool:
    """Check autograd's gradients of ``fn(*inputs)`` against central finite differences in float64.

    Inputs with ``requires_grad=True`` are checked (as float64 copies); others (indices, masks) are
    passed as they are. Returns True, or raises ``GradcheckError`` naming the input, the worst
    element and both values. An element passes when ``|analytic - numeric| <= atol + rtol *
    |numeric|``.

    >>> import minillm
    >>> x = minillm.randn(3, 4, dtype="float64", requires_grad=True)
    >>> gradcheck(lambda t: (t * t).sum(axis=1), [x])
    True
    """
    inputs, diff = _checked(inputs, "gradcheck")
    y0 = _evaluate(fn, inputs)
    n_in = sum(inputs[k].data.size for k in diff)
    if n_in * max(y0.size, 1) <= FULL_JACOBIAN_LIMIT:
        _check_full(fn, inputs, diff, y0.shape, eps, atol, rtol)
    else:
        _check_projections(fn, inputs, diff, y0.shape, eps, atol, rtol, n_projections, seed)
    return True


def _check_full(
    fn: Callable[..., Tensor],
    inputs: list[Tensor],
    diff: list[int],
    out_shape: tuple[int, ...],
    eps: float,
    atol: float,
    rtol: float,
) -> None:
    n_out = int(np.prod(out_shape))
    rows = []  # analytic Jacobian, one backward per output element
    for i in range(n_out):
        onehot = np.zeros(n_out)
        onehot[i] = 1.0
        rows.append([g.ravel() for g in _vjp(fn, inputs, onehot.reshape(out_shape))])
    for pos, k in enumerate(diff):
        x = inputs[k].data
        analytic = np.array([row[pos] for row in rows]).reshape(n_out, x.size)
        numeric = np.empty_like(analytic)
        flat = x.reshape(-1)  # a view: perturbing it perturbs the input in place
        for j in range(x.size):
            orig = flat[j]
            flat[j] = orig + eps
            plus = _evaluate(fn, inputs).ravel()
            flat[j] = orig - eps
            minus = _evaluate(fn, inputs).ravel()
            flat[j] = orig
            numeric[:, j] = (plus - minus) / (2 * eps)
        err = np.abs(analytic - numeric) - (atol + rtol * np.abs(numeric))
        if np.isnan(analytic).any() != np.isnan(numeric).any() or (err > 0).any():
            i, j = np.unravel_index(np.nanargmax(np.where(np.isnan(err), np.inf, err)), err.shape)
            where_out = tuple(int(n) for n in np.unravel_index(i, out_shape))
            where_in = tuple(int(n) for n in np.unravel_index(j, x.shape))
            what = f"d output{list(where_out)} / d input{list(where_in)}"
            raise _fail(k, what, float(analytic[i, j]), float(numeric[i, j]))


def _check_projections(
    fn: Callable[..., Tensor],
    inputs: list[Tensor],
    diff: list[int],
    out_shape: tuple[int, ...],
    eps: float,
    atol: float,
    rtol: float,
    n_projections: int,
    seed: int,
) -> None:
    rng = np.random.default_rng(seed)
    for trial in range(n_projections):
        v = rng.standard_normal(out_shape)
        grads = _vjp(fn, inputs, v)
        for pos, k in enumerate(diff):
            x = inputs[k].data
            u = rng.standard_normal(x.shape)
            analytic = float(np.sum(grads[pos] * u))
            orig = x.copy()
            x[...] = orig + eps * u
            plus = float(np.sum(v * _evaluate(fn, inputs)))
            x[...] = orig - eps * u
            minus = float(np.sum(v * _evaluate(fn, inputs)))
            x[...] = orig
            numeric = (plus - minus) / (2 * eps)
            # the projection sums many terms, so scale the tolerance by the size of those terms
            scale = float(np.sum(np.abs(grads[pos] * u)))
            if not abs(analytic - numeric) <= atol * max(1.0, np.sqrt(x.size)) + rtol * max(
                abs(numeric), scale * 1e-3
            ):
                raise _fail(k, f"projection {trial} <v, J u>", analytic, numeric)


def gradgradcheck(
    fn: Callable[..., Tensor],
    inputs: Sequence[Any],
    grad_outputs: Any = None,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    n_projections: int = 3,
    seed: int = 0,
) -> bool:
    """Check second derivatives: ``gradcheck`` of the first gradient, computed with
    ``create_graph=True``, as a function of the inputs and of the output gradient ``v``.

    The first gradient is h(x, v) = v^T J(x) (what ``backward`` computes); its derivative with
    respect to x is a Hessian-vector product, and with respect to v it is J itself. ``v`` is
    ``grad_outputs`` or, by default, a random one (seeded). Returns True or raises
    ``GradcheckError``.

    >>> import minillm
    >>> x = minillm.randn(3, dtype="float64", requires_grad=True)
    >>> gradgradcheck(lambda t: (t * t * t).sum(), [x])
    True
    """
    from minillm.autograd import enable_grad, grad

    inputs, diff = _checked(inputs, "gradgradcheck")
    y0 = _evaluate(fn, inputs)
    if grad_outputs is None:
        grad_outputs = np.random.default_rng(seed).standard_normal(y0.shape)
    v = Tensor(np.array(getattr(grad_outputs, "data", grad_outputs), dtype=np.float64),
               requires_grad=True)  # fmt: skip
    if v.shape != y0.shape:
        raise ValueError(f"gradgradcheck: grad_outputs has shape {v.shape}, expected {y0.shape}")

    def first_gradient(*args: Tensor) -> Tensor:
        with enable_grad():  # gradcheck evaluates under no_grad; the first gradient needs a graph
            return _first_gradient(*args)

    def _first_gradient(*args: Tensor) -> Tensor:
        *xs, cotangent = args
        wrt = [xs[k] for k in diff]
        out = _output(fn, xs)
        if not out.requires_grad:  # fn ignores its inputs: every gradient is zero
            return Tensor(np.zeros(sum(t.data.size for t in wrt))) * cotangent.sum()
        grads = grad(out, wrt, cotangent, create_graph=True, allow_unused=True)
        flat = [(t * 0.0 if g is None else g).reshape(-1) for g, t in zip(grads, wrt)]
        return flat[0] if len(flat) == 1 else _cat(flat)

    # The recorded first gradient (each op's backward_graph) must equal the one backward
    # computes on arrays, which gradcheck holds to finite differences: otherwise a backward_graph
    # could be wrong and yet consistent with its own derivative.
    with enable_grad():
        recorded = first_gradient(*inputs, v).data
        out = _output(fn, inputs)
        wrt = [inputs[k] for k in diff]
        plain = (
            grad(out, wrt, [v.data], allow_unused=True) if out.requires_grad else [None] * len(wrt)
        )
    arrays = [np.zeros(inputs[k].data.size) if g is None else g.data.reshape(-1)
              for g, k in zip(plain, diff)]  # fmt: skip
    expected = np.concatenate(arrays)
    worst = int(np.argmax(np.abs(recorded - expected))) if expected.size else 0
    if expected.size and not np.allclose(recorded, expected, rtol=1e-9, atol=1e-12):
        raise GradcheckError(
            f"gradgradcheck: the recorded first gradient (create_graph=True) disagrees with "
            f"backward's at element {worst}: {recorded[worst]!r} vs {expected[worst]!r}; an "
            f"op's backward_graph does not match its backward"
        )
    return gradcheck(first_gradient, [*inputs, v], eps, atol, rtol, n_projections, seed)


def _cat(parts: list[Tensor]) -> Tensor:
    from minillm.functions import cat

    return cat(parts)


# --------------------------------------------------------------------------------------------------
# Hypothesis strategies
# --------------------------------------------------------------------------------------------------
def shapes(min_dims: int = 0, max_dims: int = 4, min_side: int = 1, max_side: int = 5) -> Any:
    """Strategy for array shapes, e.g. ``()``, ``(3,)``, ``(2, 1, 4)``."""
    from hypothesis.extra import numpy as hnp

    return hnp.array_shapes(
        min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side
    )


def broadcastable_shapes(
    num_shapes: int = 2, min_dims: int = 0, max_dims: int = 4, min_side: int = 1, max_side: int = 4
) -> Any:
    """Strategy for tuples of ``num_shapes`` shapes that broadcast together (NumPy rules)."""
    from hypothesis.extra import numpy as hnp

    return hnp.mutually_broadcastable_shapes(
        num_shapes=num_shapes,
        min_dims=min_dims,
        max_dims=max_dims,
        min_side=min_side,
        max_side=max_side,
    ).map(lambda bs: bs.input_shapes)


DOMAINS: dict[str, tuple[float, float]] = {
    "real": (-3.0, 3.0),
    "positive": (0.1, 3.0),  # log, sqrt, division by: keep away from the singularity at 0
    "unit": (-0.9, 0.9),
    "nonzero": (0.2, 3.0),  # magnitudes; the sign is drawn separately
}


def tensors(
    shape: Any = None,
    elements: str | Any = "real",
    dtype: Any = np.float64,
    requires_grad: bool = True,
    unique: bool = False,
) -> Any:
    """Strategy for Tensors of ``shape`` (a shape or a shape strategy; default ``shapes()``).

    ``elements`` is a domain name from ``DOMAINS`` ("real", "positive", "unit", "nonzero") or a
    Hypothesis strategy for the elements. Named domains draw from a grid of step 1e-3, so two
    elements are either equal or at least 1e-3 apart. Equal elements do occur (Hypothesis likes
    them); pass ``unique=True`` when an op has a kink where two elements tie (max, sort, ...), so
    that finite differences never straddle it.

    >>> from hypothesis import find
    >>> t = find(tensors((2, 3), "positive"), lambda t: True)
    >>> t.shape, t.dtype, bool((t.data > 0).all())
    ((2, 3), dtype('float64'), True)
    """
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp

    shape_st = (
        shapes()
        if shape is None
        else (st.just(tuple(shape)) if isinstance(shape, (tuple, list)) else shape)
    )
    if isinstance(elements, str):
        if elements not in DOMAINS:
            raise ValueError(f"tensors: unknown domain {elements!r}; choose from {sorted(DOMAINS)}")
        lo, hi = DOMAINS[elements]
        grid = st.integers(int(lo * 1000), int(hi * 1000)).map(lambda i: i / 1000.0)
        if elements == "nonzero":
            grid = st.tuples(grid, st.sampled_from([-1.0, 1.0])).map(lambda p: p[0] * p[1])
        elements = grid
    return shape_st.flatmap(
        lambda s: hnp.arrays(dtype, s, elements=elements, unique=unique).map(
            lambda a: Tensor(a, requires_grad=requires_grad)
        )
    )
