"""The volume record: an array with its spacing, origin and direction, and its grid (:class:`Geometry`).

See :mod:`torsoseg.imageio` for the axis order and the world coordinates.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Geometry:
    """Where a voxel grid sits in the world.

    Attributes:
        shape: voxels per array axis ``(nx, ny, nz)``.
        spacing: mm per array axis.
        origin: world (LPS, mm) position of voxel ``(0, 0, 0)``'s centre.
        direction: 3x3 tuple of tuples, row-major; column ``a`` is array axis ``a``'s world direction.
    """

    shape: tuple[int, int, int]
    spacing: tuple[float, float, float]
    origin: tuple[float, float, float]
    direction: tuple[tuple[float, float, float], ...]

    @property
    def direction_matrix(self) -> np.ndarray:
        return np.asarray(self.direction, dtype=np.float64)

    def index_to_world(self, index: np.ndarray) -> np.ndarray:
        """Maps voxel indices ``(..., 3)`` (float allowed) to LPS world coordinates in mm."""
        index = np.asarray(index, dtype=np.float64)
        scaled = index * np.asarray(self.spacing)
        return scaled @ self.direction_matrix.T + np.asarray(self.origin)

    def world_to_index(self, points: np.ndarray) -> np.ndarray:
        """Maps LPS world points ``(..., 3)`` to continuous voxel indices."""
        points = np.asarray(points, dtype=np.float64) - np.asarray(self.origin)
        return (points @ np.linalg.inv(self.direction_matrix).T) / np.asarray(self.spacing)

    def same_grid(self, other: Geometry, tol: float = 1e-4) -> bool:
        """True when both describe the same voxel grid (shape exact, the rest within ``tol``)."""
        return (
            tuple(self.shape) == tuple(other.shape)
            and np.allclose(self.spacing, other.spacing, atol=tol, rtol=tol)
            and np.allclose(self.origin, other.origin, atol=tol * 10, rtol=tol)
            and np.allclose(self.direction_matrix, other.direction_matrix, atol=tol)
        )

    def describe(self) -> str:
        sp = ", ".join(f"{s:.4g}" for s in self.spacing)
        og = ", ".join(f"{o:.4g}" for o in self.origin)
        return f"shape {tuple(self.shape)}, spacing ({sp}), origin ({og}), direction {orientation_code(self)}"

    def to_json(self) -> dict:
        return {
            "shape": list(self.shape),
            "spacing": list(self.spacing),
            "origin": list(self.origin),
            "direction": [list(r) for r in self.direction],
        }

    @classmethod
    def from_json(cls, d: dict) -> Geometry:
        return cls(
            shape=tuple(int(s) for s in d["shape"]),
            spacing=tuple(float(s) for s in d["spacing"]),
            origin=tuple(float(o) for o in d["origin"]),
            direction=tuple(tuple(float(v) for v in row) for row in d["direction"]),
        )


def as_direction(direction) -> tuple[tuple[float, float, float], ...]:
    """Nine numbers (any 3x3 or flat form) as the row-major tuple of tuples a :class:`Volume` stores."""
    m = np.asarray(direction, dtype=np.float64)
    if m.size != 9:
        raise ValueError(f"direction must have 9 values (3x3), got {m.size}")
    m = m.reshape(3, 3)
    return tuple(tuple(float(v) for v in row) for row in m)


@dataclass(frozen=True)
class Volume:
    """A 3D array with its geometry. Validated on construction.

    Attributes:
        array: ``(nx, ny, nz)`` array in ITK index order (see :mod:`torsoseg.imageio`).
        spacing: mm per axis, all > 0; required (a Volume without spacing is refused).
        origin: LPS world position of voxel (0, 0, 0), mm.
        direction: 3x3 direction cosines, column ``a`` = axis ``a``; must be orthonormal.
    """

    array: np.ndarray
    spacing: tuple[float, float, float] | None = None
    origin: tuple[float, float, float] = (0.0, 0.0, 0.0)
    direction: tuple[tuple[float, float, float], ...] = field(
        default=((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0))
    )

    def __post_init__(self) -> None:
        arr = np.asarray(self.array)
        if arr.ndim != 3:
            raise ValueError(f"a Volume needs a 3D array, got shape {arr.shape}")
        object.__setattr__(self, "array", arr)
        if self.spacing is None:
            raise ValueError(
                "a Volume needs its voxel spacing in mm (Volume(array, spacing=(sx, sy, sz))): an image "
                "without geometry would be resampled and exported at a made-up 1 mm; read files with "
                "read_image() or convert a SimpleITK image with from_sitk()"
            )
        spacing = tuple(float(s) for s in self.spacing)
        if len(spacing) != 3 or not all(np.isfinite(s) and s > 0 for s in spacing):
            raise ValueError(f"spacing must be 3 positive numbers, got {self.spacing}")
        origin = tuple(float(o) for o in self.origin)
        if len(origin) != 3 or not all(np.isfinite(origin)):
            raise ValueError(f"origin must be 3 finite numbers, got {self.origin}")
        direction = as_direction(self.direction)
        m = np.asarray(direction)
        if not np.allclose(m.T @ m, np.eye(3), atol=1e-3):
            raise ValueError(f"direction must be orthonormal, got {direction}")
        object.__setattr__(self, "spacing", spacing)
        object.__setattr__(self, "origin", origin)
        object.__setattr__(self, "direction", direction)

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(int(s) for s in self.array.shape)

    @property
    def geometry(self) -> Geometry:
        return Geometry(self.shape, self.spacing, self.origin, self.direction)

    def with_array(self, array: np.ndarray) -> Volume:
        """A volume on the same grid holding ``array`` (same shape required)."""
        array = np.asarray(array)
        if array.shape != self.array.shape:
            raise ValueError(f"with_array: shape {array.shape} differs from {self.array.shape}")
        return Volume(array, self.spacing, self.origin, self.direction)

    @classmethod
    def from_geometry(cls, array: np.ndarray, geometry: Geometry) -> Volume:
        array = np.asarray(array)
        if tuple(array.shape) != tuple(geometry.shape):
            raise ValueError(f"array shape {array.shape} differs from geometry shape {geometry.shape}")
        return cls(array, geometry.spacing, geometry.origin, geometry.direction)


_POS_LETTERS = ("L", "P", "S")
_NEG_LETTERS = ("R", "A", "I")


def orientation_code(geometry_or_direction) -> str:
    """ITK-style code: letter ``a`` names where array axis ``a`` points (e.g. ``LPS``, ``RAS``)."""
    d = geometry_or_direction
    m = d.direction_matrix if isinstance(d, Geometry) else np.asarray(d, dtype=np.float64).reshape(3, 3)
    letters = []
    for a in range(3):
        col = m[:, a]
        w = int(np.argmax(np.abs(col)))
        letters.append(_POS_LETTERS[w] if col[w] > 0 else _NEG_LETTERS[w])
    return "".join(letters)


def spacing_str(spacing: Sequence[float]) -> str:
    return "(" + ", ".join(f"{s:.4g}" for s in spacing) + ")"


def integer_labels(array: np.ndarray, source: str) -> np.ndarray:
    """A label map's array with integer values: integers as they are, integer-valued floats as int32.

    Raises:
        ValueError: non-integer or non-finite floats, or a non-numeric dtype (``source`` names the file).
    """
    if array.dtype.kind == "f":
        if not (np.all(np.isfinite(array)) and np.all(array == np.round(array))):
            raise ValueError(f"{source} label map has non-integer values")
        return array.astype(np.int32)
    if array.dtype.kind not in "iu":
        raise ValueError(f"{source} label map has dtype {array.dtype}; expected integers")
    return array
