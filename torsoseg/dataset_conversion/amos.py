"""``amos``: AMOS22, MSD-style ``dataset.json`` with ``imagesTr``/``labelsTr`` and ``imagesVa``/``labelsVa``.

Only CT is converted: AMOS numbers its MRI scans from 500 up (``amos_0500`` ...), which are skipped. The
label table comes from ``dataset.json`` (where the aorta is spelled ``"arota"``; the vocabulary knows that
spelling); without a dataset.json the folders are scanned with the published 15-label table. Both the
training and the validation lists are converted (both are labelled). Case names are the file names
(``amos_0001``).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from torsoseg.dataset_conversion.msd_json import read_msd_json
from torsoseg.dataset_conversion.sources import (
    ConversionError,
    SourceCase,
    SourceScan,
    builtin_labels,
    find_subdir,
    index_images,
    require_dir,
)
from torsoseg.imageio import strip_suffix

NAME = "amos"
DEFAULT_NAME = "AMOS"
LAYOUT = "dataset.json + imagesTr/amos_NNNN.nii.gz + labelsTr/amos_NNNN.nii.gz (+ imagesVa/labelsVa)"
SUMMARY = "AMOS22 abdominal multi-organ set, 15 organs (CT cases, ids < 500, only)"
FIRST_MRI_ID = 500
LABELS = {
    1: "spleen", 2: "right kidney", 3: "left kidney", 4: "gall bladder", 5: "esophagus", 6: "liver",
    7: "stomach", 8: "arota", 9: "postcava", 10: "pancreas", 11: "right adrenal gland",
    12: "left adrenal gland", 13: "duodenum", 14: "bladder", 15: "prostate/uterus",
}


def _case_number(stem: str) -> int | None:
    m = re.search(r"(\d+)$", stem)
    return int(m.group(1)) if m else None


def _locate(root: Path) -> Path:
    for base in [root, *sorted(c for c in root.iterdir() if c.is_dir())]:
        if (base / "dataset.json").is_file() or find_subdir(base, ("imagesTr",)) is not None:
            return base
    raise ConversionError(f"{root}: neither dataset.json nor imagesTr/ found (expected {LAYOUT})")


def scan(source: str | os.PathLike) -> SourceScan:
    """Scans an AMOS22 tree (see the module docstring)."""
    base = _locate(require_dir(source))
    js = base / "dataset.json"
    pairs: list[tuple[Path, Path]] = []
    if js.is_file():
        parsed = read_msd_json(js, ("training", "validation"))
        table, label_file = parsed.labels, js
        for name in ("training", "validation"):
            pairs += [(img, lab) for img, lab in parsed.lists[name] if lab is not None]
    else:
        table, label_file = LABELS, None
        for img_name, lab_name in (("imagesTr", "labelsTr"), ("imagesVa", "labelsVa")):
            imgs = index_images(base / img_name)
            labs = index_images(base / lab_name)
            for stem in sorted(imgs):
                if stem not in labs:
                    raise ConversionError(f"{imgs[stem]}: no label map in {base / lab_name}")
                pairs.append((imgs[stem], labs[stem]))
    cases, skipped = [], []
    for img, lab in pairs:
        stem = strip_suffix(img.name)
        number = _case_number(stem)
        if number is not None and number >= FIRST_MRI_ID:
            skipped.append((str(img), f"AMOS id {number} >= {FIRST_MRI_ID} is an MRI scan"))
            continue
        cases.append(SourceCase(stem, img, label_map=lab))
    cases.sort(key=lambda c: c.identifier)
    return SourceScan(tuple(cases), tuple(builtin_labels(table)), label_file, skipped=tuple(skipped))
