"""BTCV: RawData/Training/img + label, 13 organs."""

from __future__ import annotations

import pytest

from tests.dataset_conversion.trees import assert_converted, load_dataset, make_case, write
from torsoseg import organs
from torsoseg.dataset_conversion import ConversionError, convert
from torsoseg.dataset_conversion.btcv import LABELS

NAMES = [LABELS[v] for v in sorted(LABELS)]
CANON = [organs.canonical_name(n) for n in NAMES]


def test_btcv_layout(tmp_path):
    train = tmp_path / "Abdomen" / "RawData" / "Training"
    cases = {}
    for i, orient in ((1, "LPS"), (2, "RAS")):
        c = make_case(NAMES, seed=i, orientation=orient)
        write(c.image, train / "img" / f"img{i:04d}.nii.gz")
        write(c.label_map, train / "label" / f"label{i:04d}.nii.gz")
        cases[f"btcv_{i:04d}"] = c
    write(c.image, tmp_path / "Abdomen" / "RawData" / "Testing" / "img" / "img0061.nii.gz")
    out = convert("btcv", tmp_path / "Abdomen", tmp_path / "raw", 11)
    ds = assert_converted(out, cases, CANON)
    assert CANON[:3] == ["spleen", "kidney_right", "kidney_left"]
    assert ds["source_labels"]["portal_vein_and_splenic_vein"] == [{"name": "portal vein and splenic vein",
                                                                    "value": 10}]
    # the Training folder itself is accepted too
    out2 = convert("btcv", train, tmp_path / "raw2", 11, organs="liver,aorta", mapping=["aorta=artery"])
    assert load_dataset(out2)["labels"] == {"background": 0, "liver": 1, "artery": 2}


def test_btcv_missing_label(tmp_path):
    train = tmp_path / "RawData" / "Training"
    c = make_case(NAMES)
    write(c.image, train / "img" / "img0001.nii.gz")
    (train / "label").mkdir(parents=True)
    with pytest.raises(ConversionError, match=r"img0001\.nii\.gz: no label0001"):
        convert("btcv", tmp_path, tmp_path / "raw", 11)
    with pytest.raises(ConversionError, match="no Training/img and Training/label"):
        convert("btcv", tmp_path / "RawData" / "Training" / "img", tmp_path / "raw", 11)
