"""Stopping a run cleanly: the first Ctrl-C or SIGTERM finishes the step; a second one aborts.

Read next: ``minillm/training/trainer.py`` (``Trainer.run``, which saves a checkpoint when asked to
stop).
"""

from __future__ import annotations

import signal
import threading
import time
from typing import Any


class StopOnSignal:
    """While active, a first SIGINT or SIGTERM only sets ``signal``; a second one aborts.

    SIGTERM is what ``timeout``, ``docker stop`` and batch schedulers send, so it gets the same
    grace as Ctrl-C: finish the step, save, exit with 128 + the signal's number. The handler only
    records the signal; the loop says so after the step (printing inside a signal handler can
    collide with a print it interrupted).
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)
    REPEAT = 1.0  # seconds within which the same signal counts once

    def __init__(self) -> None:
        self.signal: int | None = None
        self.when = 0.0
        self.previous: dict[int, Any] = {}

    @property
    def name(self) -> str:
        return "Ctrl-C" if self.signal == signal.SIGINT else signal.Signals(self.signal).name

    def _handler(self, signum: int, frame: Any) -> None:
        if self.signal is not None:
            # the same signal again within a second is one event delivered twice (a signal to
            # the process group that the launcher of --nproc also passes on), not a second request
            if signum == self.signal and time.monotonic() - self.when < self.REPEAT:
                return
            raise KeyboardInterrupt(signum)
        self.signal, self.when = signum, time.monotonic()

    def __enter__(self) -> StopOnSignal:
        if threading.current_thread() is threading.main_thread():
            self.previous = {s: signal.signal(s, self._handler) for s in self.SIGNALS}
        return self

    def __exit__(self, *exc: object) -> None:
        for s, handler in self.previous.items():
            signal.signal(s, handler)
