"""The dataset fingerprint: what the planner needs to know about a raw dataset.

Per case (in canonical orientation): spacing, shape before and after cropping to the body, the stored
orientation code, voxel count of every label value; a sample of foreground intensities (an equal share
per case, bounded in total). Over the dataset: mean, std, median, min, max and the 0.5 / 99.5
percentiles of the foreground intensities, plus the mean and std after clipping to those percentiles
(the CT normalisation), and per class its total voxels and the number of cases it appears in.

Written to ``fingerprint.json`` (versioned, validated on load).
"""

from __future__ import annotations

import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from torsoseg import imageio
from torsoseg.dataset import SPACING_RANGE_MM, DatasetJson, training_cases
from torsoseg.fileio import atomic_write_json, read_json
from torsoseg.preprocessing.case import canonical_label, case_bbox
from torsoseg.preprocessing.cropping import body_mask
from torsoseg.preprocessing.workers import run_jobs

log = logging.getLogger(__name__)

FINGERPRINT_FORMAT_VERSION = 1
MAX_TOTAL_SAMPLES = 2_000_000
MAX_SAMPLES_PER_CASE = 200_000

__all__ = [
    "CaseFingerprint",
    "IntensityStats",
    "Fingerprint",
    "fingerprint_case",
    "compute_fingerprint",
    "intensity_stats",
]


@dataclass(frozen=True)
class CaseFingerprint:
    """One case's geometry and label content (canonical axis order).

    Attributes:
        identifier: case name.
        spacing: mm per canonical axis.
        shape_before_crop, shape_after_crop: voxels per canonical axis.
        orientation: the stored orientation code (e.g. ``RAS``).
        class_voxels: label value (str) -> voxel count, background included, only values present.
    """

    identifier: str
    spacing: tuple[float, float, float]
    shape_before_crop: tuple[int, int, int]
    shape_after_crop: tuple[int, int, int]
    orientation: str
    class_voxels: dict[str, int]

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> CaseFingerprint:
        return cls(
            identifier=str(d["identifier"]),
            spacing=tuple(float(x) for x in d["spacing"]),
            shape_before_crop=tuple(int(x) for x in d["shape_before_crop"]),
            shape_after_crop=tuple(int(x) for x in d["shape_after_crop"]),
            orientation=str(d["orientation"]),
            class_voxels={str(k): int(v) for k, v in d["class_voxels"].items()},
        )


@dataclass(frozen=True)
class IntensityStats:
    """Foreground intensity statistics (HU for CT).

    ``clipped_mean`` / ``clipped_std`` are of the samples clipped to ``[percentile_00_5,
    percentile_99_5]``: the CT normalisation uses them, so normalised foreground has mean 0 and std 1.
    """

    mean: float
    std: float
    median: float
    min: float
    max: float
    percentile_00_5: float
    percentile_99_5: float
    clipped_mean: float
    clipped_std: float
    num_samples: int


def intensity_stats(samples: np.ndarray) -> IntensityStats:
    """Statistics of a 1D intensity sample.

    Raises:
        ValueError: an empty sample.

    Example:
        >>> intensity_stats(np.arange(201, dtype=np.float32)).median
        100.0
    """
    x = np.asarray(samples, dtype=np.float64).ravel()
    if x.size == 0:
        raise ValueError("no foreground intensity samples: no case has a labelled voxel")
    lo, hi = np.percentile(x, [0.5, 99.5])
    c = np.clip(x, lo, hi)
    return IntensityStats(
        mean=float(x.mean()),
        std=float(x.std()),
        median=float(np.median(x)),
        min=float(x.min()),
        max=float(x.max()),
        percentile_00_5=float(lo),
        percentile_99_5=float(hi),
        clipped_mean=float(c.mean()),
        clipped_std=float(c.std()),
        num_samples=int(x.size),
    )


@dataclass(frozen=True)
class Fingerprint:
    """A dataset's fingerprint (see the module docstring).

    Attributes:
        dataset_name: ``DatasetXXX_Name``.
        labels: label name -> value (from dataset.json).
        channel_names: channel index -> modality.
        cases: one :class:`CaseFingerprint` per training case, sorted by identifier.
        intensity: per channel index (str) the foreground statistics.
        class_voxels: label value (str) -> total voxels over the dataset.
        class_cases: label value (str) -> number of cases in which it appears.
    """

    dataset_name: str
    labels: dict[str, int]
    channel_names: dict[str, str]
    cases: tuple[CaseFingerprint, ...]
    intensity: dict[str, IntensityStats]
    class_voxels: dict[str, int]
    class_cases: dict[str, int]
    format_version: int = FINGERPRINT_FORMAT_VERSION

    @property
    def spacings(self) -> np.ndarray:
        """``(N, 3)`` canonical spacings."""
        return np.asarray([c.spacing for c in self.cases], dtype=np.float64).reshape(-1, 3)

    @property
    def shapes_after_crop(self) -> np.ndarray:
        """``(N, 3)`` canonical shapes after cropping."""
        return np.asarray([c.shape_after_crop for c in self.cases], dtype=np.int64).reshape(-1, 3)

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        return {"format_version": d.pop("format_version"), **d}

    @classmethod
    def from_json(cls, d: dict[str, Any], source: str = "fingerprint.json") -> Fingerprint:
        if not isinstance(d, dict):
            raise ValueError(f"{source}: expected a JSON object")
        if d.get("format_version") != FINGERPRINT_FORMAT_VERSION:
            raise ValueError(
                f"{source}: format_version {d.get('format_version')!r} is not supported "
                f"(expected {FINGERPRINT_FORMAT_VERSION})"
            )
        try:
            fp = cls(
                dataset_name=str(d["dataset_name"]),
                labels={str(k): int(v) for k, v in d["labels"].items()},
                channel_names={str(k): str(v) for k, v in d["channel_names"].items()},
                cases=tuple(CaseFingerprint.from_json(c) for c in d["cases"]),
                intensity={str(k): IntensityStats(**v) for k, v in d["intensity"].items()},
                class_voxels={str(k): int(v) for k, v in d["class_voxels"].items()},
                class_cases={str(k): int(v) for k, v in d["class_cases"].items()},
            )
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"{source}: invalid fingerprint ({type(e).__name__}: {e})") from None
        if not fp.cases:
            raise ValueError(f"{source}: the fingerprint lists no cases")
        return fp

    @classmethod
    def load(cls, path: str | os.PathLike) -> Fingerprint:
        p = Path(path)
        if p.is_dir():
            p = p / "fingerprint.json"
        return cls.from_json(read_json(p), source=str(p))

    def save(self, path: str | os.PathLike) -> Path:
        p = Path(path)
        if p.is_dir():
            p = p / "fingerprint.json"
        return atomic_write_json(p, self.to_json())


def warn_implausible(identifier: str, volumes: list) -> list[str]:
    """Logs (and returns) a warning naming the case for implausible spacing or non-finite intensities."""
    found = []
    lo, hi = SPACING_RANGE_MM
    for v in volumes:
        if any(s < lo or s > hi for s in v.spacing):
            found.append(f"case {identifier}: implausible spacing {tuple(round(s, 4) for s in v.spacing)} mm "
                         f"(outside {lo}..{hi} mm)")
        if np.issubdtype(v.array.dtype, np.floating):
            bad = int((~np.isfinite(v.array)).sum())
            if bad:
                found.append(f"case {identifier}: {bad} NaN/inf intensities (set to the lowest intensity)")
    for w in found:
        log.warning("%s", w)
    return found


def fingerprint_case(
    image_files: list[str],
    label_file: str | None,
    identifier: str,
    n_samples: int,
    seed: int = 0,
    declared: set[int] | None = None,
) -> tuple[CaseFingerprint, list[np.ndarray]]:
    """Fingerprints one case: returns its record and per channel a foreground intensity sample.

    The foreground is the labelled voxels; a case without any label falls back to its body mask.
    ``declared`` (the dataset's label values) is checked against the label map when given.
    """
    vols = [imageio.read_image(f) for f in image_files]
    warn_implausible(identifier, vols)
    code = imageio.orientation_code(vols[0].geometry)
    canon = [imageio.reorient_to_canonical(v)[0] for v in vols]
    lab = None
    if label_file is not None:
        label = imageio.read_image(label_file)
        if not label.geometry.same_grid(vols[0].geometry):
            raise ValueError(
                f"{label_file}: geometry differs from {image_files[0]}: label {label.geometry.describe()}; "
                f"image {vols[0].geometry.describe()}"
            )
        try:
            lab = canonical_label(label, declared)
        except ValueError as e:
            raise ValueError(f"{label_file}: {e}") from None
    bbox = case_bbox(canon[0].array, lab)
    shape_after = tuple(int(b - a) for a, b in bbox)
    rng = np.random.default_rng(seed)
    if lab is not None and (lab > 0).any():
        fg = np.flatnonzero(lab.ravel() > 0)
        if lab.min() < 0:
            raise ValueError(f"{label_file}: negative label values")
        counts = np.bincount(lab.ravel())
        class_voxels = {str(v): int(c) for v, c in enumerate(counts) if c > 0}
    else:
        fg = np.flatnonzero(body_mask(canon[0].array).ravel())
        class_voxels = {"0": int(np.prod(canon[0].shape))}
        log.warning(
            "case %s: label map is all background; intensity samples come from the body mask", identifier
        )
    pick = rng.choice(fg, min(n_samples, fg.size), replace=False) if fg.size else fg
    samples = [np.asarray(c.array.ravel()[pick], dtype=np.float32) for c in canon]
    rec = CaseFingerprint(
        identifier=identifier,
        spacing=tuple(float(s) for s in canon[0].spacing),
        shape_before_crop=tuple(canon[0].shape),
        shape_after_crop=shape_after,
        orientation=code,
        class_voxels=class_voxels,
    )
    return rec, samples


def _fingerprint_job(args: tuple) -> tuple[CaseFingerprint, list[np.ndarray]]:
    images, label, ident, n, seed, declared = args
    if label is None:
        raise RuntimeError(f"case {ident}: no label file in labelsTr for {Path(images[0]).name}")
    try:
        return fingerprint_case(images, label, ident, n, seed, declared)
    except Exception as e:  # name the case; re-raised in the parent
        raise RuntimeError(f"case {ident}: {e}") from None


def compute_fingerprint(
    raw_dir: str | os.PathLike, workers: int = 1, progress: bool = False, skip_bad_cases: bool = False
) -> Fingerprint:
    """Fingerprints a raw dataset (``DatasetXXX_Name`` folder with dataset.json, imagesTr, labelsTr).

    Args:
        raw_dir: the raw dataset folder.
        workers: worker processes (1 = in this process).
        progress: show a progress bar.
        skip_bad_cases: go on without unpaired files (logged) instead of refusing the dataset.

    Returns:
        The :class:`Fingerprint` (not written; see :meth:`Fingerprint.save`).

    Raises:
        FileNotFoundError: no dataset.json or no training case.
        RuntimeError: a case cannot be read (names the case and the file).

    Example:
        >>> fp = compute_fingerprint("raw/Dataset001_Abdomen", workers=2)  # doctest: +SKIP
        >>> fp.intensity["0"].percentile_99_5  # doctest: +SKIP
    """
    raw = Path(raw_dir)
    ds = DatasetJson.load(raw)
    cases = training_cases(raw, ds, skip_bad_cases)
    if not cases:
        raise FileNotFoundError(
            f"{raw / 'imagesTr'}: no training case (expected CASE_0000{ds.file_ending} files)"
        )
    declared = set(ds.labels.values())
    n_per_case = max(1, min(MAX_SAMPLES_PER_CASE, MAX_TOTAL_SAMPLES // len(cases)))
    jobs = [
        ([str(f) for f in c.images], str(c.label) if c.label else None, c.identifier, n_per_case, i, declared)
        for i, c in enumerate(cases)
    ]
    results = run_jobs(_fingerprint_job, jobs, workers, progress, desc="fingerprint")
    failures = [str(r) for r in results if isinstance(r, BaseException)]
    if failures:
        raise RuntimeError(
            f"{raw}: fingerprinting failed for {len(failures)} case(s): " + "; ".join(failures)
        )
    recs = [r[0] for r in results]
    n_ch = len(ds.channel_names)
    intensity = {str(c): intensity_stats(np.concatenate([r[1][c] for r in results])) for c in range(n_ch)}
    class_voxels: dict[str, int] = {}
    class_cases: dict[str, int] = {}
    for rec in recs:
        for k, v in rec.class_voxels.items():
            class_voxels[k] = class_voxels.get(k, 0) + v
            class_cases[k] = class_cases.get(k, 0) + 1
    return Fingerprint(
        dataset_name=raw.name,
        labels=dict(ds.labels),
        channel_names=dict(ds.channel_names),
        cases=tuple(recs),
        intensity=intensity,
        class_voxels=dict(sorted(class_voxels.items(), key=lambda kv: int(kv[0]))),
        class_cases=dict(sorted(class_cases.items(), key=lambda kv: int(kv[0]))),
    )
