"""Canonical orientation (LPS) and back, and resampling a volume onto another grid.

See :mod:`torsoseg.imageio` for what the canonical orientation is.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from torsoseg.imageio.files import from_sitk, to_sitk
from torsoseg.imageio.volume import Geometry, Volume


@dataclass(frozen=True)
class Reorientation:
    """How an array was permuted and flipped into canonical orientation.

    ``canonical = flip(original.transpose(axes), flips)``: canonical axis ``c`` is original axis
    ``axes[c]``, reversed when ``flips[c]``. :func:`restore_orientation` inverts it exactly.
    """

    axes: tuple[int, int, int]
    flips: tuple[bool, bool, bool]
    original: Geometry

    def to_json(self) -> dict:
        return {"axes": list(self.axes), "flips": list(self.flips), "original": self.original.to_json()}

    @classmethod
    def from_json(cls, d: dict) -> Reorientation:
        return cls(tuple(d["axes"]), tuple(bool(f) for f in d["flips"]), Geometry.from_json(d["original"]))


def canonical_transform(geometry: Geometry) -> tuple[tuple[int, int, int], tuple[bool, bool, bool]]:
    """The axis permutation and flips that bring ``geometry`` closest to the identity direction."""
    m = np.abs(geometry.direction_matrix)
    # greedy assignment of world axes to array axes by largest cosine, robust for oblique images
    axes = [-1, -1, -1]
    used_array: set[int] = set()
    order = np.dstack(np.unravel_index(np.argsort(-m, axis=None), m.shape))[0]
    for world, arr_axis in order:
        if axes[world] == -1 and arr_axis not in used_array:
            axes[world] = int(arr_axis)
            used_array.add(int(arr_axis))
    d = geometry.direction_matrix
    flips = tuple(bool(d[w, axes[w]] < 0) for w in range(3))
    return tuple(axes), flips


def reorient_to_canonical(volume: Volume) -> tuple[Volume, Reorientation]:
    """Permutes/flips ``volume`` so axis 0 points Left, 1 Posterior, 2 Superior (LPS).

    Only whole-voxel permutations and flips happen: voxels are not interpolated and the world position
    of every voxel is unchanged. Returns the canonical volume and the record that undoes it.
    """
    geo = volume.geometry
    axes, flips = canonical_transform(geo)
    arr = volume.array.transpose(axes)
    for c, f in enumerate(flips):
        if f:
            arr = np.flip(arr, axis=c)
    d = geo.direction_matrix[:, list(axes)].copy()
    spacing = np.asarray(volume.spacing)[list(axes)]
    origin = np.asarray(volume.origin, dtype=np.float64).copy()
    for c, f in enumerate(flips):
        if f:
            n = arr.shape[c]
            origin = origin + d[:, c] * spacing[c] * (n - 1)
            d[:, c] = -d[:, c]
    out = Volume(np.ascontiguousarray(arr), tuple(spacing), tuple(origin), d)
    return out, Reorientation(axes, flips, geo)


def restore_orientation(
    array: np.ndarray, reorientation: Reorientation, channel_first: bool = False
) -> Volume | np.ndarray:
    """Undoes :func:`reorient_to_canonical` for an array on the canonical grid.

    Args:
        array: ``(X, Y, Z)`` array on the canonical grid, or ``(C, X, Y, Z)`` with ``channel_first``.
        reorientation: the record returned by :func:`reorient_to_canonical`.
        channel_first: treat axis 0 as channels; then the bare reoriented array is returned.

    Returns:
        A :class:`Volume` with the original geometry (or the bare ``(C, ...)`` array).
    """
    off = 1 if channel_first else 0
    arr = array
    for c, f in enumerate(reorientation.flips):
        if f:
            arr = np.flip(arr, axis=c + off)
    inverse = np.argsort(reorientation.axes)
    perm = list(range(off)) + [int(i) + off for i in inverse]
    arr = np.ascontiguousarray(arr.transpose(perm))
    if channel_first:
        return arr
    return Volume.from_geometry(arr, reorientation.original)


def resample_to_grid(
    moving: Volume, reference: Geometry, is_label: bool, default_value: float | None = None
) -> Volume:
    """Resamples ``moving`` onto ``reference``'s grid through world coordinates (SimpleITK).

    Labels use nearest neighbour (no value is invented); images use linear interpolation. Voxels of the
    reference grid outside ``moving`` get ``default_value`` (0 for labels, the minimum for images).
    """
    import SimpleITK as sitk

    ref = sitk.Image([int(s) for s in reference.shape], sitk.sitkUInt8)
    ref.SetSpacing(reference.spacing)
    ref.SetOrigin(reference.origin)
    ref.SetDirection(tuple(reference.direction_matrix.ravel().tolist()))
    if default_value is None:
        default_value = 0.0 if is_label else float(np.min(moving.array))
    interp = sitk.sitkNearestNeighbor if is_label else sitk.sitkLinear
    out = sitk.Resample(to_sitk(moving), ref, sitk.Transform(), interp, float(default_value))
    res = from_sitk(out)
    return Volume.from_geometry(res.array.astype(moving.array.dtype, copy=False), reference)

