"""Running per-case jobs in worker processes, with a progress bar and per-case failure reporting."""

from __future__ import annotations

import logging
import multiprocessing
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any

log = logging.getLogger(__name__)

__all__ = ["run_jobs"]

_PR_SET_PDEATHSIG = 1


def die_with_parent(parent_pid: int) -> None:
    """Worker initializer: the kernel kills this process when its parent dies (even by SIGKILL).

    Linux ``prctl(PR_SET_PDEATHSIG, SIGKILL)``; elsewhere a no-op. If the parent is already gone when
    this runs (it died between fork and here), the worker exits at once.
    """
    import os
    import signal
    import sys

    if sys.platform.startswith("linux"):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) != 0:
            log.warning("prctl(PR_SET_PDEATHSIG) failed (errno %d)", ctypes.get_errno())
    if os.getppid() != parent_pid:
        os._exit(1)


def run_jobs(
    fn: Callable[[Any], Any], jobs: Sequence[Any], workers: int = 1, progress: bool = False, desc: str = "",
    unit: str = "case",
) -> list[Any]:
    """Runs ``fn(job)`` for every job; returns results in job order, an exception object for a failed job.

    With ``workers > 1`` the jobs run in that many worker processes (forked on Linux, spawned elsewhere),
    at most ``workers`` jobs in flight, so memory stays bounded by ``workers`` cases at a time. One
    failing job does not stop the others; a worker that dies (killed, out of memory) fails its job and
    the jobs not yet started. Workers die with this process (see :func:`die_with_parent`): a
    ``kill -9`` of the parent leaves no orphan holding a case in memory.

    Args:
        fn: a picklable top-level function of one argument.
        jobs: the arguments.
        workers: processes (1 = run here, in order).
        progress: show a tqdm bar.
        desc: the bar's label.
        unit: what one job is, for the bar.
    """
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    results: list[Any] = [None] * len(jobs)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(jobs), desc=desc, unit=unit)
    try:
        if workers == 1 or len(jobs) <= 1:
            for i, job in enumerate(jobs):
                try:
                    results[i] = fn(job)
                except Exception as e:
                    log.error("%s", e)
                    results[i] = e
                if bar is not None:
                    bar.update(1)
            return results
        method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
        ctx = multiprocessing.get_context(method)
        import os

        with ProcessPoolExecutor(
            max_workers=min(workers, len(jobs)), mp_context=ctx, initializer=die_with_parent,
            initargs=(os.getpid(),),
        ) as pool:
            pending: dict[Any, int] = {}
            next_job = 0
            while next_job < len(jobs) or pending:
                while next_job < len(jobs) and len(pending) < workers:
                    try:
                        pending[pool.submit(fn, jobs[next_job])] = next_job
                    except BrokenProcessPool as e:
                        results[next_job] = RuntimeError(f"worker process died: {e}")
                    next_job += 1
                if not pending:
                    continue
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    i = pending.pop(fut)
                    try:
                        results[i] = fut.result()
                    except Exception as e:
                        log.error("%s", e)
                        results[i] = e
                    if bar is not None:
                        bar.update(1)
        return results
    finally:
        if bar is not None:
            bar.close()
