"""The main job end to end: ``train``, ``generate``, ``--resume`` bit for bit, and failures."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from minillm import io
from minillm.cli import main
from minillm.data.corpus import load_corpus

TINY = [
    "--n-layer",
    "1",
    "--n-head",
    "2",
    "--n-embd",
    "16",
    "--block-size",
    "16",
    "--batch-size",
    "4",
    "--warmup",
    "2",
    "--eval-interval",
    "3",
    "--eval-iters",
    "2",
    "--sample-tokens",
    "20",
    "--no-progress",
    "--seed",
    "7",
]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("corpus") / "text.txt"
    path.write_text("def add(a, b):\n    return a + b\n\nclass Point:\n    x: int\n" * 40)
    return path


def weights(out: Path) -> dict[str, np.ndarray]:
    return {k: np.array(v.data) for k, v in io.load(out / "ckpt.safetensors").items()}


def test_train_generate_and_resume_bit_exact(corpus, tmp_path, capsys):
    straight, split = tmp_path / "straight", tmp_path / "split"
    args = ["train", "--data", str(corpus), "--max-steps", "6", *TINY]
    assert main([*args, "--out-dir", str(straight)]) == 0
    out = capsys.readouterr().out
    assert "val loss" in out and "bits/char" in out and "--- a sample ---" in out
    last = json.loads((straight / "metrics.jsonl").read_text().splitlines()[-1])
    # the char tokenizer: one character per token, so bits per char is the loss in bits
    assert last["val_bits_per_char"] == pytest.approx(last["val_loss"] / math.log(2))
    assert last["val_perplexity"] == pytest.approx(math.exp(last["val_loss"]))
    assert last["val_bits_per_byte"] <= last["val_bits_per_char"]  # a byte or more per character
    assert main([*args, "--out-dir", str(split), "--stop-after", "4"]) == 0
    metrics = [json.loads(ln) for ln in (split / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in metrics] == [0, 1, 2, 3]
    # resume in a fresh process: nothing may leak through this interpreter's state
    subprocess.run(
        [sys.executable, "-m", "minillm", *args, "--out-dir", str(split), "--resume"],
        check=True,
        capture_output=True,
    )
    a, b = weights(straight), weights(split)
    assert a.keys() == b.keys()
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)
    lines = [json.loads(ln) for ln in (straight / "metrics.jsonl").read_text().splitlines()]
    resumed = [json.loads(ln) for ln in (split / "metrics.jsonl").read_text().splitlines()]
    assert [m["loss"] for m in lines] == [m["loss"] for m in resumed]

    capsys.readouterr()
    assert (
        main(
            [
                "generate",
                "--out-dir",
                str(straight),
                "--prompt",
                "def ",
                "--max-new-tokens",
                "15",
                "--seed",
                "1",
                "--trace",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert out.startswith("def ") and "time to first token" in out


def test_bpe_run_and_batched_prompts(corpus, tmp_path, capsys):
    out = tmp_path / "bpe"
    args = ["train", "--data", str(corpus), "--tokenizer", "bpe", "--vocab-size", "300"]
    assert main([*args, "--max-steps", "3", "--out-dir", str(out), "--threads", "1", *TINY]) == 0
    assert json.loads((out / "tokenizer.json").read_text())["type"] != "char"
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("def add\nclass Po\n")
    capsys.readouterr()
    assert (
        main(
            [
                "generate",
                "--out-dir",
                str(out),
                "--prompts",
                str(prompts),
                "--max-new-tokens",
                "5",
                "--seed",
                "0",
            ]
        )
        == 0
    )
    text = capsys.readouterr().out
    assert "=== 'def add'" in text and "=== 'class Po'" in text


def test_clear_errors(tmp_path, capsys):
    assert main(["train", "--data", str(tmp_path / "missing.txt"), "--out-dir", str(tmp_path)]) == 2
    assert "does not exist" in capsys.readouterr().err
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"hello \xff world")
    with pytest.raises(ValueError, match=r"bad.txt: not valid UTF-8 at byte offset 6"):
        load_corpus(bad)
    assert main(["generate", "--out-dir", str(tmp_path / "nothing")]) == 2
    assert "train a model first" in capsys.readouterr().err
    assert main(["train", "--resume", "--out-dir", str(tmp_path / "nothing"), "--no-progress"]) == 2
    assert "start a fresh run" in capsys.readouterr().err


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(corpus, tmp_path, capsys):
    out = tmp_path / "nan"
    args = ["train", "--data", str(corpus), "--out-dir", str(out), *TINY]
    assert main([*args, "--max-steps", "3"]) == 0
    good = weights(out)
    code = main([*args, "--max-steps", "6", "--resume", "--lr", "1e30"])
    assert code == 1
    assert "at step" in capsys.readouterr().err
    after = weights(out)
    for name in good:
        np.testing.assert_array_equal(good[name], after[name])


def test_folder_corpus_and_builtin(tmp_path):
    (tmp_path / "a.txt").write_text("alpha")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.txt").write_text("beta")
    (tmp_path / ".hidden").write_text("secret")
    text = load_corpus(tmp_path).text
    assert text == "alpha\n\nbeta"
    builtin = load_corpus(None)
    assert builtin.name == "python-docs" and len(builtin.text) > 400_000


def test_ctrl_c_saves_a_checkpoint_and_resume_continues(corpus, tmp_path):
    import signal
    import time

    out = tmp_path / "interrupted"
    cmd = [sys.executable, "-m", "minillm", "train", "--data", str(corpus), "--out-dir", str(out),
           *TINY, "--max-steps", "100000", "--eval-interval", "100000"]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    metrics = out / "metrics.jsonl"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if metrics.exists() and len(metrics.read_text().splitlines()) >= 3:
            break
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    output, _ = proc.communicate(timeout=120)
    assert proc.returncode == 130, output
    assert "interrupted by SIGINT: saved a checkpoint" in output and "Traceback" not in output
    steps = len(metrics.read_text().splitlines())
    assert io.load_checkpoint(out / "ckpt.safetensors")["step"] == steps
    resumed = main(["train", "--data", str(corpus), "--out-dir", str(out), "--resume", *TINY,
                    "--max-steps", str(steps + 2), "--sample-tokens", "0"])  # fmt: skip
    assert resumed == 0
    assert len(metrics.read_text().splitlines()) == steps + 2


def test_resume_keeps_the_runs_own_settings(corpus, tmp_path):
    out = tmp_path / "keep"
    args = ["train", "--data", str(corpus), "--out-dir", str(out), *TINY]
    assert main([*args, "--max-steps", "2", "--batch-size", "2", "--lr", "1e-3"]) == 0
    from minillm.cli import _train_config, build_parser

    cfg = _train_config(build_parser().parse_args(["train", "--out-dir", str(out), "--resume"]))
    assert (cfg.batch_size, cfg.lr, cfg.max_steps, cfg.data) == (2, 1e-3, 2, str(corpus))
    cfg = _train_config(
        build_parser().parse_args(["train", "--out-dir", str(out), "--resume", "--max-steps", "9"])
    )
    assert cfg.max_steps == 9 and cfg.batch_size == 2  # a given flag overrides the saved value


def test_resume_refuses_a_changed_corpus(corpus, tmp_path, capsys):
    data = tmp_path / "data.txt"
    data.write_text(corpus.read_text())
    out = tmp_path / "changed"
    args = ["train", "--data", str(data), "--out-dir", str(out), *TINY]
    assert main([*args, "--max-steps", "2"]) == 0
    data.write_text(corpus.read_text().replace("add", "sub"))
    assert main(["train", "--out-dir", str(out), "--resume", "--no-progress"]) == 2
    assert "not the text this run started on" in capsys.readouterr().err


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_divergence_found_at_evaluation_keeps_the_last_good_checkpoint(corpus, tmp_path, capsys):
    out = tmp_path / "diverge"
    args = ["train", "--data", str(corpus), "--out-dir", str(out), *TINY, "--eval-interval", "1"]
    assert main([*args, "--max-steps", "2"]) == 0
    good = weights(out)
    assert main([*args, "--max-steps", "4", "--resume", "--lr", "1e30", "--min-lr", "1e30"]) == 1
    assert "last good checkpoint" in capsys.readouterr().err
    for name, value in weights(out).items():
        np.testing.assert_array_equal(value, good[name])
    for line in (out / "metrics.jsonl").read_text().splitlines():
        assert "NaN" not in line and "Infinity" not in line


def test_bad_settings_and_prompts_are_clear_errors(corpus, tmp_path, capsys):
    base = ["train", "--data", str(corpus), "--out-dir", str(tmp_path / "bad"), "--no-progress"]
    for flag, value, message in [
        ("--eval-interval", "0", "eval_interval must be at least 1"),
        ("--min-lr", "1", "min_lr <= lr"),
        ("--tokenizer", "words", "invalid choice: 'words'"),
        ("--val-fraction", "0.9999", "training split has"),
    ]:
        assert main([*base, flag, value]) == 2
        assert message in capsys.readouterr().err
    out = tmp_path / "ok"
    assert main(["train", "--data", str(corpus), "--out-dir", str(out), *TINY,
                 "--max-steps", "1"]) == 0  # fmt: skip
    capsys.readouterr()
    assert main(["generate", "--out-dir", str(out), "--prompt", "日本"]) == 2
    assert "can't be encoded" in capsys.readouterr().err


def test_streaming_holds_back_a_split_utf8_character(capsys):
    from minillm.inference.command import print_stream
    from minillm.tokenizers import ByteLevelBPETokenizer

    tok = ByteLevelBPETokenizer.train("plain text " * 20, 260)
    text = "日本語 héllo"
    print_stream(tok, [np.array([b]) for b in text.encode()], tok.encode("> "))
    assert capsys.readouterr().out == "> " + text + "\n"  # no replacement characters leaked


def test_resume_drops_a_metrics_line_cut_short(corpus, tmp_path):
    out = tmp_path / "cut"
    args = ["train", "--data", str(corpus), "--out-dir", str(out), *TINY, "--sample-tokens", "0"]
    assert main([*args, "--max-steps", "3"]) == 0
    metrics = out / "metrics.jsonl"
    with open(metrics, "a") as f:
        f.write('{"step": 3, "lo')  # the process died mid-append
    assert main([*args, "--max-steps", "5", "--resume"]) == 0
    steps = [json.loads(line)["step"] for line in metrics.read_text().splitlines()]
    assert steps == [0, 1, 2, 3, 4]


def test_folder_corpus_leaves_out_the_runs_own_output(tmp_path):
    (tmp_path / "a.txt").write_text("alpha")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "metrics.jsonl").write_text('{"step": 0}')
    text = load_corpus(tmp_path, exclude=tmp_path / "out").text
    assert text == "alpha"


def test_run_to_end_turns_every_way_a_run_ends_into_its_exit_status(capsys):
    from minillm.cli import run_to_end
    from minillm.training import DivergedError

    class Run:
        step = 7

        def __init__(self, outcome):
            self.outcome = outcome

        def kept(self):
            return "the checkpoint of step 5 is kept"

        def run(self, progress=None):
            if isinstance(self.outcome, BaseException):
                raise self.outcome
            return self.outcome

    assert run_to_end("distill", Run({"interrupted": None, "step": 7}), True) == (
        None, {"interrupted": None, "step": 7})  # fmt: skip
    assert run_to_end("distill", Run({"interrupted": 15}), True) == (143, {})
    assert run_to_end("distill", Run(DivergedError("NaN at step 7")), True) == (1, {})
    assert run_to_end("distill", Run(KeyboardInterrupt(2)), True) == (130, {})
    err = capsys.readouterr().err
    assert "minillm distill: NaN at step 7" in err
    assert "minillm distill: aborted during step 7. the checkpoint of step 5 is kept" in err
