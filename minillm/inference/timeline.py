"""The timeline: a record per forward pass (tick) of generation, and the summaries serving needs.

Each tick records its phase (prefill or decode), how many token positions it computed and how many
it reused from a cache, the cache's length and bytes, the attention FLOPs and the wall time. From
those:

* time to first token (TTFT): the wall time until the first token exists, the prefill tick;
* inter-token latency (ITL): the wall time of each decode tick, reported as p50 and p90;
* tokens per second over the whole run.

The records print as a table, export as Chrome-trace JSON (open it in chrome://tracing or Perfetto),
and plot as a PNG when matplotlib is installed.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from minillm.io import atomic_write


@dataclass
class Tick:
    """One forward pass of generation."""

    step: int
    phase: str  # "prefill" (a context starts) or "decode" (one more token per row)
    tokens: int  # tokens produced this tick: one per row
    computed: int  # token positions run through the model this tick (all rows)
    reused: int  # positions read from a cache instead (KV cache or prefix cache)
    cache_len: int  # positions in the KV cache after the tick
    cache_bytes: int  # bytes of the cache holding real positions
    attention_flops: int
    seconds: float


@dataclass
class Timeline:
    """Collects ``Tick`` records during ``generate(..., timeline=...)``.

    >>> tl = Timeline()
    >>> tl.record(step=0, phase="prefill", tokens=1, computed=4, reused=0, cache_len=4,
    ...           cache_bytes=64, attention_flops=128, seconds=0.002)
    >>> tl.record(step=1, phase="decode", tokens=1, computed=1, reused=4, cache_len=5,
    ...           cache_bytes=80, attention_flops=40, seconds=0.001)
    >>> tl.summary()["ttft_ms"], tl.summary()["tokens_per_s"]
    (2.0, 666.67)
    """

    ticks: list[Tick] = field(default_factory=list)

    def record(self, **fields: Any) -> None:
        self.ticks.append(Tick(**fields))

    def summary(self) -> dict[str, float]:
        """TTFT, inter-token latency p50/p90 (ms), tokens/s, and reuse totals."""
        if not self.ticks:
            return {}
        decode = [t.seconds for t in self.ticks if t.phase == "decode"]
        total = sum(t.seconds for t in self.ticks)
        return {
            "ticks": len(self.ticks),
            "ttft_ms": round(self.ticks[0].seconds * 1e3, 3),
            "itl_p50_ms": round(float(np.percentile(decode, 50)) * 1e3, 3) if decode else 0.0,
            "itl_p90_ms": round(float(np.percentile(decode, 90)) * 1e3, 3) if decode else 0.0,
            "tokens_per_s": (
                round(sum(t.tokens for t in self.ticks) / total, 2) if total > 0 else float("inf")
            ),
            "computed": sum(t.computed for t in self.ticks),
            "reused": sum(t.reused for t in self.ticks),
        }

    def table(self, max_rows: int = 20) -> str:
        """The ticks as a text table (first and last rows when there are many), then the summary."""
        head = f"{'tick':>5} {'phase':<8} {'computed':>8} {'reused':>7} {'cache':>6} "
        head += f"{'cache KiB':>9} {'attn MFLOP':>10} {'ms':>8}"
        rows = self.ticks
        if len(rows) > max_rows:
            rows = rows[: max_rows // 2] + [None] + rows[-(max_rows // 2) :]  # type: ignore[list-item]
        lines = [head]
        for t in rows:
            if t is None:
                lines.append(f"{'...':>5}")
                continue
            lines.append(
                f"{t.step:>5} {t.phase:<8} {t.computed:>8} {t.reused:>7} {t.cache_len:>6} "
                f"{t.cache_bytes / 1024:>9.1f} {t.attention_flops / 1e6:>10.3f} "
                f"{t.seconds * 1e3:>8.3f}"
            )
        s = self.summary()
        if s:
            lines.append(
                f"time to first token {s['ttft_ms']:.2f} ms | inter-token latency p50 "
                f"{s['itl_p50_ms']:.2f} ms, p90 {s['itl_p90_ms']:.2f} ms | "
                f"{s['tokens_per_s']:.1f} tokens/s"
            )
        return "\n".join(lines)

    def chrome_trace(self) -> dict[str, Any]:
        """The ticks as Chrome trace events (one complete event per tick, timestamps in µs)."""
        events, now = [], 0.0
        for t in self.ticks:
            dur = t.seconds * 1e6
            events.append(
                {
                    "name": t.phase,
                    "ph": "X",
                    "ts": now,
                    "dur": dur,
                    "pid": 0,
                    "tid": 0,
                    "args": asdict(t),
                }
            )
            now += dur
        return {"traceEvents": events, "displayTimeUnit": "ms"}

    def save_chrome_trace(self, path: str | Path) -> None:
        """Write ``chrome_trace()`` as JSON, atomically."""
        with atomic_write(path, "w") as f:
            f.write(json.dumps(self.chrome_trace()))

    def plot(self, path: str | Path) -> bool:
        """Save a PNG of tick latency and cache length; False when matplotlib is missing."""
        try:
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError:
            return False
        steps = [t.step for t in self.ticks]
        fig, ax = plt.subplots(figsize=(8, 4))
        ax.plot(steps, [t.seconds * 1e3 for t in self.ticks], label="tick latency (ms)")
        ax.set_xlabel("tick")
        ax.set_ylabel("ms")
        ax2 = ax.twinx()
        ax2.plot(steps, [t.cache_len for t in self.ticks], color="tab:orange", label="cache length")
        ax2.set_ylabel("cached positions")
        fig.legend(loc="upper left")
        fig.tight_layout()
        fig.savefig(path)
        plt.close(fig)
        return True
