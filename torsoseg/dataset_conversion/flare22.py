"""``flare22``: MICCAI FLARE 2022, 13 abdominal organs.

Layout (as distributed): ``.../FLARE22_LabeledCase50/images/FLARE22_Tr_0001_0000.nii.gz`` +
``.../labels/FLARE22_Tr_0001.nii.gz``; the unlabelled cases (no ``labels`` folder beside ``images``) are
not converted. ``source`` may be any folder above the labelled set. Case names are the label file names.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from torsoseg.dataset_conversion.sources import (
    ConversionError,
    SourceCase,
    SourceScan,
    builtin_labels,
    find_subdir,
    index_images,
    require_dir,
)

NAME = "flare22"
DEFAULT_NAME = "FLARE22"
LAYOUT = "FLARE22_LabeledCase50/images/FLARE22_Tr_NNNN_0000.nii.gz + labels/FLARE22_Tr_NNNN.nii.gz"
SUMMARY = "FLARE22 abdominal organ challenge, 13 organs (labelled cases)"
LABELS = {
    1: "liver", 2: "right kidney", 3: "spleen", 4: "pancreas", 5: "aorta", 6: "inferior vena cava",
    7: "right adrenal gland", 8: "left adrenal gland", 9: "gallbladder", 10: "esophagus", 11: "stomach",
    12: "duodenum", 13: "left kidney",
}


def _labelled_sets(root: Path, depth: int = 3) -> list[Path]:
    found = []
    if find_subdir(root, ("images",)) is not None and find_subdir(root, ("labels",)) is not None:
        found.append(root)
    if depth > 0:
        for c in sorted(root.iterdir()):
            if c.is_dir() and not c.name.startswith(".") and c.name.lower() not in ("images", "labels"):
                found += _labelled_sets(c, depth - 1)
    return found


def scan(source: str | os.PathLike) -> SourceScan:
    """Scans a FLARE22 tree (see the module docstring)."""
    root = require_dir(source)
    sets = _labelled_sets(root)
    if not sets:
        raise ConversionError(f"{root}: no folder with images/ and labels/ (expected {LAYOUT})")
    cases = []
    for s in sets:
        imgs = {re.sub(r"_0000$", "", k): f for k, f in index_images(find_subdir(s, ("images",))).items()}
        labs = index_images(find_subdir(s, ("labels",)))
        for stem in sorted(labs):
            if stem not in imgs:
                raise ConversionError(f"{labs[stem]}: no image {stem}_0000 in {s / 'images'}")
            cases.append(SourceCase(stem, imgs[stem], label_map=labs[stem]))
        unlabelled = sorted(set(imgs) - set(labs))
        if unlabelled:
            raise ConversionError(f"{imgs[unlabelled[0]]}: no label map {unlabelled[0]} in {s / 'labels'}")
    return SourceScan(tuple(cases), tuple(builtin_labels(LABELS)))
