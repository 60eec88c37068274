"""DICOM Segmentation (DICOM-SEG) output for DICOM input series, written with highdicom.

highdicom is an optional extra: ``pip install torsoseg[dicom]``. One segment per organ present in the
label map (segment numbers 1..N in label-value order), each with its name as the segment label, its
SNOMED-CT code as the segmented property type where :mod:`torsoseg.organ_display` has one (else the
generic "Anatomical structure"), and its display colour. The object references the source series (its
Study, Series and SOP Instance UIDs) and holds one frame per source slice, binary segmentation type.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from torsoseg import __version__ as _version
from torsoseg.fileio import atomic_path
from torsoseg.imageio import Volume
from torsoseg.organ_display import ANATOMICAL_STRUCTURE, display_colour, snomed_code

logger = logging.getLogger(__name__)

INSTALL_HINT = "DICOM-SEG output needs highdicom: pip install 'torsoseg[dicom]'"


def require_highdicom():
    """The ``highdicom`` module, or an ``ImportError``-free ``ValueError`` saying how to install it."""
    try:
        import highdicom
    except ImportError:
        raise ValueError(INSTALL_HINT) from None
    return highdicom


def read_series_datasets(folder: str | os.PathLike, series: str | None = None) -> list:
    """The pydicom datasets of a DICOM series folder (every readable DICOM file with pixel data).

    Args:
        folder: the series folder.
        series: the series instance UID to take when the folder holds several series.

    Raises:
        ValueError: the folder holds no DICOM image, several series and no ``series``, or not ``series``.
    """
    import pydicom

    d = Path(folder)
    if not d.is_dir():
        raise ValueError(f"{d}: DICOM-SEG output needs a DICOM series folder as input")
    datasets = []
    for f in sorted(p for p in d.iterdir() if p.is_file()):
        try:
            ds = pydicom.dcmread(f)
        except Exception:  # not a DICOM file: skipped like SimpleITK's series reader does
            continue
        if "PixelData" in ds:
            datasets.append(ds)
    if not datasets:
        raise ValueError(f"{d}: no DICOM image; DICOM-SEG output needs a DICOM series folder as input")
    if series is not None:
        datasets = [ds for ds in datasets if str(ds.get("SeriesInstanceUID", "")) == series]
        if not datasets:
            raise ValueError(f"{d}: no DICOM series {series!r} to reference in the DICOM-SEG")
    uids = {str(ds.get("SeriesInstanceUID", "")) for ds in datasets}
    if len(uids) > 1:
        raise ValueError(f"{d}: {len(uids)} DICOM series in one folder; choose one with --dicom-series UID")
    _fill_missing_uids(datasets, d)
    return datasets


def _fill_missing_uids(datasets: list, folder: Path) -> None:
    """Fills, in memory only, UIDs that anonymisation left empty, so the DICOM-SEG can reference the slices.

    SOP Class and SOP Instance UIDs come from each file's meta header; an empty Study or Series Instance
    UID is derived deterministically from the Frame of Reference UID (a warning says the reference will
    not resolve against the files on disk). Input files are never modified.
    """
    import pydicom.uid

    for ds in datasets:
        meta = getattr(ds, "file_meta", None)
        if not ds.get("SOPClassUID") and meta is not None and meta.get("MediaStorageSOPClassUID"):
            ds.SOPClassUID = meta.MediaStorageSOPClassUID
        if not ds.get("SOPInstanceUID") and meta is not None and meta.get("MediaStorageSOPInstanceUID"):
            ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
        if not ds.get("SOPInstanceUID") or not ds.get("SOPClassUID"):
            raise ValueError(f"{folder}: a slice has no SOP Class/Instance UID to reference in a DICOM-SEG")
    seed = str(datasets[0].get("FrameOfReferenceUID", "")) or str(folder.resolve())
    for key in ("StudyInstanceUID", "SeriesInstanceUID"):
        if not datasets[0].get(key):
            uid = pydicom.uid.generate_uid(entropy_srcs=["torsoseg", key, seed])
            logger.warning("%s: the series has no %s (anonymised?); the DICOM-SEG references the derived "
                           "UID %s, which the source files do not carry", folder, key, uid)
            for ds in datasets:
                setattr(ds, key, uid)


def _frames(datasets: list, label_map: Volume) -> np.ndarray:
    """``(n_slices, rows, cols)`` label values, frame ``f`` belonging to ``datasets[f]``.

    Each source slice is located on the label map's grid through its ImagePositionPatient (LPS mm), so the
    order of the files does not matter; rows run along the image's y index and columns along x.
    """
    geo = label_map.geometry
    nx, ny, nz = label_map.shape
    frames = np.zeros((len(datasets), ny, nx), dtype=label_map.array.dtype)
    for f, ds in enumerate(datasets):
        if (int(ds.Rows), int(ds.Columns)) != (ny, nx):
            raise ValueError(f"DICOM slice {ds.SOPInstanceUID}: {ds.Rows}x{ds.Columns} pixels, label map "
                             f"{nx}x{ny}")
        idx = geo.world_to_index(np.asarray([float(v) for v in ds.ImagePositionPatient]))
        k = int(round(float(idx[2])))
        if not (abs(idx[0]) < 1e-2 and abs(idx[1]) < 1e-2 and abs(idx[2] - k) < 1e-2 and 0 <= k < nz):
            raise ValueError(f"DICOM slice {ds.SOPInstanceUID}: position {list(ds.ImagePositionPatient)} is "
                             "not a slice of the predicted grid")
        frames[f] = label_map.array[:, :, k].T
    return frames


def write_dicom_seg(source: str | os.PathLike, label_map: Volume, labels: Mapping[str, int],
                    path: str | os.PathLike, series: str | None = None) -> Path:
    """Writes a DICOM-SEG of ``label_map`` referencing the DICOM series in ``source``.

    Args:
        source: the DICOM series folder the label map was predicted from.
        label_map: integer labels on exactly that series' grid.
        labels: name -> value; every non-empty foreground label becomes a segment.
        path: the ``.dcm`` file to write (atomically).
        series: the series instance UID the label map was predicted from, when ``source`` holds several.

    Returns:
        ``path``.

    Raises:
        ValueError: highdicom missing, the source is no single DICOM series, or the grids do not match.
    """
    hd = require_highdicom()
    from pydicom.sr.codedict import codes

    datasets = read_series_datasets(source, series)
    frames = _frames(datasets, label_map)
    present = set(np.unique(frames).tolist()) - {0}
    chosen = [(n, int(v)) for n, v in sorted(labels.items(), key=lambda kv: kv[1])
              if n != "background" and int(v) in present]
    table = np.zeros(int(frames.max(initial=0)) + 1, dtype=np.uint16)
    algorithm = hd.AlgorithmIdentificationSequence(
        name="torsoseg", version=_version, family=codes.cid7162.ArtificialIntelligence,
    )
    descriptions = []
    for number, (name, value) in enumerate(chosen, start=1):
        table[value] = number
        code = snomed_code(name) or ANATOMICAL_STRUCTURE
        descriptions.append(hd.seg.SegmentDescription(
            segment_number=number,
            segment_label=name,
            segmented_property_category=codes.SCT.AnatomicalStructure,
            segmented_property_type=hd.sr.CodedConcept(code[0], "SCT", code[1]),
            algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
            algorithm_identification=algorithm,
            display_color=hd.color.CIELabColor.from_rgb(*display_colour(name)),
        ))
    if not descriptions:
        raise ValueError(f"{path}: the label map holds no organ; a DICOM-SEG needs at least one segment")
    seg = hd.seg.Segmentation(
        source_images=datasets,
        pixel_array=table[frames].astype(np.uint16),
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=descriptions,
        series_instance_uid=hd.UID(),
        series_number=900,
        sop_instance_uid=hd.UID(),
        instance_number=1,
        manufacturer="torsoseg",
        manufacturer_model_name="torsoseg",
        software_versions=_version,
        device_serial_number="0",
        series_description="torsoseg segmentation",
    )
    out = Path(path)
    with atomic_path(out) as tmp:
        seg.save_as(tmp)
    return out
