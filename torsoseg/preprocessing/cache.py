"""The preprocessed cache: one file set per case, written atomically, read patch-wise by memory mapping.

Per case ``CASE`` in a configuration folder (e.g. ``Dataset001_Abdomen/torsoseg_plans_3d_fullres/``):

* ``CASE.npy``: float32 ``(C, X, Y, Z)`` normalised data (canonical orientation, target spacing);
* ``CASE_seg.npy``: int16 ``(X, Y, Z)`` labels (values of dataset.json);
* ``CASE_locs.npz``: per present foreground class value, key ``"1"``, ``"2"``, ...: int32 ``(N, 3)``
  sampled voxel coordinates of that class (``N <= 10000``) for foreground oversampling;
* ``CASE.json``: the :class:`~torsoseg.preprocessing.case.CaseProperties` plus bookkeeping (shapes, the
  plans key). It is written LAST: a case is complete when its json exists and agrees with the arrays.

Every file goes to a temporary name first and is renamed into place, so a killed run leaves either a
complete file or a ``.tmp`` leftover, never a truncated array under the final name.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from torsoseg.fileio import atomic_path, atomic_write_json, read_json

CACHE_FORMAT_VERSION = 1
MAX_LOCATIONS_PER_CLASS = 10_000

__all__ = [
    "CachedCase",
    "class_locations",
    "write_case",
    "load_case",
    "list_cached_cases",
    "is_complete",
    "remove_leftovers",
    "cache_folder",
]


@dataclass(frozen=True)
class CachedCase:
    """One case read from the cache.

    Attributes:
        data: ``(C, X, Y, Z)`` float32 (a read-only memory map when loaded with ``mmap=True``).
        seg: ``(X, Y, Z)`` int16.
        properties: the content of ``CASE.json`` (includes the ``CaseProperties`` keys).
        class_locations: class value -> int32 ``(N, 3)`` voxel coordinates.
    """

    data: np.ndarray
    seg: np.ndarray
    properties: dict[str, Any]
    class_locations: dict[int, np.ndarray]


def cache_folder(preprocessed_dataset_dir: str | os.PathLike, plans: Any) -> Path:
    """``<preprocessed>/DatasetXXX_Name/<plans_name>_<configuration>``.

    The configuration is the plans' ``data_configuration``: ``3d_cascade`` (the fine stage, at full
    resolution) reads the ``3d_fullres`` cache; ``3d_lowres`` has its own.

    Raises:
        ValueError: the plans name or configuration is not a plain name, or the folder would lie outside
            ``preprocessed_dataset_dir``.
    """
    from torsoseg.paths import check_name, inside_root

    check_name(plans.plans_name, "plans_name")
    configuration = getattr(plans, "data_configuration", plans.configuration)
    check_name(configuration, "configuration")
    folder = Path(preprocessed_dataset_dir) / f"{plans.plans_name}_{configuration}"
    inside_root(folder, preprocessed_dataset_dir, "preprocessed cache")
    return folder


def class_locations(
    seg: np.ndarray, max_per_class: int = MAX_LOCATIONS_PER_CLASS, seed: int = 0
) -> dict[int, np.ndarray]:
    """Samples up to ``max_per_class`` voxel coordinates of every foreground value present in ``seg``.

    Args:
        seg: ``(X, Y, Z)`` integer label map.
        max_per_class: cap per class (uniform sample without replacement above it).
        seed: of the sampling (deterministic per case).

    Returns:
        value -> int32 ``(N, 3)`` coordinates, sorted by flat index; classes absent from ``seg`` are absent.

    Example:
        >>> s = np.zeros((2, 2, 2), np.int16); s[1, 0, 1] = 3
        >>> class_locations(s)[3].tolist()
        [[1, 0, 1]]
    """
    seg = np.asarray(seg)
    if seg.ndim != 3:
        raise ValueError(f"class_locations needs an (X, Y, Z) label map, got shape {seg.shape}")
    flat = seg.ravel()
    idx = np.flatnonzero(flat > 0)
    vals = flat[idx]
    rng = np.random.default_rng(seed)
    out: dict[int, np.ndarray] = {}
    for v in np.unique(vals):
        sel = idx[vals == v]
        if sel.size > max_per_class:
            sel = np.sort(rng.choice(sel, max_per_class, replace=False))
        out[int(v)] = np.stack(np.unravel_index(sel, seg.shape), axis=1).astype(np.int32)
    return out


def _atomic_save(path: Path, write) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        write(f)


def write_case(
    folder: str | os.PathLike,
    identifier: str,
    data: np.ndarray,
    seg: np.ndarray,
    properties: dict[str, Any],
    locations: dict[int, np.ndarray] | None = None,
) -> Path:
    """Writes one case's file set atomically (the json last). Returns the json path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    data = np.ascontiguousarray(data, dtype=np.float32)
    seg = np.ascontiguousarray(seg, dtype=np.int16)
    if data.ndim != 4 or seg.shape != data.shape[1:]:
        raise ValueError(
            f"{identifier}: data {data.shape} must be (C, X, Y, Z) and seg {seg.shape} (X, Y, Z) alike"
        )
    if locations is None:
        locations = class_locations(seg)
    _atomic_save(folder / f"{identifier}.npy", lambda f: np.save(f, data))
    _atomic_save(folder / f"{identifier}_seg.npy", lambda f: np.save(f, seg))
    _atomic_save(
        folder / f"{identifier}_locs.npz",
        lambda f: np.savez(f, **{str(k): np.asarray(v, dtype=np.int32) for k, v in locations.items()}),
    )
    meta = {
        "cache_format_version": CACHE_FORMAT_VERSION,
        "identifier": identifier,
        "data_shape": list(data.shape),
        "classes_present": sorted(int(k) for k in locations),
        **properties,
    }
    return atomic_write_json(folder / f"{identifier}.json", meta)


def _npy_shape(path: Path) -> tuple[int, ...] | None:
    try:
        return tuple(np.load(path, mmap_mode="r").shape)
    except (OSError, ValueError):
        return None


def is_complete(folder: str | os.PathLike, identifier: str, plans_key: str | None = None) -> bool:
    """True when the case's four files exist, its json parses, and array shapes agree with it.

    With ``plans_key``, the json must also carry that key (else the case is stale: other plans).
    """
    folder = Path(folder)
    js = folder / f"{identifier}.json"
    if not js.is_file():
        return False
    try:
        meta = read_json(js)
    except (OSError, ValueError):
        return False
    if not isinstance(meta, dict) or meta.get("cache_format_version") != CACHE_FORMAT_VERSION:
        return False
    if plans_key is not None and meta.get("plans_key") != plans_key:
        return False
    shape = tuple(meta.get("data_shape", ()))
    if _npy_shape(folder / f"{identifier}.npy") != shape or not shape:
        return False
    if _npy_shape(folder / f"{identifier}_seg.npy") != shape[1:]:
        return False
    return (folder / f"{identifier}_locs.npz").is_file()


def list_cached_cases(folder: str | os.PathLike) -> list[str]:
    """Identifiers of the complete cases in a configuration folder (sorted)."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    idents = sorted(p.name[: -len(".json")] for p in folder.glob("*.json") if not p.name.startswith("."))
    return [i for i in idents if (folder / f"{i}.npy").is_file() and is_complete(folder, i)]


def remove_leftovers(folder: str | os.PathLike) -> int:
    """Deletes temporary files of interrupted writes (``.NAME.*.tmp``). Returns how many."""
    folder = Path(folder)
    n = 0
    if folder.is_dir():
        for p in folder.glob(".*.tmp"):
            try:
                p.unlink()
                n += 1
            except OSError:
                pass
    return n


def load_case(folder: str | os.PathLike, identifier: str, mmap: bool = True) -> CachedCase:
    """Reads one cached case.

    Args:
        folder: the configuration folder.
        identifier: the case.
        mmap: memory-map the arrays (read one patch without loading the case).

    Returns:
        The :class:`CachedCase`.

    Raises:
        FileNotFoundError: the case is missing or incomplete (message names the folder and case).

    Example:
        >>> folder = "preprocessed/Dataset001_Abdomen/torsoseg_plans_3d_fullres"
        >>> case = load_case(folder, "case_000")  # doctest: +SKIP
        >>> patch = np.asarray(case.data[:, 0:64, 0:64, 0:64])  # doctest: +SKIP
    """
    folder = Path(folder)
    if not is_complete(folder, identifier):
        have = list_cached_cases(folder)
        raise FileNotFoundError(
            f"{folder}: no complete cached case {identifier!r} "
            f"({len(have)} complete case(s) there{': ' + ', '.join(have[:5]) if have else ''})"
        )
    mode = "r" if mmap else None
    data = np.load(folder / f"{identifier}.npy", mmap_mode=mode)
    seg = np.load(folder / f"{identifier}_seg.npy", mmap_mode=mode)
    props = read_json(folder / f"{identifier}.json")
    with np.load(folder / f"{identifier}_locs.npz") as z:
        locs = {int(k): z[k] for k in z.files}
    return CachedCase(data, seg, props, locs)
