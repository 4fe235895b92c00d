"""``minillm train --parallel tensor|pipeline``: the run's GPT split across processes.

The layout of ``--nproc N --model-parallel K`` (K defaults to N): N / K copies of the model (data
parallel), each split over K consecutive ranks (tensor or pipeline parallel):

    rank = d * K + m          d: which copy (data rank, 0 .. N/K - 1)   m: which part (0 .. K - 1)
    N = 4, K = 2:             model groups {0, 1} {2, 3}     data groups {0, 2} {1, 3}

The K ranks of a model group read the same rows of every batch (``Ranks.windows`` cuts the batch
by data rank); the ranks of a data group hold the same part and average its gradients.

Every rank builds the whole GPT and its optimizer, exactly as one process would (same seed, or
``--resume``'s checkpoint), and then ``Split`` cuts both down to its part:

* **tensor**: ``parallelize_gpt`` (``minillm/parallel/tensor_gpt.py``) over the model group; the
  trainer's forward and backward are unchanged (the split layers talk inside them).
* **pipeline**: ``Pipe`` (``minillm/parallel/pipeline.py``), one stage per rank of the model
  group; the step's ``--grad-accum`` micro-batches are the pipeline's micro-batches, so a
  pipeline wants several (its bubble is (K - 1) / (grad_accum + K - 1) of the time).

The optimizer keeps its groups and options; each rank's holds its part of every parameter it has
(matched by name), with the moments cut the same way. The checkpoint stays the one-process
format: ``full_state`` gathers the parameters and the optimizer state back to whole arrays, so a
run saved with one layout resumes with any other, or in one process. Gradient clipping takes the
norm of the whole model (the parts' squares summed over the model group, replicated parameters
counted once).

Read next: ``minillm/training/distributed.py`` (the launcher and ``Ranks``) and
``minillm/parallel/tensor_gpt.py``, ``minillm/parallel/pipeline.py``.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import numpy as np

from minillm import optim
from minillm.parallel import group as dist
from minillm.tensor import Tensor

KINDS = ("data", "tensor", "pipeline")


@dataclasses.dataclass(frozen=True)
class Layout:
    """How the processes share the work: ``kind`` of model parallelism over ``model_parallel``
    ranks per copy of the model (1: plain data parallel), and ``schedule`` for a pipeline."""

    kind: str = "data"
    model_parallel: int = 1
    schedule: str = "1f1b"

    def check(self, nproc: int, cfg: Any) -> None:
        """Raise ValueError, naming the flags, unless this layout fits ``nproc`` and the model."""
        K = self.model_parallel
        if self.kind not in KINDS:
            raise ValueError(f"--parallel must be one of {', '.join(KINDS)}, got {self.kind!r}")
        if self.kind == "data":
            if K != 1:
                raise ValueError("--model-parallel needs --parallel tensor or pipeline")
            return
        if nproc % K or K < 2:
            raise ValueError(f"--model-parallel {K} must be at least 2 and divide --nproc "
                             f"{nproc} (the processes of one copy of the model)")  # fmt: skip
        if self.kind == "tensor" and (cfg.n_head % K or 4 * cfg.n_embd % K):
            raise ValueError(f"--parallel tensor over {K} processes splits the heads: "
                             f"--n-head {cfg.n_head} (and 4 x --n-embd) must be divisible by "
                             f"{K}")  # fmt: skip
        if self.kind == "pipeline" and cfg.n_layer < K:
            raise ValueError(f"--parallel pipeline over {K} processes needs at least {K} "
                             f"layers (one per stage), got --n-layer {cfg.n_layer}")  # fmt: skip
        if cfg.health_every:
            raise ValueError("--health-every looks at the whole model in one process; it does "
                             f"not work with --parallel {self.kind}")  # fmt: skip

    def note(self, cfg: Any) -> str | None:
        """A word about a layout that works but wastes most of its time, or None."""
        K, m = self.model_parallel, cfg.grad_accum
        if self.kind != "pipeline" or m >= 2 * K:
            return None
        idle = (K - 1) / (m + K - 1)
        return (f"note: a {K}-stage pipeline fed --grad-accum {m} micro-batch(es) leaves each "
                f"stage idle {idle:.0%} of the time; --grad-accum {4 * K} would make it "
                f"{(K - 1) / (5 * K - 1):.0%}")  # fmt: skip

    def describe(self, nproc: int) -> str:
        if self.kind == "data":
            return f"{nproc} data-parallel processes"
        copies = nproc // self.model_parallel
        what = f"{self.kind} parallel over {self.model_parallel}"
        if self.kind == "pipeline":
            what += f" ({self.schedule})"
        return what + (f" x {copies} data parallel" if copies > 1 else "")


def make_groups(rank: int, world: int, K: int) -> tuple[Any, Any]:
    """(this rank's model group, its data group: None when there is one copy); every rank makes
    every group, in one order."""
    model_groups = [dist.new_group(list(range(d * K, d * K + K))) for d in range(world // K)]
    if world == K:
        return model_groups[0], None
    data_groups = [dist.new_group(list(range(m, world, K))) for m in range(K)]
    return model_groups[rank // K], data_groups[rank % K]


class Split:
    """This rank's part of the model and of its optimizer, and the collectives that make the
    parts act as the whole (the gradient norm, the checkpoint)."""

    def __init__(self, model: Any, optimizer: optim.Optimizer, layout: Layout, ranks: Any,
                 micro_batches: int) -> None:  # fmt: skip
        self.kind, self.ranks = layout.kind, ranks  # (no reference to the whole model: it goes)
        full_names = {id(p): name for name, p in model.named_parameters()}
        self.groups = [[full_names[id(p)] for p in g["params"]] for g in optimizer.param_groups]
        self.names = [n for names in self.groups for n in names]  # the whole optimizer's order
        full_state = optimizer.state_dict()
        group = ranks.model_group
        if self.kind == "tensor":
            from minillm.parallel.tensor_gpt import parallelize_gpt

            self.module = parallelize_gpt(model, group)
        else:
            from minillm.parallel.pipeline import Pipe

            self.module = Pipe(model, group, micro_batches=micro_batches,
                               schedule=layout.schedule)  # fmt: skip
        self.params = dict(self.module.named_parameters())
        self.optimizer = self._local_optimizer(optimizer, full_state)

    # ------------------------------------------------------------------ the optimizer
    def _local_optimizer(self, full: optim.Optimizer, state: dict) -> optim.Optimizer:
        """The same optimizer over this rank's parameters, its state cut to their shapes."""
        groups, local_state, index = [], {}, 0
        for names, options in zip(self.groups, state["param_groups"]):
            mine = [n for n in names if n in self.params]
            groups.append({**{k: v for k, v in options.items() if k != "params"},
                           "params": [self.params[n] for n in mine]})  # fmt: skip
            for n in mine:
                saved = state["state"].get(self.names.index(n))
                if saved is not None:
                    local_state[index] = {k: self._cut(n, v) for k, v in saved.items()}
                index += 1
        local = type(full)(groups)  # (every group names all its options)
        local.defaults = dict(full.defaults)
        packed = local.state_dict()
        packed["state"] = local_state
        local.load_state_dict(packed)
        return local

    def _cut(self, name: str, value: Any) -> Any:
        """This rank's part of one optimizer-state value of parameter ``name``."""
        array = value.data if isinstance(value, Tensor) else value
        if self.kind != "tensor" or not isinstance(array, np.ndarray) or array.ndim == 0:
            return value
        from minillm.parallel.tensor_gpt import shard_array

        return Tensor(np.array(shard_array(self.module, name, array, self.ranks.model_group)))

    # ------------------------------------------------------------------ the step
    def clip_grad_norm_(self, max_norm: float) -> float:
        """Clip by the norm of the whole model's gradient (collective over the model group)."""
        if self.kind == "pipeline":
            return self.module.clip_grad_norm_(max_norm)
        from minillm.parallel.ddp import clip_grad_norm_

        first = self.ranks.model_rank == 0  # replicated parameters count on one rank only
        counted, others = [], []
        for p in self.params.values():
            (counted if first or hasattr(p, "tensor_parallel_dim") else others).append(p)
        return clip_grad_norm_(counted, others, max_norm, self.ranks.model_group)

    def average_gradients(self) -> None:
        """Data parallel across the copies: average each part's gradients over its data group."""
        if self.ranks.data_size > 1:
            from minillm.parallel.ddp import all_reduce_gradients

            all_reduce_gradients(self.params.values(), self.ranks.data_group)

    # ------------------------------------------------------------------ the checkpoint
    def full_state(self) -> tuple[dict[str, Tensor], dict[str, Any]]:
        """The whole model's state dict and the whole optimizer's, on every rank of the model
        group (collective): what one process would save."""
        if self.kind == "tensor":
            from minillm.parallel.tensor_gpt import full_state_dict

            model = full_state_dict(self.module, self.ranks.model_group)
        else:
            model = self.module.full_state_dict()
        local = self.optimizer.state_dict()
        mine = [n for n in self.names if n in self.params]  # the local optimizer's order
        local_index = {n: i for i, n in enumerate(mine)}
        state = {}
        for i, name in enumerate(self.names):
            saved = local["state"].get(local_index[name]) if name in local_index else None
            state[i] = self._whole(name, saved)
        groups = [{**{k: v for k, v in g.items() if k != "params"}, "params": []}
                  for g in local["param_groups"]]  # fmt: skip
        i = 0
        for g, names in zip(groups, self.groups):
            g["params"] = list(range(i, i + len(names)))
            i += len(names)
        optimizer = {"state": {k: v for k, v in state.items() if v}, "param_groups": groups}
        return {n: Tensor(a) for n, a in model.items()}, optimizer

    def _whole(self, name: str, saved: dict | None) -> dict:
        """Parameter ``name``'s optimizer state, whole (collective: every rank calls it)."""
        if self.kind == "tensor":
            from minillm.parallel.tensor_gpt import unshard_array

            return {k: Tensor(np.array(unshard_array(self.module, name, v.data,
                                                     self.ranks.model_group)))
                    if isinstance(v, Tensor) else v for k, v in (saved or {}).items()}  # fmt: skip
        # a pipeline: the owning stage has it, and says first which keys, and of what kind
        owner = self.module.owner(name) == self.ranks.model_rank
        kinds = {k: type(v).__name__ for k, v in (saved or {}).items()} if owner else None
        told = None if kinds is None else np.frombuffer(json.dumps(kinds).encode(), np.uint8)
        kinds = json.loads(self.module.unshard_array(name, told).tobytes())
        whole = {}
        for k, kind in kinds.items():
            value = np.asarray(getattr(saved[k], "data", saved[k])) if owner else None
            out = self.module.unshard_array(name, value)
            whole[k] = Tensor(out) if kind == "Tensor" else out if kind == "ndarray" else out.item()
        return whole


class Frozen:
    """A state dict behind ``state_dict()``, for ``io.save_checkpoint``."""

    def __init__(self, state: Any) -> None:
        self.state = state

    def state_dict(self) -> Any:
        return self.state
