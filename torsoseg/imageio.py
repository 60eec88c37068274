"""Reading and writing volumes, and the one geometry convention of torsoseg.

Axis order (stated here once, used everywhere): a :class:`Volume` array is indexed ``array[i, j, k]``
in ITK *index* order, i.e. the array shape is ``(size_x, size_y, size_z)`` of the ITK image and
``spacing[a]``, ``direction[:, a]`` belong to array axis ``a``. This is the transpose of what
``SimpleITK.GetArrayFromImage`` returns; the transpose happens only in :func:`from_sitk` /
:func:`to_sitk`.

World coordinates are ITK's LPS (x grows to the patient's Left, y to Posterior, z to Superior).
``direction`` is a 3x3 matrix whose column ``a`` is the world direction of array axis ``a``.

The *canonical orientation* is "LPS" in ITK's naming: after :func:`reorient_to_canonical`, array axis 0
points to the patient's left, axis 1 to posterior, axis 2 to superior (up to any oblique residue, which is
kept in ``direction``). So the left-right axis is axis 0 everywhere downstream, and a larger index on
axis 0 is further to the patient's left.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from torsoseg import imagecheck
from torsoseg.fileio import atomic_path

IMAGE_SUFFIXES = (".nii.gz", ".nii", ".nrrd", ".mha", ".mhd")


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


def _as_direction(direction) -> tuple[tuple[float, float, float], ...]:
    m = np.asarray(direction, dtype=np.float64)
    if m.size != 9:
        raise ValueError(f"direction must have 9 values (3x3), got {m.size}")
    m = m.reshape(3, 3)
    return tuple(tuple(float(v) for v in row) for row in m)


@dataclass(frozen=True)
class Volume:
    """A 3D array with its geometry. Validated on construction.

    Attributes:
        array: ``(nx, ny, nz)`` array in ITK index order (see module docstring).
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
        direction = _as_direction(self.direction)
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


# ---------------------------------------------------------------------------------------------------
# SimpleITK conversion, reading and writing
# ---------------------------------------------------------------------------------------------------


def from_sitk(image) -> Volume:
    """Converts a 3D scalar ``SimpleITK.Image`` into a :class:`Volume`."""
    import SimpleITK as sitk

    if image.GetDimension() != 3:
        raise ValueError(f"expected a 3D image, got {image.GetDimension()}D of size {image.GetSize()}")
    if image.GetNumberOfComponentsPerPixel() != 1:
        raise ValueError(f"expected one channel, got {image.GetNumberOfComponentsPerPixel()} components")
    arr = sitk.GetArrayFromImage(image).transpose(2, 1, 0)
    direction = np.asarray(image.GetDirection(), dtype=np.float64).reshape(3, 3)
    return Volume(arr, image.GetSpacing(), image.GetOrigin(), direction)


def to_sitk(volume: Volume):
    """Converts a :class:`Volume` into a ``SimpleITK.Image`` with identical geometry."""
    import SimpleITK as sitk

    arr = volume.array
    if arr.dtype == np.bool_:
        arr = arr.astype(np.uint8)
    if arr.dtype == np.float16:
        arr = arr.astype(np.float32)
    image = sitk.GetImageFromArray(np.ascontiguousarray(arr.transpose(2, 1, 0)))
    image.SetSpacing(volume.spacing)
    image.SetOrigin(volume.origin)
    image.SetDirection(tuple(np.asarray(volume.direction).ravel().tolist()))
    return image


def has_image_suffix(path: str | os.PathLike) -> bool:
    name = str(path).lower()
    return any(name.endswith(s) for s in IMAGE_SUFFIXES)


def strip_suffix(name: str) -> str:
    """``case_0000.nii.gz`` -> ``case_0000`` for every suffix in :data:`IMAGE_SUFFIXES`."""
    lower = name.lower()
    for s in IMAGE_SUFFIXES:
        if lower.endswith(s):
            return name[: -len(s)]
    return name


def is_dicom_dir(path: str | os.PathLike) -> bool:
    """True when ``path`` is a folder holding at least one DICOM series."""
    import SimpleITK as sitk

    p = Path(path)
    if not p.is_dir():
        return False
    return bool(sitk.ImageSeriesReader.GetGDCMSeriesIDs(str(p)))


def _is_nifti(path: Path) -> bool:
    name = path.name.lower()
    return name.endswith(".nii") or name.endswith(".nii.gz")


def _read_file_checked(p: Path):
    """``SimpleITK.ReadImage`` with the integrity checks of :mod:`torsoseg.imagecheck` (NIfTI).

    A ``.nii.gz`` is streamed through zlib in a thread while ITK reads it (both release the GIL).
    """
    import SimpleITK as sitk

    if not _is_nifti(p):
        return sitk.ReadImage(str(p))
    if not p.name.lower().endswith(".gz"):
        imagecheck.check_nifti_file(p)
        return sitk.ReadImage(str(p))
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1) as pool:
        check = pool.submit(imagecheck.check_nifti_file, p)
        try:
            image = sitk.ReadImage(str(p))
        except RuntimeError:
            check.result()  # a CorruptImageError names the problem better than ITK
            raise
        check.result()
    return image


def list_dicom_series(folder: str | os.PathLike) -> list[tuple[str, int, str]]:
    """The DICOM series of ``folder``: ``(series instance UID, number of files, description)`` each."""
    import SimpleITK as sitk

    out = []
    for uid in sitk.ImageSeriesReader.GetGDCMSeriesIDs(str(folder)):
        files = sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder), uid)
        desc = ""
        try:
            r = sitk.ImageFileReader()
            r.SetFileName(files[0])
            r.ReadImageInformation()
            if r.HasMetaDataKey("0008|103e"):
                desc = r.GetMetaData("0008|103e").strip()
        except RuntimeError:
            pass
        out.append((uid, len(files), desc))
    return out


def _describe_series(series: list[tuple[str, int, str]]) -> str:
    return "; ".join(f"{uid or '(no UID)'} ({n} files{', ' + d if d else ''})" for uid, n, d in series)


def _read_dicom_checked(p: Path, series: str | None):
    """Reads one DICOM series of folder ``p``, refusing stray/unreadable slices and uneven positions."""
    import SimpleITK as sitk

    ids = list(sitk.ImageSeriesReader.GetGDCMSeriesIDs(str(p)))
    if not ids:
        raise ValueError("folder holds no DICOM series")
    if series is None and len(ids) > 1:
        raise ValueError(
            f"{len(ids)} DICOM series in one folder: {_describe_series(list_dicom_series(p))}; "
            "choose one with --dicom-series UID"
        )
    uid = ids[0] if series is None else series
    if uid not in ids:
        raise ValueError(
            f"no DICOM series {series!r}; the folder holds {_describe_series(list_dicom_series(p))}"
        )
    every = [f for s in ids for f in sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(p), s)]
    stray = imagecheck.stray_dicom_files(p, every)
    if stray:
        names = ", ".join(f.name for f in stray[:5]) + (" ..." if len(stray) > 5 else "")
        raise imagecheck.CorruptImageError(
            f"{len(stray)} file(s) are not readable slices of any DICOM series (corrupt, truncated or not "
            f"DICOM): {names}; remove them or restore the slices"
        )
    files = sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(p), uid)
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(files)
    reader.MetaDataDictionaryArrayUpdateOn()
    shown = sitk.ProcessObject.GetGlobalWarningDisplay()
    sitk.ProcessObject.SetGlobalWarningDisplay(False)  # our own check below reports uneven slices
    try:
        image = reader.Execute()
    finally:
        sitk.ProcessObject.SetGlobalWarningDisplay(shown)
    positions = []
    for i, f in enumerate(files):
        if reader.HasMetaDataKey(i, "0020|0032"):
            positions.append([float(v) for v in reader.GetMetaData(i, "0020|0032").split("\\")])
        else:
            r = sitk.ImageFileReader()
            r.SetFileName(f)
            r.ReadImageInformation()
            positions.append(list(r.GetOrigin())[:3])
    imagecheck.check_dicom_positions(p, positions, image.GetDirection())
    return image


def _header_readable(p: Path) -> bool:
    import SimpleITK as sitk

    reader = sitk.ImageFileReader()
    reader.SetFileName(str(p))
    try:
        reader.ReadImageInformation()
    except RuntimeError:
        return False
    return True


def read_image(path: str | os.PathLike, series: str | None = None) -> Volume:
    """Reads a NIfTI, NRRD, MHA/MHD file or a DICOM series folder into a :class:`Volume`, checked.

    Every read is checked for integrity (see :mod:`torsoseg.imagecheck`): a truncated or corrupt file
    (gzip CRC/length, data shorter than the header) and a DICOM series with uneven slice positions or
    unreadable slice files are refused rather than read as zeros or a stretched grid.

    Args:
        path: an image file, or a folder holding a DICOM series.
        series: the series instance UID to read when the folder holds several series.

    Returns:
        The volume with the file's geometry.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: the file cannot be read, is damaged (:class:`~torsoseg.imagecheck.CorruptImageError`)
            or is not a 3D scalar image; the message names the file.

    Example:
        >>> vol = read_image("imagesTr/case_000_0000.nii.gz")  # doctest: +SKIP
        >>> vol.shape, vol.spacing  # doctest: +SKIP
    """
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"{p}: no such file or folder")
    try:
        image = _read_dicom_checked(p, series) if p.is_dir() else _read_file_checked(p)
    except imagecheck.CorruptImageError as e:
        msg = str(e)
        raise imagecheck.CorruptImageError(msg if msg.startswith(str(p)) else f"{p}: {msg}") from None
    except ValueError as e:
        raise ValueError(f"{p}: {e}") from None
    except RuntimeError as e:  # SimpleITK's read errors
        reason = imagecheck.itk_error_line(e)
        if p.is_file() and _header_readable(p):
            raise imagecheck.CorruptImageError(
                f"{p}: the header reads but the voxel data does not: the data is shorter than the header "
                f"says, or damaged ({reason})"
            ) from None
        raise ValueError(f"{p}: cannot be read as an image ({reason})") from None
    if image.GetDimension() == 4 and image.GetSize()[3] == 1:
        image = image[:, :, :, 0]
    if image.GetDimension() != 3:
        raise ValueError(f"{p}: expected a 3D image, got {image.GetDimension()}D of size {image.GetSize()}")
    if image.GetNumberOfComponentsPerPixel() != 1:
        raise ValueError(
            f"{p}: expected a single-channel image, got {image.GetNumberOfComponentsPerPixel()} components"
        )
    try:
        return from_sitk(image)
    except ValueError as e:
        raise ValueError(f"{p}: {e}") from None


def read_geometry(path: str | os.PathLike) -> Geometry:
    """Reads only the header of an image file (fast; no voxels).

    The O(1) integrity checks run too: an uncompressed NIfTI shorter than its header, and a ``.nii.gz``
    whose gzip length trailer disagrees with the header (then the stream is checked in full).
    """
    import SimpleITK as sitk

    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"{p}: no such file")
    if p.is_dir():
        return read_image(p).geometry
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(p))
    try:
        reader.ReadImageInformation()
        if _is_nifti(p):
            imagecheck.check_nifti_file(p, full=False)
    except RuntimeError as e:
        raise ValueError(f"{p}: cannot be read as an image ({imagecheck.itk_error_line(e)})") from None
    dim = reader.GetDimension()
    size = reader.GetSize()
    if dim == 4 and size[3] == 1:
        size, spacing, origin = size[:3], reader.GetSpacing()[:3], reader.GetOrigin()[:3]
        d = np.asarray(reader.GetDirection()).reshape(4, 4)[:3, :3]
    elif dim != 3:
        raise ValueError(f"{p}: expected a 3D image, got {dim}D of size {size}")
    else:
        spacing, origin = reader.GetSpacing(), reader.GetOrigin()
        d = np.asarray(reader.GetDirection()).reshape(3, 3)
    if not all(np.isfinite(s) and s > 0 for s in spacing):
        raise ValueError(f"{p}: spacing must be positive, got {tuple(spacing)}")
    return Geometry(tuple(int(s) for s in size), tuple(spacing), tuple(origin), _as_direction(d))


def write_image(volume: Volume, path: str | os.PathLike, compress: bool = True) -> Path:
    """Writes ``volume`` atomically (temporary file in the same folder, then rename).

    The format follows the suffix (``.nii.gz``, ``.nii``, ``.nrrd``, ``.mha``); parent folders are created.
    """
    import SimpleITK as sitk

    p = Path(path)
    if not has_image_suffix(p) or p.name.lower().endswith(".mhd"):
        raise ValueError(f"{p}: unsupported output suffix (use one of .nii.gz, .nii, .nrrd, .mha)")
    suffix = next(s for s in IMAGE_SUFFIXES if p.name.lower().endswith(s))
    with atomic_path(p, suffix=suffix) as tmp:
        sitk.WriteImage(to_sitk(volume), str(tmp), compress)
    return p


# ---------------------------------------------------------------------------------------------------
# Orientation
# ---------------------------------------------------------------------------------------------------

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


def list_images(folder: str | os.PathLike) -> list[Path]:
    """Image files directly in ``folder`` (sorted; hidden and AppleDouble ``._*`` files skipped)."""
    p = Path(folder)
    return sorted(
        f for f in p.iterdir() if f.is_file() and not f.name.startswith(".") and has_image_suffix(f.name)
    )


def spacing_str(spacing: Sequence[float]) -> str:
    return "(" + ", ".join(f"{s:.4g}" for s in spacing) + ")"
