"""The main job never loses a run, and every bad input is one clear line (exit status 2).

Real files, real processes and real signals: each case checks the exit status, the message, and that
the files on disk are unchanged wherever nothing may be lost.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from minillm import io
from minillm.cli import build_parser, main
from minillm.rundir import RunLock

TINY = ["--n-layer", "1", "--n-head", "2", "--n-embd", "16", "--block-size", "16",
        "--batch-size", "4", "--warmup", "2", "--eval-interval", "3", "--eval-iters", "2",
        "--sample-tokens", "0", "--no-progress", "--seed", "7"]  # fmt: skip


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("corpus") / "text.txt"
    path.write_text("def add(a, b):\n    return a + b\n\nclass Point:\n    x: int\n" * 40)
    return path


@pytest.fixture(scope="module")
def run(corpus, tmp_path_factory) -> Path:
    """A finished 3-step run to copy from (tests must not change it)."""
    out = tmp_path_factory.mktemp("runs") / "done"
    assert main(["train", "--data", str(corpus), "--out-dir", str(out), *TINY,
                 "--max-steps", "3"]) == 0  # fmt: skip
    return out


def copy_run(src: Path, dst: Path) -> Path:
    dst.mkdir(parents=True)
    for f in src.iterdir():
        if f.is_file():
            (dst / f.name).write_bytes(f.read_bytes())
    return dst


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file below ``folder`` (the lock file aside) and its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != "train.lock"}  # fmt: skip


def minillm(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "minillm", *args], capture_output=True,
                          text=True, timeout=300, **kw)  # fmt: skip


def one_line_error(err: str, *needles: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


def wait_for_steps(metrics: Path, n: int, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if metrics.exists() and len(metrics.read_text().splitlines()) >= n:
            return
        time.sleep(0.05)
    raise AssertionError(f"the run never logged {n} steps")


# ----------------------------------------------------------------------- nothing is destroyed
def test_a_second_train_into_a_run_is_refused_and_overwrite_starts_over(run, corpus, tmp_path,
                                                                        capsys):  # fmt: skip
    out = copy_run(run, tmp_path / "again")
    before = snapshot(out)
    args = ["train", "--data", str(corpus), "--out-dir", str(out), *TINY, "--max-steps", "2"]
    assert main(args) == 2
    one_line_error(capsys.readouterr().err, "already holds a run", "--resume", "--overwrite")
    assert snapshot(out) == before
    assert main([*args, "--overwrite"]) == 0
    steps = [json.loads(ln)["step"] for ln in (out / "metrics.jsonl").read_text().splitlines()]
    assert steps == [0, 1] and io.load_checkpoint(out / "ckpt.safetensors")["step"] == 2


def test_the_default_out_dir_is_protected_too(run, corpus, tmp_path):
    copy_run(run, tmp_path / "out")
    before = snapshot(tmp_path / "out")
    proc = minillm("train", "--data", str(corpus), *TINY, cwd=tmp_path)
    assert proc.returncode == 2
    one_line_error(proc.stderr, "out already holds a run")
    assert snapshot(tmp_path / "out") == before


def test_an_empty_or_file_out_dir_is_a_clear_error(corpus, tmp_path, capsys):
    base = ["train", "--data", str(corpus), *TINY]
    assert main([*base, "--out-dir", ""]) == 2
    one_line_error(capsys.readouterr().err, "--out-dir is empty")
    assert main([*base, "--out-dir", str(corpus)]) == 2
    one_line_error(capsys.readouterr().err, "is a file, not a folder")
    assert main(["generate", "--out-dir", str(corpus)]) == 2


def test_a_locked_folder_is_refused_naming_the_pid(run, tmp_path, capsys):
    out = copy_run(run, tmp_path / "locked")
    before = snapshot(out)
    with RunLock(out):  # another open file description: flock conflicts within one process too
        for extra in ([], ["--resume", "--max-steps", "5"]):
            assert main(["train", "--out-dir", str(out), *TINY, *extra]) == 2
            one_line_error(capsys.readouterr().err, "in use", f"PID {os.getpid()}")
    assert snapshot(out) == before
    assert (out / "train.lock").read_text() == ""  # released cleanly: no PID left behind


def test_sigterm_saves_like_ctrl_c_and_the_lock_is_held_until_exit(corpus, tmp_path):
    out = tmp_path / "term"
    cmd = [sys.executable, "-m", "minillm", "train", "--data", str(corpus), "--out-dir", str(out),
           *TINY, "--max-steps", "100000", "--eval-interval", "100000"]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    wait_for_steps(out / "metrics.jsonl", 3, proc)
    second = minillm("train", "--out-dir", str(out), "--resume")
    assert second.returncode == 2
    one_line_error(second.stderr, "in use", f"PID {proc.pid}")
    proc.send_signal(signal.SIGTERM)
    output, _ = proc.communicate(timeout=120)
    assert proc.returncode == 143, output
    assert "interrupted by SIGTERM: saved a checkpoint" in output and "--resume" in output
    assert "Traceback" not in output
    steps = len((out / "metrics.jsonl").read_text().splitlines())
    assert io.load_checkpoint(out / "ckpt.safetensors")["step"] == steps
    assert (out / "train.lock").read_text() == ""


def test_a_killed_runs_lock_and_temp_files_are_taken_over(corpus, tmp_path):
    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "minillm", "train", "--data", str(corpus), "--out-dir", str(out),
           *TINY, "--max-steps", "100000"]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_steps(out / "metrics.jsonl", 4, proc)  # past the first checkpoint (step 3)
    proc.kill()
    proc.wait()
    assert (out / "train.lock").read_text().strip() == str(proc.pid)  # stale: its owner is gone
    cut = [out / f".ckpt.safetensors.{'0a' * 16}.tmp",
           out / "cache" / f".tokens-{'1b' * 8}.npy.{'2c' * 16}.tmp"]  # fmt: skip
    for tmp in cut:
        tmp.write_bytes(b"half a file")
    mine = out / ".notes.tmp"  # a user's own file that only looks like a temp file
    mine.write_text("keep me")
    step = io.load_checkpoint(out / "ckpt.safetensors")["step"]
    resumed = minillm("train", "--out-dir", str(out), "--resume", "--max-steps", str(step + 1))
    assert resumed.returncode == 0, resumed.stderr
    assert f"PID {proc.pid} ended without releasing" in resumed.stdout
    assert all(not tmp.exists() for tmp in cut) and mine.read_text() == "keep me"
    assert io.load_checkpoint(out / "ckpt.safetensors")["step"] == step + 1


def _file_size_limit(limit: int):
    def apply() -> None:  # in the child: writes past ``limit`` bytes fail with EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def test_a_failed_checkpoint_write_names_the_file_and_keeps_the_old_one(run, tmp_path):
    out = copy_run(run, tmp_path / "full")
    ckpt = (out / "ckpt.safetensors").read_bytes()
    proc = minillm("train", "--out-dir", str(out), "--resume", "--max-steps", "6",
                   preexec_fn=_file_size_limit(len(ckpt) // 2))  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    one_line_error(proc.stderr, f"could not write {out / 'ckpt.safetensors'}", "free in")
    assert (out / "ckpt.safetensors").read_bytes() == ckpt
    assert not list(out.glob(".*.tmp"))


def test_a_failed_token_cache_write_names_the_file(corpus, tmp_path):
    out = tmp_path / "nocache"
    proc = minillm("train", "--data", str(corpus), "--out-dir", str(out), *TINY,
                   preexec_fn=_file_size_limit(1000))  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    one_line_error(proc.stderr, f"could not write {out / 'cache'}", "free in")


def test_a_read_only_folder_is_a_clear_error(run, tmp_path, monkeypatch, capsys):
    import errno

    import minillm.io.atomic as atomic

    out = copy_run(run, tmp_path / "ro")
    before = snapshot(out)
    real_open = os.open

    def read_only(path, flags, *args):  # what a read-only mount answers, even to root
        if str(path).endswith(".tmp"):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
        return real_open(path, flags, *args)

    monkeypatch.setattr(atomic.os, "open", read_only)
    assert main(["train", "--out-dir", str(out), "--resume", "--max-steps", "6"]) == 2
    one_line_error(capsys.readouterr().err, "could not write", "Read-only file system")
    assert snapshot(out) == before


def _craft(src: Path, dst: Path, change) -> Path:
    out = copy_run(src, dst)
    tree = io.load_tree(out / "ckpt.safetensors")
    change(tree)
    io.save_tree(tree, out / "ckpt.safetensors", kind="checkpoint")
    return out


@pytest.mark.parametrize(
    "name, change, message",
    [
        ("negative", lambda t: t.update(step=-4), "step -4"),
        ("model5", lambda t: t.update(model=5), "model state does not fit"),
        (
            "shapes",
            lambda t: t["model"].update({"transformer.wte.weight": np.zeros((3, 3), np.float32)}),
            "size mismatch for transformer.wte.weight",
        ),
        (
            "nan",
            lambda t: t["model"]["transformer.h.0.attn.c_attn.weight"].data.fill(np.nan),
            "holds NaN",
        ),
    ],
)
def test_a_crafted_checkpoint_is_refused_before_anything_changes(run, tmp_path, capsys, name,
                                                                  change, message):  # fmt: skip
    out = _craft(run, tmp_path / name, change)
    before = snapshot(out)
    assert main(["train", "--out-dir", str(out), "--resume", "--max-steps", "6"]) == 2
    one_line_error(capsys.readouterr().err, message)
    assert snapshot(out) == before


# ----------------------------------------------------------------------- resume means what it says
def test_flags_given_with_resume_are_kept_and_a_finished_run_says_so(run, tmp_path, capsys):
    out = copy_run(run, tmp_path / "longer")
    assert main(["train", "--out-dir", str(out), "--resume", "--max-steps", "5"]) == 0
    assert json.loads((out / "config.json").read_text())["train"]["max_steps"] == 5
    capsys.readouterr()
    before = snapshot(out)
    assert main(["train", "--out-dir", str(out), "--resume"]) == 0
    assert "already at step 5 of 5; pass --max-steps to go further" in capsys.readouterr().out
    assert snapshot(out) == before


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_divergence_before_any_checkpoint_does_not_claim_one(corpus, tmp_path, capsys):
    out = tmp_path / "early"
    args = ["train", "--data", str(corpus), "--out-dir", str(out), *TINY, "--lr", "1e30",
            "--min-lr", "1e30", "--eval-interval", "100", "--max-steps", "50"]  # fmt: skip
    assert main(args) == 1
    err = capsys.readouterr().err
    one_line_error(err, "No checkpoint was saved yet")
    assert "kept in" not in err and not (out / "ckpt.safetensors").exists()


# ----------------------------------------------------------------------- generate checks first
@pytest.mark.parametrize(
    "flags, message",
    [
        (["--top-k", "0"], "--top-k: must be >= 1"),
        (["--top-p", "1.5"], "--top-p: must be <= 1.0"),
        (["--top-p", "0"], "--top-p: must be > 0.0"),
        (["--temperature", "-1"], "--temperature: must be >= 0.0"),
        (["--temperature", "nan"], "--temperature: expected a finite number"),
        (["--max-new-tokens", "-5"], "--max-new-tokens: must be >= 0"),
        (["--seed", "-1"], "--seed: must be >= 0"),
        (["--seed", "x"], "--seed: expected a whole number"),
        (["--prompts", "missing.txt"], "missing.txt: No such file"),
    ],
)
def test_bad_generate_flags_fail_before_any_output(run, capsys, flags, message):
    assert main(["generate", "--out-dir", str(run), *flags]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    one_line_error(captured.err, message)


def test_a_binary_prompts_file_is_refused(run, tmp_path, capsys):
    binary = tmp_path / "prompts.bin"
    binary.write_bytes(b"def \x00\xff\xfe")
    assert main(["generate", "--out-dir", str(run), "--prompts", str(binary)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    one_line_error(captured.err, "not a text file", "NUL byte at offset 4")
    latin = tmp_path / "latin1.txt"
    latin.write_bytes("café\n".encode("latin-1"))
    assert main(["generate", "--out-dir", str(run), "--prompts", str(latin)]) == 2
    one_line_error(capsys.readouterr().err, "not UTF-8 text", "byte offset 3")


def test_generate_refuses_broken_or_mismatched_files(run, corpus, tmp_path, capsys):
    nan = _craft(
        run, tmp_path / "nan", lambda t: t["model"]["transformer.wpe.weight"].data.fill(np.inf)
    )
    assert main(["generate", "--out-dir", str(nan)]) == 2
    one_line_error(capsys.readouterr().err, "tensor transformer.wpe.weight holds NaN or infinity")

    other = tmp_path / "other"  # a run on another text: another character vocabulary
    text = tmp_path / "other.txt"
    text.write_text("zyxwvutsrqponmlkjihgfedcba0123456789 " * 50)
    assert main(["train", "--data", str(text), "--out-dir", str(other), *TINY,
                 "--max-steps", "1"]) == 0  # fmt: skip
    mixed = copy_run(run, tmp_path / "mixed")
    (mixed / "tokenizer.json").write_bytes((other / "tokenizer.json").read_bytes())
    capsys.readouterr()
    assert main(["generate", "--out-dir", str(mixed)]) == 2
    one_line_error(capsys.readouterr().err, "tokenizer is another run's")

    wider = copy_run(run, tmp_path / "wider")
    config = json.loads((wider / "config.json").read_text())
    config["model"]["n_embd"] = 32
    (wider / "config.json").write_text(json.dumps(config))
    assert main(["generate", "--out-dir", str(wider)]) == 2
    one_line_error(capsys.readouterr().err, "size mismatch for", "more problems)")


def test_greedy_is_deterministic_and_equals_temperature_zero(run, capsys):
    texts = []
    for flags in (["--greedy"], ["--greedy", "--seed", "3"], ["--temperature", "0"]):
        assert main(["generate", "--out-dir", str(run), "--prompt", "def ", "--max-new-tokens",
                     "12", *flags]) == 0  # fmt: skip
        texts.append(capsys.readouterr().out)
    assert texts[0] == texts[1] == texts[2] and texts[0].startswith("def ")


# ----------------------------------------------------------------------- threads, progress, help
def test_threads_above_the_cores_are_clamped_with_a_warning(run, capsys):
    from threadpoolctl import threadpool_info

    from minillm import kernels, machine

    cores = machine.available_cores()
    try:
        warning = machine.set_threads(cores + 7)
        assert warning is not None and f"using {cores}" in warning
        assert all(pool["num_threads"] <= cores for pool in threadpool_info())
        assert main(["generate", "--out-dir", str(run), "--threads", "999",
                     "--max-new-tokens", "3"]) == 0  # fmt: skip
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and f"--threads 999 is more than the {cores} cores" in err
    finally:
        machine.set_threads(cores)
        kernels.set_num_threads(cores)


def test_mfu_never_exceeds_one_and_the_peak_is_cached(run, tmp_path, monkeypatch):
    from minillm import machine

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    peak = machine.PeakFlops([(32, 16, 48)])
    cached = json.loads((tmp_path / "minillm" / "peak-flops.json").read_text())
    assert cached == {peak.key: peak.flops} and "BLAS threads" in peak.key
    monkeypatch.setattr(machine, "measure_gemm_flops", lambda *a, **k: pytest.fail("measured"))
    again = machine.PeakFlops([(32, 16, 48)])  # read back, not measured again
    assert again.flops == peak.flops
    again.observe(peak.flops * 2)  # this run's figure rises; the machine's cached one does not
    assert again.flops == peak.flops * 2 and machine.PeakFlops([]).flops == peak.flops
    rows = [json.loads(ln) for ln in (run / "metrics.jsonl").read_text().splitlines()]
    assert rows and all(0 < r["mfu"] <= 1.0 for r in rows)


def test_off_a_terminal_the_log_is_plain_lines(corpus, tmp_path):
    out = tmp_path / "plain"
    flags = [f for f in TINY if f != "--no-progress"]
    proc = minillm("train", "--data", str(corpus), "--out-dir", str(out), *flags,
                   "--max-steps", "40", "--eval-interval", "20")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "\r" not in proc.stdout + proc.stderr and "it/s" not in proc.stderr
    assert "step 2/40: loss" in proc.stdout and "step 20: train loss" in proc.stdout


def _actions(command: str):
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    return [a for a in sub.choices[command]._actions if a.dest != "help"]


@pytest.mark.parametrize("command", ["train", "generate"])
def test_every_flag_has_a_sentence_and_its_default(command):
    for action in _actions(command):
        assert action.help and len(action.help.split()) >= 4, action.option_strings
        if action.nargs != 0:  # a flag that takes a value says what it is when not given
            assert "default" in action.help, action.option_strings


def test_booleans_are_strict_and_tokenizer_is_a_choice(corpus, tmp_path, capsys):
    base = ["train", "--data", str(corpus), "--out-dir", str(tmp_path / "b"), *TINY]
    assert main([*base, "--bias", "maybe"]) == 2
    one_line_error(capsys.readouterr().err, "--bias", "expected true/false")
    assert main([*base, "--bias", "no", "--max-steps", "1"]) == 0
    assert json.loads((tmp_path / "b" / "config.json").read_text())["model"]["bias"] is False
    tokenizer = next(a for a in _actions("train") if a.dest == "tokenizer")
    assert tuple(tokenizer.choices) == ("char", "bpe")


def test_version(capsys):
    from minillm import __version__

    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"minillm {__version__}"


# ----------------------------------------------------------------------- notes a user needs
def test_bpe_says_when_the_vocabulary_was_not_reached(tmp_path, capsys):
    text = tmp_path / "short.txt"
    text.write_text("abab cdcd " * 60)
    args = ["train", "--data", str(text), "--out-dir", str(tmp_path / "bpe"), *TINY, "--tokenizer",
            "bpe", "--vocab-size", "2000", "--max-steps", "1", "--block-size", "4"]  # fmt: skip
    assert main(args) == 0
    assert "not the 2000 asked for" in capsys.readouterr().out


def test_a_folder_corpus_skips_binaries_caches_and_runs_with_a_note(run, tmp_path, capsys):
    from minillm.data.corpus import load_corpus

    data = tmp_path / "data"
    (data / "pkg" / "__pycache__").mkdir(parents=True)
    (data / "pkg" / "mod.py").write_text("def f():\n    return 1\n" * 30)
    (data / "pkg" / "__pycache__" / "mod.cpython-311.pyc").write_bytes(b"\x00\x01binary")
    (data / "notes.md").write_text("# notes\n" * 30)
    (data / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    copy_run(run, data / "old-run")  # another run's metrics.jsonl is not text to learn
    corpus = load_corpus(data)
    assert (
        corpus.text
        == (data / "notes.md").read_text() + "\n\n" + (data / "pkg" / "mod.py").read_text()
    )
    assert set(corpus.skipped) == {"logo.png", "old-run/", "pkg/__pycache__/"}
    assert load_corpus(data, include="*.py").text == (data / "pkg" / "mod.py").read_text()
    assert main(["train", "--data", str(data), "--include", "*.py,*.md", "--out-dir",
                 str(tmp_path / "o"), *TINY, "--max-steps", "1"]) == 0  # fmt: skip
    assert "skipped 2 binary files or cache folders" in capsys.readouterr().out
    assert main(["train", "--data", str(data), "--include", "*.rs", "--out-dir",
                 str(tmp_path / "o2"), *TINY]) == 2  # fmt: skip
    one_line_error(capsys.readouterr().err, "no text files matching --include '*.rs'")


def test_training_says_why_the_plot_was_skipped(run, tmp_path, monkeypatch, capsys):
    from minillm.training import TrainConfig, Trainer

    out = copy_run(run, tmp_path / "noplot")
    cfg = TrainConfig(**{**json.loads((out / "config.json").read_text())["train"],
                         "out_dir": str(out)})  # fmt: skip
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if it were not installed
    with Trainer(cfg, resume=True) as trainer:
        assert trainer.plot() is None
    assert 'loss.png skipped: matplotlib is not installed (pip install -e ".[plot]")' in (
        capsys.readouterr().out
    )


def test_train_ends_its_sample_with_a_separator(run, corpus, tmp_path, capsys):
    out = tmp_path / "sample"
    args = ["train", "--data", str(corpus), "--out-dir", str(out), *TINY, "--max-steps", "1",
            "--sample-tokens", "10"]  # fmt: skip
    assert main(args) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last == f"--- end of the sample; more with: minillm generate --out-dir {out} ---"


# ----------------------------------------------------------------------- found in review
def test_foreign_files_are_never_overwritten(corpus, tmp_path, capsys):
    project = tmp_path / "project"
    project.mkdir()
    (project / "config.json").write_text('{"my": "settings"}')
    (project / ".notes.tmp").write_text("draft")
    before = snapshot(project)
    args = ["train", "--data", str(corpus), "--out-dir", str(project), *TINY, "--max-steps", "1"]
    for extra in ([], ["--overwrite"]):
        assert main([*args, *extra]) == 2
        one_line_error(capsys.readouterr().err, "not a minillm run", "nothing there was changed")
        assert snapshot(project) == before


def test_a_run_that_never_started_leaves_no_folder(tmp_path, capsys):
    out = tmp_path / "never"
    assert main(["train", "--data", str(tmp_path / "missing.txt"), "--out-dir", str(out)]) == 2
    assert not out.exists()


def test_optimizer_flags_given_with_resume_are_used(run, tmp_path):
    out = copy_run(run, tmp_path / "opt")
    args = ["train", "--out-dir", str(out), "--resume", "--max-steps", "4", "--weight-decay",
            "0.5", "--beta1", "0.5"]  # fmt: skip
    assert main(args) == 0
    groups = io.load_checkpoint(out / "ckpt.safetensors")["optimizer"]["param_groups"]
    assert groups[0]["weight_decay"] == 0.5 and groups[1]["weight_decay"] == 0.0
    assert all(tuple(g["betas"]) == (0.5, 0.99) for g in groups)


def test_resume_refuses_what_it_cannot_honour(run, corpus, tmp_path, capsys):
    out = copy_run(run, tmp_path / "strict")
    before = snapshot(out)
    for flags, message in [
        (["--val-fraction", "0.3"], "val_fraction"),
        (["--preset", "small"], "--preset starts a new run"),
        (["--max-steps", "2"], "already at step 3, past --max-steps 2"),
    ]:
        code = main(["train", "--out-dir", str(out), "--resume", *flags])
        captured = capsys.readouterr()
        assert (code, message in captured.err + captured.out) == (0 if "past" in message else 2,
                                                                  True), captured  # fmt: skip
    assert snapshot(out) == before
    assert main(["train", "--out-dir", "", "--resume"]) == 2
    one_line_error(capsys.readouterr().err, "--out-dir is empty")


def test_resume_from_another_folder_names_the_corpus_by_any_path(run, corpus, tmp_path):
    out = copy_run(run, tmp_path / "moved")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    proc = minillm("train", "--out-dir", str(out), "--resume", "--max-steps", "4",
                   "--data", str(corpus.resolve()), cwd=elsewhere)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert io.load_checkpoint(out / "ckpt.safetensors")["step"] == 4


def test_a_hand_edited_config_is_named(run, tmp_path, capsys):
    for value in (None, [1], 2.5, True, "x"):
        out = copy_run(run, tmp_path / f"edited-{len(list(tmp_path.iterdir()))}")
        config = json.loads((out / "config.json").read_text())
        config["train"]["n_layer"] = value
        (out / "config.json").write_text(json.dumps(config))
        assert main(["train", "--out-dir", str(out), "--resume", "--max-steps", "5"]) == 2
        one_line_error(capsys.readouterr().err, "config.json: n_layer must be int")


def test_trace_files_are_checked_before_any_output(run, tmp_path, capsys):
    assert main(["generate", "--out-dir", str(run), "--trace-json", "/nonexistent/t.json"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    one_line_error(captured.err, "--trace-json /nonexistent/t.json: its folder does not exist")
    trace = tmp_path / "t.json"
    assert main(["generate", "--out-dir", str(run), "--max-new-tokens", "3",
                 "--trace-json", str(trace)]) == 0  # fmt: skip
    assert "time to first token" in capsys.readouterr().out  # --trace-json implies --trace
    assert json.loads(trace.read_text())["traceEvents"]


def test_train_piped_into_head_still_finishes_and_saves(corpus, tmp_path):
    out = tmp_path / "piped"
    cmd = [sys.executable, "-m", "minillm", "train", "--data", str(corpus), "--out-dir", str(out),
           *TINY, "--max-steps", "30", "--eval-interval", "10"]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.readline()
    proc.stdout.close()  # what `| head -1` does after its line
    proc.wait(timeout=300)
    assert proc.returncode == 0, proc.stderr.read()
    assert io.load_checkpoint(out / "ckpt.safetensors")["step"] == 30


def test_data_and_out_dir_must_be_apart(tmp_path, capsys):
    (tmp_path / "a.txt").write_text("some text " * 200)
    assert main(["train", "--data", str(tmp_path), "--out-dir", str(tmp_path), *TINY]) == 2
    one_line_error(capsys.readouterr().err, "keep the text and the run's folder apart")
    assert main(["train", "--data", str(tmp_path / "a.txt"), "--include", "*.txt",
                 "--out-dir", str(tmp_path / "o"), *TINY]) == 2  # fmt: skip
    one_line_error(capsys.readouterr().err, "--include picks files in a folder")


def test_non_finite_float_flags_are_usage_errors(corpus, tmp_path, capsys):
    for flag in ("--lr", "--grad-clip", "--dropout"):
        assert main(["train", "--data", str(corpus), "--out-dir", str(tmp_path / "f"), flag,
                     "inf"]) == 2  # fmt: skip
        one_line_error(capsys.readouterr().err, flag, "expected a finite number")


def test_a_broken_optimizer_state_is_refused(run, tmp_path, capsys):
    def poison(tree):
        moments = next(iter(tree["optimizer"]["state"].values()))
        moments["exp_avg_sq"].data.fill(-1.0)

    out = _craft(run, tmp_path / "adam", poison)
    before = snapshot(out)
    assert main(["train", "--out-dir", str(out), "--resume", "--max-steps", "6"]) == 2
    one_line_error(capsys.readouterr().err, "the optimizer's exp_avg_sq")
    assert snapshot(out) == before


def test_a_damaged_token_cache_is_encoded_again(run, tmp_path):
    out = copy_run(run, tmp_path / "badcache")
    (out / "cache").mkdir()
    for name in ("tokens-0000000000000000.npy",):
        (out / "cache" / name).write_bytes(b"garbage")
    (src,) = (run / "cache").glob("tokens-*.npy")
    (out / "cache" / src.name).write_bytes(b"not a npy file at all")
    assert main(["train", "--out-dir", str(out), "--resume", "--max-steps", "4"]) == 0
    assert np.load(out / "cache" / src.name).dtype == np.int32


def test_a_tiny_temperature_is_greedy_not_nan():
    from minillm.inference.sampling import probabilities, sample

    logits = np.array([[1.0, 2.0, 0.5]])
    assert probabilities(logits, temperature=1e-310).tolist() == [[0.0, 1.0, 0.0]]
    assert sample(logits, np.random.default_rng(0), temperature=1e-310).tolist() == [1]


# ----------------------------------------------------------------------- found in the second review
def test_generate_names_a_damaged_config(run, tmp_path, capsys):
    bad_model = '{"train": {}, "model": {"block_size": 1.5}}'
    for text, message in [("garbage", "not readable JSON"), (bad_model, "block_size is 1.5")]:
        out = copy_run(run, tmp_path / f"cfg{len(list(tmp_path.iterdir()))}")
        (out / "config.json").write_text(text)
        assert main(["generate", "--out-dir", str(out)]) == 2
        one_line_error(capsys.readouterr().err, message)


@pytest.mark.parametrize("flag, path, message", [
    ("--trace-png", "trace.txt", "name a .png, .svg or .pdf file"),
    ("--trace-png", "/tmp", "not a folder"),
    ("--trace-json", "/tmp", "not a folder"),
    ("--trace-json", "", "not a folder"),
])  # fmt: skip
def test_trace_paths_are_checked_first(run, capsys, flag, path, message):
    assert main(["generate", "--out-dir", str(run), flag, path]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    one_line_error(captured.err, message)


def test_a_checkpoint_missing_an_adam_moment_is_refused(run, tmp_path, capsys):
    def drop(tree):
        next(iter(tree["optimizer"]["state"].values())).pop("exp_avg_sq")

    out = _craft(run, tmp_path / "moment", drop)
    before = snapshot(out)
    assert main(["train", "--out-dir", str(out), "--resume", "--max-steps", "6"]) == 2
    one_line_error(capsys.readouterr().err, "lacks ['exp_avg_sq']")
    assert snapshot(out) == before


def test_train_survives_a_closed_or_full_stdout(corpus, tmp_path):
    for name, redirect in (("closed", {"stdout": subprocess.DEVNULL, "close_fds": True}),
                           ("full", {"stdout": open("/dev/full", "w")})):  # noqa: SIM115  # fmt: skip
        out = tmp_path / name
        cmd = [sys.executable, "-m", "minillm", "train", "--data", str(corpus), "--out-dir",
               str(out), *TINY, "--max-steps", "4"]  # fmt: skip
        if name == "closed":
            proc = subprocess.run(" ".join(cmd) + " >&-", shell=True, capture_output=False,
                                  stderr=subprocess.PIPE, text=True, timeout=300)  # fmt: skip
        else:
            proc = subprocess.run(cmd, stderr=subprocess.PIPE, text=True, timeout=300, **redirect)
        assert proc.returncode == 0, proc.stderr
        assert io.load_checkpoint(out / "ckpt.safetensors")["step"] == 4


def test_resume_refuses_another_seed_and_data_may_not_be_empty(run, tmp_path, capsys):
    out = copy_run(run, tmp_path / "seed")
    before = snapshot(out)
    assert main(["train", "--out-dir", str(out), "--resume", "--seed", "99"]) == 2
    one_line_error(capsys.readouterr().err, "seed")
    assert snapshot(out) == before
    assert main(["train", "--data", "", "--out-dir", str(tmp_path / "e"), *TINY]) == 2
    one_line_error(capsys.readouterr().err, "--data is empty")


@pytest.mark.filterwarnings("error::RuntimeWarning")
def test_divergence_is_one_line_without_numpy_warnings(corpus, tmp_path):
    out = tmp_path / "boom"
    flags = ["--lr", "1e30", "--min-lr", "0", "--warmup", "0", "--grad-clip", "1e30"]
    proc = minillm("train", "--data", str(corpus), "--out-dir", str(out), *TINY, *flags,
                   "--max-steps", "20")  # fmt: skip
    assert proc.returncode == 1
    one_line_error(proc.stderr, "became")
