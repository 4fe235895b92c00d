"""Model parallelism on one machine: tensor- and pipeline-parallel GPT steps, memory, messages.

Every process runs one thread (``bench_parallel.one_thread``: threadpoolctl
``threadpool_limits(1)`` plus ``minillm.machine.set_threads(1)``, or ``torch.set_num_threads(1)``),
and every measurement starts fresh processes (``minillm.parallel.spawn`` with the ``spawn`` start
method, shm backend), so each one's memory is its own. The processes call
``minillm.machine.keep_freed_memory()`` first, as ``minillm train`` does.

1. **Memory and step time** of one GPT (default: V256 L8 H8 C512 T128, batch 8, float32; AdamW
   step included, no gradient clipping) on 1 process (the plain model), tensor parallel over 2
   and 4 (``parallelize_gpt``), pipeline parallel over 2 and 4 stages (``Pipe``, m = 8
   micro-batches, 1F1B and GPipe). Every rank feeds the same batch. Step time: a barrier, then
   zero_grad + forward + backward + AdamW; the slowest rank's time per step, median over the
   timed steps after two warm-up steps. Memory, per process:
   * *params*: the bytes of the parameters this process holds (summed from its model), and
     4x that for parameters + gradients + AdamW's two moments;
   * *tracemalloc*: NumPy reports its allocations to ``tracemalloc``, started after the imports
     and before the model is built. "build" is the peak while the full GPT is built and split
     (every rank builds the whole model first, as ``minillm train`` does); "steps" is the peak
     from after the split over the two warm-up steps (``reset_peak``; the first step allocates
     AdamW's moments, the later ones repeat the second's allocations), tracing then stopped so
     the timed steps run at full speed;
   * *VmHWM*: the kernel's peak resident set (``/proc/self/status``) minus the VmRSS of the fresh
     process before the model is built, reset after the split (``/proc/self/clear_refs`` 5),
     over all the steps: what the OS had to give, including memory glibc kept after a free and
     the shared-memory pages of the shm backend this process touched ("shm", RssShmem at the end).
2. **Communication per step**, per rank: computed from the method (tensor parallel: 2
   all-reduces of B*T*C forward and 2 backward per block; pipeline: per micro-batch and stage
   boundary one (B/m, T, C) activation forward and its gradient back, the tied wte's gradient
   exchanged between the first and the last stage, the loss broadcast from the last) beside
   measured: ``minillm.parallel.group``'s all_reduce, broadcast, all_gather, reduce_scatter,
   send and recv wrapped in the workers to count calls and buffer bytes during the last step.
   A ring all-reduce of n bytes moves 2(N-1)/N * n per rank ("wire").
3. **Bubble vs micro-batches**: a smaller GPT (V256 L8 H4 C256 T64, batch 16), p = 2 and 4,
   m in {1, 2, 4, 8, 16}, both schedules: ``bubble_fraction`` of the gathered timeline (median
   over the timed steps) beside ``theoretical_bubble(p, m)``, and ``pipe.peak_in_flight`` per stage.
4. **Anchor**: PyTorch (``reference_gpt.TorchGPT``, AdamW, one thread) on the same config in one
   process, same batch and steps. There is no PyTorch tensor- or pipeline-parallel anchor here.
5. The p = 4, m = 8 timelines of part 1 as PNGs (``docs/images/pipeline_{1f1b,gpipe}.png``) and
   Chrome traces (``benchmarks/traces/``).

This machine has 2 cores: 4 processes share them, so the 4-process step times show the machine,
not the method.

Run:  python benchmarks/bench_model_parallel.py [--quick]   (rewrites "Model parallel
(bench_model_parallel.py)" in RESULTS.md; --quick: tiny sizes, a smoke run of under a minute that
writes its pictures to a temporary directory)
"""

from __future__ import annotations

import argparse
import datetime
import gc
import math
import os
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _common import machine, markdown_table, update_results
from bench_parallel import cpu_seconds, one_thread, other_load

ROOT = Path(__file__).resolve().parent.parent
SECTION = "Model parallel (bench_model_parallel.py)"
MiB = 1 << 20
OPS = ("all_reduce", "broadcast", "all_gather", "reduce_scatter", "send", "recv")

# (vocab, block, n_layer, n_head, n_embd), batch, micro-batches, warm-up steps, timed steps
FULL = {"cfg": (256, 128, 8, 8, 512), "B": 8, "m": 8, "warmup": 2, "steps": 5}
QUICK = {"cfg": (256, 32, 4, 4, 64), "B": 8, "m": 8, "warmup": 2, "steps": 2}
SWEEP_FULL = {"cfg": (256, 64, 8, 4, 256), "B": 16, "ms": [1, 2, 4, 8, 16], "warmup": 1,
              "steps": 3}  # fmt: skip
SWEEP_QUICK = {"cfg": (256, 16, 4, 4, 32), "B": 16, "ms": [1, 4], "warmup": 1, "steps": 2}


def _config(cfg: tuple) -> Any:
    from minillm.models import GPTConfig

    return GPTConfig(*cfg)


def _name(cfg: tuple, B: int) -> str:
    V, T, L, H, C = cfg
    return f"V{V} L{L} H{H} C{C} T{T} B{B}"


# ------------------------------------------------------------------------------ in the workers
def _status() -> dict[str, int]:
    """/proc/self/status's memory lines, in bytes."""
    out = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if value.strip().endswith("kB"):
            out[key] = int(value.split()[0]) * 1024
    return out


def _reset_hwm() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS
        return True
    except OSError:
        return False


def _nbytes(x: Any) -> int:
    if isinstance(x, np.ndarray):
        return x.nbytes
    return np.asarray(getattr(x, "data", x)).nbytes


class Counter:
    """Wraps ``minillm.parallel.group``'s collectives and send/recv to count calls and bytes."""

    def __init__(self) -> None:
        self.active = False
        self.calls = dict.fromkeys(OPS, 0)
        self.bytes = dict.fromkeys(OPS, 0)

    def install(self) -> None:
        import minillm.parallel as package
        from minillm.parallel import group

        for op in OPS:
            original = getattr(group, op)

            def wrapped(tensor: Any, *args: Any, _op: str = op, _f: Any = original,
                        **kwargs: Any) -> Any:  # fmt: skip
                if self.active:
                    # all_gather(tensor_list, tensor): count the tensor this rank contributes
                    x = args[0] if _op == "all_gather" else tensor
                    self.calls[_op] += 1
                    self.bytes[_op] += _nbytes(x)
                return _f(tensor, *args, **kwargs)

            setattr(group, op, wrapped)  # tensor.py and pipeline.py call group.<op> at call time
            setattr(package, op, wrapped)


def warm_kernels(torch_too: bool = False) -> None:
    """One step of a tiny GPT, so the Numba kernels (or torch's) are loaded before the baseline:
    their code is no part of the model's memory."""
    import minillm
    from minillm.models import GPT, GPTConfig

    cfg = GPTConfig(256, 16, 1, 2, 32)
    idx = np.random.default_rng(1).integers(0, 256, (2, 16))
    if torch_too:
        import torch
        from reference_gpt import TorchGPT

        model = TorchGPT(**cfg.to_dict())
        opt = torch.optim.AdamW(model.parameters())
        _, loss = model(torch.from_numpy(idx), torch.from_numpy(idx))
    else:
        model = GPT(cfg)
        opt = minillm.optim.AdamW(model.parameters())
        _, loss = model(minillm.tensor(idx), minillm.tensor(idx))
    loss.backward()
    opt.step()
    del model, opt, loss
    gc.collect()


def _train_worker(rank: int, spec: dict) -> dict:
    """One rank of one measurement: build, split, step; return times, memory and messages."""
    one_thread()
    from minillm.machine import keep_freed_memory

    keep_freed_memory()
    import minillm
    from minillm import parallel
    from minillm.models import GPT
    from minillm.parallel.pipeline import Pipe
    from minillm.parallel.tensor_gpt import parallelize_gpt
    from minillm.parallel.timeline import bubble_fraction, events_to_array, gather_timeline

    kind, world = spec["kind"], spec["world"]
    if world > 1:
        parallel.init_process_group("shm")
    counter = Counter()
    counter.install()
    cfg = _config(spec["cfg"])
    warm_kernels()
    base = _status()["VmRSS"]
    tracemalloc.start()
    minillm.manual_seed(0)
    if kind == "plain":
        model = GPT(cfg)
    elif kind == "tensor":
        model = parallelize_gpt(GPT(cfg))
    else:
        model = Pipe(GPT(cfg), micro_batches=spec["m"], schedule=spec["schedule"])
    tm_build = tracemalloc.get_traced_memory()[1]
    hwm_build = _status()["VmHWM"] - base
    tracemalloc.reset_peak()
    reset = _reset_hwm()
    opt = minillm.optim.AdamW(model.parameters(), lr=1e-4)
    param_bytes = sum(p.data.nbytes for p in model.parameters())
    rng = np.random.default_rng(0)
    B, T = spec["B"], cfg.block_size
    x_np = rng.integers(0, cfg.vocab_size, (B, T))
    y_np = rng.integers(0, cfg.vocab_size, (B, T))
    x, y = minillm.tensor(x_np), minillm.tensor(y_np)
    warmup, steps = spec["warmup"], spec["steps"]
    times, bubbles, tm_steps, losses = [], [], 0, []
    events = None
    for step in range(warmup + steps):
        if world > 1:
            parallel.barrier()
        counter.active = step == warmup + steps - 1  # the last step's messages
        t0 = time.perf_counter()
        opt.zero_grad()
        if kind == "pipe":
            loss = model.train_step(x_np, y_np)
        else:
            _, out = model(x, y)
            out.backward()
            loss = out.item()
        opt.step()
        elapsed = time.perf_counter() - t0
        counter.active = False
        losses.append(loss)
        if step == warmup - 1:
            tm_steps = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
        if step >= warmup:
            times.append(elapsed)
            if kind == "pipe":
                gathered = gather_timeline(model)
                bubbles.append(bubble_fraction(gathered, model.num_stages))
                events = gathered
    status = _status()
    result = {
        "times": times,
        "param_bytes": param_bytes,
        "tm_build": tm_build,
        "tm_steps": tm_steps,
        "hwm_build": hwm_build,
        "hwm_steps": status["VmHWM"] - base if reset else None,
        "shm": status.get("RssShmem", 0),
        "base": base,
        "calls": counter.calls,
        "bytes": counter.bytes,
        "loss": losses[-1],
    }
    if kind == "pipe":
        result["bubbles"] = bubbles
        result["peak_in_flight"] = model.peak_in_flight
        result["events"] = events_to_array(events) if rank == 0 else None
    if world > 1:
        parallel.destroy_process_group()
    return result


def _torch_worker(rank: int, spec: dict) -> dict:
    """PyTorch's single-process step on the same config, batch and steps."""
    one_thread(torch_too=True)
    from minillm.machine import keep_freed_memory

    keep_freed_memory()
    import torch
    from reference_gpt import TorchGPT

    cfg = _config(spec["cfg"])
    warm_kernels(torch_too=True)
    base = _status()["VmRSS"]
    torch.manual_seed(0)
    model = TorchGPT(**cfg.to_dict())
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    rng = np.random.default_rng(0)
    B, T = spec["B"], cfg.block_size
    x = torch.from_numpy(rng.integers(0, cfg.vocab_size, (B, T)))
    y = torch.from_numpy(rng.integers(0, cfg.vocab_size, (B, T)))
    times = []
    for step in range(spec["warmup"] + spec["steps"]):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        _, loss = model(x, y)
        loss.backward()
        opt.step()
        loss.item()
        if step >= spec["warmup"]:
            times.append(time.perf_counter() - t0)
    params = sum(p.numel() * p.element_size() for p in model.parameters())
    return {"times": times, "param_bytes": params, "hwm_all": _status()["VmHWM"] - base}


def _dispatch(rank: int, spec: dict) -> dict:
    return (_torch_worker if spec["kind"] == "torch" else _train_worker)(rank, spec)


def run(spec: dict) -> list[dict]:
    """One measurement in ``spec["world"]`` fresh processes; their results by rank."""
    from minillm.parallel import spawn

    t0 = time.perf_counter()
    method = spec.get("start", "spawn")  # fresh processes, unless memory is not measured
    out = spawn(_dispatch, spec["world"], args=(spec,), start_method=method)
    label = f"{spec['kind']} x{spec['world']} {spec.get('schedule', '')} m={spec.get('m', '')}"
    step = max_step_ms(out)
    print(f"  {label}: {time.perf_counter() - t0:.1f} s, median step {step:.0f} ms", flush=True)
    return out


def max_step_ms(results: list[dict]) -> float:
    """The median over steps of the slowest rank's time, in ms."""
    per_step = np.max(np.array([r["times"] for r in results]), axis=0)
    return float(np.median(per_step)) * 1e3


# ------------------------------------------------------------------------------ computed volumes
def computed_messages(spec: dict, rank: int) -> dict[str, tuple[int, int]]:
    """{op: (calls, bytes)} one rank of one step must make, from the method alone."""
    V, T, L, _, C = spec["cfg"]
    B, N, item = spec["B"], spec["world"], 4
    out = {op: (0, 0) for op in OPS}
    if spec["kind"] == "tensor" and N > 1:
        out["all_reduce"] = (4 * L, 4 * L * B * T * C * item)  # 2 per block forward, 2 backward
    if spec["kind"] == "pipe" and N > 1:
        m, s = spec["m"], rank
        act = B // m * T * C * item
        sends = (m if s < N - 1 else 0) + (m if s > 0 else 0)  # activations down, gradients up
        send, recv = (sends, sends * act), (sends, sends * act)
        if s in (0, N - 1):  # the tied wte's gradient, both ways, in mailbox-sized pieces
            from minillm.parallel.pipeline import TIED_PIECE_BYTES

            tied = V * C * item
            pieces = math.ceil(tied / TIED_PIECE_BYTES)
            send = (send[0] + pieces, send[1] + tied)
            recv = (recv[0] + pieces, recv[1] + tied)
        out["send"], out["recv"] = send, recv
        out["broadcast"] = (1, 8)  # the mean loss, from the last stage (one float64)
    return out


def wire_bytes(spec: dict, msgs: dict[str, tuple[int, int]]) -> float:
    """Bytes this rank puts on the wire: 2(N-1)/N of each all-reduce (ring), every send."""
    N = spec["world"]
    return 2 * (N - 1) / N * msgs["all_reduce"][1] + msgs["send"][1]


# ------------------------------------------------------------------------------ tables
def _mib(n: float) -> str:
    return f"{n / MiB:,.1f}"


def _per_rank(values: list[float]) -> str:
    return " / ".join(f"{v / MiB:,.0f}" if v >= 100 * MiB else f"{v / MiB:.1f}" for v in values)


def _label(spec: dict) -> str:
    if spec["kind"] == "plain":
        return "1 process (plain GPT)"
    if spec["kind"] == "torch":
        return "PyTorch, 1 process"
    if spec["kind"] == "tensor":
        return f"tensor parallel x{spec['world']}"
    return f"pipeline x{spec['world']}, {spec['schedule']}, m={spec['m']}"


def memory_table(runs: list[tuple[dict, list[dict]]]) -> str:
    rows = []
    for spec, res in runs:
        if spec["kind"] == "torch":
            r = res[0]
            rows.append([_label(spec), "1", _mib(r["param_bytes"]), _mib(4 * r["param_bytes"]),
                         "—", "—", _per_rank([r["hwm_all"]]) + " (incl. build)", "—"])  # fmt: skip
            continue
        params = [r["param_bytes"] for r in res]
        hwm = [r["hwm_steps"] if r["hwm_steps"] is not None else r["hwm_build"] for r in res]
        rows.append([
            _label(spec), str(spec["world"]), _per_rank(params), _per_rank([4 * p for p in params]),
            _per_rank([r["tm_steps"] for r in res]), _per_rank([r["tm_build"] for r in res]),
            _per_rank(hwm), _per_rank([r["shm"] for r in res]),
        ])  # fmt: skip
    header = ["config", "procs", "params MiB/proc", "params+grads+AdamW MiB/proc",
              "tracemalloc peak, steps MiB/proc", "tracemalloc peak, build MiB/proc",
              "VmHWM − base, steps MiB/proc", "shm RSS MiB/proc"]  # fmt: skip
    return markdown_table(header, rows)


def time_table(runs: list[tuple[dict, list[dict]]]) -> tuple[str, dict[str, float]]:
    ms = {_label(spec): max_step_ms(res) for spec, res in runs}
    one = ms.get("1 process (plain GPT)")
    rows = []
    for spec, res in runs:
        label = _label(spec)
        t = ms[label]
        per_step = np.max(np.array([r["times"] for r in res]), axis=0) * 1e3
        bubble = ""
        if spec["kind"] == "pipe":
            bubble = f"{np.median([r['bubbles'] for r in res[:1]]):.2f}"
        rows.append([label, str(spec["world"]), f"{t:,.0f}",
                     f"{per_step.min():,.0f}–{per_step.max():,.0f}",
                     f"{one / t:.2f}" if one else "", bubble])  # fmt: skip
    header = ["config", "procs", "step ms (median, slowest rank)", "min–max ms",
              "speed-up vs 1 process", "bubble (measured)"]  # fmt: skip
    return markdown_table(header, rows), ms


def comm_table(runs: list[tuple[dict, list[dict]]]) -> tuple[str, bool]:
    """Computed beside measured, per rank; GPipe's rows are checked but not shown (the text says
    whether they equal 1F1B's)."""
    rows, agree_all = [], True
    for spec, res in runs:
        if spec["kind"] not in ("tensor", "pipe") or spec["world"] == 1:
            continue
        per_rank = []
        for rank, r in enumerate(res):
            comp = computed_messages(spec, rank)
            meas = {op: (r["calls"][op], r["bytes"][op]) for op in OPS}
            per_rank.append((rank, comp, meas))
            agree_all &= comp == meas
        if spec.get("schedule") == "gpipe":
            continue
        same = all(c == per_rank[0][1] and m == per_rank[0][2] for _, c, m in per_rank)
        shown = per_rank[:1] if same and spec["kind"] == "tensor" else per_rank
        for rank, comp, meas in shown:

            def both(op: str, c: Any = comp, m: Any = meas) -> str:
                return f"{c[op][0]} / {m[op][0]} · {_mib(c[op][1])} / {_mib(m[op][1])}"

            extra = ", ".join(f"{op} {meas[op][0]} × {meas[op][1] // max(1, meas[op][0])} B"
                              for op in ("broadcast", "all_gather", "reduce_scatter")
                              if meas[op][0])  # fmt: skip
            ranks = f"each of {spec['world']}" if shown is not per_rank else str(rank)
            rows.append([_label(spec), ranks, both("all_reduce"), both("send"), both("recv"),
                         extra or "—", f"{_mib(wire_bytes(spec, comp))} / "
                         f"{_mib(wire_bytes(spec, meas))}",
                         "yes" if comp == meas else "NO"])  # fmt: skip
    header = ["config", "rank", "all-reduce calls · MiB (computed / measured)",
              "send calls · MiB (c / m)", "recv calls · MiB (c / m)", "other (measured)",
              "wire MiB/rank (c / m)", "agree"]  # fmt: skip
    return markdown_table(header, rows), agree_all


def sweep(s: dict) -> tuple[str, list[tuple]]:
    from minillm.parallel.timeline import theoretical_bubble

    rows, found = [], []
    for p in (2, 4):
        for m in s["ms"]:
            for schedule in ("gpipe", "1f1b"):
                spec = {"kind": "pipe", "world": p, "cfg": s["cfg"], "B": s["B"], "m": m,
                        "schedule": schedule, "warmup": s["warmup"], "steps": s["steps"],
                        "start": "fork"}  # fmt: skip
                res = run(spec)
                measured = float(np.median(res[0]["bubbles"]))
                theory = theoretical_bubble(p, m)
                peaks = [r["peak_in_flight"] for r in res]
                expect = [m if schedule == "gpipe" else min(p - st, m) for st in range(p)]
                found.append((p, m, schedule, measured, theory, peaks == expect))
                rows.append([str(p), str(m), schedule, f"{measured:.3f}", f"{theory:.3f}",
                             f"{measured - theory:+.3f}", " / ".join(map(str, peaks)),
                             " / ".join(map(str, expect)), f"{max_step_ms(res):,.0f}"])  # fmt: skip
    header = ["p", "m", "schedule", "bubble measured (median)", "theoretical (p-1)/(m+p-1)",
              "measured − theory", "peak in-flight per stage", "expected (m; min(p-s, m))",
              "step ms"]  # fmt: skip
    return markdown_table(header, rows), found


def reading(runs: list[tuple[dict, list[dict]]], ms: dict[str, float],
            found: list[tuple]) -> str:  # fmt: skip
    """The figures above, in sentences."""
    res = {_label(spec): r for spec, r in runs}
    one = res["1 process (plain GPT)"][0]
    peak1, params1 = one["tm_steps"], one["param_bytes"]
    parts = []
    shares = []
    for spec, r in runs:
        if spec["kind"] in ("tensor", "pipe"):
            worst = max(x["tm_steps"] for x in r)
            shares.append(f"{_label(spec)} {worst / peak1:.2f}")
    parts.append("Peak NumPy memory per process (the largest rank's, steps) relative to one "
                 "process: " + "; ".join(shares) + ".")  # fmt: skip
    acts = []
    shorts = {"1 process (plain GPT)": "1 process", "tensor parallel x2": "tensor x2",
              "tensor parallel x4": "tensor x4"}  # fmt: skip
    for label, short in shorts.items():
        r = res[label][0]
        acts.append(f"{short} {_mib(r['tm_steps'] - 4 * r['param_bytes'])} MiB")
    tp2 = res["tensor parallel x2"][0]["param_bytes"]
    parts.append(
        f"Parameters, gradients and AdamW's moments shrink as 1/N (params {_mib(tp2)} MiB per "
        f"rank at tensor x2 against {_mib(params1)}: embeddings, layer norms and the row layers' "
        "biases stay whole on every rank), but under tensor parallelism the rest of the peak, "
        "mostly activations (peak − 4 × params), shrinks less than 1/N: " + ", ".join(acts)
        + ". Only the split layers' activations (q, k, v, the attention, the 4C hidden units) "
        "are cut; the residual stream, the layer norms and the logits stay full size on every "
        "rank (f passes its input on as a view, and g sums the row layer's fresh output in "
        "place with the bias, so the split layers add no (B, T, C) arrays of their own; an "
        "earlier version that copied in f and g kept six more per block until backward). "
        "A pipeline stage keeps only its "
        "blocks' activations, and 1F1B at most p − s micro-batches of them, so it is the "
        "smallest per process; GPipe keeps all m."
    )  # fmt: skip
    build = max(x["tm_build"] for _, r in runs if "tm_build" in r[0] for x in r)
    parts.append(
        f"Every rank first builds the whole GPT and then splits it (as `minillm train` does), "
        f"so the build peaks at {_mib(build)} MiB on every rank whatever N: at this size below "
        "the training peak, but for a model whose parameters dominate it would be the peak."
    )  # fmt: skip
    speed = [f"{label} {ms['1 process (plain GPT)'] / t:.2f}x" for label, t in ms.items()
             if label not in ("1 process (plain GPT)", "PyTorch, 1 process")]  # fmt: skip
    parts.append("Speed-up of the step over one process: " + "; ".join(speed) + " (x4: two "
                 "cores for four processes).")  # fmt: skip
    tp = next(s for s, _ in runs if s["kind"] == "tensor" and s["world"] == 2)
    tp_wire = wire_bytes(tp, computed_messages(tp, 0))
    pp = next(s for s, _ in runs if s["kind"] == "pipe" and s["world"] == 2)
    pp_wire = max(wire_bytes(pp, computed_messages(pp, r)) for r in range(2))
    parts.append(
        f"Per step and rank, tensor x2 puts {_mib(tp_wire)} MiB on the wire, pipeline x2 "
        f"{_mib(pp_wire)} MiB ({tp_wire / pp_wire:.0f}x less): tensor parallelism needs a fast "
        "link, a pipeline does not."
    )  # fmt: skip
    worst = max(found, key=lambda f: f[3] - f[4])
    parts.append(
        f"Measured bubble − (p − 1)/(m + p − 1): median "
        f"{np.median([f[3] - f[4] for f in found]):+.3f} over the sweep, largest "
        f"{worst[3] - worst[4]:+.3f} at p = {worst[0]}, m = {worst[1]}, {worst[2]} (with small "
        "micro-batches messages and per-operation overhead count as idle; and beyond a few "
        "micro-batches the step stops getting faster, as their GEMMs get small)."
    )  # fmt: skip
    return " ".join(parts)


# ------------------------------------------------------------------------------ main
def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="tiny sizes, under a minute")
    args = parser.parse_args()
    from minillm.parallel.timeline import (
        chrome_trace,
        events_from_array,
        format_timeline,
        plot_timeline,
    )

    os.environ.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1",
                      NUMBA_NUM_THREADS="1")  # fmt: skip
    start, before = time.perf_counter(), cpu_seconds()
    cores = len(os.sched_getaffinity(0))
    base = dict(QUICK if args.quick else FULL)
    common = {"cfg": base["cfg"], "B": base["B"], "warmup": base["warmup"],
              "steps": base["steps"]}  # fmt: skip
    m = base["m"]
    specs = [
        {"kind": "plain", "world": 1, **common},
        {"kind": "torch", "world": 1, **common},
        {"kind": "tensor", "world": 2, **common},
        {"kind": "tensor", "world": 4, **common},
        {"kind": "pipe", "world": 2, "m": m, "schedule": "1f1b", **common},
        {"kind": "pipe", "world": 4, "m": m, "schedule": "1f1b", **common},
        {"kind": "pipe", "world": 2, "m": m, "schedule": "gpipe", **common},
        {"kind": "pipe", "world": 4, "m": m, "schedule": "gpipe", **common},
    ]
    print(f"part 1: {_name(base['cfg'], base['B'])}, float32, one thread per process")
    runs = [(spec, run(spec)) for spec in specs]
    mem = memory_table(runs)
    times, ms = time_table(runs)
    comm, agree = comm_table(runs)
    print(mem, times, comm, sep="\n\n")
    # the same volume whatever the schedule: 1F1B and GPipe only reorder the messages
    by = {(s["world"], s.get("schedule")): r for s, r in runs if s["kind"] == "pipe"}
    same_volume = all(
        [r["bytes"] for r in by[p, "1f1b"]] == [r["bytes"] for r in by[p, "gpipe"]] for p in (2, 4)
    )

    print("part 3: bubble vs micro-batches")
    sweep_spec = SWEEP_QUICK if args.quick else SWEEP_FULL
    warm_kernels()  # the sweep's workers are forked: they inherit the loaded kernels
    bubble, found = sweep(sweep_spec)
    print(bubble)

    # part 5: the p = 4, m = 8 timelines
    out_images = ROOT / "docs" / "images"
    out_traces = ROOT / "benchmarks" / "traces"
    tmp = None
    if args.quick:
        tmp = tempfile.TemporaryDirectory()
        out_images = out_traces = Path(tmp.name)
    out_images.mkdir(parents=True, exist_ok=True)
    out_traces.mkdir(parents=True, exist_ok=True)
    written, timeline_text = [], ""
    for schedule in ("1f1b", "gpipe"):
        events = events_from_array(by[4, schedule][0]["events"])
        title = (
            f"{ {'1f1b': '1F1B', 'gpipe': 'GPipe'}[schedule] }, p=4 stages, m={m} micro-batches, "
            f"{_name(base['cfg'], base['B'])} (measured; 4 processes, {cores} cores)"
        )
        written.append(plot_timeline(events, out_images / f"pipeline_{schedule}.png", title))
        written.append(chrome_trace(events, out_traces / f"pipeline_{schedule}.json"))
        if schedule == "1f1b":
            timeline_text = format_timeline(events)
    print(timeline_text)
    if tmp is not None:
        tmp.cleanup()

    elapsed = time.perf_counter() - start
    load = other_load(start, before, "so the step times (not the memory or the message counts) "
                      "are noisy; the fastest steps (min) were disturbed least")  # fmt: skip
    command = "python benchmarks/bench_model_parallel.py" + (" --quick" if args.quick else "")
    one, torch_ms = ms["1 process (plain GPT)"], ms["PyTorch, 1 process"]
    anchor = (
        f"minillm's 1-process step takes {one:,.0f} ms, PyTorch's {torch_ms:,.0f} ms: "
        f"minillm / PyTorch = {one / torch_ms:.2f} (time ratio, below 1: minillm faster; "
        f"medians of {base['steps']} steps after {base['warmup']} warm-up). There is no fair "
        "PyTorch tensor- or pipeline-parallel anchor on this CPU (no Megatron/PiPPy-style CPU "
        "baseline of the same model), so the parallel rows are compared with minillm's own "
        "1-process row."
    )
    peaks_ok = all(f[5] for f in found)
    text = reading(runs, ms, found)
    print(anchor, text, load, f"run time: {elapsed:.0f} s", sep="\n")
    files = ", ".join(f"`{p.relative_to(ROOT)}`" for p in written) if not args.quick else "none"
    body = (
        f"Command: `{command}` — {datetime.date.today().isoformat()} — machine: {machine()}; "
        f"{cores} cores in this process's affinity; every process one thread (BLAS, Numba), "
        f"fresh processes (spawn start method), shm backend. Run time {elapsed:.0f} s. {load}.\n\n"
        f"**Memory per process**, {_name(base['cfg'], base['B'])}, float32, AdamW (values per "
        "rank, stage 0 first). *params*: the parameter bytes this process holds; x4 with "
        "gradients and AdamW's two moments. *tracemalloc*: NumPy's own allocations (it reports "
        "them to tracemalloc), traced from before the model is built; *build* is the peak while "
        "every rank builds the full GPT and splits it (as `minillm train` does), *steps* the peak "
        "after the split over the two warm-up steps (reset_peak; step 1 allocates AdamW's "
        "moments, later steps repeat step 2). *VmHWM − base*: the kernel's peak RSS over all the "
        "steps (reset after the split via /proc/self/clear_refs) less the fresh process's RSS "
        "before the model; it includes freed memory glibc kept (`keep_freed_memory`, as "
        "`minillm train`) and the shm backend's shared pages the process touched (*shm RSS*). "
        "PyTorch's row: VmHWM over build and steps (tracemalloc does not see its allocator):\n\n"
        f"{mem}\n\n"
        f"**Step time** (zero_grad, forward, backward, AdamW; no clipping; a barrier before each "
        f"step, the slowest rank's time, median of {base['steps']} steps after {base['warmup']} "
        f"warm-up). **4 processes on {cores} cores are oversubscribed: their times show the "
        "machine, not the method.** The bubble column is the measured bubble_fraction of the "
        "step's gathered timeline:\n\n"
        f"{times}\n\n"
        f"{anchor}\n\n"
        "**Communication per step, per rank** (computed from the method / measured by wrapping "
        "`minillm.parallel.group`'s calls in the workers during the last step). Tensor parallel: "
        "4 all-reduces of B·T·C per block (2 forward, 2 backward); pipeline: per micro-batch and "
        "boundary one (B/m)·T·C activation forward and one gradient back, plus the tied wte "
        "gradient (V·C) between the first and last stage in 1 MiB pieces, and the 8-byte mean "
        "loss broadcast. *wire*: 2(N−1)/N of each all-reduce's buffer (ring) plus every send. "
        + ("All computed and measured figures agree." if agree else "**Some disagree (NO).**")
        + " GPipe moves exactly the same bytes as 1F1B: "
        + ("yes." if same_volume else "**no**.")
        + f"\n\n{comm}\n\n"
        f"**Bubble vs micro-batches**, {_name(sweep_spec['cfg'], sweep_spec['B'])}"
        f", median bubble_fraction over the timed steps; peak in-flight micro-batches per stage "
        f"(stage 0 first): GPipe holds all m, 1F1B at most p − s "
        + ("(as expected everywhere)" if peaks_ok else "(**not everywhere as expected**)")
        + f". p = 4 runs 4 processes on {cores} cores: a stage's work then stretches while "
        "its neighbours compute too, and a measured bubble can even come out below the "
        "formula:\n\n"
        f"{bubble}\n\n"
        f"Timelines (p = 4, m = {m}, the part-1 runs): {files}.\n\n"
        f"{text}\n"
    )
    update_results(SECTION, body)


if __name__ == "__main__":
    main()
