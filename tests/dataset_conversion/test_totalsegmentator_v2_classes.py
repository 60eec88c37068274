"""A TotalSegmentator-layout subject with all 117 ``total`` structure files converts keeping every structure;
left/right pairs pass the laterality check and the mirroring swap pairs them; voxel counts are pinned."""

from __future__ import annotations

import json

import numpy as np
import pytest

from torsoseg import imageio
from torsoseg import organs as vocab
from torsoseg.dataset_conversion import ConversionError, convert
from torsoseg.dataset_conversion.checks import laterality_findings

SHAPE = (50, 40, 4)
SPACING = (1.0, 1.5, 2.0)
EMPTY = ("brain", "skull", "kidney_cyst_left")  # files present, no voxel (as in a torso-only scan)
LOBES = {"lung_upper_lobe_left": "lung_left", "lung_lower_lobe_left": "lung_left",
         "lung_upper_lobe_right": "lung_right", "lung_middle_lobe_right": "lung_right",
         "lung_lower_lobe_right": "lung_right"}


def _ts_names(shared_data) -> list[str]:
    table = json.loads((shared_data / "ts_labels_total_v2.json").read_text())
    return [table[k] for k in sorted(table, key=int)]


def _masks(names: list[str]) -> dict[str, np.ndarray]:
    """Each structure a 2 x 2 x n block in its own cell: right structures at small x (the patient's right
    in LPS), left ones at large x, midline ones between; n = 1 + i % 4 voxels deep."""
    next_cell = {"right": 0, "left": 0, None: 0}
    x0 = {"right": 0, None: 20, "left": 32}
    columns = {"right": 10, None: 6, "left": 9}
    out = {}
    for i, name in enumerate(names):
        m = np.zeros(SHAPE, np.uint8)
        side = vocab.side_in_name(name)
        if name not in EMPTY:
            c = next_cell[side]
            next_cell[side] += 1
            x = x0[side] + 2 * (c % columns[side])
            y = 2 * (c // columns[side])
            assert y + 2 <= SHAPE[1]
            m[x:x + 2, y:y + 2, : 1 + i % 4] = 1
        out[name] = m
    return out


@pytest.fixture(scope="module")
def subject(shared_data, tmp_path_factory):
    root = tmp_path_factory.mktemp("ts") / "Totalsegmentator_dataset_v201"
    names = _ts_names(shared_data)
    assert len(names) == 117
    masks = _masks(names)
    case = root / "s0011"
    ct = imageio.Volume(np.full(SHAPE, -100, np.int16), SPACING, (-10.0, 20.0, 5.0),
                        ((1, 0, 0), (0, 1, 0), (0, 0, 1)))
    imageio.write_image(ct, case / "ct.nii.gz")
    for name, m in masks.items():
        imageio.write_image(ct.with_array(m), case / "segmentations" / f"{name}.nii.gz")
    return root, names, masks


def test_every_structure_is_kept_with_pinned_voxel_counts(subject, tmp_path):
    root, names, masks = subject
    out = convert("totalsegmentator", root, tmp_path / "raw", 50)
    ds = json.loads((out / "dataset.json").read_text())
    expected = list(dict.fromkeys(LOBES.get(n, n) for n in names))
    assert sorted(ds["labels"]) == sorted(["background", *expected])
    assert len(ds["labels"]) == 1 + 114  # 117 structures, five lobes combined into two lungs
    assert "dropped_source_labels" not in ds
    counts = ds["voxel_counts"]["s0011"]
    want: dict[str, int] = {}
    for n, m in masks.items():
        if m.any():
            want[LOBES.get(n, n)] = want.get(LOBES.get(n, n), 0) + int(m.sum())
    assert counts == want
    assert len(want) == 114 - len(EMPTY)
    assert counts["rib_left_7"] == 4 * (1 + 97 % 4) and counts["femur_right"] == 4 * (1 + 75 % 4)
    label = imageio.read_image(out / "labelsTr" / "s0011.nii.gz")
    binc = np.bincount(label.array.ravel(), minlength=len(ds["labels"]))
    assert {n: int(binc[v]) for n, v in ds["labels"].items() if v and binc[v]} == want

    findings = laterality_findings(label.array, label.geometry, ds["labels"])
    pairs = {(f.right, f.left) for f in findings}
    for right, left in [("rib_right_12", "rib_left_12"), ("femur_right", "femur_left"),
                        ("hip_right", "hip_left"), ("gluteus_maximus_right", "gluteus_maximus_left"),
                        ("iliac_artery_right", "iliac_artery_left"), ("iliac_vena_right", "iliac_vena_left"),
                        ("autochthon_right", "autochthon_left"), ("lung_right", "lung_left")]:
        assert (right, left) in pairs
    # 30 pairs among the 117 classes (12 ribs, 3 gluteal muscles, ...) + the combined lungs, less the
    # kidney cysts (the left one is empty)
    assert all(f.ok for f in findings) and len(findings) == 30

    table = vocab.lr_swap_table(ds["labels"])
    lab = ds["labels"]
    for right, left in pairs:
        assert table[lab[right]] == lab[left] and table[lab[left]] == lab[right]
    assert table[lab["atrial_appendage_left"]] == lab["atrial_appendage_left"]  # no twin
    assert table[lab["sacrum"]] == lab["sacrum"]


def test_swapped_rib_files_fail_the_laterality_check(subject, tmp_path):
    root, names, masks = subject
    bad = tmp_path / "bad"
    case = bad / "s0011"
    ct = imageio.read_image(root / "s0011" / "ct.nii.gz")
    imageio.write_image(ct, case / "ct.nii.gz")
    swap = {"rib_left_7": "rib_right_7", "rib_right_7": "rib_left_7"}
    for name in names:
        mask = masks[swap.get(name, name)]
        imageio.write_image(ct.with_array(mask), case / "segmentations" / f"{name}.nii.gz")
    with pytest.raises(ConversionError, match=r"rib_right_7 centre at x=.* not on the patient's right of "
                                              r"rib_left_7"):
        convert("totalsegmentator", bad, tmp_path / "raw", 51)
