"""``visceral``: VISCERAL Anatomy3, one binary mask per structure named by RadLex ID.

Layout (as distributed)::

    Volumes/{pid}_{vol}_{Modality}_{Region}.nii.gz
    Segmentations/{pid}_{vol}_{Modality}_{Region}_{RadLexID}_{AnnotatorID}.nii.gz

The annotator suffix varies between cases and is ignored (when one structure has masks of several
annotators, the first in name order is used and the others are logged). A structure absent from a case
simply has no file; dataset.json's ``annotated`` lists what each case has. Only volumes of the chosen
``region`` (``{Modality}_{Region}``, default ``CTce_ThAb``) are converted; volumes without any mask
(unannotated) are skipped. Case names are ``{pid}_{vol}``.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

from torsoseg import organs as vocab
from torsoseg.dataset_conversion.sources import (
    ConversionError,
    SourceCase,
    SourceLabel,
    SourceScan,
    find_subdir,
    index_images,
    require_dir,
)

logger = logging.getLogger(__name__)

NAME = "visceral"
DEFAULT_NAME = "VISCERAL"
LAYOUT = ("Volumes/{pid}_{vol}_CTce_ThAb.nii.gz + "
          "Segmentations/{pid}_{vol}_CTce_ThAb_{RadLexID}_{annotator}.nii.gz")
SUMMARY = "VISCERAL Anatomy3: per-structure binary masks named by RadLex ID (20 structures)"
DEFAULT_REGION = "CTce_ThAb"


def _locate(root: Path) -> tuple[Path, Path]:
    for base in [root, *sorted(c for c in root.iterdir() if c.is_dir())]:
        vols = find_subdir(base, ("Volumes", "volume", "images"))
        segs = find_subdir(base, ("Segmentations", "segmentation", "masks"))
        if vols is not None and segs is not None:
            return vols, segs
    raise ConversionError(f"{root}: no Volumes/ and Segmentations/ folders (expected {LAYOUT})")


def scan(source: str | os.PathLike, region: str = DEFAULT_REGION) -> SourceScan:
    """Scans a VISCERAL Anatomy3 tree.

    Args:
        source: the folder holding ``Volumes/`` and ``Segmentations/`` (or its parent).
        region: ``{Modality}_{Region}`` of the volumes to convert (``CTce_ThAb``, ``CT_wb``, ...).
    """
    root = require_dir(source)
    if not re.fullmatch(r"[A-Za-z0-9]+_[A-Za-z0-9]+", region):
        raise ConversionError(f"region {region!r}: expected Modality_Region such as CTce_ThAb")
    vol_dir, seg_dir = _locate(root)
    vol_re = re.compile(rf"([^_]+)_([^_]+)_{re.escape(region)}")
    seg_re = re.compile(rf"([^_]+)_([^_]+)_{re.escape(region)}_(\d+)_([^_]+)")
    skipped: list[tuple[str, str]] = []
    volumes: dict[str, Path] = {}
    for stem, f in index_images(vol_dir).items():
        m = vol_re.fullmatch(stem)
        if m:
            volumes[f"{m.group(1)}_{m.group(2)}"] = f
        else:
            skipped.append((str(f), f"not a {region} volume"))
    masks: dict[str, dict[int, list[Path]]] = {}
    for stem, f in index_images(seg_dir).items():
        m = seg_re.fullmatch(stem)
        if not m:
            skipped.append((str(f), f"not a {region} structure mask"))
            continue
        case, radlex = f"{m.group(1)}_{m.group(2)}", int(m.group(3))
        if case not in volumes:
            skipped.append((str(f), f"no volume {case}_{region} in {vol_dir}"))
            continue
        try:
            vocab.by_radlex(radlex)
        except vocab.UnknownOrganError as e:
            raise ConversionError(f"{f}: {e}") from None
        masks.setdefault(case, {}).setdefault(radlex, []).append(f)
    cases = []
    found: set[int] = set()
    for case in sorted(volumes):
        if case not in masks:
            skipped.append((str(volumes[case]), "no structure masks (unannotated volume)"))
            continue
        chosen = []
        for radlex in sorted(masks[case]):
            files = sorted(masks[case][radlex], key=lambda p: p.name)
            if len(files) > 1:
                logger.info("%s: RadLex %d has %d annotators; using %s", case, radlex, len(files),
                            files[0].name)
            chosen.append((str(radlex), files[0]))
            found.add(radlex)
        cases.append(SourceCase(case, volumes[case], masks=tuple(chosen)))
    labels = tuple(SourceLabel(str(r), None, vocab.by_radlex(r)) for r in sorted(found))
    return SourceScan(tuple(cases), labels, None, skipped=tuple(skipped))


def structure_file_name(pid: str, vol: int | str, radlex: int, annotator: int | str,
                        region: str = DEFAULT_REGION) -> str:
    """The Anatomy3 file name of one structure mask (``10000100_1_CTce_ThAb_58_7.nii.gz``)."""
    return f"{pid}_{vol}_{region}_{int(radlex)}_{annotator}.nii.gz"


def volume_file_name(pid: str, vol: int | str, region: str = DEFAULT_REGION) -> str:
    """The Anatomy3 file name of one volume (``10000100_1_CTce_ThAb.nii.gz``)."""
    return f"{pid}_{vol}_{region}.nii.gz"


__all__ = ["scan", "structure_file_name", "volume_file_name"]
