"""A study: many short training runs of the main job, ranked by validation loss, resumable.

``minillm tune`` builds a ``Study`` and calls ``run``. Each trial is a real training run (the
``Trainer`` of ``minillm train``, in ``out/trial-NNN/``, which ``minillm generate --out-dir`` can
sample from) with the base settings plus the trial's proposed ones. The loop:

    for each trial not yet in trials.jsonl:
        params = propose(trial)                # grid, random, or Bayesian (the GP optimizer)
        run it; after each evaluation ask the pruner whether to stop (median / halving)
        append {trial, params, state, val_loss, curve, ...} to trials.jsonl

Who proposes:

    grid     every combination of each dimension's grid values (in order; --trials caps it)
    random   independent draws, trial i from a generator seeded with (seed, i)
    bayes    a Gaussian process fitted to the trials so far picks the point of largest expected
             improvement (``minillm.model_selection.Optimizer``), after ``initial_points``
             random ones. Trials still running are told the mean loss so far (the "constant
             liar"), so parallel workers do not all get the same point; pruned trials count
             with their last loss, failed ones with the worst loss seen plus one.

``study.json`` holds the settings and ``trials.jsonl`` one line per finished trial, written
whole and flushed, so a killed study continues with ``--resume`` (the same settings; a larger
``--trials`` extends it) from the first unfinished trial, which starts over. Trials run in
``jobs`` forked processes, each on one BLAS thread; only this process writes the study's files.

Read next: ``minillm/tuning/report.py`` (the results table and the plots).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import json
import multiprocessing
import os
import shutil
import signal
import time
from pathlib import Path
from typing import Any

import numpy as np

from minillm.io.atomic import atomic_write, write_json
from minillm.model_selection.bayes import Optimizer
from minillm.model_selection.search import ParameterGrid
from minillm.rundir import LOCK, RunLock, check_out_dir
from minillm.training.config import TrainConfig
from minillm.tuning import METHODS
from minillm.tuning.pruners import PRUNERS, Pruner
from minillm.tuning.space import as_setting, grid_values, parse_space

STUDY, TRIALS = "study.json", "trials.jsonl"


class StudyError(ValueError):
    """A study folder that cannot be used as asked (named, with what to do instead)."""


def run_trial(folder: str, index: int, params: dict, base: dict, prune: str, others: list,
              threads: int) -> dict[str, Any]:  # fmt: skip
    """Train one trial to the end or until the pruner stops it; its record for trials.jsonl."""
    from minillm.training import DivergedError, Trainer, TrainingError

    record: dict[str, Any] = {"trial": index, "params": params, "state": "failed",
                              "val_loss": None, "step": 0, "curve": {}, "error": None}  # fmt: skip
    values = {**base, **params, "out_dir": str(Path(folder) / f"trial-{index:03d}")}
    if "lr" in params and base.get("min_lr_follows_lr"):  # keep the base's min_lr / lr ratio
        values["min_lr"] = params["lr"] * base["min_lr"] / base["lr"]
    values.pop("min_lr_follows_lr", None)
    values.update(sample_tokens=0, stop_after=0, threads=threads or base.get("threads", 0))
    start = time.perf_counter()
    try:
        cfg = TrainConfig(**values)
    except ValueError as error:  # say n_head does not divide n_embd: this trial cannot run
        record["error"] = str(error)
        return record
    curve: dict[int, float] = {}
    pruner = Pruner(prune, others, cfg.eval_interval, warmup=cfg.warmup)

    def on_eval(step: int, metrics: dict) -> bool:
        curve[step] = metrics["val_loss"]
        return pruner.should_stop(step, curve, cfg.max_steps)

    try:
        with Trainer(cfg, overwrite=True, log=lambda *a: None) as trainer:
            result = trainer.run(progress=False, on_eval=on_eval)
    except (DivergedError, TrainingError, ValueError, OSError) as error:
        record.update(error=" ".join(str(error).split()), curve=curve)
        return record
    if result["interrupted"]:
        record["state"] = "interrupted"
        return record
    record.update(state="pruned" if result["stopped_early"] else "complete", step=result["step"],
                  val_loss=result.get("val_loss"), curve=curve,
                  seconds=round(time.perf_counter() - start, 3))  # fmt: skip
    return record


class Study:
    """The study in ``folder``: its settings, the finished trials, and the loop that adds more."""

    def __init__(self, folder: str, settings: dict[str, Any], resume: bool = False,
                 overwrite: bool = False, log: Any = print) -> None:  # fmt: skip
        self.folder, self.log = check_out_dir(folder), log
        self.dimensions = parse_space(settings["space"])
        if settings["method"] not in METHODS:
            raise StudyError(f"method must be one of {', '.join(METHODS)}")
        if settings["prune"] not in PRUNERS:
            raise StudyError(f"prune must be one of {', '.join(PRUNERS)}")
        self.settings = settings
        self._check_base()
        self.grid = None
        if settings["method"] == "grid":
            axes = {d.name: grid_values(d, settings["grid_points"]) for d in self.dimensions}
            self.grid = list(ParameterGrid(axes))
        self.folder.mkdir(parents=True, exist_ok=True)
        self.lock = RunLock(self.folder).acquire()
        try:
            self.trials = self._open(resume, overwrite)
        except BaseException:
            self.lock.release()
            raise

    def close(self) -> None:
        self.lock.release()

    def __enter__(self) -> Study:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _check_base(self) -> None:
        """Refuse, before any trial, what would make every trial fail: bad base settings, a
        missing corpus, or a range whose ends the base settings do not accept."""
        from minillm.data.corpus import load_corpus
        from minillm.model_selection.space import Categorical

        base = {k: v for k, v in self.settings["base"].items() if k != "min_lr_follows_lr"}
        base["out_dir"] = str(self.folder)
        TrainConfig(**base)
        if base.get("data") is not None:
            load_corpus(base["data"], exclude=self.folder, include=base.get("include"))
        for dim in self.dimensions:
            if isinstance(dim, Categorical):
                continue  # listed values may fail only together with others (n_head, n_embd)
            for end in dim.bounds:
                values = {**base, dim.name: as_setting(dim, end)}
                if dim.name == "lr" and self.settings["base"].get("min_lr_follows_lr"):
                    values["min_lr"] = end * base["min_lr"] / base["lr"]
                try:
                    TrainConfig(**values)
                except ValueError as error:
                    raise StudyError(f"--space {dim.name}: the end {end} of its range cannot "
                                     f"run: {error}") from None  # fmt: skip

    def _trial_count(self, saved: int | None) -> int:
        """--trials, else the saved count (a resumed study keeps its size), else 20 (a grid:
        all of it); never more than a grid has."""
        n = self.settings["trials"] or saved or (len(self.grid) if self.grid else 20)
        return min(n, len(self.grid)) if self.grid is not None else n

    # -- the folder ------------------------------------------------------------------------

    def _open(self, resume: bool, overwrite: bool) -> list[dict]:
        path = self.folder / STUDY
        saved: dict = {}
        if path.exists() and overwrite:
            for old in [self.folder / TRIALS, *self.folder.glob("trial-[0-9]*")]:
                shutil.rmtree(old) if old.is_dir() else old.unlink(missing_ok=True)
        elif path.exists() and not resume:
            raise StudyError(f"{self.folder} holds a study; continue it with --resume or start "
                             "over with --overwrite")  # fmt: skip
        elif path.exists():
            saved = json.loads(path.read_text())
            self._check_same(path, saved)
        elif resume:
            raise StudyError(f"--resume: {self.folder} holds no study ({STUDY} is missing)")
        elif any(p.name != LOCK for p in self.folder.iterdir()):
            raise StudyError(f"{self.folder} is not empty and holds no study; choose another "
                             "--out-dir")  # fmt: skip
        trials = read_trials(self.folder / TRIALS) if resume else []
        self.n_trials = self._trial_count(saved.get("trials") if resume else None)
        if len(trials) > self.n_trials:
            raise StudyError(f"{path}: the study already has {len(trials)} trials; --trials must "
                             f"be at least that, got {self.n_trials}")  # fmt: skip
        if resume:  # rewrite without a torn last line, so the next record starts a line
            with atomic_write(self.folder / TRIALS, "w") as f:
                f.writelines(json.dumps(t) + "\n" for t in trials)
        write_json(path, {**self.settings, "trials": self.n_trials})
        return trials

    def _check_same(self, path: Path, saved: dict) -> None:
        """A resumed study must have the settings it was started with (--trials aside); the
        first difference is named: a base setting by its name, the space by its meaning."""
        for key, value in self.settings.items():
            old = saved.get(key)
            if key == "trials":
                continue
            if key == "space":
                same = [repr(d) for d in parse_space(old or [])] == [repr(d) for d in
                                                                     self.dimensions]  # fmt: skip
            elif key == "base":
                changed = [k for k in sorted(set(value) | set(old or {}))
                           if (old or {}).get(k) != value.get(k)]  # fmt: skip
                if changed:
                    k = changed[0]
                    raise StudyError(
                        f"{path}: the study was started with {k}={(old or {}).get(k)!r}, not "
                        f"{value.get(k)!r}; resume it with its own settings or start over with "
                        "--overwrite"
                    )
                continue
            else:
                same = old == value
            if not same:
                raise StudyError(
                    f"{path}: the study was started with {key}={old!r}, not {value!r}; resume "
                    "it with its own settings or start over with --overwrite"
                )

    def _record(self, record: dict) -> None:
        with open(self.folder / TRIALS, "a") as f:
            f.write(json.dumps(record) + "\n")
            f.flush()
            os.fsync(f.fileno())
        self.trials.append(record)

    # -- proposals -------------------------------------------------------------------------

    def propose(self, index: int, running: list[dict]) -> dict[str, Any]:
        seed = self.settings["base"].get("seed", 0)
        if self.grid is not None:
            params = self.grid[index]
        elif self.settings["method"] == "random":
            rng = np.random.default_rng([seed, index])
            params = {d.name: d.rvs(1, rng)[0] for d in self.dimensions}
        else:
            params = self._bayes(np.random.default_rng([seed, index]), running)
        return {d.name: as_setting(d, params[d.name]) for d in self.dimensions}

    def _bayes(self, rng: np.random.Generator, running: list[dict]) -> dict[str, Any]:
        names = [d.name for d in self.dimensions]
        opt = Optimizer(self.dimensions, n_initial_points=self.settings["initial_points"],
                        random_state=rng)  # fmt: skip
        seen = [t for t in self.trials if t["val_loss"] is not None]
        worst = max((t["val_loss"] for t in seen), default=None)
        points, values = [], []
        for t in self.trials:
            if t["val_loss"] is not None or worst is not None:
                points.append([t["params"][n] for n in names])
                values.append(t["val_loss"] if t["val_loss"] is not None else worst + 1.0)
        if seen:
            liar = float(np.mean([t["val_loss"] for t in seen]))
            for params in running:
                points.append([params[n] for n in names])
                values.append(liar)
        if points:
            opt.tell(points, values)
        return dict(zip(names, opt.ask()))

    # -- the loop --------------------------------------------------------------------------

    def _say(self, record: dict) -> None:
        shown = " ".join(f"{k}={_short(v)}" for k, v in record["params"].items())
        if record["state"] == "failed":
            outcome = f"failed: {record['error']}"
        else:
            outcome = f"val loss {record['val_loss']:.4f} ({record['state']} at step " \
                      f"{record['step']}, {record.get('seconds', 0):.1f} s)"  # fmt: skip
        self.log(
            f"trial {record['trial']} ({len(self.trials)} of {self.n_trials} done): {shown} "
            f"-> {outcome}"
        )

    def run(self, jobs: int = 1) -> str | None:
        """Run every unfinished trial; returns None, or the state that stopped the study early
        ("interrupted")."""
        done = {t["trial"] for t in self.trials}
        todo = [i for i in range(self.n_trials) if i not in done]
        if done:
            self.log(f"continuing the study in {self.folder}: {len(done)} of {self.n_trials} "
                     "trials done")  # fmt: skip
        threads = 1 if jobs > 1 else 0
        args = (str(self.folder), self.settings["base"], self.settings["prune"])
        if jobs <= 1:
            for i in todo:
                record = run_trial(args[0], i, self.propose(i, []), args[1], args[2],
                                   self.trials, threads)  # fmt: skip
                if record["state"] == "interrupted":
                    return "interrupted"
                self._record(record)
                self._say(record)
            return None
        context = multiprocessing.get_context("fork")
        running: dict[concurrent.futures.Future, dict] = {}
        stopped = None
        with concurrent.futures.ProcessPoolExecutor(jobs, mp_context=context,
                                                    initializer=_worker_init) as pool:  # fmt: skip
            try:
                while (todo and stopped is None) or running:
                    while todo and stopped is None and len(running) < jobs:
                        i = todo.pop(0)
                        params = self.propose(i, list(running.values()))
                        future = pool.submit(run_trial, args[0], i, params, args[1], args[2],
                                             list(self.trials), threads)  # fmt: skip
                        running[future] = params
                    finished, _ = concurrent.futures.wait(
                        running, return_when=concurrent.futures.FIRST_COMPLETED
                    )
                    stopped = self._collect(finished, running) or stopped
            except KeyboardInterrupt:
                # The workers have sessions of their own (a terminal's Ctrl-C reaches only this
                # process), so each gets one SIGINT from here: a training one saves and stops
                # like a serial run, an idle one ignores it; trials that finish meanwhile are
                # still recorded.
                for child in multiprocessing.active_children():
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(child.pid, signal.SIGINT)
                self._collect(list(running), running)
                stopped = "interrupted"
        return stopped

    def _collect(self, finished: Any, running: dict) -> str | None:
        """Record the finished trials' results; "interrupted" if one of them was."""
        stopped = None
        for future in concurrent.futures.as_completed(finished):
            del running[future]
            record = future.result()
            if record["state"] == "interrupted":
                stopped = "interrupted"
                continue
            self._record(record)
            self._say(record)
        return stopped


def _worker_init() -> None:
    """A trial worker: in a session of its own, ignoring SIGINT except while a Trainer runs
    (which handles it: save, then stop)."""
    os.setsid()
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def read_trials(path: Path) -> list[dict]:
    """The records of trials.jsonl; a torn last line (a kill mid-write) is dropped."""
    if not path.exists():
        return []
    lines = path.read_text().splitlines()
    records = []
    for number, line in enumerate(lines, 1):
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            if number == len(lines):
                break
            raise StudyError(f"{path}, line {number}: not a JSON record") from None
        record["curve"] = {int(k): v for k, v in record.get("curve", {}).items()}
        records.append(record)
    return records
