"""Distillation against training from scratch: the same small student, steps and seeds.

The teacher is a trained run (by default ``out``, the main job: ``minillm train``). Each student
(2 blocks of width 64, the corpus and tokenizer of the teacher) trains ``--steps`` steps per seed,
once with ``minillm distill`` at each (temperature, alpha) below and once with ``minillm train``
from scratch, the same settings and seed otherwise (and once from scratch for ``--time-ratio``
times the steps: a distilled step also runs the teacher's forward, so this is the scratch
student given the same time); the final evaluation (``--eval-iters``
batches of the validation split, the same windows for every run of a seed) gives the loss. We
quote the median over seeds, and per seed the difference to the scratch student.

Run:  python benchmarks/bench_distill.py --teacher out      (rewrites "Distillation" in RESULTS.md)
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import statistics
import sys
import time
from pathlib import Path
from tempfile import TemporaryDirectory

sys.path.insert(0, str(Path(__file__).parent))
from _common import machine, markdown_table, update_results

SETTINGS = ((2.0, 0.5), (4.0, 0.9))  # (temperature, alpha)


def final_val_loss(run: Path) -> float:
    lines = (run / "metrics.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines if "val_loss" in line][-1]["val_loss"]


def student_flags(args: argparse.Namespace, seed: int, out: Path, steps: int) -> list[str]:
    return ["--out-dir", str(out), "--n-layer", "2", "--n-head", "4", "--n-embd", "64",
            "--max-steps", str(steps), "--eval-interval", str(steps),
            "--eval-iters", str(args.eval_iters), "--warmup", "50", "--seed", str(seed),
            "--threads", str(args.threads), "--no-progress"]  # fmt: skip


def run_quietly(argv: list[str]) -> float:
    """Run ``minillm train|distill ARGV`` in this process, quietly; return its seconds."""
    from minillm.cli import main as cli
    from minillm.compress.command import add_distill_args, cmd_distill

    if argv[0] == "distill":  # the same flags as the subcommand, whether cli.py has it yet or not
        parser = argparse.ArgumentParser(prog="minillm distill")
        add_distill_args(parser)
        parsed = parser.parse_args(argv[1:])
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        status = cmd_distill(parsed) if argv[0] == "distill" else cli(argv)
    if status != 0:
        raise SystemExit(f"a run failed with status {status}")
    return time.perf_counter() - start


def main() -> None:
    from minillm.training import read_run_config

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--teacher", default="out")
    p.add_argument("--steps", type=int, default=600)
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--eval-iters", type=int, default=50)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--time-ratio", type=float, default=2.5,
                   help="a distilled step's time / a plain one's (about 2.5)")  # fmt: skip
    args = p.parse_args()
    teacher = Path(args.teacher)
    t_run = read_run_config(teacher)
    t_loss = final_val_loss(teacher)
    train = [f"{k}={t_run['train'][k]}" for k in ("n_layer", "n_embd", "max_steps")]
    data = [t_run["train"][k] for k in ("tokenizer", "block_size", "batch_size")]
    long_steps = round(args.steps * args.time_ratio)
    losses: dict[str, list[float]] = {}
    seconds: dict[str, list[float]] = {}
    with TemporaryDirectory() as tmp:
        for seed in range(args.seeds):
            runs = {"from scratch": ["train", "--sample-tokens", "0"]}
            # a teacher's forward per step costs time: scratch gets that time back as steps
            runs[f"from scratch, {long_steps} steps (about distillation's time)"] = runs[
                "from scratch"]  # fmt: skip
            for T, alpha in SETTINGS:
                runs[f"distilled, T={T:g}, alpha={alpha:g}"] = [
                    "distill", "--teacher", str(teacher), "--temperature", str(T),
                    "--alpha", str(alpha)]  # fmt: skip
            for i, (name, command) in enumerate(runs.items()):
                out = Path(tmp) / f"seed{seed}-run{i}"
                steps = long_steps if "steps (about" in name else args.steps
                argv = [*command, *student_flags(args, seed, out, steps)]
                seconds.setdefault(name, []).append(run_quietly(argv))
                losses.setdefault(name, []).append(final_val_loss(out))
                print(f"seed {seed}: {name}: val loss {losses[name][-1]:.4f} "
                      f"({seconds[name][-1]:.0f} s)", flush=True)  # fmt: skip
    scratch = losses["from scratch"]
    rows = []
    for name, values in losses.items():
        diffs = [v - s for v, s in zip(values, scratch)]
        better = sum(d < 0 for d in diffs)
        rows.append([name, f"{statistics.median(values):.4f}",
                     " / ".join(f"{v:.4f}" for v in values),
                     "" if name == "from scratch" else
                     f"{statistics.median(diffs):+.4f} ({better}/{len(diffs)} seeds better)",
                     f"{statistics.median(seconds[name]):.0f}"])  # fmt: skip
    table = markdown_table(["student", "val loss (median)", "per seed", "vs scratch (median)",
                            "s per run"], rows)  # fmt: skip
    command = f"python benchmarks/bench_distill.py --teacher {teacher} --steps {args.steps}"
    body = f"""Command: `{command} --seeds {args.seeds}` — machine: {machine()};
{args.threads} thread(s) per run, other work sharing the cores at times (so the seconds are
indicative).

Teacher: the main job's run (`minillm train`: {", ".join(train)}; {data[0]} tokens, windows of
{data[1]}, batches of {data[2]}), val loss {t_loss:.4f} at its last evaluation. Students: 2 blocks
of width 64 (4 heads), the teacher's corpus and tokenizer, {args.steps} steps of the same
schedule, seeds 0..{args.seeds - 1}; the val loss is the cross-entropy on the labels over
{args.eval_iters} validation batches (the same windows for every student of a seed).

{table}
"""
    update_results("Distillation", body)
    print(table)


if __name__ == "__main__":
    main()
