"""``abdomen``: the paper's abdominal set, an image and a 7-label map per case.

Layout: ``img/img0001.nii.gz`` + ``label/label0001.nii.gz`` (what ``torsoseg_phantom --kind abdomen``
writes), ``images/CASE.nii.gz`` + ``labels/CASE.nii.gz``, one folder per case, or ``CASE.nii.gz`` +
``CASE_label.nii.gz`` (see :func:`~torsoseg.dataset_conversion.sources.find_image_label_pairs`). Label
values 1 artery, 2 portal_vein, 3 liver, 4 spleen, 5 stomach, 6 gallbladder, 7 pancreas, unless a
``labels.json`` beside the folders says otherwise. Numeric case names become ``abdomen_0001``.
"""

from __future__ import annotations

import os

from torsoseg.dataset_conversion.sources import SourceScan, scan_pairs

NAME = "abdomen"
DEFAULT_NAME = "Abdomen"
LAYOUT = "img/imgNNNN.nii.gz + label/labelNNNN.nii.gz (or images/ + labels/), labels 1..7"
SUMMARY = "the abdominal set of Roth et al. 2017 (7 labels)"
LABELS = {1: "artery", 2: "portal_vein", 3: "liver", 4: "spleen", 5: "stomach", 6: "gallbladder",
          7: "pancreas"}


def scan(source: str | os.PathLike, labels: str | os.PathLike | None = None) -> SourceScan:
    """Scans an abdominal-set tree.

    Args:
        source: the folder.
        labels: optional JSON naming each label value (overrides ``labels.json`` and the built-in table).
    """
    return scan_pairs(source, LABELS, labels, prefix="abdomen")
