"""nnU-Net v2 raw dataset import: names resolved through the vocabulary, imagesTs copied."""

from __future__ import annotations

import pytest

from tests.dataset_conversion.trees import assert_converted, load_dataset, make_case, write, write_json
from torsoseg.dataset_conversion import ConversionError, convert

SRC_NAMES = ["Liver", "Right Kidney", "Left Kidney", "Gall Bladder"]


def _dataset(root, channels=None):
    cases = {}
    for i in range(2):
        c = make_case(SRC_NAMES, seed=i, orientation="RAS" if i else "LPS")
        write(c.image, root / "imagesTr" / f"pt_{i:03d}_0000.nii.gz")
        write(c.label_map, root / "labelsTr" / f"pt_{i:03d}.nii.gz")
        cases[f"pt_{i:03d}"] = c
    write(c.image, root / "imagesTs" / "pt_100_0000.nii.gz")
    write_json({"channel_names": channels or {"0": "CT"},
                "labels": {"background": 0, **{n: i for i, n in enumerate(SRC_NAMES, 1)}},
                "numTraining": 2, "file_ending": ".nii.gz"}, root / "dataset.json")
    return cases


def test_nnunet_import(tmp_path):
    cases = _dataset(tmp_path / "Dataset137_Kidneys")
    out = convert("nnunet", tmp_path / "Dataset137_Kidneys", tmp_path / "raw", 5)
    assert out.name == "Dataset005_Kidneys"
    ds = assert_converted(out, cases, ["liver", "kidney_right", "kidney_left", "gallbladder"])
    assert ds["source_labels"]["gallbladder"] == [{"name": "Gall Bladder", "value": 4}]
    assert (out / "imagesTs" / "pt_100_0000.nii.gz").is_file()
    assert not (out / "labelsTs").exists()


def test_nnunet_refuses_multichannel_and_regions(tmp_path):
    _dataset(tmp_path / "Dataset001_X", channels={"0": "CT", "1": "PET"})
    with pytest.raises(ConversionError, match="only single-channel CT"):
        convert("nnunet", tmp_path / "Dataset001_X", tmp_path / "raw", 5)
    d = load_dataset(tmp_path / "Dataset001_X")
    d["channel_names"] = {"0": "CT"}
    d["labels"]["kidneys"] = [2, 3]
    write_json(d, tmp_path / "Dataset001_X" / "dataset.json")
    with pytest.raises(ConversionError, match="is a region"):
        convert("nnunet", tmp_path / "Dataset001_X", tmp_path / "raw", 5)


def test_nnunet_dataset_json_name_must_be_a_plain_name(tmp_path):
    from tests.checks_table import CHECKS

    src = tmp_path / "exported"  # not a DatasetXXX_Name folder: dataset.json's "name" would name the result
    _dataset(src)
    d = load_dataset(src)
    d["name"] = "../../escaped"
    write_json(d, src / "dataset.json")
    with pytest.raises(ConversionError, match=CHECKS["name_from_json"].pattern) as e:
        convert("nnunet", src, tmp_path / "raw", 5)
    assert "dataset.json: the source's dataset name" in str(e.value) and "--name" in str(e.value)
    assert not (tmp_path / "raw").exists() or not any((tmp_path / "raw").iterdir())
    assert convert("nnunet", src, tmp_path / "raw", 5, name="Kidneys").name == "Dataset005_Kidneys"
    d["name"] = "Kidneys"
    write_json(d, src / "dataset.json")
    assert convert("nnunet", src, tmp_path / "raw2", 5).name == "Dataset005_Kidneys"
