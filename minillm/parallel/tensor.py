"""Tensor parallelism (Megatron-LM, Shoeybi et al. 2019): one layer's matrices split over ranks.

What this module owns: the four collectives of tensor parallelism written as autograd Functions,
and the two split linear layers built on them. ``tensor_gpt.py`` applies them to a GPT
(``parallelize_gpt``) and saves/loads the unsplit checkpoint; ``minillm.parallel`` exports both.

The collectives (N ranks of ``group``; each is the other's derivative, read from left to right)::

    copy_to_parallel      f  forward y = x               backward dx = sum_r dy_r  (all-reduce)
    reduce_from_parallel  g  forward y = sum_r x_r       backward dx = dy           (all-reduce)
    gather_from_parallel     forward y = [x_0 | ...]     backward dx = dy[.., my slice]
    scatter_to_parallel      forward y = x[.., my slice] backward dx = [dy_0 | ...] (all-gather)

The layers. ``ColumnParallelLinear`` splits A's *output* features (rows of the (out, in) weight):
rank r computes Y_r = X A_r^T, its own columns of Y, from the whole X. ``RowParallelLinear`` splits
the *input* features: rank r multiplies its slice of X by its slice of B and the full output is the
sum of the partial products, Y = sum_r X_r B_r^T, one all-reduce. Put one after the other, as in a
transformer's MLP,

    Y = GeLU(X A^T) B^T = sum_r GeLU(X A_r^T) B_r^T       (GeLU acts elementwise, so on each slice)

the column layer's output slices are exactly the row layer's input slices: nothing is exchanged in
between, and the pair costs one all-reduce forward (g, after the row layer) and one backward (f,
before the column layer, summing each rank's part of dX). Attention splits the same way by heads.

Communication per transformer block (attention pair + MLP pair): 2 all-reduces of B*T*C values
forward and 2 backward (a ring all-reduce moves 2 (N-1)/N of them per rank), whatever the width of
the hidden layer or the number of heads. Every parameter's gradient needs no further exchange.

Read next: ``minillm/parallel/tensor_gpt.py`` (splitting a GPT), ``minillm/parallel/group.py``
(the collectives these wrap) and ``minillm/parallel/ddp.py`` (the other way to split the work).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from minillm import nn
from minillm.autograd import Context, Function
from minillm.nn import functional as F
from minillm.nn.parameter import Parameter
from minillm.parallel import group as dist
from minillm.tensor import Tensor


# ------------------------------------------------------------------------------ the group
def rank_and_size(group: Any = None) -> tuple[int, int]:
    """This process's rank in ``group`` and the group's size; (0, 1) with no process group."""
    rank, size = dist.rank_and_size(group)
    if rank < 0:
        raise ValueError(f"tensor parallel: this process is not a member of the group of "
                         f"{size} ranks it was given")  # fmt: skip
    return rank, size


def _all_reduce(x: np.ndarray, group: Any) -> np.ndarray:
    out = np.array(x, order="C")  # a copy: a Function's input array is never changed in place
    if rank_and_size(group)[1] > 1:
        dist.all_reduce(out, dist.ReduceOp.SUM, group=group)
    return out


def _all_gather_last(x: np.ndarray, group: Any) -> np.ndarray:
    size = rank_and_size(group)[1]
    if size == 1:
        return np.array(x)
    parts = [np.empty(x.shape, x.dtype) for _ in range(size)]
    dist.all_gather(parts, np.ascontiguousarray(x), group=group)
    return np.concatenate(parts, axis=-1)


def _my_slice_last(x: np.ndarray, group: Any, what: str) -> np.ndarray:
    rank, size = rank_and_size(group)
    n = x.shape[-1]
    if n % size:
        raise ValueError(f"{what}: the last dimension ({n}) is not divisible by the group size "
                         f"({size})")  # fmt: skip
    k = n // size
    return np.ascontiguousarray(x[..., rank * k : (rank + 1) * k])


# ------------------------------------------------------------------------------ the collectives
class CopyToParallel(Function):
    """Megatron's f, entering a parallel region: ``y = x``;  ``dx = sum over ranks of dy``."""

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, group: Any = None) -> np.ndarray:
        ctx.group = group
        return x.view()  # (a view, not a copy: the graph keeps it until backward)

    @staticmethod
    def backward(ctx: Context, g: np.ndarray) -> tuple[np.ndarray | None, ...]:
        return (_all_reduce(g, ctx.group) if ctx.needs_input_grad[0] else None,)


class ReduceFromParallel(Function):
    """Megatron's g, leaving a parallel region: ``y = sum over ranks of x (+ b)``;  ``dx = dy``
    (``db = dy``, summed back to b's shape by the engine).

    ``in_place=True`` sums into ``x`` itself and returns a view of it, as Megatron does: for a
    fresh partial product no op saved (``RowParallelLinear``'s), it saves a (B, T, C) array per
    layer that the graph would otherwise keep until backward; the bias is added in the same pass.
    The caller then bumps ``x``'s version (``RowParallelLinear.forward`` does), so that an op
    that had saved ``x`` raises at backward instead of using the changed values.
    """

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, *bias: np.ndarray, group: Any = None,
                in_place: bool = False) -> np.ndarray:  # fmt: skip
        ctx.with_bias = bool(bias)
        out = x if in_place and x.flags.c_contiguous else np.array(x, order="C")
        if rank_and_size(group)[1] > 1:
            dist.all_reduce(out, dist.ReduceOp.SUM, group=group)
        if bias:
            out += bias[0]
        return out.view() if out is x else out

    @staticmethod
    def backward(ctx: Context, g: np.ndarray) -> tuple[np.ndarray | None, ...]:
        return (g, g) if ctx.with_bias else (g,)


class GatherFromParallel(Function):
    """``y = concat(x_0, ..., x_{N-1})`` on the last axis;  ``dx = dy[..., my slice]``."""

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, group: Any = None) -> np.ndarray:
        ctx.group = group
        return _all_gather_last(x, group)

    @staticmethod
    def backward(ctx: Context, g: np.ndarray) -> tuple[np.ndarray | None, ...]:
        return (_my_slice_last(g, ctx.group, "gather_from_parallel"),)


class ScatterToParallel(Function):
    """``y = x[..., my slice]`` (rank r of N keeps the r-th of N equal parts of the last axis);
    ``dx = concat(dy_0, ..., dy_{N-1})``."""

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, group: Any = None) -> np.ndarray:
        ctx.group = group
        return _my_slice_last(x, group, "scatter_to_parallel")

    @staticmethod
    def backward(ctx: Context, g: np.ndarray) -> tuple[np.ndarray | None, ...]:
        return (_all_gather_last(g, ctx.group),)


def copy_to_parallel(x: Tensor, group: Any = None) -> Tensor:
    """Identity forward, all-reduce (sum) of the gradient backward: the input of a parallel region.

    >>> import minillm
    >>> copy_to_parallel(minillm.ones(2)).tolist()  # with no process group, a group of one
    [1.0, 1.0]
    """
    return CopyToParallel.apply(x, group=group)


def reduce_from_parallel(x: Tensor, group: Any = None) -> Tensor:
    """All-reduce (sum) forward, identity backward: the output of a parallel region.

    >>> import minillm
    >>> reduce_from_parallel(minillm.ones(2)).tolist()
    [1.0, 1.0]
    """
    return ReduceFromParallel.apply(x, group=group)


def gather_from_parallel(x: Tensor, group: Any = None) -> Tensor:
    """Every rank's ``x`` side by side on the last axis; backward keeps this rank's slice.

    >>> import minillm
    >>> gather_from_parallel(minillm.ones(1, 2)).shape
    (1, 2)
    """
    return GatherFromParallel.apply(x, group=group)


def scatter_to_parallel(x: Tensor, group: Any = None) -> Tensor:
    """This rank's equal slice of the last axis; backward gathers the slices' gradients.

    >>> import minillm
    >>> scatter_to_parallel(minillm.ones(1, 2)).shape
    (1, 2)
    """
    return ScatterToParallel.apply(x, group=group)


# ------------------------------------------------------------------------------ shard parameters
class _ShardParameter(Parameter):
    """A Parameter holding one rank's slice of a split weight: ``tensor_parallel_dim`` is the axis
    of the full tensor it was cut along (0: rows, 1: columns). Replicated ones lack it."""

    __slots__ = ("tensor_parallel_dim",)

    def __deepcopy__(self, memo: dict[int, Any]) -> _ShardParameter:
        out = _ShardParameter(self.data.copy(), requires_grad=self.requires_grad)
        out.tensor_parallel_dim = self.tensor_parallel_dim
        if self.grad is not None:
            out.grad = Tensor(self.grad.data.copy())
        memo[id(self)] = out
        return out

    def __reduce_ex__(self, protocol: Any) -> Any:
        return (_rebuild_shard, (self.data, self.requires_grad, self.tensor_parallel_dim))


def _rebuild_shard(data: np.ndarray, requires_grad: bool, dim: int) -> _ShardParameter:
    p = _ShardParameter(data, requires_grad=requires_grad)
    p.tensor_parallel_dim = dim
    return p


def _shard(array: np.ndarray, dim: int, requires_grad: bool = True) -> _ShardParameter:
    p = _ShardParameter(np.array(array), requires_grad)  # a copy, not a view of the full layer
    p.tensor_parallel_dim = dim
    return p


# ------------------------------------------------------------------------------ the layers
class _ParallelLinear(nn.Module):
    """What both split layers share: the group, and how a full array maps to this rank's shard.

    ``order`` (None: 0, 1, 2, ...) lists the full layer's split features in the order they are
    dealt out: rank r holds features ``order[r*k : (r+1)*k]``, k = features / N. A GPT's fused
    q, k, v projection uses it to give each rank the q, k and v rows of the same heads.
    """

    split_what = ""  # "out_features" or "in_features"

    def _setup(self, in_features: int, out_features: int, group: Any, order: Any) -> None:
        self.in_features, self.out_features, self.group = in_features, out_features, group
        self.rank, self.world_size = rank_and_size(group)
        n = out_features if self.split_what == "out_features" else in_features
        if n % self.world_size:
            raise ValueError(f"{type(self).__name__}: {self.split_what}={n} is not divisible by "
                             f"the tensor-parallel group size {self.world_size}")  # fmt: skip
        self.order = None if order is None else np.asarray(order, dtype=np.int64)
        if self.order is not None and sorted(self.order.tolist()) != list(range(n)):
            raise ValueError(f"{type(self).__name__}: order must be a permutation of "
                             f"range({n}), the {self.split_what}")  # fmt: skip

    def _indices(self, n: int) -> np.ndarray | slice:
        k = n // self.world_size
        if self.order is None:
            return slice(self.rank * k, (self.rank + 1) * k)
        return self.order[self.rank * k : (self.rank + 1) * k]

    def shard(self, full: np.ndarray, dim: int) -> np.ndarray:
        """This rank's part of ``full`` (laid out as the full layer's parameter) along ``dim``."""
        index = [slice(None)] * full.ndim
        index[dim] = self._indices(full.shape[dim])
        return np.array(full[tuple(index)])

    def unshard(self, local: np.ndarray, dim: int) -> np.ndarray:
        """The full array from every rank's ``local`` part (a collective: all-gather)."""
        parts = [np.empty(local.shape, local.dtype) for _ in range(self.world_size)]
        if self.world_size > 1:
            dist.all_gather(parts, np.ascontiguousarray(local), group=self.group)
        else:
            parts[0][...] = local
        dealt = np.concatenate(parts, axis=dim)  # dealt[j] = full[order[j]] along dim
        return dealt if self.order is None else np.take(dealt, np.argsort(self.order), axis=dim)

    def _take(self, linear: nn.Linear, dim: int) -> None:
        self.training = linear.training
        w, b = linear.weight, linear.bias
        self.weight = _shard(self.shard(w.data, dim), dim, w.requires_grad)
        if b is None:
            self.register_parameter("bias", None)
        elif dim == 0:
            self.bias = _shard(self.shard(b.data, 0), 0, b.requires_grad)
        else:  # replicated: added after the reduce
            self.bias = Parameter(b.data.copy(), requires_grad=b.requires_grad)

    @classmethod
    def _blank(cls, linear: nn.Linear) -> Any:
        if not isinstance(linear, nn.Linear):
            raise TypeError(f"{cls.__name__}.from_linear: expected an nn.Linear, got "
                            f"{type(linear).__name__}")  # fmt: skip
        layer = cls.__new__(cls)
        nn.Module.__init__(layer)  # not __init__: that would draw a fresh full layer
        return layer

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}, split={self.split_what}, "
                f"rank={self.rank}/{self.world_size}")  # fmt: skip


class ColumnParallelLinear(_ParallelLinear):
    """``y = x A^T + b`` with A's output features split: this rank holds rows A_r (out/N, in) and
    b_r, and computes its columns of y, ``y_r = f(x) A_r^T + b_r`` (f: ``copy_to_parallel``).

    Every rank draws the whole ``nn.Linear(in, out)`` and keeps its rows, so with the same seed on
    every rank the shards make up exactly the layer one process would have drawn.

    Args:
        in_features, out_features: the full layer's sizes (out_features divisible by the group's).
        bias: learn a bias (split like the rows).
        gather_output: all-gather the ranks' y_r into the full y (else return y_r, for a
            ``RowParallelLinear`` to take as its input).
        group: the tensor-parallel group (None: every process, or one with no process group).

    >>> import minillm
    >>> layer = ColumnParallelLinear(3, 4)  # no process group: a group of one holds all 4 rows
    >>> layer.weight.shape, layer.weight.tensor_parallel_dim, layer(minillm.ones(2, 3)).shape
    ((4, 3), 0, (2, 4))
    """

    split_what = "out_features"

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        gather_output: bool = False,
        group: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        self._setup(in_features, out_features, group, None)
        self.gather_output = gather_output
        self._take(nn.Linear(in_features, out_features, bias=bias, dtype=dtype), 0)

    @classmethod
    def from_linear(cls, linear: nn.Linear, group: Any = None, gather_output: bool = False,
                    order: Any = None) -> ColumnParallelLinear:  # fmt: skip
        """This rank's shard of an existing full ``linear``: the rows ``order[r*k:(r+1)*k]``
        (``order`` None: the r-th block of out/N rows)."""
        layer = cls._blank(linear)
        layer._setup(linear.in_features, linear.out_features, group, order)
        if gather_output and layer.order is not None:
            raise ValueError("ColumnParallelLinear: gather_output needs rows dealt out in order "
                             "(order=None): the gathered columns would be permuted")  # fmt: skip
        layer.gather_output = gather_output
        layer._take(linear, 0)
        return layer

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        y = F.linear(copy_to_parallel(input, self.group), self.weight, self.bias)  # (..., out/N)
        return gather_from_parallel(y, self.group) if self.gather_output else y


class RowParallelLinear(_ParallelLinear):
    """``y = x B^T + b`` with B's input features split: this rank holds columns B_r (out, in/N) and
    computes a partial product; the ranks' partial products sum to the full one,
    ``y = g(x_r B_r^T) + b`` (g: ``reduce_from_parallel``). The bias is whole on every rank and
    added once, after the sum.

    Args:
        in_features, out_features: the full layer's sizes (in_features divisible by the group's).
        bias: learn a (replicated) bias.
        input_is_parallel: the input is already this rank's slice x_r (a ``ColumnParallelLinear``'s
            output); else it is the full x and each rank keeps its slice (``scatter_to_parallel``).
        group: the tensor-parallel group (None: every process, or one with no process group).

    >>> import minillm
    >>> layer = RowParallelLinear(4, 3)
    >>> layer.weight.shape, layer.weight.tensor_parallel_dim, layer(minillm.ones(2, 4)).shape
    ((3, 4), 1, (2, 3))
    """

    split_what = "in_features"

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        input_is_parallel: bool = True,
        group: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        self._setup(in_features, out_features, group, None)
        self.input_is_parallel = input_is_parallel
        self._take(nn.Linear(in_features, out_features, bias=bias, dtype=dtype), 1)

    @classmethod
    def from_linear(cls, linear: nn.Linear, group: Any = None, input_is_parallel: bool = True,
                    order: Any = None) -> RowParallelLinear:  # fmt: skip
        """This rank's shard of an existing full ``linear``: the columns ``order[r*k:(r+1)*k]``
        (``order`` None: the r-th block of in/N columns)."""
        layer = cls._blank(linear)
        layer._setup(linear.in_features, linear.out_features, group, order)
        if not input_is_parallel and layer.order is not None:
            raise ValueError("RowParallelLinear: input_is_parallel=False needs columns dealt out "
                             "in order (order=None): the input is scattered in order")  # fmt: skip
        layer.input_is_parallel = input_is_parallel
        layer._take(linear, 1)
        return layer

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        x = input if self.input_is_parallel else scatter_to_parallel(input, self.group)
        partial = F.linear(x, self.weight)  # (..., out): this rank's share of the sum
        bias = () if self.bias is None else (self.bias,)
        # summed over the ranks in place, the bias added once: (..., out), whole on every rank
        out = ReduceFromParallel.apply(partial, *bias, group=self.group, in_place=True)
        partial._bump_version()  # it changed in place: an op that had saved it would now say so
        return out
