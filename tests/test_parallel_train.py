"""``minillm train --nproc N`` (and under mpiexec): one process's run with N times the batch.

The system properties of data-parallel training, end to end through the CLI: the loss curve and
weights of N processes with batch B equal one process with batch N·B (float32: within the noise
of summing in another order); resume is bit-exact and works on another N; a SIGTERM stops every
rank after the same step; a killed worker is reported by its signal, or, with --max-restarts,
the run restarts from its checkpoint and ends where an uninterrupted run ends.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from minillm import io
from minillm.cli import main

TINY = ["--n-layer", "1", "--n-head", "2", "--n-embd", "16", "--block-size", "16", "--warmup", "2",
        "--eval-iters", "2", "--sample-tokens", "0", "--no-progress", "--seed", "7"]  # fmt: skip


@pytest.fixture(autouse=True)
def _short_timeout(monkeypatch):
    """A rank that waits for a peer gives up after 30 s here, not 300: a bug fails, not hangs."""
    monkeypatch.setenv("MINILLM_PARALLEL_TIMEOUT", "30")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("corpus") / "text.txt"
    path.write_text("def add(a, b):\n    return a + b\n\nclass Point:\n    x: int\n" * 40)
    return path


def weights(out: Path) -> dict[str, np.ndarray]:
    """The checkpoint's model and optimizer tensors (not NumPy's legacy global generator, whose
    state is whatever the process had: the runs compared here started in different processes)."""
    tensors = io.load(out / "ckpt.safetensors")
    return {k: np.array(v.data) for k, v in tensors.items() if not k.startswith("rng/")}


def minillm_rng(out: Path) -> dict:
    _, metadata = io.load(out / "ckpt.safetensors", with_metadata=True)
    return json.loads(metadata["minillm"])["tree"]["rng"]["minillm"]


def losses(out: Path) -> list[float]:
    return [json.loads(line)["loss"] for line in (out / "metrics.jsonl").read_text().splitlines()]


def train(corpus: Path, out: Path, *extra: str) -> int:
    return main(["train", "--data", str(corpus), "--out-dir", str(out), *TINY, *extra])


def assert_close(a: Path, b: Path, atol: float) -> None:
    np.testing.assert_allclose(losses(a), losses(b), rtol=0, atol=atol)
    wa, wb = weights(a), weights(b)
    assert wa.keys() == wb.keys()
    for name in wa:
        np.testing.assert_allclose(wa[name], wb[name], rtol=0, atol=atol, err_msg=name)


def assert_same(a: Path, b: Path) -> None:
    assert losses(a) == losses(b)
    assert minillm_rng(a) == minillm_rng(b)
    wa, wb = weights(a), weights(b)
    for name in wa:
        assert np.array_equal(wa[name], wb[name]), name


@pytest.mark.parametrize("nproc", [2, 3])
def test_n_processes_equal_one_process_with_n_times_the_batch(corpus, tmp_path, nproc, capfd):
    steps = ["--max-steps", "12", "--eval-interval", "6"]
    assert train(corpus, tmp_path / "one", "--batch-size", str(2 * nproc), *steps) == 0
    capfd.readouterr()
    assert train(corpus, tmp_path / "many", "--batch-size", "2", "--nproc", str(nproc), *steps) == 0
    out = capfd.readouterr().out
    assert out.count("done: step 12") == 1  # only rank 0 speaks
    assert_close(tmp_path / "one", tmp_path / "many", atol=2e-5)
    config = json.loads((tmp_path / "many" / "config.json").read_text())
    assert config["processes"] == nproc
    cache = tmp_path / "many" / "cache"
    assert len(os.listdir(cache)) == 1  # written once, by rank 0


def test_resume_is_bit_exact_and_works_on_another_n(corpus, tmp_path, capfd):
    steps = ["--max-steps", "12", "--eval-interval", "4", "--batch-size", "2"]
    assert train(corpus, tmp_path / "straight", *steps, "--nproc", "2") == 0
    assert train(corpus, tmp_path / "split", *steps, "--nproc", "2", "--stop-after", "5") == 0
    assert train(corpus, tmp_path / "split", "--resume", "--nproc", "2") == 0
    assert_same(tmp_path / "straight", tmp_path / "split")
    # the checkpoint is the one-process format: go on in one process with the whole batch
    assert train(corpus, tmp_path / "other", *steps, "--nproc", "2", "--stop-after", "5") == 0
    assert train(corpus, tmp_path / "other", "--resume", "--nproc", "1", "--batch-size", "4") == 0
    assert_close(tmp_path / "straight", tmp_path / "other", atol=2e-5)
    capfd.readouterr()


def test_bad_input_is_one_line_before_any_process_starts(corpus, tmp_path, capfd):
    assert main(["train", "--nproc", "0"]) == 2
    assert "--nproc: must be >= 1" in capfd.readouterr().err
    assert main(["train", "--backend", "mpi", "--nproc", "2"]) == 2
    assert "takes its process count from mpiexec -n" in capfd.readouterr().err
    out = tmp_path / "run"
    assert train(corpus, out, "--max-steps", "3", "--eval-interval", "3", "--nproc", "2") == 0
    capfd.readouterr()
    assert train(corpus, out, "--max-steps", "3", "--nproc", "2") == 2
    err = capfd.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "already holds a run" in err[0]


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "minillm", *args]


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def _wait_for(path: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} did not appear"
        time.sleep(0.01)


LONG = ["--max-steps", "400", "--eval-interval", "20", "--batch-size", "2", "--nproc", "2"]


def test_sigterm_stops_every_rank_after_the_same_step(corpus, tmp_path):
    out = tmp_path / "run"
    proc = subprocess.Popen(_cli("train", "--data", str(corpus), "--out-dir", str(out), *TINY,
                                 *LONG), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)  # fmt: skip
    _wait_for(out / "ckpt.safetensors")
    proc.send_signal(signal.SIGTERM)  # to the launcher, which passes it on
    text, _ = proc.communicate(timeout=120)
    assert proc.returncode == 143, text
    assert "continue with --resume" in text and "Traceback" not in text
    step = json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])["step"] + 1
    assert 20 <= step < 400
    assert main(["train", "--out-dir", str(out), "--resume", "--max-steps", str(step + 2)]) == 0


@pytest.mark.parametrize("restarts", [0, 1])
def test_a_killed_worker_stops_the_run_or_restarts_it(corpus, tmp_path, restarts):
    reference = tmp_path / "reference"
    if restarts:
        assert train(corpus, reference, *LONG) == 0
    out = tmp_path / "run"
    args = [*TINY, *LONG, "--max-restarts", str(restarts)]
    proc = subprocess.Popen(_cli("train", "--data", str(corpus), "--out-dir", str(out), *args),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    _wait_for(out / "ckpt.safetensors")
    workers = _children(proc.pid)
    assert len(workers) >= 2, workers
    os.kill(workers[-1], signal.SIGKILL)
    stdout, stderr = proc.communicate(timeout=180)
    if restarts == 0:
        assert proc.returncode == 1
        lines = stderr.strip().splitlines()
        assert len(lines) == 1 and "was killed by SIGKILL" in lines[0], stderr
        assert "the last checkpoint is kept" in lines[0]
    else:
        assert proc.returncode == 0, stderr
        assert "restart 1 of 1" in stdout
        assert_same(reference, out)


def test_mpiexec_runs_the_same_training(corpus, tmp_path, capfd, mpiexec):
    steps = ["--max-steps", "8", "--eval-interval", "4", "--batch-size", "2"]
    assert train(corpus, tmp_path / "shm", *steps, "--nproc", "2") == 0
    capfd.readouterr()
    args = ["--data", str(corpus), "--out-dir", str(tmp_path / "mpi"), *TINY, *steps]
    cmd = [mpiexec, "-n", "2", *_cli("train", *args, "--backend", "mpi")]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("done: step 8") == 1
    # two ranks: a + b is a + b whichever algorithm adds them, so the runs agree bit for bit
    assert_same(tmp_path / "shm", tmp_path / "mpi")
