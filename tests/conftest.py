"""Shared fixtures: the real CT samples in ../shared/data and a few synthetic volumes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = (REPO / ".." / "shared" / "data").resolve()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The folder of real CT samples; skipped (with the reason) only where it does not exist."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real CT samples not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


_TORCH_THREADS: list[int] = []


@pytest.fixture(autouse=True)
def _restore_torch_threads():
    """Tests (and CLIs they call, e.g. ``torsoseg_predict --threads 1``) may lower torch's thread count;
    put it back after each test so that later training tests do not run on one core."""
    import sys

    yield
    torch = sys.modules.get("torch")
    if torch is None:
        return
    if not _TORCH_THREADS:
        import os

        _TORCH_THREADS.append(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 2)
    if torch.get_num_threads() != _TORCH_THREADS[0]:
        torch.set_num_threads(_TORCH_THREADS[0])
