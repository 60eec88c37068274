"""Checks of the converted data: label grids, mask and label values, laterality in world coordinates."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from torsoseg import imageio
from torsoseg import organs as vocab
from torsoseg.dataset_conversion.sources import ConversionError
from torsoseg.imageio import Geometry, Volume


def align_to_image(label: Volume, image: Geometry, label_file: Path, image_file: Path) -> np.ndarray:
    """The label's array on the image's voxel grid, or an error naming both files.

    A label stored on the same voxels with its axes permuted or flipped (e.g. a y axis stored
    posterior-to-anterior) is brought onto the image grid exactly, without interpolation. Anything else
    (another spacing, origin, size, an oblique difference) is an error: a converter never resamples
    reference labels.

    Returns:
        ``(nx, ny, nz)`` array indexed like the image.
    """
    geo = label.geometry
    if geo.same_grid(image):
        return label.array
    canon_label, _ = imageio.reorient_to_canonical(label)
    dummy = Volume.from_geometry(np.zeros(image.shape, dtype=np.uint8), image)
    canon_image, reo = imageio.reorient_to_canonical(dummy)
    if canon_label.geometry.same_grid(canon_image.geometry):
        restored = imageio.restore_orientation(canon_label.array, reo)
        return restored.array
    raise ConversionError(
        f"{label_file}: not on the grid of its image {image_file}: label {geo.describe()}; "
        f"image {image.describe()}"
    )


def check_binary(array: np.ndarray, path: Path) -> np.ndarray:
    """A boolean mask from a 0/1 array; any other value is an error naming the file and the values."""
    if array.dtype == np.bool_:
        return array
    values = np.unique(array)
    bad = [v for v in values.tolist() if v not in (0, 1)]
    if bad:
        shown = ", ".join(f"{v:g}" for v in bad[:5]) + (" ..." if len(bad) > 5 else "")
        raise ConversionError(f"{path}: mask is not binary (values other than 0 and 1: {shown})")
    return array.astype(bool, copy=False)


def check_label_values(array: np.ndarray, declared: set[int], path: Path, declared_in: Path | None
                       ) -> np.ndarray:
    """The label map as an integer array after checking that every value is declared (0 always is).

    Integer arrays are returned as they are (no copy); float arrays holding whole numbers become int32.
    """
    arr = np.asarray(array)
    if np.issubdtype(arr.dtype, np.floating):
        if not np.isfinite(arr).all() or not np.array_equal(arr, np.round(arr)):
            raise ConversionError(f"{path}: label map holds non-integer values")
        arr = arr.astype(np.int32)
    elif arr.dtype == np.bool_:
        arr = arr.astype(np.uint8)
    elif not np.issubdtype(arr.dtype, np.integer):
        raise ConversionError(f"{path}: label map has non-numeric type {arr.dtype}")
    values = set(np.unique(arr).tolist())
    undeclared = sorted(values - declared - {0})
    if undeclared:
        where = f" in {declared_in}" if declared_in is not None else ""
        raise ConversionError(
            f"{path}: label values {undeclared} are not declared{where} (declared: {sorted(declared)})"
        )
    return arr


@dataclass(frozen=True)
class LateralityFinding:
    """One left/right pair judged in world coordinates.

    Attributes:
        right: name of the ``*_right`` structure; ``left`` its twin.
        right_x: LPS x (mm) of the right structure's centre; larger x is further to the patient's left.
        left_x: LPS x (mm) of the left structure's centre.
    """

    right: str
    left: str
    right_x: float
    left_x: float

    @property
    def ok(self) -> bool:
        return self.right_x < self.left_x


def label_centres(label_map: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Voxel count and mean voxel index of every label value, in three passes of slice-wise bincounts.

    Args:
        label_map: non-negative integer ``(nx, ny, nz)`` array.

    Returns:
        ``(counts, centres)``: ``counts[v]`` voxels of value ``v``; ``centres[v]`` its mean index
        (float64 ``(V, 3)``, NaN where the count is 0). Memory stays at a few slices.
    """
    arr = np.asarray(label_map)
    if arr.size == 0:
        return np.zeros(1, np.int64), np.full((1, 3), np.nan)
    n = int(arr.max()) + 1
    counts = np.bincount(arr.ravel(), minlength=n)
    sums = np.zeros((n, 3))
    for a in range(3):
        moved = np.moveaxis(arr, a, 0)
        for i in range(moved.shape[0]):
            if i:
                sums[:, a] += i * np.bincount(moved[i].ravel(), minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        centres = sums / counts[:, None]
    return counts, centres


def laterality_findings(label_map: np.ndarray, geometry: Geometry, labels: Mapping[str, int]
                        ) -> list[LateralityFinding]:
    """Centres of every left/right pair present in ``label_map``, in LPS world x.

    Args:
        label_map: ``(nx, ny, nz)`` integer array on ``geometry``'s grid.
        geometry: the image grid (its direction decides what "right" is).
        labels: name -> value of ``label_map``.

    Returns:
        One finding per pair whose both structures have voxels (empty when none). Pairs come from the
        vocabulary, and for names it does not know from their ``right``/``left`` word.
    """
    counts, centres = label_centres(label_map)
    present = {}
    for name, value in labels.items():
        if name != "background" and 0 < value < len(counts) and counts[value]:
            present[_canonical(name)] = geometry.index_to_world(centres[value])
    out = []
    for name, centre in present.items():
        if vocab.side_in_name(name) != "right":
            continue
        twin = _twin(name)
        if twin in present:
            out.append(LateralityFinding(name, twin, float(centre[0]), float(present[twin][0])))
    return out


def _canonical(name: str) -> str:
    return vocab.key(name)


def _twin(name: str) -> str | None:
    """The left twin of a right name (``kidney_right``, ``rib_right_7``): from the vocabulary, else by
    swapping the side word of the name alone."""
    if vocab.is_known(name):
        return vocab.pair_of(name)
    return vocab.swap_side_in_name(name)


def check_laterality(label_map: np.ndarray, geometry: Geometry, labels: Mapping[str, int], case: str
                     ) -> list[LateralityFinding]:
    """Raises when a ``*_right`` structure's centre is not on the patient's right of its ``*_left`` twin.

    "Right" is judged in world coordinates: in LPS, the patient's right is the smaller x.

    Raises:
        ConversionError: naming the case and every swapped pair with both centres.
    """
    findings = laterality_findings(label_map, geometry, labels)
    bad = [f for f in findings if not f.ok]
    if bad:
        pairs = "; ".join(
            f"{f.right} centre at x={f.right_x:.1f} mm is not on the patient's right of {f.left} "
            f"(x={f.left_x:.1f} mm; LPS x grows to the left)"
            for f in bad
        )
        raise ConversionError(
            f"case {case}: laterality check failed: {pairs}. The source's left/right labels look "
            "swapped (check its label table; e.g. VISCERAL psoas RadLex IDs), or fix it with --map"
        )
    return findings
