"""Naming rules of the raw dataset: ``DatasetXXX_Name`` folders and ``CASE_XXXX`` channel files."""

from __future__ import annotations

import os
import re
from pathlib import Path

_DATASET_DIR = re.compile(r"^Dataset(\d{3})_(.+)$")
_CHANNEL_FILE = re.compile(r"^(?P<case>.+)_(?P<channel>\d{4})$")


def dataset_dir_name(dataset_id: int, name: str) -> str:
    """``(1, "Abdomen")`` -> ``Dataset001_Abdomen``."""
    if not 0 <= int(dataset_id) <= 999:
        raise ValueError(f"dataset id must be 0..999, got {dataset_id}")
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_\-]*", name):
        raise ValueError(f"dataset name {name!r} must be letters, digits, '_' or '-'")
    return f"Dataset{int(dataset_id):03d}_{name}"


def split_dataset_dir_name(folder_name: str) -> tuple[int, str] | None:
    """``"Dataset001_Abdomen"`` -> ``(1, "Abdomen")``; ``None`` for a name of another form."""
    m = _DATASET_DIR.match(folder_name)
    return (int(m.group(1)), m.group(2)) if m else None


def split_channel_name(stem: str) -> tuple[str, int] | None:
    """The one parser of the channel-file naming rule: ``"CASE_0001"`` -> ``("CASE", 1)``.

    ``stem`` is a file name without its ending; ``None`` when it has no ``_XXXX`` channel suffix.
    """
    m = _CHANNEL_FILE.match(stem)
    return (m.group("case"), int(m.group("channel"))) if m else None


def split_channel_file(name: str, ending: str) -> tuple[str, int] | None:
    """:func:`split_channel_name` of a file name ending in ``ending`` (``None`` for other names)."""
    return split_channel_name(name[: len(name) - len(ending)]) if name.endswith(ending) else None


def parse_dataset_id(value: int | str) -> int:
    """Accepts ``1``, ``"1"``, ``"001"`` or ``"Dataset001_Abdomen"``."""
    s = str(value)
    parsed = split_dataset_dir_name(s)
    if parsed:
        return parsed[0]
    if s.isdigit():
        return int(s)
    raise ValueError(f"not a dataset id: {value!r} (use a number such as 1, or Dataset001_Name)")


def find_dataset(root: str | os.PathLike, dataset_id: int | str) -> Path:
    """The folder ``DatasetXXX_*`` of ``dataset_id`` under ``root``.

    Raises:
        FileNotFoundError: listing the datasets that exist under ``root``.
    """
    r = Path(root)
    did = parse_dataset_id(dataset_id)
    found = sorted(p for p in r.glob(f"Dataset{did:03d}_*") if p.is_dir()) if r.is_dir() else []
    if len(found) == 1:
        return found[0]
    if len(found) > 1:
        raise ValueError(f"{r}: several folders for dataset {did}: {', '.join(p.name for p in found)}")
    have = sorted(p.name for p in r.glob("Dataset*_*") if p.is_dir()) if r.is_dir() else []
    listing = ", ".join(have) if have else "none"
    raise FileNotFoundError(f"{r}: no folder Dataset{did:03d}_* (datasets there: {listing})")
