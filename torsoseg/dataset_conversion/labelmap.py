"""``labelmap``: any folder of images and label maps, with a JSON naming each label value.

Layout: ``images/`` + ``labels/`` matched by name, one folder per case, or ``CASE.nii.gz`` beside
``CASE_label.nii.gz`` (see :func:`~torsoseg.dataset_conversion.sources.find_image_label_pairs`); the
label JSON is ``labels=`` (``--labels``) or ``labels.json`` in the folder: ``{"1": "liver", ...}`` or
``{"liver": 1, ...}``.
"""

from __future__ import annotations

import os

from torsoseg.dataset_conversion.sources import SourceScan, scan_pairs

NAME = "labelmap"
DEFAULT_NAME = "LabelMaps"
LAYOUT = "images/ + labels/ (or CASE/ folders, or CASE + CASE_label files) and a labels JSON"
SUMMARY = "any images with label maps and a JSON naming each label value"


def scan(source: str | os.PathLike, labels: str | os.PathLike | None = None) -> SourceScan:
    """Scans a generic image/label-map tree.

    Args:
        source: the folder.
        labels: JSON naming each label value; default ``labels.json`` in ``source``.
    """
    return scan_pairs(source, None, labels, prefix="case")
