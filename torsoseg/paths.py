"""The data roots. Environment variables are read here and nowhere else.

``TORSOSEG_RAW``, ``TORSOSEG_PREPROCESSED`` and ``TORSOSEG_RESULTS`` each default to a folder under
``TORSOSEG_HOME``, which defaults to ``~/torsoseg_data``. Every CLI also takes explicit flags, which win.
"""

from __future__ import annotations

import os
import re
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


# Names read from JSON (plans name, configuration, trainer, case ids, dataset names) become parts of
# paths. They are data, never paths: one strict pattern, checked before anything touches the filesystem.
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+\-]{0,127}")


def check_name(value: object, what: str, source: str | os.PathLike | None = None) -> str:
    """Returns ``value`` when it is a safe single path component, else raises naming it.

    A safe name starts with a letter or digit, then holds letters, digits, ``_ - . +`` (at most 128
    characters), and never ``..``: no separators, no parent references, no hidden files.

    Raises:
        ValueError: ``"<source>: <what> '<value>' is not a valid name ..."``.

    Example:
        >>> check_name("torsoseg_plans", "plans_name")
        'torsoseg_plans'
    """
    s = value if isinstance(value, str) else None
    if s is None or not _SAFE_NAME.fullmatch(s) or ".." in s:
        where = f"{source}: " if source else ""
        raise ValueError(
            f"{where}{what} {value!r} is not a valid name (letters, digits, '_', '-', '.', '+', starting "
            "with a letter or digit; no '..' and no path separators)"
        )
    return s



def inside_root(path: str | os.PathLike, root: str | os.PathLike, what: str = "path") -> Path:
    """``path`` made absolute and normalised, when it stays inside ``root``; else raises naming both.

    The check is lexical (``..`` folded, symlinks left alone), so a root whose dataset folders are
    symbolic links to another disk keeps working, while a name that climbs out with ``..`` is refused.

    Raises:
        ValueError: ``"<path>: <what> would lie outside its root <root>"``.

    Example:
        >>> inside_root("/data/results/Dataset001_A/Trainer__p__c", "/data/results", "model folder")
        PosixPath('/data/results/Dataset001_A/Trainer__p__c')
    """
    p, r = Path(os.path.abspath(path)), Path(os.path.abspath(root))
    if p != r and r not in p.parents:
        raise ValueError(f"{path}: {what} would lie outside its root {root}")
    return p
