"""``msd``: Medical Segmentation Decathlon CT organ tasks (Task03_Liver, Task07_Pancreas, Task09_Spleen).

Layout (as distributed): ``TaskNN_Name/dataset.json`` + ``imagesTr/NAME_N.nii.gz`` +
``labelsTr/NAME_N.nii.gz``.
The tarballs carry macOS AppleDouble files (``imagesTr/._liver_0.nii.gz``): they are ignored, as is
everything not listed in ``dataset.json``'s ``training`` list. Tumour labels (``cancer``, ``tumour``,
``lesion``) are merged into the task's organ (liver or pancreas). Only CT tasks are accepted.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from torsoseg import organs as vocab
from torsoseg.dataset_conversion.msd_json import read_msd_json
from torsoseg.dataset_conversion.sources import (
    ConversionError,
    SourceCase,
    SourceLabel,
    SourceScan,
    require_dir,
)
from torsoseg.imageio import strip_suffix

NAME = "msd"
DEFAULT_NAME = "MSD"
LAYOUT = "TaskNN_Name/dataset.json + imagesTr/ + labelsTr/ (AppleDouble ._* files ignored)"
SUMMARY = "Medical Segmentation Decathlon CT organ tasks (liver, pancreas, spleen), tumours merged"
_TUMOUR_WORDS = ("cancer", "tumor", "tumour", "lesion", "neoplasm", "mass", "cyst")


def _locate(root: Path) -> Path:
    if (root / "dataset.json").is_file():
        return root
    tasks = sorted(c for c in root.iterdir() if c.is_dir() and (c / "dataset.json").is_file()
                   and not c.name.startswith("."))
    if len(tasks) == 1:
        return tasks[0]
    if tasks:
        names = ", ".join(t.name for t in tasks)
        raise ConversionError(f"{root}: several tasks ({names}); convert one at a time")
    raise ConversionError(f"{root}: no dataset.json (expected {LAYOUT})")


def _is_tumour(name: str) -> bool:
    words = re.split(r"[\s_\-/]+", name.lower())
    return any(w in _TUMOUR_WORDS for w in words)


def scan(source: str | os.PathLike) -> SourceScan:
    """Scans one MSD task folder (or the folder holding exactly one task)."""
    task = _locate(require_dir(source))
    js = task / "dataset.json"
    parsed = read_msd_json(js, ("training",))
    modalities = {v.upper() for v in parsed.modality.values()}
    if modalities and modalities != {"CT"}:
        raise ConversionError(f"{js}: modality {parsed.modality} is not CT; torsoseg converts CT tasks only")
    foreground = {v: n for v, n in sorted(parsed.labels.items()) if v != 0}
    organ_names = [n for n in foreground.values() if not _is_tumour(n)]
    labels = []
    for value, name in foreground.items():
        if _is_tumour(name):
            host = vocab.TUMOUR_HOSTS.get(name.strip().lower().replace(" ", "_").replace("-", "_"))
            if host is None:
                if len(organ_names) != 1:
                    raise ConversionError(
                        f"{js}: tumour label {name!r} cannot be merged: the task has organs {organ_names}"
                    )
                host = organ_names[0]
            organ = vocab.canonical_name(host) if vocab.is_known(host) else None
            labels.append(SourceLabel(name, value, organ))
        else:
            labels.append(SourceLabel(name, value))
    cases = []
    for img, lab in parsed.lists["training"]:
        if lab is None:
            raise ConversionError(f"{js}: training entry {img.name} has no label")
        cases.append(SourceCase(strip_suffix(img.name), img, label_map=lab))
    cases.sort(key=lambda c: c.identifier)
    m = re.fullmatch(r"Task\d+_(\w+)", task.name)
    return SourceScan(tuple(cases), tuple(labels), js, suggested_name=m.group(1) if m else None)
