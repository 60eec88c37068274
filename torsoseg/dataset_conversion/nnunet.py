"""``nnunet``: import an nnU-Net v2 raw dataset (``DatasetXXX_Name``).

Layout: ``dataset.json`` (labels name -> value, one CT channel) + ``imagesTr/CASE_0000{file_ending}`` +
``labelsTr/CASE{file_ending}`` (+ ``imagesTs/``, copied without labels). Label names are resolved through
the organ vocabulary like every other source (so an nnU-Net dataset labelled ``"Right Kidney"`` becomes
``kidney_right``); region-based label sets and multi-channel datasets are refused. The dataset keeps its
name unless ``--name`` says otherwise.
"""

from __future__ import annotations

import os

from torsoseg.dataset import DatasetJson, list_cases, split_dataset_dir_name
from torsoseg.dataset_conversion.sources import (
    ConversionError,
    SourceCase,
    SourceLabel,
    SourceScan,
    require_dir,
)

NAME = "nnunet"
DEFAULT_NAME = "Imported"
LAYOUT = "DatasetXXX_Name/dataset.json + imagesTr/CASE_0000.nii.gz + labelsTr/CASE.nii.gz"
SUMMARY = "an nnU-Net v2 raw dataset (single CT channel)"


def scan(source: str | os.PathLike) -> SourceScan:
    """Scans an nnU-Net v2 raw dataset folder."""
    root = require_dir(source)
    js = root / "dataset.json"
    if not js.is_file():
        raise ConversionError(f"{root}: no dataset.json (expected {LAYOUT})")
    try:
        ds = DatasetJson.load(js)
    except ValueError as e:
        raise ConversionError(str(e)) from None
    if len(ds.channel_names) != 1 or next(iter(ds.channel_names.values())).upper() != "CT":
        raise ConversionError(f"{js}: channel_names {ds.channel_names}: only single-channel CT is supported")
    labels = tuple(SourceLabel(n, v) for n, v in ds.foreground.items())
    cases = []
    for c in list_cases(root, "Tr", ds):
        if c.label is None:
            missing = f"{c.identifier}{ds.file_ending}"
            raise ConversionError(f"{c.images[0]}: no label {missing} in {root / 'labelsTr'}")
        cases.append(SourceCase(c.identifier, c.images[0], label_map=c.label))
    for c in list_cases(root, "Ts", ds):
        cases.append(SourceCase(c.identifier, c.images[0], subset="Ts"))
    parsed = split_dataset_dir_name(root.name)
    return SourceScan(tuple(cases), labels, js, suggested_name=parsed[1] if parsed else (ds.name or None))
