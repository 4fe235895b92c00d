"""``minillm tune``: the --space language, the pruning rules on hand-made curves, and whole
studies of tiny trials (grid, random, bayes; serial and forked; killed and resumed)."""

from __future__ import annotations

import json

import pytest

from minillm import cli
from minillm.model_selection.space import Categorical, Integer, Real
from minillm.training import TrainConfig, Trainer
from minillm.tuning.pruners import Pruner
from minillm.tuning.space import grid_values, parse_dimension, parse_space
from minillm.tuning.study import read_trials

TINY = ["--n-layer", "1", "--n-head", "2", "--n-embd", "16", "--block-size", "16",
        "--batch-size", "4", "--eval-iters", "1", "--max-steps", "12", "--eval-interval", "4",
        "--warmup", "2"]  # fmt: skip


def test_space_strings_become_named_dimensions():
    lr = parse_dimension("lr=loguniform(1e-4, 3e-3)")
    assert isinstance(lr, Real) and lr.prior == "log-uniform" and lr.bounds == (1e-4, 3e-3)
    assert lr.name == "lr"
    layers = parse_dimension("n-layer=int(1,4)")
    assert isinstance(layers, Integer) and layers.name == "n_layer" and layers.bounds == (1, 4)
    width = parse_dimension("n_embd=choice(64,128)")
    assert isinstance(width, Categorical) and width.categories == (64, 128)
    assert parse_dimension("bias=choice(true,false)").categories == (True, False)
    assert parse_dimension("tokenizer=choice(char,bpe)").categories == ("char", "bpe")
    assert parse_dimension("batch_size=logint(4,64)").prior == "log-uniform"


@pytest.mark.parametrize(
    "spec, message",
    [
        ("lr", "name=distribution"),
        ("lr=normal(0,1)", "unknown distribution 'normal'"),
        ("n_embd=uniform(16,64)", "integer setting"),
        ("out_dir=choice(a,b)", "not a setting a study can vary"),
        ("max_steps=int(1,9)", "not a setting"),
        ("lr=loguniform(1e-3)", "two bounds"),
        ("lr=uniform(3,1)", "low < high"),
        ("lr=loguniform(0,1)", "low > 0"),
        ("n_embd=choice(64,64)", "distinct"),
        ("n_embd=choice(64,wide)", "whole number"),
        ("tokenizer=uniform(1,2)", "choice"),
    ],
)
def test_bad_space_strings_say_what_is_wrong(spec, message):
    with pytest.raises(ValueError, match=message):
        parse_dimension(spec)


def test_a_setting_named_twice_is_refused():
    with pytest.raises(ValueError, match="lr more than once"):
        parse_space(["lr=uniform(0.1,1)", "lr=choice(0.5)"])


def test_grid_values():
    assert grid_values(parse_dimension("lr=loguniform(1e-4,1e-2)"), 3) == pytest.approx(
        [1e-4, 1e-3, 1e-2]
    )
    assert grid_values(parse_dimension("dropout=uniform(0,0.2)"), 3) == pytest.approx([0, 0.1, 0.2])
    assert grid_values(parse_dimension("n_layer=int(1,3)"), 5) == [1, 2, 3]
    assert grid_values(parse_dimension("n_layer=int(1,9)"), 3) == [1, 5, 9]
    assert grid_values(parse_dimension("n_embd=choice(8,16)"), 3) == [8, 16]


def finished(*curves, state="complete"):
    return [{"state": state, "curve": dict(c)} for c in curves]


def test_median_rule():
    others = finished(*[{10: 3.0 + i, 20: 2.0 + i} for i in range(5)])  # medians 5.0 and 4.0
    pruner = Pruner("median", others, eval_interval=10)
    assert not pruner.should_stop(10, {10: 9.0}, 100)  # never at the first evaluation
    assert not pruner.should_stop(20, {10: 9.0, 20: 4.0}, 100)  # the median itself goes on
    assert pruner.should_stop(20, {10: 9.0, 20: 4.5}, 100)
    assert not pruner.should_stop(20, {10: 3.9, 20: 4.5}, 100)  # its best so far is below
    assert not Pruner("median", others[:4], 10).should_stop(20, {10: 9, 20: 9}, 100)  # startup
    assert not Pruner("median", others, 10, warmup=20).should_stop(20, {10: 9, 20: 9}, 100)


def test_successive_halving_keeps_the_best_third_of_each_rung():
    pruner = Pruner("halving", [], eval_interval=10, eta=3)
    assert pruner.rungs(100) == [10, 30, 90]
    others = finished({10: 1.0}, {10: 2.0}, {10: 4.0}, {10: 5.0}, {10: 6.0}, state="pruned")
    pruner = Pruner("halving", others, eval_interval=10, eta=3)
    assert not pruner.should_stop(10, {10: 2.0}, 100)  # 6 values at the rung: the best 2 go on
    assert pruner.should_stop(10, {10: 3.0}, 100)
    assert not pruner.should_stop(20, {10: 1.0, 20: 9.0}, 100)  # 20 is not a rung
    assert not Pruner("none", others, 10).should_stop(10, {10: 99.0}, 100)


def test_trainer_stops_when_on_eval_says_so(tmp_path):
    cfg = TrainConfig(out_dir=str(tmp_path / "run"), n_layer=1, n_head=2, n_embd=16,
                      block_size=16, batch_size=4, eval_iters=1, max_steps=12, eval_interval=4,
                      warmup=2, sample_tokens=0)  # fmt: skip
    seen = []
    with Trainer(cfg, log=lambda *a: None) as trainer:
        result = trainer.run(progress=False, on_eval=lambda step, m: seen.append(step) or step == 8)
    assert seen == [4, 8] and result["stopped_early"] and result["step"] == 8


def tune(tmp_path, *extra, out="study"):
    return cli.main(["tune", "--out-dir", str(tmp_path / out), *TINY, "--no-plot", *extra])


def test_a_grid_study_writes_its_files_and_ranks_the_trials(tmp_path, capsys):
    space = ["--space", "lr=loguniform(1e-3,1e-2)", "--space", "n_embd=choice(8,16)"]
    assert tune(tmp_path, *space, "--method", "grid", "--grid-points", "2", "--prune", "none") == 0
    folder = tmp_path / "study"
    trials = read_trials(folder / "trials.jsonl")
    assert [t["params"] for t in trials] == [
        {"lr": 1e-3, "n_embd": 8}, {"lr": 1e-3, "n_embd": 16},
        {"lr": 1e-2, "n_embd": 8}, {"lr": 1e-2, "n_embd": 16},
    ]  # fmt: skip
    assert all(t["state"] == "complete" and t["step"] == 12 for t in trials)
    assert all(sorted(t["curve"]) == [4, 8, 12] for t in trials)
    config = json.loads((folder / "trial-001" / "config.json").read_text())["train"]
    assert config["n_embd"] == 16 and config["lr"] == 1e-3 and config["max_steps"] == 12
    report = (folder / "results.md").read_text()
    best = min(trials, key=lambda t: t["val_loss"])
    assert report.splitlines()[6].startswith(f"| 1    | {best['trial']} ")
    out = capsys.readouterr().out
    assert f"best: trial {best['trial']}" in out and "--n-embd" in out


def test_a_study_resumes_and_grows_and_refuses_other_settings(tmp_path, capsys):
    space = ["--space", "lr=loguniform(1e-3,1e-2)", "--method", "random"]
    assert tune(tmp_path, *space, "--trials", "2") == 0
    path = tmp_path / "study" / "trials.jsonl"
    first = read_trials(path)
    with open(path, "a") as f:
        f.write('{"trial": 2, "par')  # a kill in the middle of writing the third record
    assert tune(tmp_path, *space, "--trials", "3") == 2
    assert "--resume" in capsys.readouterr().err
    assert tune(tmp_path, *space, "--trials", "3", "--resume") == 0
    after = read_trials(path)
    assert after[:2] == first and len(after) == 3 and after[2]["trial"] == 2
    assert tune(tmp_path, "--space", "lr=uniform(1e-3,1e-2)", "--method", "random",
                "--resume") == 2  # fmt: skip
    assert "was started with space=" in capsys.readouterr().err
    assert tune(tmp_path, *space, "--trials", "1", "--overwrite") == 0
    assert len(read_trials(path)) == 1


def test_random_and_bayes_are_reproducible_and_stay_in_the_space(tmp_path):
    space = ["--space", "lr=loguniform(1e-3,1e-2)", "--space", "n_layer=int(1,2)"]
    for method in ("random", "bayes"):
        runs = []
        for out in (f"{method}-a", f"{method}-b"):
            extra = ["--method", method, "--trials", "4", "--initial-points", "2"]
            assert tune(tmp_path, *space, *extra, out=out) == 0
            runs.append([t["params"] for t in read_trials(tmp_path / out / "trials.jsonl")])
        assert runs[0] == runs[1]
        assert all(1e-3 <= p["lr"] <= 1e-2 and p["n_layer"] in (1, 2) for p in runs[0])
        assert len({p["lr"] for p in runs[0]}) == 4


def test_parallel_trials_give_the_serial_results(tmp_path):
    space = ["--space", "lr=choice(0.001,0.01)", "--method", "grid", "--prune", "none"]
    assert tune(tmp_path, *space, "--threads", "1", out="serial") == 0
    assert tune(tmp_path, *space, "--jobs", "2", out="forked") == 0
    serial = read_trials(tmp_path / "serial" / "trials.jsonl")
    forked = sorted(read_trials(tmp_path / "forked" / "trials.jsonl"), key=lambda t: t["trial"])
    assert [t["params"] for t in serial] == [t["params"] for t in forked]
    assert [t["val_loss"] for t in serial] == [t["val_loss"] for t in forked]


def test_an_impossible_trial_fails_alone_and_bad_flags_exit_2(tmp_path, capsys):
    space = ["--space", "n_head=choice(2,3)", "--method", "grid"]
    assert tune(tmp_path, *space) == 0  # n_head=3 does not divide n_embd=16: that trial fails
    trials = read_trials(tmp_path / "study" / "trials.jsonl")
    assert [t["state"] for t in trials] == ["complete", "failed"]
    assert "must divide n_embd" in trials[1]["error"]
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    assert tune(tmp_path, *space, out="busy") == 2
    assert "not empty" in capsys.readouterr().err
    assert (tmp_path / "busy" / "notes.txt").read_text() == "mine"
    assert cli.main(["tune", "--out-dir", str(tmp_path / "x")]) == 2
    capsys.readouterr()
    assert tune(tmp_path, "--space", "dropout=choice(0.1)", "--lr", "-1", out="neg") == 2
    assert "need lr > 0" in capsys.readouterr().err and not (tmp_path / "neg").exists()


def test_resume_keeps_the_study_size_and_names_a_changed_setting(tmp_path, capsys):
    space = ["--space", "lr=loguniform(1e-3,1e-2)", "--method", "random"]
    assert tune(tmp_path, *space, "--trials", "2") == 0
    assert (
        tune(tmp_path, "--space", "lr=loguniform(1e-3, 1e-2)", "--method", "random", "--resume")
        == 0
    )  # fmt: skip (the same space, spelled with a space)
    assert len(read_trials(tmp_path / "study" / "trials.jsonl")) == 2  # not grown to 20
    capsys.readouterr()
    assert tune(tmp_path, *space, "--resume", "--trials", "1") == 2
    assert "already has 2 trials" in capsys.readouterr().err
    assert tune(tmp_path, *space, "--resume", "--n-layer", "2") == 2
    err = capsys.readouterr().err
    assert "started with n_layer=1, not 2" in err and len(err) < 300


def test_what_would_fail_every_trial_is_refused_before_any(tmp_path, capsys):
    assert tune(tmp_path, "--space", "lr=choice(0.01)", "--data", str(tmp_path / "nowhere")) == 2
    assert "nowhere" in capsys.readouterr().err and not (tmp_path / "study").exists()
    assert tune(tmp_path, "--space", "dropout=uniform(0,1.5)") == 2
    assert "the end 1.5 of its range cannot run" in capsys.readouterr().err


def test_a_tuned_lr_carries_min_lr_with_it(tmp_path):
    # the base min_lr is 2e-4; these learning rates are below it, and train with min_lr = lr / 10
    assert tune(tmp_path, "--space", "lr=loguniform(1e-5,1e-4)", "--method", "random",
                "--trials", "2", "--prune", "none") == 0  # fmt: skip
    trials = read_trials(tmp_path / "study" / "trials.jsonl")
    assert [t["state"] for t in trials] == ["complete", "complete"]
    config = json.loads((tmp_path / "study" / "trial-000" / "config.json").read_text())["train"]
    assert config["min_lr"] == pytest.approx(config["lr"] / 10)
