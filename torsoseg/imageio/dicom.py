"""Reading one DICOM series of a folder, refusing stray slices and uneven slice positions."""

from __future__ import annotations

import os
from pathlib import Path

from torsoseg import imagecheck


def is_dicom_dir(path: str | os.PathLike) -> bool:
    """True when ``path`` is a folder holding at least one DICOM series."""
    import SimpleITK as sitk

    p = Path(path)
    if not p.is_dir():
        return False
    return bool(sitk.ImageSeriesReader.GetGDCMSeriesIDs(str(p)))


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


def read_dicom_checked(p: Path, series: str | None):
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

