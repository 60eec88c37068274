"""The data roots. Environment variables are read here and nowhere else.

``TORSOSEG_RAW``, ``TORSOSEG_PREPROCESSED`` and ``TORSOSEG_RESULTS`` each default to a folder under
``TORSOSEG_HOME``, which defaults to ``~/torsoseg_data``. Every CLI also takes explicit flags, which win.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Roots:
    home: Path
    raw: Path
    preprocessed: Path
    results: Path


def default_roots(
    raw: str | os.PathLike | None = None,
    preprocessed: str | os.PathLike | None = None,
    results: str | os.PathLike | None = None,
    home: str | os.PathLike | None = None,
) -> Roots:
    """Resolves the three roots: explicit argument, else environment variable, else under the home."""
    env = os.environ
    h = Path(home or env.get("TORSOSEG_HOME") or Path.home() / "torsoseg_data").expanduser()
    return Roots(
        home=h,
        raw=Path(raw or env.get("TORSOSEG_RAW") or h / "raw").expanduser(),
        preprocessed=Path(
            preprocessed or env.get("TORSOSEG_PREPROCESSED") or h / "preprocessed"
        ).expanduser(),
        results=Path(results or env.get("TORSOSEG_RESULTS") or h / "results").expanduser(),
    )
