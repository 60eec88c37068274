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


@pytest.fixture(scope="module")
def one_torch_thread():
    """Torch on one thread for a module (the machines that run the suite are shared and small, and two
    OpenMP threads competing with other processes are slower than one); restored afterwards."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def _restore_torch_threads():
    """Tests (and CLIs they call, e.g. ``torsoseg_predict --threads 1``) may change torch's thread count;
    put back the count the test started with, so that later training tests do not run on one core."""
    import sys

    torch = sys.modules.get("torch")
    before = torch.get_num_threads() if torch is not None else None
    yield
    torch = sys.modules.get("torch")
    if torch is not None and before is not None and torch.get_num_threads() != before:
        torch.set_num_threads(before)
