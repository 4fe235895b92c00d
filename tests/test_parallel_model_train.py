"""``minillm train --nproc N --parallel tensor|pipeline``: the model split, the run unchanged.

End to end through the CLI: a run split across processes (tensor parallel, pipeline parallel,
and either combined with data parallel) follows one process's loss curve and reaches its weights
(float32: within the noise of summing in another order); its checkpoint is the one-process
format, so a run saved split resumes in one process and the other way round; flags that cannot
work are refused in one line.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from minillm.cli import main
from tests.test_parallel_train import TINY, assert_close, assert_same, losses, train

DEEP = ["--n-layer", "2", "--n-head", "4"]  # two layers: one per pipeline stage; heads to split
STEPS = ["--max-steps", "8", "--eval-interval", "4"]


@pytest.fixture(autouse=True)
def _short_timeout(monkeypatch):
    monkeypatch.setenv("MINILLM_PARALLEL_TIMEOUT", "30")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("corpus") / "text.txt"
    path.write_text("def add(a, b):\n    return a + b\n\nclass Point:\n    x: int\n" * 40)
    return path


@pytest.mark.parametrize(
    "layout",
    [
        ["--nproc", "2", "--parallel", "tensor"],
        ["--nproc", "2", "--parallel", "pipeline"],
        ["--nproc", "2", "--parallel", "pipeline", "--schedule", "gpipe"],
    ],
    ids=["tensor", "pipeline-1f1b", "pipeline-gpipe"],
)
def test_a_split_model_trains_as_one_process(corpus, tmp_path, layout, capfd):
    common = [*DEEP, *STEPS, "--batch-size", "2", "--grad-accum", "2"]
    assert train(corpus, tmp_path / "one", *common) == 0
    capfd.readouterr()
    assert train(corpus, tmp_path / "split", *common, *layout) == 0
    out = capfd.readouterr().out
    assert out.count("done: step 8") == 1  # only rank 0 speaks
    assert_close(tmp_path / "one", tmp_path / "split", atol=2e-5)
    config = json.loads((tmp_path / "split" / "config.json").read_text())
    assert config["parallel"].startswith(f"{layout[3]} parallel over 2")


@pytest.mark.parametrize("kind", ["tensor", "pipeline"])
def test_two_copies_of_a_split_model_train_data_parallel(corpus, tmp_path, kind, capfd):
    """4 processes = 2 data x 2 model: each copy reads half the batch (here 2 windows of 4)."""
    common = [*DEEP, *STEPS, "--grad-accum", "2"]
    assert train(corpus, tmp_path / "one", *common, "--batch-size", "4") == 0
    layout = ["--nproc", "4", "--parallel", kind, "--model-parallel", "2"]
    assert train(corpus, tmp_path / "grid", *common, "--batch-size", "2", *layout) == 0
    assert_close(tmp_path / "one", tmp_path / "grid", atol=2e-5)
    config = json.loads((tmp_path / "grid" / "config.json").read_text())
    assert config["parallel"].endswith("x 2 data parallel")


def test_a_split_checkpoint_resumes_in_one_process_and_back(corpus, tmp_path):
    common = [*DEEP, "--max-steps", "12", "--eval-interval", "4", "--batch-size", "2"]
    assert train(corpus, tmp_path / "straight", *common) == 0
    split = tmp_path / "split"
    tensor = ["--nproc", "2", "--parallel", "tensor"]
    assert train(corpus, split, *common, *tensor, "--stop-after", "4") == 0
    assert train(corpus, split, *DEEP, "--resume", "--stop-after", "4") == 0  # one process
    assert train(corpus, split, *DEEP, "--resume", "--nproc", "2", "--parallel", "pipeline") == 0
    assert len(losses(split)) == 12
    assert_close(tmp_path / "straight", split, atol=2e-5)


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--parallel", "tensor"], "give --nproc N"),
        (["--parallel", "pipeline", "--model-parallel", "2"], "give --nproc N"),
        (
            ["--nproc", "4", "--parallel", "tensor", "--model-parallel", "3"],
            "must be at least 2 and divide --nproc 4",
        ),
        (["--nproc", "2", "--parallel", "tensor", "--n-head", "3", "--n-embd", "24"], "--n-head 3"),
        (["--nproc", "3", "--parallel", "pipeline", "--n-layer", "2"], "at least 3 layers"),
        (["--nproc", "2", "--model-parallel", "2"], "--model-parallel needs --parallel"),
        (["--nproc", "2", "--parallel", "tensor", "--schedule", "gpipe"], "--schedule needs"),
        (["--nproc", "2", "--parallel", "tensor", "--health-every", "2"], "--health-every"),
    ],
)
def test_layouts_that_cannot_work_are_refused_in_one_line(corpus, tmp_path, flags, message,
                                                          capfd):  # fmt: skip
    out = tmp_path / "run"
    assert train(corpus, out, *STEPS, *flags) == 2
    err = capfd.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1, err
    assert not out.exists()  # nothing was made


@pytest.mark.parametrize("kind", ["tensor", "pipeline"])
def test_mpiexec_runs_a_split_model(corpus, tmp_path, mpiexec, kind):
    common = [*DEEP, *STEPS, "--batch-size", "2", "--grad-accum", "2"]
    assert main(["train", "--data", str(corpus), "--out-dir", str(tmp_path / "one"), *TINY,
                 *common]) == 0  # fmt: skip
    command = [mpiexec, "-n", "2", sys.executable, "-m", "minillm", "train", "--data",
               str(corpus), "--out-dir", str(tmp_path / "mpi"), *TINY, *common, "--backend",
               "mpi", "--parallel", kind]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("done: step 8") == 1
    assert_close(tmp_path / "one", tmp_path / "mpi", atol=2e-5)


def test_a_pipeline_without_micro_batches_says_what_it_wastes(corpus, tmp_path, capfd):
    flags = [*DEEP, "--max-steps", "2", "--eval-interval", "2", "--nproc", "2"]
    assert train(corpus, tmp_path / "run", *flags, "--parallel", "pipeline") == 0
    out = capfd.readouterr().out
    assert "leaves each stage idle 50% of the time; --grad-accum 8 would make it 11%" in out


def test_a_pipeline_evaluates_batches_its_micro_batches_do_not_divide(corpus, tmp_path):
    """Training feeds grad_accum x batch_size rows; evaluation feeds batch_size, which 3 micro-
    batches do not divide: it runs as many as divide (here 1)."""
    common = [*DEEP, *STEPS, "--batch-size", "2", "--grad-accum", "3"]
    assert train(corpus, tmp_path / "one", *common) == 0
    assert train(corpus, tmp_path / "pipe", *common, "--nproc", "2", "--parallel", "pipeline") == 0
    assert_close(tmp_path / "one", tmp_path / "pipe", atol=2e-5)


def test_a_pipeline_with_dropout_resumes_bit_for_bit(corpus, tmp_path):
    """Each stage draws its dropout masks from a stream of (seed, step, stage): a resumed run
    draws the same ones."""
    common = [
        *DEEP,
        "--max-steps",
        "8",
        "--eval-interval",
        "4",
        "--batch-size",
        "2",
        "--grad-accum",
        "2",
        "--dropout",
        "0.2",
        "--nproc",
        "2",
        "--parallel",
        "pipeline",
    ]
    assert train(corpus, tmp_path / "straight", *common) == 0
    assert train(corpus, tmp_path / "split", *common, "--stop-after", "4") == 0
    assert train(corpus, tmp_path / "split", *common, "--resume") == 0
    assert_same(tmp_path / "straight", tmp_path / "split")
