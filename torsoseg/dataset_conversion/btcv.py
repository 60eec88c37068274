"""``btcv``: Multi-Atlas Labeling Beyond the Cranial Vault (BTCV abdomen), 13 organs.

Layout (as distributed): ``RawData/Training/img/img0001.nii.gz`` +
``RawData/Training/label/label0001.nii.gz``.
``source`` may be the folder above ``RawData``, ``RawData`` itself or ``Training``. Testing images have no
labels and are not converted. Case names are ``btcv_0001``.
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

NAME = "btcv"
DEFAULT_NAME = "BTCV"
LAYOUT = "RawData/Training/img/imgNNNN.nii.gz + RawData/Training/label/labelNNNN.nii.gz"
SUMMARY = "BTCV abdomen (MICCAI 2015 multi-atlas challenge), 13 organs"
LABELS = {
    1: "spleen", 2: "right kidney", 3: "left kidney", 4: "gallbladder", 5: "esophagus", 6: "liver",
    7: "stomach", 8: "aorta", 9: "inferior vena cava", 10: "portal vein and splenic vein", 11: "pancreas",
    12: "right adrenal gland", 13: "left adrenal gland",
}


def _training_dir(root: Path) -> Path:
    for cand in (root / "RawData" / "Training", root / "Training", root):
        img = find_subdir(cand, ("img",))
        lab = find_subdir(cand, ("label",))
        if img is not None and lab is not None:
            return cand
    raise ConversionError(f"{root}: no Training/img and Training/label folders (expected {LAYOUT})")


def _numbered(folder: Path, prefix: str) -> dict[str, Path]:
    out = {}
    for stem, f in index_images(folder).items():
        m = re.fullmatch(rf"{prefix}(\d+)", stem)
        if m:
            out[m.group(1)] = f
    return out


def scan(source: str | os.PathLike) -> SourceScan:
    """Scans a BTCV tree (see the module docstring)."""
    train = _training_dir(require_dir(source))
    img_dir, lab_dir = find_subdir(train, ("img",)), find_subdir(train, ("label",))
    images = _numbered(img_dir, "img")
    labels = _numbered(lab_dir, "label")
    missing = sorted(set(images) - set(labels))
    if missing:
        raise ConversionError(f"{images[missing[0]]}: no label{missing[0]} in {lab_dir}")
    orphans = sorted(set(labels) - set(images))
    if orphans:
        raise ConversionError(f"{labels[orphans[0]]}: no img{orphans[0]} in {img_dir}")
    cases = tuple(SourceCase(f"btcv_{num}", images[num], label_map=labels[num]) for num in sorted(images))
    return SourceScan(cases, tuple(builtin_labels(LABELS)))
