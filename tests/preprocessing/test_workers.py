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
