"""Checks: label grid alignment, binary masks, declared values, laterality in world coordinates."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.dataset_conversion.trees import make_case, to_ras
from torsoseg.dataset_conversion.checks import (
    align_to_image,
    check_binary,
    check_label_values,
    check_laterality,
    label_centres,
    laterality_findings,
)
from torsoseg.dataset_conversion.sources import ConversionError
from torsoseg.imageio import Volume

NAMES = ["kidney_right", "kidney_left", "liver"]


def test_laterality_hand_computed():
    # 4 voxels along x, spacing 2 mm, origin 10: right kidney at index 0, left at index 3 (LPS identity)
    lab = np.array([1, 0, 0, 2], np.uint8).reshape(4, 1, 1)
    geo = Volume(lab, (2.0, 1.0, 1.0), (10.0, 0.0, 0.0)).geometry
    (f,) = laterality_findings(lab, geo, {"kidney_right": 1, "kidney_left": 2})
    assert (f.right_x, f.left_x, f.ok) == (10.0, 16.0, True)
    # the same voxels in a file whose axis 0 points to the patient's right: now they are swapped
    geo_r = Volume(lab, (2.0, 1.0, 1.0), (10.0, 0.0, 0.0), ((-1, 0, 0), (0, -1, 0), (0, 0, 1))).geometry
    with pytest.raises(ConversionError, match=r"case c7: laterality check failed: kidney_right centre at "
                                              r"x=10\.0 mm .* kidney_left \(x=4\.0 mm"):
        check_laterality(lab, geo_r, {"kidney_right": 1, "kidney_left": 2}, "c7")


def test_laterality_invariant_under_storage_orientation():
    c = make_case(NAMES)
    r = to_ras(c.label_map)
    a = laterality_findings(c.label_map.array, c.label_map.geometry, c.labels)
    b = laterality_findings(r.array, r.geometry, c.labels)
    assert a == b or np.allclose([(x.right_x, x.left_x) for x in a], [(x.right_x, x.left_x) for x in b])
    assert all(x.ok for x in a)
    # one of a pair missing: nothing to judge
    only = c.label_map.array.copy()
    only[only == 2] = 0
    assert laterality_findings(only, c.label_map.geometry, c.labels) == []


def test_align_round_trip_and_mismatch():
    c = make_case(NAMES)
    arr = align_to_image(to_ras(c.label_map), c.image.geometry, Path("l.nii.gz"), Path("i.nii.gz"))
    assert np.array_equal(arr, c.label_map.array)
    other = Volume(c.label_map.array, c.label_map.spacing, (0.0, 0.0, 0.5))
    with pytest.raises(ConversionError, match=r"l\.nii\.gz: not on the grid of its image i\.nii\.gz: "
                                              r"label .*origin"):
        align_to_image(other, c.image.geometry, Path("l.nii.gz"), Path("i.nii.gz"))


def test_label_centres_hand_computed():
    lab = np.zeros((3, 2, 2), np.uint8)
    lab[0, 0, 0] = 2
    lab[2, 1, 1] = 2
    lab[1, 0, 1] = 1
    counts, centres = label_centres(lab)
    assert counts.tolist() == [9, 1, 2]
    np.testing.assert_allclose(centres[1], [1, 0, 1])
    np.testing.assert_allclose(centres[2], [1, 0.5, 0.5])


def test_binary_and_values():
    assert check_binary(np.array([0, 1, 1], np.float32), Path("m")).dtype == bool
    with pytest.raises(ConversionError, match=r"m: mask is not binary \(values other than 0 and 1: 255\)"):
        check_binary(np.array([0, 255], np.uint8), Path("m"))
    assert check_label_values(np.array([0, 2.0]), {1, 2}, Path("l"), None).dtype == np.int32
    same = np.array([0, 1, 2], np.uint8)
    assert check_label_values(same, {1, 2}, Path("l"), None) is same  # no copy of integer maps
    with pytest.raises(ConversionError, match=r"l: label values \[3\] are not declared in t\.json"):
        check_label_values(np.array([0, 3]), {1, 2}, Path("l"), Path("t.json"))
    with pytest.raises(ConversionError, match=r"l: label values \[-1\] are not declared"):
        check_label_values(np.array([0, -1], np.int16), {1, 2}, Path("l"), None)


def test_real_ct_flipped_segmentation_aligns_and_passes_laterality(shared_data):
    """The real TotalSegmentator output is stored with y flipped relative to its DICOM series."""
    import json

    from torsoseg import imageio

    image_geo = imageio.read_image(shared_data / "ts_dicom_ct").geometry
    seg = imageio.read_image(shared_data / "ts_dicom_ct_seg.nii.gz")
    assert not seg.geometry.same_grid(image_geo)
    arr = align_to_image(seg, image_geo, Path("seg"), Path("ct"))
    assert arr.shape == image_geo.shape
    # exact: every voxel keeps its world position
    idx = np.argwhere(arr > 0)[:50]
    world = image_geo.index_to_world(idx)
    back = np.rint(seg.geometry.world_to_index(world)).astype(int)
    assert np.array_equal(seg.array[tuple(back.T)], arr[tuple(idx.T)])
    table = json.loads((shared_data / "ts_labels_total_v2.json").read_text())
    labels = {n: int(v) for v, n in table.items()}
    findings = laterality_findings(arr, image_geo, labels)
    assert {"humerus_right", "autochthon_right"} <= {f.right for f in findings}
    assert all(f.ok for f in findings), findings
