"""Shared test setup: Hypothesis profiles and a fixed seed for every test.

Profiles: ``dev`` (the default; quick, random) and ``ci`` (more examples, a fixed sequence), chosen
by ``HYPOTHESIS_PROFILE``.
Both disable Hypothesis's per-example deadline: a kernel's first call compiles with Numba, which
would otherwise fail a timing check that has nothing to do with correctness.
"""

from __future__ import annotations

import os

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


def pytest_report_header(config: pytest.Config) -> str:
    """Say up front which outside oracles are missing, so their tests' skips are no surprise."""
    import importlib.util

    oracles = ("torch", "sklearn", "safetensors", "tokenizers")
    missing = [name for name in oracles if importlib.util.find_spec(name) is None]
    if not missing:
        return "oracles: all installed (PyTorch, scikit-learn, safetensors, tokenizers)"
    return (
        f"oracles missing: {', '.join(missing)}; their parity tests will skip. "
        'Install them with: pip install -e ".[test,oracle]"'
    )
