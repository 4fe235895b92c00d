"""``spawn``: run a function in N processes of this machine, as ``torch.multiprocessing.spawn``.

    def worker(rank, world_size):
        init_process_group("shm")              # reads RANK, WORLD_SIZE and the segment's name
        ...
    spawn(worker, nprocs=2, args=(2,))         # worker(0, 2) and worker(1, 2), in two processes

The parent creates the shared-memory segment (``shm.py``), starts the workers with ``RANK``,
``WORLD_SIZE``, ``LOCAL_RANK`` and ``MINILLM_SHM_NAME`` in their environment, and watches them:

* a worker that raises sends its traceback up its pipe and marks the segment failed, so its peers
  leave their barriers at once; the parent stops the rest and raises ProcessRaisedException, whose
  message names "rank N" and ends with the worker's traceback;
* a worker killed by a signal is reported by the signal's name (ProcessExitedException, "SIGKILL");
* the workers that are still running get a few seconds, then SIGTERM, then SIGKILL: nothing hangs;
* the segment is unlinked whatever happened (``finally``), and the workers exit with it closed;
* a SIGTERM or SIGINT to the parent is passed on to the workers.

Workers are forked by default (they start as copies of this process, so a function defined in a
script needs no import), or started fresh with ``start_method="spawn"``. ``spawn`` returns the
workers' return values, by rank (they come back pickled through a pipe between our own processes).

Read next: ``minillm/parallel/ddp.py`` (what the workers do with the group).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import multiprocessing.connection
import os
import signal
import time
import traceback
from collections.abc import Callable
from typing import Any

from minillm.parallel import shm

GRACE = 5.0  # seconds the surviving workers get to leave on their own after a failure
# errors a worker raises because of another (group.py): the parent looks for that other one
_SECONDARY = ("DistributedError", "PeerFailedError")
_SECONDARY_ERRORS = tuple((name,) for name in _SECONDARY)


class ProcessRaisedException(RuntimeError):  # noqa: N818 - torch.multiprocessing's name
    """A worker raised; ``rank`` is its rank and the message ends with its traceback."""

    def __init__(self, message: str, rank: int, error_type: str) -> None:
        super().__init__(message)
        self.rank, self.error_type = rank, error_type


class ProcessExitedException(RuntimeError):  # noqa: N818 - torch.multiprocessing's name
    """A worker ended without reporting: killed by a signal (``signal_name``) or ``os._exit``."""

    def __init__(self, message: str, rank: int, exit_code: int, signal_name: str | None) -> None:
        super().__init__(message)
        self.rank, self.exit_code, self.signal_name = rank, exit_code, signal_name


def _worker(fn: Callable, rank: int, nprocs: int, args: tuple, seg_name: str, conn: Any) -> None:
    """A worker's life: environment, ``fn(rank, *args)``, its result or traceback up the pipe."""
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(nprocs), LOCAL_RANK=str(rank),
                      LOCAL_WORLD_SIZE=str(nprocs), MINILLM_SHM_NAME=seg_name)  # fmt: skip
    signal.signal(signal.SIGINT, signal.default_int_handler)  # Ctrl-C raises, as in the parent
    status = 0
    try:
        result = fn(rank, *args)
        conn.send(("ok", result))
    except BaseException as e:  # report everything, KeyboardInterrupt included, then exit 1
        status = 1
        try:
            seg = shm.shared_memory.SharedMemory(name=seg_name)
            shm.mark_failed(seg, rank)
            seg.close()
        except OSError:
            pass
        message = "".join(traceback.format_exception(type(e), e, e.__traceback__))
        # (the parent may be gone)
        with contextlib.suppress(OSError, ValueError):
            conn.send(("error", type(e).__name__, str(e), message))
    finally:
        from minillm.parallel import group

        group.destroy_process_group()
        conn.close()
    os._exit(status)  # not sys.exit: no atexit handlers or buffers inherited from the parent


def _exit_reason(code: int | None) -> tuple[str, str | None]:
    if code is not None and code < 0:
        name = signal.Signals(-code).name
        return f"was killed by {name}", name
    return f"exited with status {code} without reporting", None


def spawn(
    fn: Callable[..., Any],
    nprocs: int = 1,
    args: tuple = (),
    start_method: str = "fork",
    slot_bytes: int = shm.SLOT_BYTES,
    box_bytes: int = shm.BOX_BYTES,
) -> list[Any]:
    """Run ``fn(rank, *args)`` for rank 0..nprocs-1, each in its own process; return the results.

    Raises ProcessRaisedException if a worker raised (message: "rank N raised ..." and the
    traceback), ProcessExitedException if one died without a word (killed by a signal). Either
    way the other workers are stopped and the shared memory is unlinked.

    >>> spawn(pow, nprocs=2, args=(3,))  # 0 ** 3, 1 ** 3, computed in two processes
    [0, 1]
    """
    if isinstance(nprocs, bool) or not isinstance(nprocs, int) or nprocs < 1:
        raise ValueError(f"spawn: nprocs must be a positive integer, got {nprocs!r}")
    context = multiprocessing.get_context(start_method)
    seg = shm.create_segment(nprocs, slot_bytes, box_bytes)
    procs, pipes, previous = [], [], {}
    try:
        for rank in range(nprocs):
            receive, send = context.Pipe(duplex=False)
            p = context.Process(target=_worker, args=(fn, rank, nprocs, tuple(args), seg.name,
                                                      send), daemon=False)  # fmt: skip
            p.start()
            send.close()
            procs.append(p)
            pipes.append(receive)
        previous = _pass_signals_on(procs)
        return _watch(procs, pipes, seg)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        _stop(procs)
        for conn in pipes:
            conn.close()
        seg.close()
        seg.unlink()


def _pass_signals_on(procs: list) -> dict:
    """While the workers run, a SIGTERM or SIGINT to this process is passed on to them (they stop
    as they would on their own). A terminal's Ctrl-C reaches every process of the foreground group,
    so a worker may see it twice: minillm's trainer counts the same signal within a second once
    (``minillm/training/signals.py``). Returns the handlers replaced."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        return {}

    def forward(signum: int, frame: Any) -> None:
        for p in procs:
            if p.exitcode is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(p.pid, signum)

    return {signal.SIGTERM: signal.signal(signal.SIGTERM, forward),
            signal.SIGINT: signal.signal(signal.SIGINT, forward)}  # fmt: skip


def _watch(procs: list, pipes: list, seg: Any) -> list[Any]:
    """Wait for every worker; on the first failure, mark the segment and raise for it."""
    results: dict[int, Any] = {}
    reports: dict[int, tuple] = {}
    running = set(range(len(procs)))
    while running:
        waitables = [procs[r].sentinel for r in running] + [pipes[r] for r in running]
        multiprocessing.connection.wait(waitables, timeout=1.0)
        for r in sorted(running):
            _read_report(pipes, reports, r)
            if procs[r].exitcode is None:
                continue
            _read_report(pipes, reports, r, wait=0.1)  # (it may have sent just before exiting)
            running.discard(r)
            report = reports.get(r, ("silent",))
            if report[0] == "ok":
                results[r] = report[1]
                continue
            shm.mark_failed(seg, r)
            raise _failure(r, procs[r].exitcode, report, procs, pipes, reports)
    return [results[r] for r in range(len(procs))]


def _read_report(pipes: list, reports: dict, r: int, wait: float = 0.0) -> None:
    """Worker ``r``'s report, if it has sent one (a pipe it closed unread counts as silent)."""
    if r not in reports and pipes[r].poll(wait):
        try:
            reports[r] = pipes[r].recv()
        except (EOFError, OSError):
            reports[r] = ("silent",)


def _failure(rank: int, code: int | None, report: tuple, procs: list, pipes: list,
             reports: dict) -> Exception:  # fmt: skip
    """The exception for the first failed worker. A worker that failed only because a peer died
    (DistributedError from a barrier) points at the real culprit, which is reported instead."""
    deadline = time.monotonic() + GRACE
    if report[0] == "error" and report[1] in _SECONDARY:
        for r, p in enumerate(procs):  # look for the root cause among the others
            p.join(max(0.0, deadline - time.monotonic()))
            _read_report(pipes, reports, r)
            other = reports.get(r, ("silent",))
            if r != rank and p.exitcode not in (None, 0) and other[1:2] not in _SECONDARY_ERRORS:
                return _failure(r, p.exitcode, other, procs, pipes, reports)
    if report[0] == "error":
        _, kind, text, tb = report
        return ProcessRaisedException(f"rank {rank} raised {kind}: {text}\n\n{tb}", rank, kind)
    reason, name = _exit_reason(code)
    return ProcessExitedException(f"rank {rank} {reason}", rank, code or 0, name)


def _stop(procs: list) -> None:
    """Give running workers GRACE seconds, then SIGTERM, then SIGKILL; reap them all."""
    deadline = time.monotonic() + GRACE
    for p in procs:
        p.join(max(0.0, deadline - time.monotonic()))
    for sig in (signal.SIGTERM, signal.SIGKILL):
        alive = [p for p in procs if p.exitcode is None]
        for p in alive:
            with contextlib.suppress(ProcessLookupError):
                os.kill(p.pid, sig)
        for p in alive:
            p.join(2.0)
