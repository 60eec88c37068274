"""TotalSegmentator: sNNNN/ct + segmentations/, lobes combined, meta.csv with BOM and ';', split honoured."""

from __future__ import annotations

import numpy as np
import pytest

from tests.dataset_conversion.trees import assert_converted, load_dataset, make_case, read, write
from torsoseg.dataset_conversion import ConversionError, convert

LOBES_R = ["lung_upper_lobe_right", "lung_middle_lobe_right", "lung_lower_lobe_right"]
LOBES_L = ["lung_upper_lobe_left", "lung_lower_lobe_left"]
NAMES = ["kidney_left", "liver", *LOBES_L, "spleen", *LOBES_R, "kidney_right", "rib_left_3",
         "autochthon_left"]
RENAME = {**{n: "lung_right" for n in LOBES_R}, **{n: "lung_left" for n in LOBES_L}}
EXPECTED = ["liver", "spleen", "lung_right", "lung_left", "kidney_right", "kidney_left", "autochthon_left",
            "rib_left_3"]


def _tree(root, with_meta=True):
    cases = {}
    for i, (split, orient) in enumerate((("train", "LPS"), ("val", "RAS"), ("test", "LPS"))):
        c = make_case(NAMES, seed=i, orientation=orient, drop=("spleen",) if i == 1 else ())
        d = root / f"s{i:04d}"
        write(c.image, d / "ct.nii.gz")
        for name, mask in c.masks().items():
            write(c.label_map.with_array(mask.astype(np.uint8)), d / "segmentations" / f"{name}.nii.gz")
        cases[d.name] = (c, split)
    if with_meta:
        rows = ["image_id;age;gender;institute;study_type;split"]
        rows += [f"{k};60;m;A;ct thorax abdomen;{split}" for k, (_, split) in cases.items()]
        (root / "meta.csv").write_bytes(("\ufeff" + "\n".join(rows) + "\n").encode("utf-8"))
    return cases


def test_totalsegmentator_layout(tmp_path):
    cases = _tree(tmp_path / "Totalsegmentator_dataset_v201")
    out = convert("totalsegmentator", tmp_path / "Totalsegmentator_dataset_v201", tmp_path / "raw", 40)
    train = {k: c for k, (c, split) in cases.items() if split != "test"}
    ds = assert_converted(out, train, EXPECTED, rename=RENAME)
    assert ds["numTraining"] == 2
    assert "dropped_source_labels" not in ds  # every structure is in the vocabulary now
    assert [s["name"] for s in ds["source_labels"]["lung_right"]] == sorted(LOBES_R)
    # spleen absent from s0001 but its (empty) file exists: annotated, 0 voxels
    assert ds["annotated"]["s0001"] == EXPECTED
    assert "spleen" not in ds["voxel_counts"]["s0001"]
    assert ds["contested_voxels"] == {"s0000": 0, "s0001": 0, "s0002": 0}
    # the test split goes to imagesTs / labelsTs
    c2, _ = cases["s0002"]
    lab = read(out / "labelsTs" / "s0002.nii.gz").array
    lungs = np.zeros(lab.shape, bool)
    for n in LOBES_L:
        lungs |= c2.masks()[n]
    assert np.array_equal(lab == ds["labels"]["lung_left"], lungs)
    assert not (out / "imagesTr" / "s0002_0000.nii.gz").exists()


def test_totalsegmentator_options(tmp_path):
    _tree(tmp_path / "ts", with_meta=False)
    out = convert("totalsegmentator", tmp_path / "ts", tmp_path / "raw", 40, include_test=False,
                  organs="lung_upper_lobe_left,liver", mapping={"rib_left_3": "rib_left"})
    ds = load_dataset(out)
    assert ds["numTraining"] == 3  # no meta.csv: every case trains
    assert ds["labels"] == {"background": 0, "lung_upper_lobe_left": 1, "liver": 2}
    (tmp_path / "ts" / "meta.csv").write_text("image_id;split\ns0000;holdout\n", encoding="utf-8")
    with pytest.raises(ConversionError, match=r"meta\.csv: case s0000 has unknown split 'holdout'"):
        convert("totalsegmentator", tmp_path / "ts", tmp_path / "raw2", 40)
