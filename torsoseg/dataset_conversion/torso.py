"""``torso``: the unseen torso test set, an image and an 8-label map per case with a ``labels.json``.

Layout: ``images/CASE.nii.gz`` + ``labels/CASE.nii.gz`` + ``labels.json`` (or one folder per case, or
``CASE.nii.gz`` + ``CASE_label.nii.gz``). Without ``labels.json`` the values are 1 lung_right,
2 lung_left, 3 liver, 4 gallbladder, 5 spleen, 6 kidney_right, 7 kidney_left, 8 pancreas.
"""

from __future__ import annotations

import os

from torsoseg.dataset_conversion.sources import SourceScan, scan_pairs

NAME = "torso"
DEFAULT_NAME = "Torso"
LAYOUT = "images/CASE.nii.gz + labels/CASE.nii.gz + labels.json (8 torso labels)"
SUMMARY = "the unseen torso test set of Roth et al. 2017 (8 labels)"
LABELS = {1: "lung_right", 2: "lung_left", 3: "liver", 4: "gallbladder", 5: "spleen", 6: "kidney_right",
          7: "kidney_left", 8: "pancreas"}


def scan(source: str | os.PathLike, labels: str | os.PathLike | None = None) -> SourceScan:
    """Scans a torso-set tree.

    Args:
        source: the folder.
        labels: optional JSON naming each label value (overrides ``labels.json`` and the built-in table).
    """
    return scan_pairs(source, LABELS, labels, prefix="torso")
