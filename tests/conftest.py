"""Shared test setup: Hypothesis profiles and a fixed seed for every test.

Profiles: ``dev`` (the default; quick, random) and ``ci`` (more examples, a fixed sequence), chosen
by ``HYPOTHESIS_PROFILE``.
Both disable Hypothesis's per-example deadline: a kernel's first call compiles with Numba, which
would otherwise fail a timing check that has nothing to do with correctness.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

import minillm

settings.register_profile(
    "dev", max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
# CI draws a fixed sequence of examples (derandomize), so a submission's verdict never depends on
# luck; the dev profile keeps exploring new examples on every run.
settings.register_profile(
    "ci",
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


@pytest.fixture(autouse=True)
def _seed() -> None:
    """Every test starts from the same random state, so a failure reproduces."""
    np.random.seed(0)
    minillm.manual_seed(0)


def pytest_configure(config: pytest.Config) -> None:
    """Tests measure the machine's GEMM peak into a cache of their own, not the user's."""
    import tempfile

    os.environ.setdefault("XDG_CACHE_HOME", tempfile.mkdtemp(prefix="minillm-test-cache-"))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Say at the end which outside oracles were missing, so their tests' skips are no surprise
    (a line here shows even under ``-q``, unlike a report header)."""
    import importlib.util

    oracles = ("torch", "sklearn", "safetensors", "tokenizers")
    missing = [name for name in oracles if importlib.util.find_spec(name) is None]
    if missing:
        terminalreporter.write_line(
            f"oracles missing: {', '.join(missing)}; their parity tests skipped. Install them "
            'with: pip install -e ".[test,oracle]"'
        )


@pytest.fixture
def no_leaked_segments() -> Any:
    """The test leaves /dev/shm as it found it: ``spawn`` unlinks its shared memory on every exit
    path. (This process's segments only, named after it: other programs may use /dev/shm.)"""
    from minillm.parallel import shm

    def mine() -> set[str]:
        if not os.path.isdir("/dev/shm"):
            return set()
        prefix = f"{shm.SEGMENT_PREFIX}{os.getpid()}_"
        return {name for name in os.listdir("/dev/shm") if name.startswith(prefix)}

    before = mine()
    yield
    assert mine() - before == set()


@pytest.fixture
def mpiexec() -> str:
    """The path of ``mpiexec`` (MPICH's, beside this Python when the ``mpi`` extra is installed),
    or a skip when mpi4py or mpiexec is missing."""
    import shutil
    import sys
    from pathlib import Path

    pytest.importorskip("mpi4py")
    found = shutil.which("mpiexec", path=str(Path(sys.executable).parent)) or shutil.which(
        "mpiexec"
    )
    if found is None:
        pytest.skip('no mpiexec (pip install -e ".[mpi]" brings MPICH\'s)')
    return found
