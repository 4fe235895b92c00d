"""Pipeline parallelism: a GPT's blocks cut into p stages, one per process, fed micro-batches.

``Pipe(model, micro_batches=m, schedule=...)`` keeps on group rank s only stage s's modules:
stage 0 the embeddings (wte, wpe, drop) and its first blocks, the middle stages their blocks, the
last stage its blocks, ln_f and lm_head (and the loss); blocks are split contiguously (``balance``).
Parameters keep their GPT names (``transformer.h.3.attn.c_attn.weight``). A batch is cut into m
micro-batches; a stage's output activation (B/m, T, C) goes to the next stage with ``send``, and
in backward the gradient of that activation comes back (``recv`` into a leaf tensor that
requires grad, ``out.backward(grad)``, and the leaf's ``.grad`` is sent on upstream). Each
micro-batch moves B/m * T * C numbers across each stage boundary in each direction.

Two schedules (p = 4, m = 4, forward and backward one unit each; ``.`` idle, from ``simulate``):

    GPipe (Huang et al. 2019): all forwards, then all backwards
        stage 0 |F0 F1 F2 F3 ..................B0 B1 B2 B3 |
        stage 1 |...F0 F1 F2 F3 ............B0 B1 B2 B3 ...|
        stage 2 |......F0 F1 F2 F3 ......B0 B1 B2 B3 ......|
        stage 3 |.........F0 F1 F2 F3 B0 B1 B2 B3 .........|
    1F1B (PipeDream-Flush, Narayanan et al. 2021; Megatron-LM's non-interleaved schedule):
    min(p - s - 1, m) warm-up forwards, then one forward and one backward in turn, then the rest
        stage 0 |F0 F1 F2 F3 .........B0 ...B1 ...B2 ...B3 |
        stage 1 |...F0 F1 F2 ......B0 F3 B1 ...B2 ...B3 ...|
        stage 2 |......F0 F1 ...B0 F2 B1 F3 B2 ...B3 ......|
        stage 3 |.........F0 B0 F1 B1 F2 B2 F3 B3 .........|

Both take (m + p - 1) units of forward + backward, so both waste the same bubble,
(p - 1) / (m + p - 1) of the stage-time (``minillm/parallel/timeline.py``): more micro-batches
shrink it. The difference is memory: a stage must keep a micro-batch's activations from its
forward until its backward. GPipe holds all m at once; 1F1B starts each backward as soon as it
can, so stage s never holds more than p - s (``pipe.peak_in_flight``), however large m grows.
That is what lets m grow to shrink the bubble.

The token embedding is used twice (wte by stage 0, and as lm_head by the last stage: weight
tying). Each of the two stages holds a copy; after backward they add their gradients
(Megatron's "embedding group", here one send/recv exchange), so both copies take the same step.
Gradients equal the unsplit model's: each micro-batch's loss is weighted by its share of the
batch's (non-ignored) targets, 1/m when none is ignored, so the local gradients add up to the
gradient of the full batch's mean loss.

1F1B's messages are ordered so that they could not deadlock even if a send waited for its
receiver: stage s sends an activation, then receives a gradient; s + 1 receives, then sends.

Read next: ``minillm/parallel/timeline.py`` (the events, the bubble, the pictures),
``minillm/parallel/group.py`` (``send``/``recv``) and ``minillm/models/gpt.py`` (the model cut).
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

import minillm
from minillm import nn
from minillm.autograd import no_grad
from minillm.nn import functional as F
from minillm.parallel import group as dist
from minillm.parallel.ddp import clip_grad_norm_
from minillm.parallel.timeline import Event
from minillm.tensor import Tensor

SCHEDULES = ("gpipe", "1f1b")
# the tied wte's gradient goes to the other stage in pieces of this size (a mailbox holds one)
TIED_PIECE_BYTES = 1 << 20


def schedule_order(schedule: str, stages: int, stage: int, micro_batches: int) -> list:
    """The ops stage ``stage`` runs, in order: ``("F", i)`` and ``("B", i)``.

    >>> schedule_order("1f1b", 4, 1, 4)
    [('F', 0), ('F', 1), ('F', 2), ('B', 0), ('F', 3), ('B', 1), ('B', 2), ('B', 3)]
    """
    m = micro_batches
    if schedule == "gpipe":
        return [("F", i) for i in range(m)] + [("B", i) for i in range(m)]
    if schedule != "1f1b":
        raise ValueError(f"schedule must be one of {SCHEDULES}, got {schedule!r}")
    warm = min(stages - stage - 1, m)
    steady = [op for j in range(m - warm) for op in (("F", warm + j), ("B", j))]
    return [("F", i) for i in range(warm)] + steady + [("B", j) for j in range(m - warm, m)]


def _balance(n_layer: int, p: int, balance: Any) -> list[int]:
    if n_layer < p:
        raise ValueError(f"Pipe: the GPT has n_layer={n_layer} blocks, fewer than the {p} stages; "
                         "every stage needs at least one block (use fewer processes)")  # fmt: skip
    if balance is None:  # as even as possible, the first stages one more
        return [n_layer // p + (s < n_layer % p) for s in range(p)]
    counts = list(balance)
    if (len(counts) != p or any(isinstance(c, bool) or not isinstance(c, int) or c < 1
                                for c in counts) or sum(counts) != n_layer):  # fmt: skip
        raise ValueError(f"Pipe: balance must list {p} block counts >= 1 (one per stage) that sum "
                         f"to n_layer={n_layer}, got {balance!r}")  # fmt: skip
    return counts


def _array(x: Any) -> np.ndarray:
    return x.data if isinstance(x, Tensor) else np.asarray(x)


class Pipe(nn.Module):
    """Stage ``get_rank(group)`` of a GPT cut into ``get_world_size(group)`` pipeline stages.

    Args:
        model: a ``minillm.models.gpt.GPT``, the same (same seed or weights) on every rank. The
            Pipe keeps only this stage's modules and no reference to ``model``: build it as
            ``Pipe(GPT(cfg))`` (or ``del model``) so the other stages' weights are freed.
        group: the process group of the stages (None: the world); stage s is its rank s.
        micro_batches: m, how many pieces ``train_step`` cuts a batch into.
        schedule: "1f1b" or "gpipe".
        balance: blocks per stage (a list of p counts >= 1); default as even as possible.

    Every rank calls ``train_step(x, y)`` with the same batch; stage 0 reads x, the last stage y.
    With one process (no process group, or a group of one) the Pipe holds the whole model.

    >>> import math, minillm
    >>> from minillm.models.gpt import GPT, GPTConfig
    >>> _ = minillm.manual_seed(0)
    >>> pipe = Pipe(GPT(GPTConfig(vocab_size=16, block_size=8, n_layer=2, n_head=2, n_embd=8)))
    >>> x = minillm.randint(0, 16, (4, 8))
    >>> loss = pipe.train_step(x, x)  # one process: the whole model, 4 micro-batches
    >>> abs(loss - math.log(16)) < 0.2, len(pipe.timeline), pipe.peak_in_flight
    (True, 8, 1)
    """

    def __init__(self, model: Any, group: Any = None, micro_batches: int = 4,
                 schedule: str = "1f1b", balance: list[int] | None = None) -> None:  # fmt: skip
        super().__init__()
        if not hasattr(model, "transformer") or not hasattr(model, "lm_head"):
            raise TypeError(f"Pipe: expected a minillm GPT, got {type(model).__name__}")
        if schedule not in SCHEDULES:
            raise ValueError(f"Pipe: schedule must be one of {SCHEDULES}, got {schedule!r}")
        if type(micro_batches) is not int or micro_batches < 1:
            raise ValueError(f"Pipe: micro_batches must be an integer >= 1, got {micro_batches!r}")
        self.group = group
        self.stage = dist.rank_and_size(group)[0]
        self.ranks = dist.get_process_group_ranks(group) if dist.is_initialized() else [0]
        if self.stage < 0:
            raise ValueError(f"Pipe: this rank is not a member of the group {self.ranks}")
        self.num_stages = p = len(self.ranks)
        self.micro_batches, self.schedule = micro_batches, schedule
        self.config = model.config
        self.balance = _balance(self.config.n_layer, p, balance)
        starts = np.cumsum([0, *self.balance])
        self.layers = range(int(starts[self.stage]), int(starts[self.stage + 1]))
        self._stage_of = np.repeat(np.arange(p), self.balance)  # block index -> its stage
        self.is_first, self.is_last = self.stage == 0, self.stage == p - 1
        self._layout = [(k, v.shape, v.dtype) for k, v in model.state_dict().items()]
        tr = model.transformer
        self.tied = model.lm_head.weight is tr.wte.weight
        keep: dict[str, nn.Module] = {}
        if self.is_first:
            keep.update(wte=tr.wte, wpe=tr.wpe, drop=tr.drop)
        keep["h"] = nn.ModuleDict({str(i): tr.h[i] for i in self.layers})
        if self.is_last:  # wte: the tied head's weight lives there
            keep.update(dict(wte=tr.wte) if self.tied else {}, ln_f=tr.ln_f)
        self.transformer = nn.ModuleDict(keep)
        if self.is_last:
            self.lm_head = model.lm_head  # (its weight is wte's: tied, as in the GPT)
        # the last stage's copy of wte, which a global gradient norm must not count twice
        last_copy = self.tied and self.is_last and p > 1
        self.tied_copies = frozenset({"transformer.wte.weight"} if last_copy else ())
        self.dtype = tr.h[0].ln_1.weight.data.dtype
        self.timeline: list[Event] = []
        self.peak_in_flight = 0

    # ------------------------------------------------------------------ this stage's math
    def _embed(self, idx: np.ndarray) -> Tensor:
        T = idx.shape[1]
        if self.config.block_size < T:
            raise ValueError(f"Pipe: sequence length {T} exceeds block_size "
                             f"{self.config.block_size}")  # fmt: skip
        tr = self.transformer
        tok_emb = tr.wte(minillm.from_numpy(idx))  # (B, T, C)
        pos_emb = tr.wpe(minillm.arange(T))  # (T, C)
        return tr.drop(tok_emb + pos_emb)  # (B, T, C)

    def _stage_forward(self, x: Tensor) -> Tensor:
        for block in self.transformer.h.values():
            x = block(x)  # (B, T, C)
        return x

    def _head(self, x: Tensor) -> Tensor:
        return self.lm_head(self.transformer.ln_f(x))  # (B, T, V)

    @staticmethod
    def _loss(logits: Tensor, targets: np.ndarray) -> Tensor:
        B, T, V = logits.shape
        flat = minillm.from_numpy(targets.reshape(B * T))
        return F.cross_entropy(logits.reshape(B * T, V), flat, ignore_index=-1)

    def forward(self, idx: Any, targets: Any = None) -> tuple[Tensor, Tensor | None]:
        """With one stage, the GPT's forward; with more, use train_step/evaluate/forward_logits."""
        if self.num_stages > 1:
            raise RuntimeError("Pipe: a model cut into stages has no single forward: call "
                               "train_step, evaluate or forward_logits on every rank")  # fmt: skip
        logits = self._head(self._stage_forward(self._embed(_array(idx))))
        return logits, None if targets is None else self._loss(logits, _array(targets))

    # ------------------------------------------------------------------ messages
    def _recv_forward(self, shape: tuple[int, ...]) -> Tensor | None:
        """The previous stage's activation, as a leaf that requires grad (None on stage 0)."""
        if self.is_first:
            return None
        buf = np.empty(shape, self.dtype)  # (B/m, T, C)
        dist.recv(buf, self.ranks[self.stage - 1], group=self.group)
        return Tensor(buf, requires_grad=True)

    def _send_forward(self, out: Tensor | None) -> None:
        if not self.is_last:
            dist.send(out.data, self.ranks[self.stage + 1], group=self.group)

    def _recv_backward(self, shape: tuple[int, ...]) -> np.ndarray | None:
        if self.is_last:
            return None
        buf = np.empty(shape, self.dtype)  # d loss / d (this stage's output)
        dist.recv(buf, self.ranks[self.stage + 1], group=self.group)
        return buf

    def _send_backward(self, grad: np.ndarray | None) -> None:
        if not self.is_first:
            dist.send(grad, self.ranks[self.stage - 1], group=self.group)

    # ------------------------------------------------------------------ one micro-batch
    def _forward_micro(self, i: int, leaf: Tensor | None) -> Tensor | None:
        """Forward of micro-batch i; keeps what backward needs; returns the activation to send."""
        start = time.perf_counter()
        x = self._embed(self._x[i]) if self.is_first else leaf
        out = self._stage_forward(x)
        if self.is_last:
            logits = self._head(out)  # (B/m, T, V)
            if self._y is None:  # forward_logits
                self._logits.append(logits)
                return None
            loss = self._loss(logits, self._y[i])
            self._losses[i] = float(loss.item()) * self._weights[i]
            out = loss * float(self._weights[i])
        if minillm.is_grad_enabled():
            self._saved[i] = (leaf, out)  # what backward needs: the input leaf, the output
            self.peak_in_flight = max(self.peak_in_flight, len(self._saved))
        self.timeline.append(Event(self.stage, i, "F", start, time.perf_counter()))
        return None if self.is_last else out

    def _backward_micro(self, i: int, grad: np.ndarray | None) -> np.ndarray | None:
        """Backward of micro-batch i from the gradient of its output; returns the input's."""
        start = time.perf_counter()
        leaf, out = self._saved.pop(i)
        out.backward(grad)  # the last stage's out is its weighted loss: grad None
        dx = None if leaf is None else leaf.grad.data
        self.timeline.append(Event(self.stage, i, "B", start, time.perf_counter()))
        return dx

    # ------------------------------------------------------------------ schedules
    def _run_gpipe(self, shape: tuple[int, ...]) -> None:
        m = self.micro_batches
        for i in range(m):
            self._send_forward(self._forward_micro(i, self._recv_forward(shape)))
        for i in range(m):
            self._send_backward(self._backward_micro(i, self._recv_backward(shape)))

    def _run_1f1b(self, shape: tuple[int, ...]) -> None:
        m = self.micro_batches
        warm = min(self.num_stages - self.stage - 1, m)
        for i in range(warm):
            self._send_forward(self._forward_micro(i, self._recv_forward(shape)))
        leaf = self._recv_forward(shape) if warm < m else None
        for j in range(m - warm):
            out = self._forward_micro(warm + j, leaf)
            self._send_forward(out)  # send, then receive (the next stage receives, then sends)
            dx = self._backward_micro(j, self._recv_backward(shape))
            if j < m - warm - 1:
                leaf = self._recv_forward(shape)  # receive, then send (the mirror of the above)
            self._send_backward(dx)
        for j in range(m - warm, m):
            self._send_backward(self._backward_micro(j, self._recv_backward(shape)))

    # ------------------------------------------------------------------ public steps
    def _prepare(self, x: Any, y: Any, m: int | None = None) -> tuple[int, ...]:
        """Cut the batch into ``m`` micro-batches (default: ``micro_batches``)."""
        x = _array(x)
        if x.ndim != 2:
            raise ValueError(f"Pipe: x must be token ids (B, T), got shape {x.shape}")
        B, T = x.shape
        m = self.micro_batches if m is None else m
        if B % m:
            raise ValueError(f"Pipe: batch size {B} is not divisible by micro_batches={m}; use a "
                             f"batch that is a multiple of {m}")  # fmt: skip
        self._x = np.split(x, m) if self.is_first else [None] * m
        self._y, self._logits = None, []
        if self.is_last and y is not None:
            y = _array(y)
            self._y = np.split(y, m)
            counts = np.array([(t != -1).sum() for t in self._y], dtype=np.float64)
            total = counts.sum()
            self._weights = counts / total if total > 0 else np.full(m, 1.0 / m)
        self._saved: dict[int, tuple] = {}
        self._losses = np.zeros(m)
        self.timeline = []
        self.peak_in_flight = 0
        return (B // m, T, self.config.n_embd)

    def _shared_loss(self) -> float:
        loss = np.array([self._losses.sum() if self.is_last else 0.0])
        if self.num_stages > 1:
            dist.broadcast(loss, self.ranks[self.num_stages - 1], group=self.group)
        return float(loss[0])

    def train_step(self, x: Any, y: Any) -> float:
        """Forward and backward of the batch ``(x, y)`` (both (B, T) token ids) in m
        micro-batches on the schedule; gradients accumulate into this stage's ``.grad`` (the
        caller zeroes, clips and steps). Returns the batch's mean loss, on every stage."""
        if y is None:
            raise ValueError("Pipe.train_step: needs targets y (B, T) on every rank")
        shape = self._prepare(x, y)
        tied = self.tied and "wte" in self.transformer and self.num_stages > 1
        wte = self.transformer.wte.weight if tied else None
        before = None if wte is None or wte.grad is None else wte.grad.data.copy()
        (self._run_gpipe if self.schedule == "gpipe" else self._run_1f1b)(shape)
        if wte is not None:
            self._sum_tied_gradients(wte, before)
        return self._shared_loss()

    def _sum_tied_gradients(self, wte: nn.Parameter, before: np.ndarray | None) -> None:
        """Stage 0's and the last stage's copies of wte add what this step added to each, in
        pieces that fit a mailbox (``TIED_PIECE_BYTES``); stage 0 sends first, the last stage
        receives first, so neither waits for the other."""
        mine = (wte.grad.data - (0.0 if before is None else before)).reshape(-1)
        theirs = np.empty_like(mine)
        other = self.ranks[self.num_stages - 1 if self.is_first else 0]
        step = max(1, TIED_PIECE_BYTES // mine.itemsize)
        for a in range(0, mine.size, step):
            if self.is_first:
                dist.send(mine[a : a + step], other, group=self.group)
                dist.recv(theirs[a : a + step], other, group=self.group)
            else:
                dist.recv(theirs[a : a + step], other, group=self.group)
                dist.send(mine[a : a + step], other, group=self.group)
        wte.grad.data[...] += theirs.reshape(wte.grad.data.shape)

    def _forward_only(self, x: Any, y: Any) -> None:
        """Every micro-batch forward through the stages, no grad, GPipe order (the timeline and
        peak of the last train_step are kept). With no backward to interleave, any split works:
        as many micro-batches as both the batch and ``micro_batches`` allow (their gcd), so a
        batch of any size can be evaluated."""
        kept = self.timeline, self.peak_in_flight
        m = math.gcd(len(_array(x)), self.micro_batches)
        shape = self._prepare(x, y, m)
        with no_grad():
            for i in range(m):
                self._send_forward(self._forward_micro(i, self._recv_forward(shape)))
        self.timeline, self.peak_in_flight = kept

    def evaluate(self, x: Any, y: Any) -> float:
        """The batch's mean loss without gradients, on every stage (set ``eval()`` yourself)."""
        self._forward_only(x, y)
        return self._shared_loss()

    def forward_logits(self, x: Any) -> Tensor | None:
        """The logits (B, T, V) of ``x`` on the last stage (None on the others), without grad."""
        self._forward_only(x, None)
        logits, self._logits = self._logits, []
        return minillm.cat(logits, dim=0) if self.is_last else None

    # ------------------------------------------------------------------ the unsplit checkpoint
    def owner(self, name: str) -> int:
        """The stage that holds parameter (or state) ``name`` of the unsplit GPT."""
        parts = name.split(".")
        if parts[:1] == ["lm_head"] or parts[:2] == ["transformer", "ln_f"]:
            return self.num_stages - 1
        if parts[:2] in (["transformer", "wte"], ["transformer", "wpe"]):
            return 0
        block = parts[2] if parts[:2] == ["transformer", "h"] and len(parts) > 2 else ""
        if block.isdigit() and int(block) < len(self._stage_of):
            return int(self._stage_of[int(block)])
        raise KeyError(f"Pipe.owner: {name!r} is not a parameter name of the GPT")

    def unshard_array(self, name: str, local: Any = None) -> np.ndarray:
        """The owner's ``local`` array for ``name`` (any shape and dtype), on every rank
        (collective; the other ranks pass None). For gathering optimizer state by name."""
        src = self.owner(name)
        if self.num_stages == 1:
            return np.array(_array(local), copy=True)
        head = np.zeros(18, np.int64)  # [ndim, dtype as 8 bytes ("<f8"), shape ...]
        if self.stage == src:
            local = np.array(_array(local), order="C")  # (ascontiguousarray makes 0-d 1-d)
            head[0], head[2 : 2 + local.ndim] = local.ndim, local.shape  # (up to 16 axes)
            head[1:2] = np.frombuffer(local.dtype.str.encode().ljust(8, b"\0"), np.int64)
        dist.broadcast(head, self.ranks[src], group=self.group)
        dtype = np.dtype(head[1:2].tobytes().rstrip(b"\0").decode())
        out = np.empty(tuple(head[2 : 2 + head[0]]), dtype)
        if self.stage == src:
            out[...] = local
        dist.broadcast(out, self.ranks[src], group=self.group)
        return out

    def full_state_dict(self) -> dict[str, np.ndarray]:
        """The unsplit GPT's state dict (its names, shapes, order), on every rank (collective:
        each entry broadcast from its owning stage)."""
        local = self.state_dict()
        full = {}
        for name, shape, dtype in self._layout:
            src = self.owner(name)
            out = local[name].numpy().copy() if self.stage == src else np.empty(shape, dtype)
            if self.num_stages > 1:
                dist.broadcast(out, self.ranks[src], group=self.group)
            full[name] = out
        return full

    def load_full_state_dict(self, state: dict[str, Any]) -> None:
        """Load this stage's entries from an unsplit GPT state dict (local: no messages)."""
        own = self.state_dict(keep_vars=True)
        missing = [k for k in own if k not in state]
        if missing:
            raise KeyError(f"load_full_state_dict: the state dict lacks {missing}")
        self.load_state_dict({k: state[k] for k in own})

    def clip_grad_norm_(self, max_norm: float) -> float:
        """Scale every stage's gradients so the whole model's gradient norm is at most
        ``max_norm`` (collective); the tied wte counts once. Returns the norm before."""
        named = list(self.named_parameters())
        counted = [p for n, p in named if n not in self.tied_copies]
        copies = [p for n, p in named if n in self.tied_copies]
        return clip_grad_norm_(counted, copies, max_norm, self.group)
