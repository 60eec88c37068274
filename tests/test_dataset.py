"""The raw dataset format: dataset.json records, case listing, and verification of every problem."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from torsoseg import imageio
from torsoseg.dataset import (
    DatasetJson,
    dataset_dir_name,
    find_dataset,
    list_cases,
    parse_dataset_id,
    split_dataset_dir_name,
    verify_dataset,
    write_dataset_json,
)
from torsoseg.imageio import Volume

LABELS = {"background": 0, "liver": 1, "kidney_right": 2, "kidney_left": 3}
SPACING = (0.8, 0.8, 2.5)


def make_case(rng, shape=(12, 10, 6), origin=(-10.0, 5.0, 40.0)):
    image = rng.integers(-1000, 300, size=shape).astype(np.int16)
    label = np.zeros(shape, np.uint8)
    label[2:6, 2:6, 1:4] = 1
    label[7:9, 3:5, 2:4] = 2
    label[9:11, 3:5, 2:4] = 3
    return Volume(image, SPACING, origin), Volume(label, SPACING, origin)


def make_dataset(root: Path, rng, n=3, dataset_id=7, name="Test") -> Path:
    d = root / dataset_dir_name(dataset_id, name)
    for i in range(n):
        img, lab = make_case(rng)
        imageio.write_image(img, d / "imagesTr" / f"case_{i:03d}_0000.nii.gz")
        imageio.write_image(lab, d / "labelsTr" / f"case_{i:03d}.nii.gz")
    write_dataset_json(d, LABELS, n)
    return d


def test_dataset_json_round_trip(tmp_path):
    ds = write_dataset_json(tmp_path, LABELS, 3, name="X", source_format="torso", annotated={"a": ["liver"]})
    raw = json.loads((tmp_path / "dataset.json").read_text())
    # the nnU-Net v2 keys, plus torsoseg's own that nnU-Net ignores
    assert raw["channel_names"] == {"0": "CT"} and raw["labels"] == LABELS
    assert raw["numTraining"] == 3 and raw["file_ending"] == ".nii.gz" and raw["source_format"] == "torso"
    back = DatasetJson.load(tmp_path)
    assert back == ds
    assert back.label_names == ["background", "liver", "kidney_right", "kidney_left"]
    assert back.foreground == {"liver": 1, "kidney_right": 2, "kidney_left": 3}
    assert back.num_classes == 4


@pytest.mark.parametrize(
    "labels, message",
    [
        ({"liver": 1}, "'background': 0"),
        ({"background": 0, "liver": 2}, "consecutive"),
        ({"background": 0, "liver": 1, "spleen": 1}, "used twice"),
    ],
)
def test_bad_label_sets_are_rejected(labels, message):
    with pytest.raises(ValueError, match=message):
        DatasetJson(name="x", labels=labels)


def test_dataset_json_errors_name_the_file(tmp_path):
    p = tmp_path / "dataset.json"
    p.write_text('{"labels": {"background": 0}}')
    with pytest.raises(
        ValueError, match=r"dataset.json: missing key\(s\) channel_names, numTraining, file_ending"
    ):
        DatasetJson.load(p)
    p.write_text("{not json")
    with pytest.raises(ValueError, match="dataset.json: not valid JSON"):
        DatasetJson.load(p)


def test_ids_and_folder_names(tmp_path):
    assert dataset_dir_name(1, "Abdomen") == "Dataset001_Abdomen"
    assert (
        parse_dataset_id("Dataset012_Foo") == 12 and parse_dataset_id("3") == 3 and parse_dataset_id(4) == 4
    )
    with pytest.raises(ValueError, match="not a dataset id"):
        parse_dataset_id("abc")
    with pytest.raises(ValueError, match="name"):
        dataset_dir_name(1, "has space")
    # the folder-name rule round-trips, and other names are no dataset folder
    assert split_dataset_dir_name(dataset_dir_name(7, "Torso_CT-2")) == (7, "Torso_CT-2")
    assert split_dataset_dir_name("Dataset07_X") is None and split_dataset_dir_name("Dataset001") is None
    (tmp_path / "Dataset001_A").mkdir()
    assert find_dataset(tmp_path, 1).name == "Dataset001_A"
    with pytest.raises(FileNotFoundError, match=r"no folder Dataset002_\* \(datasets there: Dataset001_A\)"):
        find_dataset(tmp_path, 2)


def test_clean_dataset_verifies_and_lists_cases(tmp_path, rng):
    d = make_dataset(tmp_path, rng)
    assert verify_dataset(d) == []
    cases = list_cases(d)
    assert [c.identifier for c in cases] == ["case_000", "case_001", "case_002"]
    assert cases[0].images[0].name == "case_000_0000.nii.gz" and cases[0].label.name == "case_000.nii.gz"


def test_verify_finds_every_problem_in_one_run(tmp_path, rng):
    import SimpleITK as sitk

    d = make_dataset(tmp_path, rng, n=8)
    img_dir, lab_dir = d / "imagesTr", d / "labelsTr"
    # 1 missing label
    (lab_dir / "case_000.nii.gz").unlink()
    # 2 missing image (label without image)
    (img_dir / "case_001_0000.nii.gz").unlink()
    # 3 shape mismatch
    img, _ = make_case(rng)
    imageio.write_image(
        Volume(np.zeros((12, 10, 7), np.uint8), SPACING, img.origin), lab_dir / "case_002.nii.gz"
    )
    # 4 geometry mismatch (spacing)
    imageio.write_image(
        Volume(np.zeros((12, 10, 6), np.uint8), (0.8, 0.8, 5.0), img.origin), lab_dir / "case_003.nii.gz"
    )
    # 5 undeclared label value
    lab = np.zeros((12, 10, 6), np.uint8)
    lab[1, 1, 1] = 9
    imageio.write_image(Volume(lab, SPACING, img.origin), lab_dir / "case_004.nii.gz")
    # 6 non-integer labels
    flab = np.zeros((12, 10, 6), np.float32)
    flab[1, 1, 1] = 0.5
    imageio.write_image(Volume(flab, SPACING, img.origin), lab_dir / "case_005.nii.gz")
    # 7 an image with another origin than its label
    imageio.write_image(
        Volume(np.zeros((12, 10, 6), np.int16), SPACING, (0, 0, 99)), img_dir / "case_006_0000.nii.gz"
    )
    # 8 a 4D image and 9 a 2D image
    sitk.WriteImage(sitk.Image([12, 10, 6, 2], sitk.sitkInt16), str(img_dir / "case_007_0000.nii.gz"))
    imageio.write_image(Volume(np.zeros((12, 10, 1), np.int16), SPACING), img_dir / "case_008_0000.nii.gz")
    imageio.write_image(Volume(np.zeros((12, 10, 1), np.uint8), SPACING), lab_dir / "case_008.nii.gz")
    # 10 non-consecutive labels in dataset.json and 11 a name that is no organ
    js = json.loads((d / "dataset.json").read_text())
    js["labels"] = {"background": 0, "liver": 1, "kidney_right": 2, "kidney_left": 3, "spleenn": 5}
    (d / "dataset.json").write_text(json.dumps(js))

    problems = verify_dataset(d)
    text = "\n".join(str(p) for p in problems)
    expected = [
        ("labelsTr/case_000.nii.gz", "label missing"),
        ("labelsTr/case_001.nii.gz", "label without image"),
        ("labelsTr/case_002.nii.gz", "geometry differs"),
        ("labelsTr/case_003.nii.gz", "geometry differs"),
        ("labelsTr/case_004.nii.gz", "[9] are not declared"),
        ("labelsTr/case_005.nii.gz", "non-integer"),
        ("labelsTr/case_006.nii.gz", "geometry differs from case_006_0000.nii.gz"),
        ("imagesTr/case_007_0000.nii.gz", "got 4D"),
        ("imagesTr/case_008_0000.nii.gz", "2D"),
        ("dataset.json", "consecutive"),
        ("dataset.json", "'spleenn' is not in the organ vocabulary but close to 'spleen'"),
        ("dataset.json", "numTraining is 8 but imagesTr holds 8"),
    ]
    for path, message in expected[:-1]:
        assert any(p.path.endswith(path) and message in p.message for p in problems), (path, message, text)
    assert "numTraining" not in text  # 8 images remain (case_001 removed, case_008 added)


def test_verify_finds_nan_intensities(tmp_path, rng):
    # SimpleITK's NIfTI reader turns NaN into 0, so NaN can only reach torsoseg through MHA/NRRD files
    d = tmp_path / "Dataset004_Mha"
    img, lab = make_case(rng)
    arr = img.array.astype(np.float32)
    arr[0, 0, 0], arr[1, 1, 1] = np.nan, np.inf
    imageio.write_image(img.with_array(arr), d / "imagesTr" / "a_0000.mha")
    imageio.write_image(lab, d / "labelsTr" / "a.mha")
    write_dataset_json(d, LABELS, 1, file_ending=".mha")
    problems = verify_dataset(d)
    assert [(p.path.split("/")[-1], p.message) for p in problems] == [("a_0000.mha", "2 NaN/inf intensities")]


def test_verify_empty_and_missing(tmp_path):
    d = tmp_path / "Dataset009_Empty"
    (d / "imagesTr").mkdir(parents=True)
    write_dataset_json(d, LABELS, 0)
    assert any("empty dataset" in p.message for p in verify_dataset(d))
    assert "does not exist" in verify_dataset(tmp_path / "nothing")[0].message
    (tmp_path / "NoJson").mkdir()
    assert "no such file" in verify_dataset(tmp_path / "NoJson")[0].message


def test_verify_does_not_modify_inputs(tmp_path, rng):
    d = make_dataset(tmp_path, rng)
    before = {p: p.read_bytes() for p in d.rglob("*") if p.is_file()}
    verify_dataset(d)
    after = {p: p.read_bytes() for p in d.rglob("*") if p.is_file()}
    assert before == after
