"""Reading and writing image files (NIfTI, NRRD, MHA/MHD, DICOM series) with SimpleITK, checked.

The transpose between SimpleITK's array order and torsoseg's happens only in :func:`from_sitk` and
:func:`to_sitk` (see :mod:`torsoseg.imageio`).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from torsoseg import imagecheck
from torsoseg.fileio import atomic_path
from torsoseg.imageio.dicom import read_dicom_checked
from torsoseg.imageio.volume import Geometry, Volume, as_direction

IMAGE_SUFFIXES = (".nii.gz", ".nii", ".nrrd", ".mha", ".mhd")


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
        image = read_dicom_checked(p, series) if p.is_dir() else _read_file_checked(p)
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
    return Geometry(tuple(int(s) for s in size), tuple(spacing), tuple(origin), as_direction(d))


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



def list_images(folder: str | os.PathLike) -> list[Path]:
    """Image files directly in ``folder`` (sorted; hidden and AppleDouble ``._*`` files skipped)."""
    p = Path(folder)
    return sorted(
        f for f in p.iterdir() if f.is_file() and not f.name.startswith(".") and has_image_suffix(f.name)
    )

