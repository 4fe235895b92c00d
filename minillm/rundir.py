"""A training run's output folder: one run per folder, nothing in it destroyed by accident.

A run folder holds ``config.json``, ``tokenizer.json``, ``ckpt.safetensors``, ``metrics.jsonl``,
a token cache and perhaps ``loss.png``. Hours of work live there, so this module guards it:

* ``check_out_dir`` refuses an empty path or a path that is a file, before anything is written;
* ``RunLock`` lets one process at a time train into a folder. It holds an exclusive ``flock`` on
  ``train.lock``, which holds the owner's PID. The kernel drops the lock when its process dies, by
  any means, ``kill -9`` included, so a lock left by a killed run is simply taken over: the stale
  PID in the file is how we can tell, and say so;
* ``remove_stale_temps`` deletes the ``.NAME.<32 hex>.tmp`` files that a kill during an atomic
  save of one of the run's files left behind, and nothing else (safe only while holding the lock:
  no other writer can be mid-save);
* ``describe_write_error`` turns a failed write (a full disk, a read-only folder, a file-size
  limit) into one line naming the file and the free space.

Whether a folder already holds a run, and what ``--overwrite`` removes, is decided in
``minillm/training/``, which knows the file names. Read next: ``minillm/io/atomic.py``.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from pathlib import Path
from typing import IO

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows has no flock
    fcntl = None  # type: ignore[assignment]

LOCK = "train.lock"


class RunDirError(ValueError):
    """The output folder cannot be used as asked; the message says why and what to do instead."""


def check_out_dir(out_dir: str | os.PathLike[str]) -> Path:
    """``out_dir`` as a Path, or RunDirError for an empty path or one that names a file."""
    if not os.fspath(out_dir).strip():
        raise RunDirError("--out-dir is empty; give a folder for the run (default: out)")
    path = Path(out_dir)
    if path.exists() and not path.is_dir():
        raise RunDirError(f"--out-dir {str(path)!r} is a file, not a folder; choose another path")
    return path


class RunLock:
    """An exclusive, non-blocking lock on ``folder/train.lock`` for the life of one run.

    ``acquire`` raises RunDirError naming the PID that holds the lock; ``release`` (also on
    ``__exit__``) empties the file and drops the lock. ``took_over`` is the PID of a run that died
    holding it, when there was one.
    """

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.path = Path(folder) / LOCK
        self.file: IO[str] | None = None
        self.took_over: int | None = None

    def acquire(self) -> RunLock:
        f = open(self.path, "a+", errors="replace")  # noqa: SIM115 - held for the whole run
        if fcntl is not None:
            try:
                fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                holder = _read_pid(f)
                f.close()
                who = f"PID {holder}" if holder is not None else "another process"
                raise RunDirError(
                    f"{self.path.parent} is in use by another minillm train ({who} holds "
                    f"{self.path}); wait for it to finish, stop it, or use another --out-dir"
                ) from None
        previous = _read_pid(f)
        if previous is not None and previous != os.getpid():
            self.took_over = previous
        f.seek(0)
        f.truncate()
        f.write(f"{os.getpid()}\n")
        f.flush()
        self.file = f
        return self

    def release(self) -> None:
        if self.file is None:
            return
        with contextlib.suppress(OSError):
            self.file.seek(0)
            self.file.truncate()  # an empty lock file: the run ended cleanly
        self.file.close()  # closing the descriptor drops the flock
        self.file = None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def _read_pid(f: IO[str]) -> int | None:
    f.seek(0)
    text = f.read().strip()
    return int(text) if text.isascii() and text.isdigit() else None


def remove_stale_temps(folder: str | os.PathLike[str], names: tuple[str, ...]) -> list[Path]:
    """Delete what ``io.atomic_write`` leaves when cut short while writing one of ``names`` in
    ``folder`` (``.NAME.<32 hex>.tmp``), or a token cache (``cache/.tokens-*.npy.<hex>.tmp``).

    Only those exact shapes go: a user's own ``.notes.tmp`` is never touched. Safe only while
    holding the folder's lock (no other writer can be mid-save). Returns what was removed.
    """
    folder = Path(folder)
    removed = []
    for target in (folder / name for name in names):
        pattern = re.compile(rf"\.{re.escape(target.name)}\.[0-9a-f]{{32}}\.tmp")
        for tmp in target.parent.glob(f".{target.name}.*.tmp"):
            if pattern.fullmatch(tmp.name) and tmp.is_file():
                with contextlib.suppress(FileNotFoundError):
                    tmp.unlink()
                    removed.append(tmp)
    for tmp in (folder / "cache").glob(".tokens-*.npy.*.tmp"):  # a cache that never landed
        if re.fullmatch(r"\.tokens-[0-9a-f]{16}\.npy\.[0-9a-f]{32}\.tmp", tmp.name):
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
                removed.append(tmp)
    return removed


def remove_empty_run_dir(folder: str | os.PathLike[str]) -> None:
    """Undo a run folder that was made by a run that never started: its lock, an empty cache
    folder, and the folder itself if nothing else is in it."""
    folder = Path(folder)
    with contextlib.suppress(OSError):
        (folder / LOCK).unlink()
        (folder / "cache").rmdir()
    with contextlib.suppress(OSError):
        folder.rmdir()


def check_data_outside(data: str | None, out: Path) -> None:
    """Refuse a --data folder that is the run folder or lies inside it: the run's own files would
    become its training text, and change under it. (A run folder inside the data folder is
    fine: the corpus reader leaves it out.)"""
    if data is None or not Path(data).is_dir():
        return
    d, o = Path(data).resolve(), out.resolve()
    if d == o or d.is_relative_to(o):
        raise RunDirError(
            f"--data {data!r} is the --out-dir {str(out)!r} or inside it; keep the text and "
            "the run's folder apart"
        )


def _human(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"  # pragma: no cover


def describe_write_error(path: str | os.PathLike[str], error: OSError) -> str:
    """One line for a failed write: the file, the system's reason, and the space left there.

    >>> import errno
    >>> describe_write_error("/", OSError(errno.ENOSPC, "No space left on device")).split(":")[0]
    'could not write /'
    """
    path = Path(path)
    reason = error.strerror or str(error)
    where = path if path.is_dir() else path.parent
    free = ""
    with contextlib.suppress(OSError):
        free = f"; {_human(shutil.disk_usage(where).free)} free in {where}"
    return f"could not write {path}: {reason}{free}"
