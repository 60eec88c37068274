"""``word``: WORD (Whole abdominal ORgan Dataset), 16 structures.

Layout (as distributed): ``imagesTr/word_0001.nii.gz`` + ``labelsTr/word_0001.nii.gz``, likewise
``imagesVal``/``labelsVal`` and ``imagesTs``/``labelsTs``. Training and validation cases go to the raw
dataset's ``imagesTr``; test cases (official split) to ``imagesTs``/``labelsTs``. The label table is the
published one unless a ``dataset.json``/``labels.json`` at the top names the values. Case names are the
file names.
"""

from __future__ import annotations

import os
from pathlib import Path

from torsoseg.dataset_conversion.sources import (
    ConversionError,
    SourceCase,
    SourceScan,
    builtin_labels,
    find_subdir,
    index_images,
    read_label_table,
    require_dir,
)

NAME = "word"
DEFAULT_NAME = "WORD"
LAYOUT = "imagesTr/ + labelsTr/, imagesVal/ + labelsVal/, imagesTs/ + labelsTs/ (word_NNNN.nii.gz)"
SUMMARY = "WORD whole-abdomen organ set, 16 structures"
LABELS = {
    1: "liver", 2: "spleen", 3: "left_kidney", 4: "right_kidney", 5: "stomach", 6: "gallbladder",
    7: "esophagus", 8: "pancreas", 9: "duodenum", 10: "colon", 11: "intestine", 12: "adrenal",
    13: "rectum", 14: "bladder", 15: "Head_of_femur_L", 16: "Head_of_femur_R",
}
_SPLITS = (("imagesTr", "labelsTr", "Tr"), ("imagesVal", "labelsVal", "Tr"), ("imagesTs", "labelsTs", "Ts"))


def _locate(root: Path) -> Path:
    for base in [root, *sorted(c for c in root.iterdir() if c.is_dir())]:
        if find_subdir(base, ("imagesTr",)) is not None:
            return base
    raise ConversionError(f"{root}: no imagesTr/ folder (expected {LAYOUT})")


def scan(source: str | os.PathLike, include_test: bool = True) -> SourceScan:
    """Scans a WORD tree.

    Args:
        source: the folder holding ``imagesTr`` etc. (or its parent).
        include_test: also convert the labelled test split into ``imagesTs``/``labelsTs``.
    """
    base = _locate(require_dir(source))
    label_file = next((base / n for n in ("dataset.json", "labels.json") if (base / n).is_file()), None)
    table = read_label_table(label_file) if label_file is not None else builtin_labels(LABELS)
    cases = []
    for img_name, lab_name, subset in _SPLITS:
        if subset == "Ts" and not include_test:
            continue
        img_dir, lab_dir = find_subdir(base, (img_name,)), find_subdir(base, (lab_name,))
        if img_dir is None:
            continue
        imgs = index_images(img_dir)
        labs = index_images(lab_dir) if lab_dir is not None else {}
        for stem in sorted(imgs):
            if stem not in labs:
                raise ConversionError(f"{imgs[stem]}: no label map in {lab_dir or base / lab_name}")
            cases.append(SourceCase(stem, imgs[stem], label_map=labs[stem], subset=subset))
    return SourceScan(tuple(cases), tuple(table), label_file)
