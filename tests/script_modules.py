"""Loading a script of scripts/ or benchmarks/ (not a package) as a module, for the tests of its functions."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[1]


def load_script(relative: str, name: str | None = None) -> ModuleType:
    """The module of ``REPO / relative`` (e.g. ``scripts/demo_seeds.py``), registered in ``sys.modules`` under
    ``name`` (default: the file's stem) while it executes: dataclasses look their module up there."""
    path = REPO / relative
    spec = importlib.util.spec_from_file_location(name or path.stem, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module
