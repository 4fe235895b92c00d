"""``F.kl_div`` against PyTorch and the distillation loss: its value, gradients and edge cases."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest

import minillm
from minillm.nn import functional as F
from minillm.testing import gradcheck


@pytest.mark.filterwarnings("ignore:reduction")  # torch's note that 'mean' will change
@pytest.mark.parametrize("reduction", ["none", "sum", "mean", "batchmean"])
@pytest.mark.parametrize("log_target", [False, True])
def test_kl_div_matches_torch(reduction, log_target):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    x = np.log(rng.dirichlet(np.ones(5), 4))
    t = rng.dirichlet(np.ones(5), 4)
    if log_target:
        t = np.log(t)
    else:
        t[0, 1] = 0.0  # 0 log 0 = 0
    ours = F.kl_div(
        minillm.tensor(x), minillm.tensor(t), reduction=reduction, log_target=log_target
    )
    theirs = torch.nn.functional.kl_div(torch.from_numpy(x), torch.from_numpy(t),
                                        reduction=reduction, log_target=log_target)  # fmt: skip
    np.testing.assert_allclose(ours.data, theirs.numpy(), rtol=1e-12, atol=1e-12)


def test_distillation_loss_value_against_torch():
    torch = pytest.importorskip("torch")
    tf = torch.nn.functional
    rng = np.random.default_rng(1)
    s, t = rng.standard_normal((6, 7)), rng.standard_normal((6, 7))
    y = rng.integers(0, 7, 6)
    T, alpha = 3.0, 0.7
    ours = F.distillation_loss(minillm.tensor(s), minillm.tensor(t), minillm.tensor(y), T, alpha)
    ts, tt = torch.from_numpy(s), torch.from_numpy(t)
    soft = tf.kl_div(tf.log_softmax(ts / T, -1), tf.log_softmax(tt / T, -1), reduction="batchmean",
                     log_target=True)  # fmt: skip
    expected = alpha * T**2 * soft + (1 - alpha) * tf.cross_entropy(ts, torch.from_numpy(y))
    assert float(ours) == pytest.approx(float(expected), rel=1e-12)


@pytest.mark.parametrize("temperature,alpha", [(1.0, 0.5), (2.0, 0.9), (4.0, 0.0)])
def test_distillation_loss_gradcheck(temperature, alpha):
    rng = np.random.default_rng(2)
    s = minillm.tensor(rng.standard_normal((2, 3, 5)), dtype="float64", requires_grad=True)
    t = minillm.tensor(rng.standard_normal((2, 3, 5)), dtype="float64")
    y = minillm.tensor(rng.integers(0, 5, 6))
    assert gradcheck(lambda a: F.distillation_loss(a, t, y, temperature, alpha), [s])
    x = minillm.tensor(np.log(rng.dirichlet(np.ones(4), 3)), dtype="float64", requires_grad=True)
    p = minillm.tensor(rng.dirichlet(np.ones(4), 3), dtype="float64")
    assert gradcheck(lambda a: F.kl_div(a, p, reduction="batchmean"), [x])


def test_distillation_loss_checks_and_teacher_is_constant():
    s = minillm.tensor([[1.0, 2.0]], requires_grad=True)
    t = minillm.tensor([[0.0, 1.0]], requires_grad=True)
    F.distillation_loss(s, t, minillm.tensor([1])).backward()
    assert t.grad is None and s.grad is not None
    with pytest.raises(ValueError, match="differ"):
        F.distillation_loss(s, minillm.tensor([[1.0, 2.0, 3.0]]), minillm.tensor([0]))
    with pytest.raises(ValueError, match="temperature"):
        F.distillation_loss(s, t, minillm.tensor([0]), temperature=0.0)
    with pytest.raises(ValueError, match="alpha"):
        F.distillation_loss(s, t, minillm.tensor([0]), alpha=1.5)
    from minillm.compress import distillation_loss

    assert distillation_loss is F.distillation_loss


# ------------------------------------------------------------------ the Trainer with a teacher
_TINY = ["--n-layer", "1", "--n-head", "2", "--n-embd", "16", "--block-size", "16",
         "--batch-size", "4", "--warmup", "2", "--eval-interval", "4", "--eval-iters", "2",
         "--no-progress", "--max-steps", "4", "--threads", "1"]  # fmt: skip


@pytest.fixture(scope="module")
def teacher(tmp_path_factory):
    """A tiny trained teacher run (and its corpus)."""
    from minillm.cli import main

    tmp = tmp_path_factory.mktemp("teacher")
    corpus = tmp / "text.txt"
    corpus.write_text("def add(a, b):\n    return a + b\n" * 60)
    out = tmp / "teacher"
    args = ["train", "--data", str(corpus), "--out-dir", str(out), "--sample-tokens", "0"]
    assert main([*args, *_TINY[:-4], "--max-steps", "8", "--threads", "1"]) == 0
    return out


def _distill(args):
    from minillm.compress.command import add_distill_args, cmd_distill

    parser = argparse.ArgumentParser()
    add_distill_args(parser)
    return cmd_distill(parser.parse_args(args))


def test_distill_command_writes_a_student_that_generate_loads(teacher, tmp_path, capsys):
    from minillm.inference.command import load_model
    from minillm.training import read_run_config

    student = tmp_path / "student"
    flags = [f for f in _TINY if f != "--no-progress"]
    args = ["--teacher", str(teacher), "--out-dir", str(student), "--temperature", "3",
            "--alpha", "0.7", "--no-progress", *flags[:-2], "--n-embd", "8"]  # fmt: skip
    assert _distill([*args, "--threads", "1"]) == 0
    assert "the student's val loss" in capsys.readouterr().out
    records = [json.loads(line) for line in (student / "metrics.jsonl").read_text().splitlines()]
    assert all(np.isfinite(r["loss"]) for r in records) and np.isfinite(records[-1]["val_loss"])
    model, tokenizer = load_model(student)  # an ordinary run folder
    assert model.config.n_embd == 8
    assert tokenizer.to_dict() == load_model(teacher)[1].to_dict()
    run = read_run_config(student)
    assert run["distilled_from"] == {"teacher": str(teacher), "temperature": 3.0, "alpha": 0.7}
    assert run["train"]["data"] == read_run_config(teacher)["train"]["data"]  # inherited


def test_distill_refuses_bad_input_in_one_line(teacher, tmp_path, capsys):
    other = tmp_path / "other.txt"
    other.write_text("SOMETHING ELSE ENTIRELY, IN CAPITALS!\n" * 40)
    cases = [
        ["--teacher", str(tmp_path / "missing"), "--out-dir", str(tmp_path / "s1")],
        ["--teacher", str(teacher), "--out-dir", str(tmp_path / "s2"), "--data", str(other)],
        ["--teacher", str(teacher), "--out-dir", str(teacher)],
        ["--teacher", str(teacher)],  # no --out-dir
        ["--teacher", str(teacher), "--out-dir", str(tmp_path / "s3"), "--block-size", "64"],
    ]
    for args in cases:
        assert _distill(args) == 2, args
        err = capsys.readouterr().err
        assert err.startswith("minillm distill: ") and err.count("\n") == 1, err
    assert not any((tmp_path / f"s{i}").exists() for i in (1, 2, 3))  # nothing left behind
    with pytest.raises(SystemExit):
        _distill(["--teacher", str(teacher), "--alpha", "1.5"])


def test_a_teacher_with_alpha_zero_trains_exactly_as_without(teacher, tmp_path):
    """alpha = 0 leaves only the labels' term: the same updates, bit for bit, as no teacher
    (so the teacher's forward draws nothing from the training stream)."""
    from minillm.inference.command import load_model
    from minillm.training import Teacher, TrainConfig, Trainer

    def trained(out, with_teacher):
        settings = {**TrainConfig.of_run(teacher), "max_steps": 3, "n_embd": 8}
        cfg = TrainConfig(**{**settings, "out_dir": str(out)})
        model, tokenizer = load_model(teacher)
        t = Teacher(model, tokenizer, str(teacher), alpha=0.0) if with_teacher else None
        with Trainer(cfg, log=lambda *_: None, teacher=t) as trainer:
            trainer.run(progress=False)
            return {k: v.data.copy() for k, v in trainer.model.state_dict().items()}

    plain, distilled = trained(tmp_path / "a", False), trained(tmp_path / "b", True)
    for name, value in plain.items():
        np.testing.assert_array_equal(value, distilled[name], err_msg=name)
