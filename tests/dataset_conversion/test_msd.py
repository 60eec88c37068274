"""MSD CT organ tasks: tumour merged into the organ, AppleDouble junk ignored."""

from __future__ import annotations

import numpy as np
import pytest

from tests.dataset_conversion.trees import (
    assert_converted,
    junk,
    load_dataset,
    make_case,
    read,
    write,
    write_json,
)
from torsoseg.dataset_conversion import ConversionError, convert


def _task(root, name, labels, n=2):
    cases, training = {}, []
    for i in range(n):
        c = make_case(list(labels.values()), seed=i, orientation="RAS" if i else "LPS")
        img = write(c.image, root / "imagesTr" / f"{name}_{i}.nii.gz")
        lab = write(c.label_map, root / "labelsTr" / f"{name}_{i}.nii.gz")
        junk(img), junk(lab)
        training.append({"image": f"./imagesTr/{name}_{i}.nii.gz", "label": f"./labelsTr/{name}_{i}.nii.gz"})
        cases[f"{name}_{i}"] = c
    junk(root / "dataset.json")
    write_json({"name": name.capitalize(), "modality": {"0": "CT"},
                "labels": {"0": "background", **{str(v): n for v, n in labels.items()}},
                "numTraining": n, "training": training, "test": []}, root / "dataset.json")
    return cases


def test_msd_liver_tumour_merged(tmp_path):
    cases = _task(tmp_path / "Task03_Liver", "liver", {1: "liver", 2: "cancer"})
    out = convert("msd", tmp_path, tmp_path / "raw", 3)
    assert out.name == "Dataset003_Liver"
    ds = load_dataset(out)
    assert ds["labels"] == {"background": 0, "liver": 1}
    assert ds["source_labels"]["liver"] == [{"name": "liver", "value": 1}, {"name": "cancer", "value": 2}]
    for ident, c in cases.items():
        lab = read(out / "labelsTr" / f"{ident}.nii.gz").array
        np.testing.assert_array_equal(lab == 1, c.label_map.array > 0)
        np.testing.assert_array_equal(read(out / "imagesTr" / f"{ident}_0000.nii.gz").array, c.image.array)
    assert not any(p.name.startswith("._") for p in (out / "imagesTr").iterdir())


def test_msd_spleen_and_pancreas(tmp_path):
    cases = _task(tmp_path / "Task09_Spleen", "spleen", {1: "spleen"})
    assert_converted(convert("msd", tmp_path / "Task09_Spleen", tmp_path / "raw", 9), cases, ["spleen"])
    _task(tmp_path / "Task07_Pancreas", "pancreas", {1: "pancreas", 2: "cancer"}, n=1)
    with pytest.raises(ConversionError, match="several tasks"):
        convert("msd", tmp_path, tmp_path / "raw", 7)
    out = convert("msd", tmp_path / "Task07_Pancreas", tmp_path / "raw", 7)
    assert load_dataset(out)["labels"] == {"background": 0, "pancreas": 1}


def test_msd_refuses_mri_and_missing_files(tmp_path):
    _task(tmp_path / "Task02_Heart", "la", {1: "liver"}, n=1)
    js = tmp_path / "Task02_Heart" / "dataset.json"
    d = load_dataset(js.parent)
    d["modality"] = {"0": "MRI"}
    write_json(d, js)
    with pytest.raises(ConversionError, match="is not CT"):
        convert("msd", tmp_path / "Task02_Heart", tmp_path / "raw", 2)
    d["modality"] = {"0": "CT"}
    d["training"].append({"image": "./imagesTr/la_9.nii.gz", "label": "./labelsTr/la_9.nii.gz"})
    write_json(d, js)
    with pytest.raises(ConversionError, match=r"dataset\.json: training image "
                                              r"'./imagesTr/la_9.nii.gz' does not exist"):
        convert("msd", tmp_path / "Task02_Heart", tmp_path / "raw", 2)
