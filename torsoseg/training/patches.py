"""Random patches from the memory-mapped preprocessed cache, with foreground oversampling.

Pure functions over arrays plus :class:`PatchBatchLoader`, an endless iterator of batches
``{"data": float32 (B, C, *P), "seg": int16 (B, 1, *P), "keys": [case ids]}`` that reads only the patch
region of each case (``np.load(mmap_mode="r")`` underneath ``torsoseg.preprocessing.cache.load_case``).
It works inline and inside batchgenerators' background workers (cases are opened lazily per process).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np


def patch_bounds(
    shape: Sequence[int], patch: Sequence[int], final_patch: Sequence[int] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Inclusive range ``[lb, ub]`` of a patch's start per axis.

    A patch may extend beyond the image by half of ``patch - final_patch`` (the margin the spatial
    transform crops away) and is centred when the image is smaller than the patch.

    Example:
        >>> patch_bounds((10, 4, 8), (6, 6, 8))
        (array([ 0, -1,  0]), array([ 4, -1,  0]))
    """
    s = np.asarray(shape, dtype=np.int64)
    p = np.asarray(patch, dtype=np.int64)
    f = p if final_patch is None else np.asarray(final_patch, dtype=np.int64)
    need = np.maximum(p - f, 0)
    need = np.where(s + need < p, p - s, need)
    lb = -(need // 2)
    ub = s + need // 2 + need % 2 - p
    return lb, ub


def choose_start(
    shape: Sequence[int],
    patch: Sequence[int],
    rng: np.random.Generator,
    center: Sequence[int] | None = None,
    final_patch: Sequence[int] | None = None,
) -> np.ndarray:
    """Start voxel of a patch: uniform in the bounds, or centred on ``center`` (clipped to the bounds)."""
    lb, ub = patch_bounds(shape, patch, final_patch)
    if center is None:
        return np.array([rng.integers(lo, hi + 1) for lo, hi in zip(lb, ub)], dtype=np.int64)
    start = np.asarray(center, dtype=np.int64) - np.asarray(patch, dtype=np.int64) // 2
    return np.clip(start, lb, ub)


def crop_padded(
    array: np.ndarray, start: Sequence[int], patch: Sequence[int], pad_value: float = 0
) -> np.ndarray:
    """``array[..., start:start+patch]`` over the last 3 axes, padded with ``pad_value`` outside the array.

    Reads only the overlapping region (cheap on a memory map). Returns a new in-memory array.
    """
    spatial = array.shape[-3:]
    lo = [max(int(s), 0) for s in start]
    hi = [min(int(s) + int(p), int(n)) for s, p, n in zip(start, patch, spatial)]
    lengths = [max(b - a, 0) for a, b in zip(lo, hi)]
    region = np.asarray(array[(..., *[slice(a, a + n) for a, n in zip(lo, lengths)])])
    before = [min(a - int(s), int(p)) for a, s, p in zip(lo, start, patch)]
    after = [int(p) - b - n for p, b, n in zip(patch, before, lengths)]
    if any(before) or any(after):
        pads = [(0, 0)] * (array.ndim - 3) + list(zip(before, after))
        region = np.pad(region, pads, mode="constant", constant_values=pad_value)
    return region


def pick_foreground_center(
    class_locations: Mapping[int, np.ndarray], rng: np.random.Generator
) -> np.ndarray | None:
    """A voxel of a uniformly chosen present foreground class, or ``None`` when none is present."""
    present = sorted(k for k, v in class_locations.items() if int(k) != 0 and v is not None and len(v) > 0)
    if not present:
        return None
    locs = class_locations[present[int(rng.integers(len(present)))]]
    return np.asarray(locs[int(rng.integers(len(locs)))], dtype=np.int64)[-3:]


def region_margin_voxels(margin_mm: float | None, spacing: Sequence[float]) -> tuple[int, int, int] | None:
    """A margin in mm as whole voxels per axis at ``spacing`` (rounded up); ``None`` stays ``None``."""
    if margin_mm is None:
        return None
    return tuple(int(np.ceil(float(margin_mm) / float(s))) for s in spacing)


def region_center(
    class_locations: Mapping[int, np.ndarray],
    shape: Sequence[int],
    margin: Sequence[int],
    rng: np.random.Generator,
) -> np.ndarray | None:
    """A voxel drawn uniformly from the box of the organs grown by ``margin`` voxels (clipped to ``shape``).

    The box is that of the sampled foreground locations of every class (the cache keeps up to 10,000 per
    class, so it spans each organ); drawing the centre anywhere in it is the fine stage's random jitter
    around the organs. ``None`` when the case has no foreground.

    Example:
        >>> locs = {1: np.array([[5, 5, 5], [7, 6, 5]])}
        >>> c = region_center(locs, (20, 20, 20), (2, 2, 2), np.random.default_rng(0))
        >>> bool(np.all((c >= [3, 3, 3]) & (c <= [9, 8, 7])))
        True
    """
    arrays = [np.asarray(v)[:, -3:] for k, v in class_locations.items() if int(k) != 0 and len(v)]
    if not arrays:
        return None
    pts = np.concatenate(arrays)
    lo = np.maximum(pts.min(0) - np.asarray(margin), 0)
    hi = np.minimum(pts.max(0) + np.asarray(margin), np.asarray(shape) - 1)
    return np.array([rng.integers(a, b + 1) for a, b in zip(lo, hi)], dtype=np.int64)


class PatchBatchLoader:
    """Endless batches of random patches of the given cached cases.

    Args:
        folder: the configuration folder of the preprocessed cache (``.../torsoseg_plans_3d_fullres``).
        identifiers: the cases to draw from (uniformly).
        batch_size: patches per batch.
        patch_size: patch to read (e.g. the initial patch of the spatial transform).
        final_patch_size: the patch after augmentation (bounds the border margin); ``None``: ``patch_size``.
        oversample_foreground: share of each batch (the last samples) centred on a foreground voxel.
        seed: seed of this loader; each background worker adds its thread id.
        region_margin: the fine stage of the cascade: voxels per axis by which the organs' box grows; the
            other samples are centred anywhere in that box (not anywhere in the image). ``None``: anywhere.
    """

    def __init__(
        self,
        folder: str | os.PathLike,
        identifiers: Sequence[str],
        batch_size: int,
        patch_size: Sequence[int],
        final_patch_size: Sequence[int] | None = None,
        oversample_foreground: float = 0.33,
        seed: int = 0,
        region_margin: Sequence[int] | None = None,
    ):
        if not identifiers:
            raise ValueError(f"{folder}: no cases to sample patches from")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.folder = Path(folder)
        self.identifiers = list(identifiers)
        self.batch_size = int(batch_size)
        self.patch_size = tuple(int(p) for p in patch_size)
        self.final_patch_size = (
            self.patch_size if final_patch_size is None else tuple(int(p) for p in final_patch_size)
        )
        self.oversample_foreground = float(oversample_foreground)
        self.seed = int(seed)
        self.region_margin = None if region_margin is None else tuple(int(m) for m in region_margin)
        self.thread_id = 0
        self._rng: np.random.Generator | None = None
        self._cases: dict[str, Any] = {}

    def __getstate__(self) -> dict[str, Any]:  # never pickle memory maps into workers
        d = dict(self.__dict__)
        d["_cases"], d["_rng"] = {}, None
        return d

    def set_thread_id(self, thread_id: int) -> None:
        """Called by batchgenerators in each worker; decorrelates the workers' random streams."""
        self.thread_id = int(thread_id)
        self._rng = None

    def reset_rng(self, seed: int | None = None) -> None:
        """Restart the random stream (``seed`` replaces the loader's seed when given)."""
        if seed is not None:
            self.seed = int(seed)
        self._rng = None

    def _case(self, identifier: str) -> Any:
        if identifier not in self._cases:
            from torsoseg.preprocessing.cache import load_case

            self._cases[identifier] = load_case(self.folder, identifier, mmap=True)
        return self._cases[identifier]

    def force_foreground(self, index: int) -> bool:
        """Whether sample ``index`` of a batch is centred on foreground (the last share of the batch)."""
        return not index < round(self.batch_size * (1.0 - self.oversample_foreground))

    def __iter__(self) -> PatchBatchLoader:
        return self

    def __next__(self) -> dict[str, Any]:
        if self._rng is None:
            self._rng = np.random.default_rng([self.seed, self.thread_id])
        rng = self._rng
        c = None
        data, seg, keys = [], [], []
        for i in range(self.batch_size):
            ident = self.identifiers[int(rng.integers(len(self.identifiers)))]
            case = self._case(ident)
            shape = case.seg.shape[-3:]
            if self.force_foreground(i):
                center = pick_foreground_center(case.class_locations, rng)
            elif self.region_margin is not None:
                center = region_center(case.class_locations, shape, self.region_margin, rng)
            else:
                center = None
            start = choose_start(shape, self.patch_size, rng, center, self.final_patch_size)
            d = crop_padded(case.data, start, self.patch_size, 0.0).astype(np.float32, copy=False)
            s = crop_padded(case.seg, start, self.patch_size, 0).astype(np.int16, copy=False)
            if c is None:
                c = d.shape[0]
            elif d.shape[0] != c:
                raise ValueError(f"{self.folder}/{ident}.npy: {d.shape[0]} channels, other cases have {c}")
            data.append(d)
            seg.append(s[None])
            keys.append(ident)
        return {"data": np.stack(data), "seg": np.stack(seg), "keys": keys}
