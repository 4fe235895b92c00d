"""Matrix products: ``matmul`` with NumPy's semantics (1-D vectors, 2-D matrices, broadcast
batches), the fused ``Linear``, and ``einsum`` for the common subscripts.

    Y = A B,   dA = G B^T,   dB = A^T G

A 1-D first operand is treated as a row (1, K) and a 1-D second operand as a column (K, 1); the
added axis is removed from the result, so backward adds it back to G before the two products and
removes it again. Batch axes broadcast, and the engine sums the gradients back over them. The
products themselves are BLAS calls: nothing here is worth a Numba kernel.

Read next: ``minillm/tensor.py``, where these primitives become Tensor methods.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from minillm.autograd import Context, Function

if TYPE_CHECKING:
    from minillm.tensor import Tensor

Grads = tuple[np.ndarray | None, ...]
TensorGrads = tuple["Tensor | None", ...]


class MatMul(Function):
    """Y = A @ B;  dA = G @ B^T,  dB = A^T @ G (with 1-D operands promoted, then squeezed back)."""

    @staticmethod
    def forward(ctx: Context, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        if a.ndim == 0 or b.ndim == 0:
            raise ValueError(
                f"matmul: both operands need at least 1 dimension, got {a.shape} and {b.shape}"
            )
        k_a, k_b = a.shape[-1], b.shape[-2] if b.ndim > 1 else b.shape[0]
        if k_a != k_b:
            raise ValueError(
                f"matmul: shapes {a.shape} and {b.shape} do not align: the last axis of the first "
                f"({k_a}) must equal the {'second-to-last' if b.ndim > 1 else 'only'} axis of the "
                f"second ({k_b})"
            )
        ctx.save_for_backward(a, b)
        if b.ndim == 2 and a.ndim > 2:  # rows of any batch shape times one matrix: one GEMM
            return (a.reshape(-1, k_a) @ b).reshape(*a.shape[:-1], b.shape[1])
        try:
            return np.matmul(a, b)
        except ValueError:
            raise ValueError(
                f"matmul: batch shapes of {a.shape} and {b.shape} do not broadcast"
            ) from None

    @staticmethod
    def backward(ctx: Context, g: np.ndarray) -> Grads:
        a, b = ctx.saved_tensors
        if b.ndim == 2 and a.ndim > 2:
            return MatMul._backward_rows(ctx, a, b, g)
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        # Put back the axes the 1-D promotion removed from G: the column axis first, so that for
        # 1-D @ 1-D (G a scalar) the row axis has an axis to sit before.
        g2 = g
        if b.ndim == 1:
            g2 = np.expand_dims(g2, -1)
        if a.ndim == 1:
            g2 = np.expand_dims(g2, -2)
        ga = gb = None
        if ctx.needs_input_grad[0]:
            ga = g2 @ np.swapaxes(b2, -1, -2)
            if a.ndim == 1:
                ga = ga[..., 0, :]
        if ctx.needs_input_grad[1]:
            gb = np.swapaxes(a2, -1, -2) @ g2
            if b.ndim == 1:
                gb = gb[..., :, 0]
        return ga, gb

    @staticmethod
    def _backward_rows(ctx: Context, a: np.ndarray, b: np.ndarray, g: np.ndarray) -> Grads:
        """A (..., K) @ B (K, N) as one (M, K) @ (K, N) product: the case of every Linear layer.

        NumPy runs a batched ``matmul`` as one small GEMM per batch entry, many times slower than
        one GEMM over all rows; and dB = A^T G over the flattened rows is already the sum over the
        batch that the engine would otherwise compute.
        """
        K, N = b.shape
        g2 = g.reshape(-1, N)
        ga = (g2 @ b.T).reshape(a.shape) if ctx.needs_input_grad[0] else None
        gb = a.reshape(-1, K).T @ g2 if ctx.needs_input_grad[1] else None
        return ga, gb

    @staticmethod
    def backward_graph(ctx: Context, g: Tensor, out: Tensor) -> TensorGrads:
        a, b = ctx.parents
        a2 = a.unsqueeze(0) if a.ndim == 1 else a
        b2 = b.unsqueeze(-1) if b.ndim == 1 else b
        g2 = g.unsqueeze(-1) if b.ndim == 1 else g
        g2 = g2.unsqueeze(-2) if a.ndim == 1 else g2
        ga = g2 @ b2.transpose(-1, -2)  # batch axes broadcast; the engine sums them back
        gb = a2.transpose(-1, -2) @ g2
        return (ga[..., 0, :] if a.ndim == 1 else ga), (gb[..., :, 0] if b.ndim == 1 else gb)


class Linear(Function):
    """y = x W^T + b over the last axis of x, with W (out, in) as PyTorch stores it.

    dx = G W,  dW = G^T x,  db = sum of G over all rows. One fused op instead of matmul + add:
    the bias is added in place into the product's fresh buffer, and each product is one GEMM.
    """

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, w: np.ndarray, *bias: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(x, w)
        ctx.has_bias = bool(bias)
        y = x.reshape(-1, w.shape[1]) @ w.T  # (rows, out)
        if bias:
            y += bias[0]
        return y.reshape(*x.shape[:-1], w.shape[0])

    @staticmethod
    def backward(ctx: Context, g: np.ndarray) -> Grads:
        x, w = ctx.saved_tensors
        need = ctx.needs_input_grad
        g2 = g.reshape(-1, w.shape[0])  # (rows, out)
        gx = (g2 @ w).reshape(x.shape) if need[0] else None
        gw = g2.T @ x.reshape(-1, w.shape[1]) if need[1] else None
        if not ctx.has_bias:
            return gx, gw
        return gx, gw, (g2.sum(axis=0) if need[2] else None)

    @staticmethod
    def backward_graph(ctx: Context, g: Tensor, out: Tensor) -> TensorGrads:
        x, w = ctx.parents[:2]
        g2 = g.reshape(-1, w.shape[0])
        gw = g2.transpose(0, 1) @ x.reshape(-1, w.shape[1])
        return (g @ w, gw, g2.sum(axis=0))[: len(ctx.parents)]


def parse_einsum(
    equation: str, shapes: list[tuple[int, ...]]
) -> tuple[list[str], str, list[tuple[int, ...]]]:
    """``"ij,jk->ik"`` for operands of ``shapes`` as (["ij", "jk"], "ik", shapes).

    Without ``->`` the output is every letter used once, in alphabetical order (NumPy's and
    PyTorch's implicit mode). ``...`` is named by capital letters the equation does not use,
    right-aligned as in NumPy (an operand with fewer batch axes takes the last ones); the third
    result is the shape each operand must be broadcast to so that every letter has one size.
    """
    eq = equation.replace(" ", "")
    lhs, arrow, out = eq.partition("->")
    subs = lhs.split(",")
    if len(subs) != len(shapes):
        raise ValueError(
            f"einsum: {equation!r} names {len(subs)} operands, but {len(shapes)} were given"
        )
    counts = [len(shape) - len(sub) + 3 if "..." in sub else 0 for sub, shape in zip(subs, shapes)]
    for sub, shape, k in zip(subs, shapes, counts):
        if k < 0:
            raise ValueError(f"einsum: operand {sub!r} names more axes than its shape {shape}")
    n = max(counts)
    batch_letters = "".join([c for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ" if c not in eq][:n])
    batch_parts = []  # each operand's batch axes, to broadcast together
    for sub, shape, k in zip(subs, shapes, counts):
        if k > 0:
            at = sub.index("...")
            batch_parts.append(shape[at : at + k])
    batch = np.broadcast_shapes(*batch_parts)
    targets = []
    for i, (sub, shape, k) in enumerate(zip(subs, shapes, counts)):
        if "..." in sub:
            at = sub.index("...")
            shape = shape[:at] + batch[n - k :] + shape[at + k :]
            subs[i] = sub = sub.replace("...", batch_letters[n - k :], 1)
        if len(sub) != len(shape):
            raise ValueError(f"einsum: operand {sub!r} has {len(sub)} letters but shape {shape}")
        targets.append(shape)
    if arrow:
        out = out.replace("...", batch_letters)
    else:
        letters = "".join(subs)
        once = sorted(c for c in set(letters) if c not in batch_letters and letters.count(c) == 1)
        out = batch_letters + "".join(once)
    for sub in [*subs, out]:
        if (sub and not sub.isalpha()) or len(set(sub)) != len(sub):
            raise ValueError(
                f"einsum: {sub!r} in {equation!r} repeats a letter or uses a non-letter "
                "(traces like 'ii->' are not supported)"
            )
    missing = set(out) - set("".join(subs))
    if missing:
        raise ValueError(f"einsum: output letters {sorted(missing)} appear in no operand")
    return subs, out, targets


class Einsum(Function):
    """y = einsum(equation, *operands);  the gradient of operand i is an einsum too: the output
    gradient with the other operands, contracted back to operand i's letters; letters summed
    away in operand i alone come back by broadcasting (their derivative is 1 everywhere)."""

    @staticmethod
    def forward(ctx: Context, *operands: np.ndarray, subs: list[str], out: str) -> np.ndarray:
        ctx.save_for_backward(*operands)
        ctx.subs, ctx.out = subs, out
        try:
            return np.einsum(",".join(subs) + "->" + out, *operands, optimize=True)
        except ValueError as e:
            shapes = ", ".join(str(o.shape) for o in operands)
            raise ValueError(
                f"einsum: {','.join(subs)}->{out} does not fit {shapes} ({e})"
            ) from None

    @staticmethod
    def backward(ctx: Context, g: np.ndarray) -> Grads:
        ops, subs, out = ctx.saved_tensors, ctx.subs, ctx.out
        grads = []
        for i, (a, sub) in enumerate(zip(ops, subs)):
            if not ctx.needs_input_grad[i]:
                grads.append(None)
                continue
            others = [(o, s) for j, (o, s) in enumerate(zip(ops, subs)) if j != i]
            seen = set(out).union(*[set(s) for _, s in others])
            kept = "".join(c for c in sub if c in seen)
            eq = ",".join([out, *[s for _, s in others]]) + "->" + kept
            gi = np.einsum(eq, g, *[o for o, _ in others], optimize=True)
            gi = gi.reshape([a.shape[k] if c in seen else 1 for k, c in enumerate(sub)])
            grads.append(np.broadcast_to(gi, a.shape))
        return tuple(grads)

    @staticmethod
    def backward_graph(ctx: Context, g: Tensor, out: Tensor) -> TensorGrads:
        ops, subs, out_sub = ctx.parents, ctx.subs, ctx.out
        grads = []
        for i, (a, sub) in enumerate(zip(ops, subs)):
            others = [(o, s) for j, (o, s) in enumerate(zip(ops, subs)) if j != i]
            seen = set(out_sub).union(*[set(s) for _, s in others])
            kept = "".join(c for c in sub if c in seen)
            subs_i = [out_sub, *[s for _, s in others]]
            gi = Einsum.apply(g, *[o for o, _ in others], subs=subs_i, out=kept)
            gi = gi.reshape([a.shape[k] if c in seen else 1 for k, c in enumerate(sub)])
            grads.append(gi.expand(a.shape))
        return tuple(grads)
