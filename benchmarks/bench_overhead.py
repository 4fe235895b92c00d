"""Per-op overhead of the autograd engine on tiny tensors, beside PyTorch at one thread.

On a 16x16 tensor the arithmetic is nothing; what is measured is the bookkeeping: creating the
output Tensor, recording the op, and (for backward) sorting the graph and running each op's
backward. This is what decides the speed of small models, where Python overhead dominates.

Target (issue 2): the tiny forward+backward `(a * b).sum().backward()` at most half of PyTorch's
time.

Run:  python benchmarks/bench_overhead.py      (rewrites the "Autograd overhead" section of
RESULTS.md)
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _common import alternating_medians, machine, markdown_table, update_results

import minillm

NUMBER, REPEATS = 2000, 15


def cases() -> dict[str, dict[str, object]]:
    rng = np.random.default_rng(0)
    a_np = rng.standard_normal((16, 16)).astype(np.float32)
    b_np = rng.standard_normal((16, 16)).astype(np.float32)
    a = minillm.tensor(a_np, requires_grad=True)
    b = minillm.tensor(b_np, requires_grad=True)
    work = {
        "add 16x16, recording the graph": {"minillm": lambda: a + b},
        "(a*b).sum().backward() on 16x16": {"minillm": lambda: (a * b).sum().backward()},
    }
    try:
        import torch
    except ImportError:
        return work
    torch.set_num_threads(1)
    ta = torch.tensor(a_np, requires_grad=True)
    tb = torch.tensor(b_np, requires_grad=True)
    work["add 16x16, recording the graph"]["PyTorch"] = lambda: ta + tb
    work["(a*b).sum().backward() on 16x16"]["PyTorch"] = lambda: (ta * tb).sum().backward()
    return work


def main() -> None:
    rows = []
    for name, fns in cases().items():
        med = alternating_medians(fns, NUMBER, REPEATS)  # type: ignore[arg-type]
        ours = med["minillm"] * 1e6
        theirs = med.get("PyTorch")
        if theirs is None:
            rows.append([name, f"{ours:.2f}", "n/a", "n/a"])
        else:
            rows.append(
                [name, f"{ours:.2f}", f"{theirs * 1e6:.2f}", f"{med['minillm'] / theirs:.2f}"]
            )
    table = markdown_table(["operation", "minillm µs", "PyTorch µs", "minillm / PyTorch"], rows)
    print(table)
    body = (
        f"Command: `python benchmarks/bench_overhead.py` — machine: {machine()}; one thread; "
        f"median of {REPEATS} alternating runs of {NUMBER} calls.\n\n{table}\n\n"
        "Target: the forward+backward row at most 0.5 of PyTorch's time."
    )
    update_results("Autograd overhead", body)


if __name__ == "__main__":
    main()
