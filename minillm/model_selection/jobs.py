"""Run independent tasks, one after another or in forked worker processes (``n_jobs``).

Cross-validation and the searches fit one model per (candidate, split) pair; the pairs share
nothing, so ``n_jobs`` processes can fit them at once. Workers are *forked*: each starts as a copy
of this process, so the estimator, the data and any lambda the user wrote are already there and
only a task's number crosses to the worker; its result (scores, times, and the fitted estimator
when asked for) comes back pickled through the pool's pipe, between our own processes. (So a
fitted estimator can come back only if it pickles: a ``module_factory`` written as a lambda does
not, and ``return_estimator=True`` with ``n_jobs > 1`` then says so.) Each
worker runs BLAS on one thread, so two workers on two cores do not fight over them. Results come
back in task order, so a parallel run returns what a serial one does.

Read next: ``minillm/model_selection/validation.py`` (the tasks: fit and score one split).
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.pool
import os
import warnings
from collections.abc import Callable, Sequence
from typing import Any

_work: tuple[Callable, Sequence[tuple]] | None = None  # set in the parent just before forking


def effective_n_jobs(n_jobs: int | None) -> int:
    """None and 1: one process; -1: one per core; -2: all cores but one (scikit-learn's rule)."""
    if n_jobs is None:
        return 1
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, int) or n_jobs == 0:
        raise ValueError(f"n_jobs must be a non-zero integer or None, got {n_jobs!r}")
    cores = os.cpu_count() or 1
    return n_jobs if n_jobs > 0 else max(1, cores + 1 + n_jobs)


def _one_thread() -> None:
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)


def _run(i: int) -> Any:
    assert _work is not None
    fn, tasks = _work
    return fn(*tasks[i])


def run_tasks(fn: Callable, tasks: Sequence[tuple], n_jobs: int | None = None) -> list[Any]:
    """``[fn(*t) for t in tasks]``, computed by up to ``n_jobs`` forked processes."""
    global _work
    workers = min(effective_n_jobs(n_jobs), len(tasks))
    if workers > 1 and "fork" not in multiprocessing.get_all_start_methods():
        warnings.warn("n_jobs > 1 needs the fork start method; running serially", stacklevel=2)
        workers = 1
    if workers <= 1:
        return [fn(*t) for t in tasks]
    _work = (fn, tasks)
    try:
        with multiprocessing.get_context("fork").Pool(workers, initializer=_one_thread) as pool:
            return pool.map(_run, range(len(tasks)), chunksize=1)
    except multiprocessing.pool.MaybeEncodingError as error:
        raise ValueError(
            "a worker's result could not be sent back (it does not pickle: a fitted estimator "
            "whose module_factory is a lambda, say); define the factory with def at module "
            f"level, or use n_jobs=1. ({type(error.exc).__name__}: {error.exc})"
        ) from None
    finally:
        _work = None
