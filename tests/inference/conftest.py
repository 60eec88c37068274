"""Inference tests run torch on one thread: the machines that run the suite are shared and small, and two
OpenMP threads competing with other processes are slower than one."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread(one_torch_thread):
    yield
