"""The timeline of a pipeline step: who computed what when, and how much of the time was bubble.

Every forward and every backward of a micro-batch on a stage is an ``Event(stage, micro_batch,
kind, start, end)``, ``kind`` "F" or "B", timed with ``time.perf_counter()`` around the computation
only (waiting for a neighbour's message is idle time). On Linux that clock is CLOCK_MONOTONIC,
one clock for every process of a machine, so the events of all stages (``gather_timeline``) line
up and causality can be checked: stage s cannot start F(i) before stage s - 1 finished it. Under
MPI across machines the clocks are NOT synchronized: each machine's events are right relative to
each other, but the offsets between machines are arbitrary.

What the timeline is for, the bubble:

    bubble_fraction = idle stage-time / (p * makespan)     measured, idle = p * makespan - busy
    theoretical_bubble(p, m) = (p - 1) / (m + p - 1)        GPipe and 1F1B alike (Huang et al.)

With equal forward times t_f and backward times t_b on every stage, a step takes
(m + p - 1)(t_f + t_b): each stage works m (t_f + t_b) of it and waits (p - 1)(t_f + t_b) while
the pipeline fills and drains. ``simulate`` replays a schedule with such ideal durations: its
bubble is exactly the formula, and ``format_timeline`` of it prints the diagrams in
``minillm/parallel/pipeline.py``. A measured bubble is larger: messages, the loss, Python
overhead and unequal stages all count as idle. With fewer cores than stages the durations are
wall-clock time shared with the other stages: a forward stretches while its neighbours compute
too, and the measured bubble can then even come out below the formula.

Views: ``format_timeline`` (a table per stage and an ASCII Gantt line per stage, idle shown as
``.``), ``plot_timeline`` (a PNG, matplotlib), ``chrome_trace`` (JSON for chrome://tracing or
https://ui.perfetto.dev: one row per stage).

Read next: ``minillm/parallel/pipeline.py`` (the schedules that produce these events).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from minillm import io
from minillm.parallel import group as dist


class Event(NamedTuple):
    """One forward ("F") or backward ("B") of ``micro_batch`` on ``stage``, in seconds."""

    stage: int
    micro_batch: int
    kind: str
    start: float
    end: float

    @property
    def label(self) -> str:
        return f"{self.kind}{self.micro_batch}"


_KINDS = ("F", "B")


def events_to_array(events: Sequence[Event]) -> np.ndarray:
    """``(n, 5)`` float64 rows ``[stage, micro_batch, 0 for F / 1 for B, start, end]``."""
    rows = [(e.stage, e.micro_batch, _KINDS.index(e.kind), e.start, e.end) for e in events]
    return np.array(rows, dtype=np.float64).reshape(len(rows), 5)


def events_from_array(array: np.ndarray) -> list[Event]:
    return [Event(int(s), int(i), _KINDS[int(k)], float(a), float(b)) for s, i, k, a, b in array]


def gather_timeline(pipe: Any) -> list[Event]:
    """Every stage's events of ``pipe``'s last ``train_step``, on every rank (collective).

    Each stage has exactly 2m events, so one ``all_gather`` of fixed-size arrays moves them all.
    """
    mine = events_to_array(pipe.timeline)
    if pipe.num_stages == 1:
        return sorted(pipe.timeline, key=lambda e: (e.stage, e.start))
    parts = [np.zeros_like(mine) for _ in range(pipe.num_stages)]
    dist.all_gather(parts, mine, group=pipe.group)
    return sorted(events_from_array(np.concatenate(parts)), key=lambda e: (e.stage, e.start))


def _stages(events: Iterable[Event]) -> list[int]:
    return sorted({e.stage for e in events})


def makespan(events: Sequence[Event]) -> float:
    """From the first event's start to the last one's end, in seconds."""
    if not events:
        raise ValueError("makespan: no events")
    return max(e.end for e in events) - min(e.start for e in events)


def bubble_fraction(events: Sequence[Event], num_stages: int | None = None) -> float:
    """Measured: the idle share of the p x makespan stage-time (``num_stages`` default: the
    stages present in ``events``).

    >>> bubble_fraction([Event(0, 0, "F", 0, 1), Event(1, 0, "F", 1, 2)])
    0.5
    """
    p = len(_stages(events)) if num_stages is None else num_stages
    span = makespan(events)
    busy = sum(e.end - e.start for e in events)
    return 0.0 if span <= 0 else max(0.0, 1.0 - busy / (p * span))


def theoretical_bubble(p: int, m: int) -> float:
    """(p - 1) / (m + p - 1): the bubble of GPipe and 1F1B with equal stages (Huang et al. 2019).

    >>> theoretical_bubble(4, 4), theoretical_bubble(4, 16), theoretical_bubble(1, 4)
    (0.42857142857142855, 0.15789473684210525, 0.0)
    """
    if p < 1 or m < 1:
        raise ValueError(f"theoretical_bubble: p and m must be >= 1, got p={p}, m={m}")
    return (p - 1) / (m + p - 1)


def simulate(
    orders: Sequence[Sequence[tuple[str, int]]], forward: float = 1.0, backward: float = 1.0
) -> list[Event]:
    """The events of ideal stages: each stage runs its ``orders[s]`` (``("F", i)``/``("B", i)``)
    in order, every forward takes ``forward`` and every backward ``backward`` time units, and an
    op starts as soon as its stage is free and its input exists (F(i) on stage s needs F(i) of
    s - 1; B(i) needs B(i) of s + 1). A schedule whose orders wait on each other in a circle
    raises ValueError.

    >>> ev = simulate([[("F", 0), ("B", 0)], [("F", 0), ("B", 0)]])
    >>> [(e.stage, e.label, e.start) for e in ev]
    [(0, 'F0', 0.0), (0, 'B0', 3.0), (1, 'F0', 1.0), (1, 'B0', 2.0)]
    """
    p = len(orders)
    done: dict[tuple[int, str, int], float] = {}
    free, nxt = [0.0] * p, [0] * p
    events: list[Event] = []
    while any(nxt[s] < len(orders[s]) for s in range(p)):
        progressed = False
        for s in range(p):
            while nxt[s] < len(orders[s]):
                kind, i = orders[s][nxt[s]]
                dep = (s - 1, "F", i) if kind == "F" else (s + 1, "B", i)
                if 0 <= dep[0] < p and dep not in done:
                    break
                start = max(free[s], done.get(dep, 0.0))
                end = start + (forward if kind == "F" else backward)
                done[(s, kind, i)], free[s] = end, end
                events.append(Event(s, i, kind, start, end))
                nxt[s] += 1
                progressed = True
        if not progressed:
            raise ValueError("simulate: the stages' orders wait on each other (a deadlock)")
    return sorted(events, key=lambda e: (e.stage, e.start))


# ------------------------------------------------------------------------------ text
def _gantt(events: Sequence[Event], max_width: int) -> list[str]:
    """One line per stage: each event drawn over its time span, label first ("F0--", "B3=="),
    idle columns as "."; the scale gives the shortest event 3 columns if ``max_width`` allows."""
    t0, span = min(e.start for e in events), makespan(events)
    shortest = min(max(e.end - e.start, 1e-12) for e in events)
    scale = min(3.0 / shortest, max_width / span) if span > 0 else 1.0
    width = max(1, round(span * scale))
    lines = []
    for s in _stages(events):
        row = ["."] * width
        for e in (e for e in events if e.stage == s):
            a = min(width - 1, round((e.start - t0) * scale))
            b = max(a + 1, min(width, round((e.end - t0) * scale)))
            fill = "-" if e.kind == "F" else "="
            cells = (e.label + fill * (b - a))[: b - a]
            if b - a > len(e.label):
                cells = cells[:-1] + " "
            row[a:b] = list(cells)
        lines.append(f"stage {s} |{''.join(row)}|")
    return lines


def format_timeline(events: Sequence[Event], max_width: int = 100) -> str:
    """A table per stage (micro-batch, F/B, start and duration in ms from the first event) and
    an ASCII Gantt chart, one line per stage, with the measured and (for m micro-batches on p
    stages) the theoretical bubble.

    >>> from minillm.parallel.pipeline import schedule_order
    >>> ev = simulate([schedule_order("gpipe", 2, s, 2) for s in range(2)])
    >>> print(format_timeline(ev).splitlines()[-3])
    stage 0 |F0 F1 ......B0 B1 |
    """
    if not events:
        return "(no events)"
    t0 = min(e.start for e in events)
    stages = _stages(events)
    out = []
    for s in stages:
        mine = [e for e in events if e.stage == s]
        busy = sum(e.end - e.start for e in mine)
        out.append(f"stage {s}: {len(mine)} events, busy {busy * 1e3:.3f} ms")
        out.append("   mb  op   start ms     dur ms")
        for e in sorted(mine, key=lambda e: e.start):
            out.append(f"  {e.micro_batch:3d}  {e.kind}  {(e.start - t0) * 1e3:9.3f}  "
                       f"{(e.end - e.start) * 1e3:9.3f}")  # fmt: skip
    m = len({e.micro_batch for e in events})
    out.append(f"makespan {makespan(events) * 1e3:.3f} ms; bubble measured "
               f"{bubble_fraction(events):.3f}, theoretical (p-1)/(m+p-1) = "
               f"{theoretical_bubble(len(stages), m):.3f} (p={len(stages)}, m={m})")  # fmt: skip
    out.extend(_gantt(events, max_width))
    out.append("(F-- forward, B== backward, . idle; time runs left to right)")
    return "\n".join(out)


# ------------------------------------------------------------------------------ files
def plot_timeline(events: Sequence[Event], path: str | os.PathLike[str], title: str = "") -> Path:
    """Draw the events as a Gantt chart PNG at ``path`` (atomically): one row per stage (stage 0
    on top), forwards and backwards in two colours, the micro-batch number in each box."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError(
            'plot_timeline needs matplotlib: pip install matplotlib (or pip install -e ".[plot]")'
        ) from None
    if not events:
        raise ValueError("plot_timeline: no events")
    path = Path(path)
    t0, stages = min(e.start for e in events), _stages(events)
    colours = {"F": "#4c8bd6", "B": "#e8904a"}
    fig, ax = plt.subplots(figsize=(10, 1.0 + 0.6 * len(stages)))
    for e in events:
        x, w = (e.start - t0) * 1e3, (e.end - e.start) * 1e3
        ax.broken_barh([(x, w)], (e.stage - 0.4, 0.8), facecolors=colours[e.kind],
                       edgecolors="black", linewidth=0.5)  # fmt: skip
        ax.text(x + w / 2, e.stage, str(e.micro_batch), ha="center", va="center", fontsize=8)
    ax.set_yticks(stages)
    ax.set_yticklabels([f"stage {s}" for s in stages])
    ax.invert_yaxis()
    ax.set_xlabel("time (ms)")
    m = len({e.micro_batch for e in events})
    default = (f"bubble {bubble_fraction(events):.2f} measured, "
               f"{theoretical_bubble(len(stages), m):.2f} = (p-1)/(m+p-1)")  # fmt: skip
    ax.set_title(title or default)
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in colours.values()]
    ax.legend(handles, ["forward", "backward"], loc="upper left", bbox_to_anchor=(1.0, 1.0),
              fontsize=8)  # fmt: skip
    fig.tight_layout()
    try:
        with io.atomic_write(path) as f:
            fig.savefig(f, format="png")
    finally:
        plt.close(fig)
    return path


def chrome_trace(events: Sequence[Event], path: str | os.PathLike[str]) -> Path:
    """Write the events as Chrome trace JSON (open in chrome://tracing or ui.perfetto.dev):
    complete events (``ph`` "X") with ``ts``/``dur`` in microseconds from the first event,
    ``pid`` 0 and ``tid`` the stage, named like "F3"; written atomically."""
    t0 = min((e.start for e in events), default=0.0)
    trace: list[dict[str, Any]] = [
        {"name": "thread_name", "ph": "M", "pid": 0, "tid": s, "args": {"name": f"stage {s}"}}
        for s in _stages(events)
    ]
    for e in sorted(events, key=lambda e: e.start):
        trace.append({"name": e.label, "cat": "forward" if e.kind == "F" else "backward",
                      "ph": "X", "ts": (e.start - t0) * 1e6, "dur": (e.end - e.start) * 1e6,
                      "pid": 0, "tid": e.stage,
                      "args": {"micro_batch": e.micro_batch}})  # fmt: skip
    path = Path(path)
    io.write_json(path, {"traceEvents": trace, "displayTimeUnit": "ms"})
    return path
