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
