"""Shared benchmark plumbing: machine facts, median timings, rewriting a RESULTS.md section."""

from __future__ import annotations

import os
import platform
import re
import time
from collections.abc import Callable
from pathlib import Path

RESULTS = Path(__file__).with_name("RESULTS.md")


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (ratios measured on one CPU do not carry over)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def machine() -> str:
    """One line naming the machine and library versions the figures came from."""
    import numpy as np

    parts = [
        f"{cpu_model()} ({platform.machine()}), {os.cpu_count()} cores",
        f"Python {platform.python_version()}",
        f"NumPy {np.__version__}",
    ]
    try:
        import torch

        parts.append(f"PyTorch {torch.__version__}")
    except ImportError:
        parts.append("PyTorch not installed")
    return ", ".join(parts)


def time_per_call(fn: Callable[[], object], number: int) -> float:
    """Seconds per call of ``fn``, averaged over ``number`` back-to-back calls."""
    start = time.perf_counter()
    for _ in range(number):
        fn()
    return (time.perf_counter() - start) / number


def alternating_medians(
    fns: dict[str, Callable[[], object]], number: int, repeats: int, warmup: int = 100
) -> dict[str, float]:
    """Median seconds per call of each function, timed in alternation so drift hits all alike."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            samples[name].append(time_per_call(fn, number))
    return {name: sorted(s)[len(s) // 2] for name, s in samples.items()}


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def update_results(section: str, body: str) -> None:
    """Replace the body of ``## <section>`` in RESULTS.md (appending the section if missing)."""
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    pattern = re.compile(rf"(^## {re.escape(section)}\n)(.*?)(?=^## |\Z)", re.S | re.M)
    replacement = f"## {section}\n\n{body.strip()}\n\n"
    if pattern.search(text):
        text = pattern.sub(lambda _: replacement, text, count=1)
    else:
        text = text.rstrip() + "\n\n" + replacement
    tmp = RESULTS.with_suffix(".tmp")
    tmp.write_text(text)
    os.replace(tmp, RESULTS)
