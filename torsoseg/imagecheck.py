"""Integrity checks behind :func:`torsoseg.imageio.read_image`: nothing broken is read as valid data.

SimpleITK reads a truncated NIfTI (``.nii`` or ``.nii.gz``) without complaint and fills the missing voxels
with 0, and it assembles a DICOM series with a missing slice into a volume with a stretched spacing. The
checks here catch both before a volume is handed on:

* :func:`check_nifti_file`: an uncompressed NIfTI must hold at least ``vox_offset + voxels * bitpix / 8``
  bytes (values from ITK's own header reader). A ``.nii.gz`` is streamed through ``zlib``, which checks
  the gzip CRC-32 and length trailer of every member; the stream must end cleanly and decompress to at
  least the header's byte count. This runs in a thread beside ITK's read (zlib releases the GIL), so the
  wall time it adds is small.
* :func:`check_dicom_positions`: the slice positions (ImagePositionPatient projected on the slice normal)
  must step uniformly; a gap names the slices on either side and the slice count.
* :func:`stray_dicom_files`: files of a DICOM folder that belong to no series GDCM can read (a truncated
  or corrupt slice is dropped from the series silently by GDCM).

NRRD and MetaImage (``.mha``/``.mhd``) readers already fail on data shorter than the header; their errors
are turned into one readable line by :func:`itk_error_line`.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

__all__ = [
    "CorruptImageError",
    "check_dicom_positions",
    "check_gzip_stream",
    "check_nifti_file",
    "itk_error_line",
    "nifti_expected_bytes",
    "stray_dicom_files",
]

_CHUNK = 1 << 20  # compressed bytes read per step
_MAX_OUT = 1 << 24  # decompressed bytes held at once (bounded even for highly compressible data)


class CorruptImageError(ValueError):
    """An image file or DICOM series whose content is incomplete or inconsistent with its header."""


def nifti_expected_bytes(path: str | os.PathLike) -> int | None:
    """``vox_offset + voxels * bitpix / 8`` of a NIfTI file, from ITK's header reader (None if not NIfTI)."""
    import SimpleITK as sitk

    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    reader.ReadImageInformation()
    keys = set(reader.GetMetaDataKeys())
    if not {"vox_offset", "bitpix", "dim[0]"} <= keys:
        return None
    ndim = int(float(reader.GetMetaData("dim[0]")))
    voxels = 1
    for a in range(1, ndim + 1):
        voxels *= max(1, int(float(reader.GetMetaData(f"dim[{a}]"))))
    bits = int(float(reader.GetMetaData("bitpix")))
    return int(float(reader.GetMetaData("vox_offset"))) + voxels * bits // 8


def check_gzip_stream(path: str | os.PathLike) -> int:
    """Decompresses a gzip file in bounded chunks, checking every member's CRC-32 and length.

    Returns:
        The total decompressed size in bytes.

    Raises:
        CorruptImageError: the stream ends early, or a CRC/length trailer does not match.
    """
    p = Path(path)
    total = 0
    with open(p, "rb") as f:
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            while data := f.read(_CHUNK):
                while data:
                    if d.eof:  # a member ended: what follows is another member, or zero padding
                        if not data.strip(b"\x00"):
                            break
                        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
                    total += len(d.decompress(data, _MAX_OUT))
                    while d.unconsumed_tail and not d.eof:
                        total += len(d.decompress(d.unconsumed_tail, _MAX_OUT))
                    data = d.unused_data if d.eof else b""
        except zlib.error as e:
            raise CorruptImageError(f"{p}: corrupt gzip data ({e}); the file is damaged") from None
    if not d.eof:
        raise CorruptImageError(
            f"{p}: truncated gzip stream (ends after {total} decompressed bytes without its CRC/length "
            "trailer); the file is incomplete"
        )
    return total


def check_nifti_file(path: str | os.PathLike, full: bool = True) -> None:
    """Refuses a NIfTI file whose data is shorter than its header says (see the module docstring).

    Args:
        path: a ``.nii`` or ``.nii.gz`` file.
        full: for ``.nii.gz``, stream the whole file (CRC, length, size); otherwise only the
            O(1) checks (``.nii`` size; the last gzip member's length trailer against the header).

    Raises:
        CorruptImageError: naming the file, the expected and the found byte counts.
    """
    p = Path(path)
    with open(p, "rb") as f:
        gz = f.read(2) == b"\x1f\x8b"  # a ".nii.gz" that is not gzip at all is checked as plain NIfTI
    total = check_gzip_stream(p) if gz and full else None  # first: ITK may not parse a damaged stream
    try:
        expected = nifti_expected_bytes(p)
    except RuntimeError:
        return  # not a NIfTI header ITK understands: its reader reports that
    if expected is None:
        return
    if not gz:
        size = p.stat().st_size
        if size < expected:
            raise CorruptImageError(
                f"{p}: truncated NIfTI: the header needs {expected} bytes, the file has {size} "
                f"({100 * size / expected:.1f}%)"
            )
        return
    if total is None:
        with open(p, "rb") as f:
            f.seek(0, os.SEEK_END)
            if f.tell() < 18:
                raise CorruptImageError(f"{p}: truncated gzip file ({f.tell()} bytes)")
            f.seek(-4, os.SEEK_END)
            isize = int.from_bytes(f.read(4), "little")
        if isize == expected % (1 << 32):
            return
        total = check_gzip_stream(p)  # multi-member files end with only their last member's length
    if total < expected:
        raise CorruptImageError(
            f"{p}: truncated NIfTI: the header needs {expected} bytes, the file decompresses to {total} "
            f"({100 * total / expected:.1f}%)"
        )


def itk_error_line(error: BaseException) -> str:
    """The informative line of a SimpleITK/ITK exception (without source paths and object addresses)."""
    lines = [ln.strip() for ln in str(error).strip().splitlines() if ln.strip()]
    for key, order in (("_read:", lines[::-1]), ("ITK ERROR:", lines)):
        for ln in order:
            if key in ln and not ln.endswith(":"):
                text = ln.split("): ", 1)[-1] if key == "ITK ERROR:" else ln
                return text.strip()
    return lines[-1] if lines else repr(error)


def _slice_normal(direction: Sequence[float]) -> np.ndarray:
    m = np.asarray(direction, dtype=np.float64).reshape(3, 3)
    n = np.cross(m[:, 0], m[:, 1])
    norm = np.linalg.norm(n)
    return n / norm if norm > 0 else m[:, 2]


def check_dicom_positions(
    folder: str | os.PathLike, positions: Sequence[Sequence[float]], direction: Sequence[float]
) -> float:
    """Checks that the slices of a series step uniformly along the slice normal.

    Args:
        folder: the series folder (for the message).
        positions: ImagePositionPatient of each slice, in the reader's (sorted) order, mm.
        direction: the 3x3 direction (row-major, 9 values) of the first slice.

    Returns:
        The slice step in mm.

    Raises:
        CorruptImageError: two slices share a position, or a step differs from the series' usual step
            (a missing slice): the message names the slices, the gap and the slice count.
    """
    n = len(positions)
    if n < 2:
        return 0.0
    z = np.asarray(positions, dtype=np.float64) @ _slice_normal(direction)
    steps = np.diff(z)
    step = float(np.median(steps))
    if abs(step) < 1e-6:
        raise CorruptImageError(f"{folder}: DICOM slices share one position ({z[0]:.4g} mm); {n} slices")
    tol = max(1e-3, 0.01 * abs(step))
    bad = np.flatnonzero(np.abs(steps - step) > tol)
    if bad.size:
        i = int(bad[0])
        gap = float(steps[i])
        missing = round(gap / step) - 1 if gap / step > 1.5 else 0
        what = f", about {missing} slice(s) missing" if missing > 0 else ""
        raise CorruptImageError(
            f"{folder}: non-uniform DICOM slice positions: gap of {abs(gap):.4g} mm between slices {i} and "
            f"{i + 1} (at {z[i]:.4g} and {z[i + 1]:.4g} mm along the slice normal) where the series steps "
            f"{abs(step):.4g} mm{what}; {n} slices read, {bad.size} irregular step(s). A missing or "
            "unreadable slice would misplace every slice after it"
        )
    return abs(step)


_NOT_SLICES = {"DICOMDIR", "LOCKFILE", "VERSION"}
_NOT_SLICE_SUFFIXES = (".txt", ".json", ".md", ".xml", ".csv", ".html", ".pdf", ".png", ".jpg")


def stray_dicom_files(folder: str | os.PathLike, series_files: Sequence[str]) -> list[Path]:
    """Files of ``folder`` that belong to none of its readable series (unreadable or corrupt slices).

    Hidden files, ``DICOMDIR`` and obvious non-image files (``.txt``, ``.json``, ...) are ignored.
    """
    known = {os.path.realpath(f) for f in series_files}
    stray = []
    for f in sorted(Path(folder).iterdir()):
        if not f.is_file() or f.name.startswith(".") or f.name.upper() in _NOT_SLICES:
            continue
        if f.name.lower().endswith(_NOT_SLICE_SUFFIXES):
            continue
        if os.path.realpath(f) not in known:
            stray.append(f)
    return stray
