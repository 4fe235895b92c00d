"""``minillm.machine``: what a run asks of the machine. Here, ``keep_freed_memory``: measured by the
page faults it removes, in a fresh process (it is process-wide, so never in the test process)."""

from __future__ import annotations

import json
import platform
import subprocess
import sys

import pytest

_PROBE = """
import json, resource, sys
import numpy as np
from minillm.machine import keep_freed_memory
applied = keep_freed_memory() if sys.argv[1] == "keep" else False
def step():  # a training step's activations: several 8 MiB arrays alive at once, then freed
    arrays = [np.ones(2 << 20, dtype=np.float32) for _ in range(6)]
    return sum(float(a[::4096].sum()) for a in arrays)
for _ in range(3):  # warm up
    step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):
    step()
faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
print(json.dumps({"applied": applied, "faults": faults}))
"""


def _probe(mode: str) -> dict:
    out = subprocess.run([sys.executable, "-c", _PROBE, mode], capture_output=True, text=True,
                         check=True).stdout  # fmt: skip
    return json.loads(out.strip().splitlines()[-1])


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_keep_freed_memory_removes_the_page_faults_of_reallocation():
    default, kept = _probe("default"), _probe("keep")
    assert kept["applied"] is True
    # by default glibc hands much of the freed 48 MiB back to the OS, and each step faults it in
    # again (2048 pages per 8 MiB); kept in the heap, it is reused with next to no faults
    assert default["faults"] > 10 * 1000, default
    assert kept["faults"] < default["faults"] / 20, (default, kept)
