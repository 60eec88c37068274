"""The unseen torso set of the paper: an image and an 8-label map per case, with labels.json."""

from __future__ import annotations

from tests.dataset_conversion.trees import assert_converted, make_case, write, write_json
from torsoseg.dataset_conversion import convert
from torsoseg.dataset_conversion.torso import LABELS

NAMES = [LABELS[v] for v in sorted(LABELS)]


def test_torso_with_labels_json(tmp_path):
    cases = {}
    for i in range(2):
        c = make_case(NAMES, seed=i, orientation="RAS" if i else "LPS", drop=("gallbladder",) if i else ())
        write(c.image, tmp_path / "images" / f"torso_{i}.nii.gz")
        write(c.label_map, tmp_path / "labels" / f"torso_{i}.nii.gz")
        cases[f"torso_{i}"] = c
    write_json({"0": "background", **{str(v): n for v, n in LABELS.items()}}, tmp_path / "labels.json")
    out = convert("torso", tmp_path, tmp_path / "raw", 3)
    assert out.name == "Dataset003_Torso"
    ds = assert_converted(out, cases, NAMES)
    assert "gallbladder" not in ds["voxel_counts"]["torso_1"]


def test_phantom_torso_converts_with_one_command(tmp_path):
    """``torsoseg_phantom --kind torso`` output (labels.json spelled "right lung", ...) converts as is."""
    import numpy as np

    from tests.dataset_conversion.trees import assert_same_geometry, load_dataset, read
    from torsoseg.cli.convert import main
    from torsoseg.phantom import write_source

    (img,) = write_source("torso", 1, tmp_path / "src", seed=2, size="tiny")
    assert main(["torso", "-i", str(tmp_path / "src"), "-d", "3", "--raw", str(tmp_path / "raw"),
                 "--no-progress"]) == 0
    out = tmp_path / "raw" / "Dataset003_Torso"
    ds = load_dataset(out)
    assert list(ds["labels"]) == ["background", *NAMES]
    assert ds["source_labels"]["lung_right"] == [{"name": "right lung", "value": 1}]
    src_lab = read(tmp_path / "src" / "labels" / "torso_001.nii.gz")
    got_img = read(out / "imagesTr" / "torso_001_0000.nii.gz")
    got_lab = read(out / "labelsTr" / "torso_001.nii.gz")
    assert_same_geometry(got_img, read(img))
    np.testing.assert_array_equal(got_img.array, read(img).array)
    np.testing.assert_array_equal(got_lab.array, src_lab.array)
