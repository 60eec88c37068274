"""``totalsegmentator``: the TotalSegmentator dataset (v1/v2), one binary mask per structure.

Layout (as distributed)::

    meta.csv                       ';'-separated, UTF-8 with a byte-order mark; columns image_id ... split
    s0000/ct.nii.gz
    s0000/segmentations/liver.nii.gz, kidney_right.nii.gz, lung_upper_lobe_left.nii.gz, ...

The five lung lobes combine into ``lung_right`` / ``lung_left`` (the vocabulary knows each lobe's whole;
ask for a lobe with ``--organs`` to keep it). The vocabulary holds all 117 classes of TotalSegmentator
v2's ``total`` task, so every other structure keeps its own label; a structure of a later version
the vocabulary does not know yet is kept as a custom label under its file name, listed in a warning.
The ``split`` column is honoured: ``train`` and ``val`` cases go to ``imagesTr``, ``test`` cases to
``imagesTs``/``labelsTs`` (or are left out with ``include_test=False``). Without a meta.csv every case
is a training case. Output labels follow the vocabulary's order. Case names are the folder names.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from torsoseg import organs as vocab
from torsoseg.dataset_conversion.sources import (
    ConversionError,
    SourceCase,
    SourceLabel,
    SourceScan,
    index_images,
    read_csv_rows,
    require_dir,
)

logger = logging.getLogger(__name__)

NAME = "totalsegmentator"
DEFAULT_NAME = "TotalSegmentator"
LAYOUT = "meta.csv + sNNNN/ct.nii.gz + sNNNN/segmentations/<structure>.nii.gz"
SUMMARY = "TotalSegmentator dataset: per-structure masks (lung lobes combined into whole lungs)"
_ORDER = {name: i for i, name in enumerate(vocab.ORGANS)}


def _order_key(name: str) -> tuple[int, str]:
    if not vocab.is_known(name):
        return (len(_ORDER) + 1, name)
    organ = vocab.canonical_name(name)
    return (_ORDER[vocab.whole_of(organ) or organ], name)


def _splits(root: Path) -> dict[str, str]:
    meta = root / "meta.csv"
    if not meta.is_file():
        logger.info("%s: no meta.csv; every case is a training case", root)
        return {}
    rows = read_csv_rows(meta)
    if not rows:
        raise ConversionError(f"{meta}: empty")
    if "image_id" not in rows[0]:
        raise ConversionError(f"{meta}: no 'image_id' column (columns: {', '.join(rows[0])})")
    if "split" not in rows[0]:
        logger.info("%s: no 'split' column; every case is a training case", meta)
        return {}
    return {r["image_id"]: r["split"].lower() for r in rows}


def scan(source: str | os.PathLike, include_test: bool = True) -> SourceScan:
    """Scans a TotalSegmentator tree.

    Args:
        source: the folder holding ``meta.csv`` and the ``sNNNN`` case folders.
        include_test: convert the ``test`` split into ``imagesTs``/``labelsTs`` (else leave it out).
    """
    root = require_dir(source)
    splits = _splits(root)
    cases, names, skipped = [], set(), []
    for d in sorted(c for c in root.iterdir() if c.is_dir() and not c.name.startswith(".")):
        seg_dir = d / "segmentations"
        images = index_images(d)
        if "ct" not in images or not seg_dir.is_dir():
            skipped.append((str(d), "no ct.nii.gz with segmentations/"))
            continue
        split = splits.get(d.name, "train")
        if splits and d.name not in splits:
            logger.info("%s: not listed in meta.csv; treated as a training case", d.name)
        if split not in ("train", "val", "test"):
            raise ConversionError(f"{root / 'meta.csv'}: case {d.name} has unknown split {split!r}")
        if split == "test" and not include_test:
            skipped.append((str(d), "test split"))
            continue
        masks = index_images(seg_dir)
        if not masks:
            raise ConversionError(f"{seg_dir}: no structure masks")
        names.update(masks)
        cases.append(SourceCase(d.name, images["ct"], masks=tuple(sorted(masks.items())),
                                subset="Ts" if split == "test" else "Tr"))
    labels = tuple(SourceLabel(n) for n in sorted(names, key=_order_key))
    return SourceScan(tuple(cases), labels, None, skipped=tuple(skipped))
