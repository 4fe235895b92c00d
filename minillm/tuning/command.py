"""The ``minillm tune`` command line: flags, checks, and the study from start to report.

    minillm tune --space "lr=loguniform(1e-4,3e-3)" --space "n_embd=choice(64,128)" \\
        --trials 20 --method bayes --max-steps 300 --jobs 2

Every training flag of ``minillm train`` sets the base settings of all trials (``--n-layer 2``,
``--data notes/``); ``--max-steps`` is each trial's length (default 300) and ``--eval-interval``
how often it is evaluated, and so how often it can be pruned (default: six times a run).

Read next: ``minillm/tuning/study.py``.
"""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

from minillm.tuning import METHODS
from minillm.tuning.pruners import PRUNERS


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {text}")
    return value


def add_tune_args(p: argparse.ArgumentParser) -> None:
    from minillm.cli import add_setting_flags
    from minillm.training import PRESETS

    p.add_argument("--space", action="append", default=[], metavar="NAME=DIST(ARGS)",
                   help="a setting to vary: loguniform(a,b), uniform(a,b), int(a,b), logint(a,b) "
                   "or choice(v1,v2,...); repeat for more settings (required)")  # fmt: skip
    p.add_argument("--method", choices=METHODS, default="bayes",
                   help="how trials are proposed (default: bayes)")  # fmt: skip
    p.add_argument("--trials", type=_positive, default=None,
                   help="how many trials (default: 20; a grid: all of it)")  # fmt: skip
    p.add_argument("--prune", choices=PRUNERS, default="median",
                   help="stop hopeless trials early: median rule, successive halving or none "
                   "(default: median)")  # fmt: skip
    p.add_argument("--jobs", type=_positive, default=1,
                   help="trials run at once, each in its own process (default: 1)")  # fmt: skip
    p.add_argument("--grid-points", type=_positive, default=3,
                   help="values per continuous range in a grid (default: 3)")  # fmt: skip
    p.add_argument("--initial-points", type=_positive, default=5,
                   help="random trials before the Bayesian model (default: 5)")  # fmt: skip
    p.add_argument("--preset", choices=sorted(PRESETS), default=None,
                   help="the base configuration of every trial (default: tiny)")  # fmt: skip
    mode = p.add_mutually_exclusive_group()
    mode.add_argument(
        "--resume",
        action="store_true",
        help="continue the study in --out-dir (same settings; --trials may grow)",
    )
    mode.add_argument(
        "--overwrite",
        action="store_true",
        help="start over in an --out-dir that holds a study, deleting its trials",
    )
    p.add_argument("--no-plot", action="store_true", help="skip objective.png and params.png")
    add_setting_flags(p, skip=("sample_tokens", "stop_after"))  # fmt: skip


def settings_of(args: argparse.Namespace) -> dict[str, Any]:
    """The study's settings (what --resume must match) from the parsed flags."""
    from minillm.training import PRESETS, TrainConfig

    base = {f.name: f.default for f in dataclasses.fields(TrainConfig)}
    base.update(PRESETS[args.preset or "tiny"])
    base["max_steps"] = 300
    for field in dataclasses.fields(TrainConfig):
        given = getattr(args, field.name, None)
        if given is not None:
            base[field.name] = given
    if args.eval_interval is None:
        base["eval_interval"] = max(1, base["max_steps"] // 6)
    base.pop("out_dir")
    names = [s.split("=", 1)[0].strip().replace("-", "_") for s in args.space]
    base["min_lr_follows_lr"] = "lr" in names and "min_lr" not in names and args.min_lr is None
    return {"space": list(args.space), "method": args.method, "trials": args.trials,
            "prune": args.prune, "grid_points": args.grid_points,
            "initial_points": args.initial_points, "base": base}  # fmt: skip


def cmd_tune(args: argparse.Namespace) -> int:
    from minillm.cli import _fail, say
    from minillm.training import TrainingError
    from minillm.tuning.report import plot, table, write_report
    from minillm.tuning.study import Study

    folder = args.out_dir or "tune-out"
    try:
        settings = settings_of(args)
        study = Study(folder, settings, resume=args.resume, overwrite=args.overwrite, log=say)
    except (OSError, ValueError, TrainingError) as e:
        return _fail("tune", e)
    with study:
        names = [d.name for d in study.dimensions]
        say(f"study in {study.folder}: {study.n_trials} {settings['method']} trials of "
            f"{settings['base']['max_steps']} steps over {', '.join(names)}; pruning: "
            f"{settings['prune']}")  # fmt: skip
        try:
            stopped = study.run(jobs=args.jobs)
        except OSError as e:
            return _fail("tune", e)
        if not study.trials:
            return _fail("tune", "stopped before any trial finished; continue with --resume", 130)
        say(table(study.trials, names))
        report = write_report(study.folder, study.trials, study.dimensions, settings)
        written = [report]
        if not args.no_plot:
            try:
                written += plot(study.folder, study.trials, study.dimensions)
            except ImportError:
                say('skipped the plots: matplotlib is not installed (pip install -e ".[plot]")')
        say("wrote " + ", ".join(str(p) for p in written))
        if stopped:
            return _fail("tune", f"{stopped}: {len(study.trials)} of {study.n_trials} trials "
                         "done; continue with --resume", 130)  # fmt: skip
        complete = [t for t in study.trials if t["state"] == "complete"]
        best = min(complete, key=lambda t: t["val_loss"], default=None)
        if best is None:
            return _fail("tune", "no trial finished (see the table for why)", 1)
        shown = " ".join(f"--{k.replace('_', '-')} {v}" for k, v in best["params"].items())
        say(f"best: trial {best['trial']} (val loss {best['val_loss']:.4f}): {shown}; its run is "
            f"in {study.folder}/trial-{best['trial']:03d}")  # fmt: skip
    return 0
