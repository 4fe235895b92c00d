"""The exercises stay true: their checks pass on the solutions and fail on the untouched stubs
(so each check tests something), and every exercise named in docs/exercises.md has both files."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run_checks(solutions: bool) -> subprocess.CompletedProcess:
    env = {**os.environ, "MINILLM_EXERCISE_SOLUTIONS": "1" if solutions else ""}
    cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-m", "exercise",
           "exercises/test_exercises.py"]  # fmt: skip
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def test_the_checks_pass_on_the_solutions():
    done = _run_checks(solutions=True)
    assert done.returncode == 0, done.stdout[-3000:]
    assert re.search(r"\b8 passed\b", done.stdout)


def test_the_checks_fail_on_the_stubs():
    done = _run_checks(solutions=False)
    assert done.returncode == 1
    assert re.search(r"\b8 failed\b", done.stdout) and "NotImplementedError" in done.stdout


def test_each_exercise_has_a_stub_and_a_solution():
    text = (ROOT / "docs/exercises.md").read_text()
    stubs = set(re.findall(r"`exercises/(\w+\.py)`", text)) - {"test_exercises.py"}
    assert len(stubs) == 5
    for name in stubs:
        assert (ROOT / "exercises" / name).exists()
        assert (ROOT / "exercises/solutions" / name).exists()
        assert "NotImplementedError" in (ROOT / "exercises" / name).read_text()
