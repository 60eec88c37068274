"""run_jobs: order, per-job failures, worker processes."""

from __future__ import annotations

import os

import pytest

from torsoseg.preprocessing.workers import run_jobs


def _square_or_fail(x: int) -> tuple[int, int]:
    if x == 3:
        raise ValueError("three is bad")
    return x * x, os.getpid()


@pytest.mark.parametrize("workers", [1, 2])
def test_results_in_order_and_failures_reported(workers):
    out = run_jobs(_square_or_fail, [1, 2, 3, 4, 5], workers=workers)
    assert [r[0] for i, r in enumerate(out) if i != 2] == [1, 4, 16, 25]
    assert isinstance(out[2], ValueError) and "three" in str(out[2])
    pids = {r[1] for i, r in enumerate(out) if i != 2}
    assert (pids == {os.getpid()}) == (workers == 1)


def test_bad_worker_count():
    with pytest.raises(ValueError, match="workers"):
        run_jobs(_square_or_fail, [1], workers=0)


_PARENT = """
import os, sys, time
from torsoseg.preprocessing.workers import run_jobs

def job(i):
    os.write(1, f"{os.getpid()}\\n".encode())  # one write() each: two workers' pids never interleave
    time.sleep(120)

run_jobs(job, list(range(4)), workers=2)
"""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][0] != "Z"  # a zombie is dead, waiting to be reaped
    except FileNotFoundError:
        return False


def kill_parent_and_watch_workers(pythonpath: str, folder, wait_s: float = 10.0) -> list[int]:
    """Starts a run_jobs parent with 2 workers, SIGKILLs the parent; returns workers alive ``wait_s`` later.

    The parent is a script file whose output goes to a file, as when a user runs the CLI in a shell.
    """
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    script, pids = Path(folder) / "parent.py", Path(folder) / "pids.txt"
    script.write_text(_PARENT)
    env = {**os.environ, "PYTHONPATH": pythonpath}
    with open(pids, "a") as out:  # O_APPEND: every worker's write lands whole at the end
        parent = subprocess.Popen([sys.executable, str(script)], stdout=out, env=env)
    try:
        deadline = time.monotonic() + 60
        while len(pids.read_text().split()) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        workers = [int(w) for w in pids.read_text().split()[:2]]
        assert len(workers) == 2 and all(_alive(w) for w in workers) and parent.pid not in workers
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(timeout=10)
        deadline = time.monotonic() + wait_s
        while any(_alive(w) for w in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        survivors = [w for w in workers if _alive(w)]
        for w in survivors:  # clean up before reporting
            os.kill(w, signal.SIGKILL)
        return survivors
    finally:
        if parent.poll() is None:
            parent.kill()


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="needs /proc to watch the workers (Linux)")
def test_workers_die_when_the_parent_is_killed_with_sigkill(tmp_path):
    """``kill -9`` of the plan/preprocess parent alone must not leave its workers running."""
    from pathlib import Path

    survivors = kill_parent_and_watch_workers(str(Path(__file__).resolve().parents[2]), tmp_path)
    assert not survivors, f"worker(s) {survivors} outlived the killed parent by 10 s"
