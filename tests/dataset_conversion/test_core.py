"""The shared conversion step, exercised through the generic ``labelmap`` format."""

from __future__ import annotations

import numpy as np
import pytest

from tests.dataset_conversion.trees import (
    assert_converted,
    load_dataset,
    make_case,
    read,
    to_ras,
    write,
    write_json,
)
from torsoseg.dataset_conversion import ConversionError, convert
from torsoseg.imageio import Volume

NAMES = ["liver", "kidney_right", "kidney_left", "spleen"]


def _tree(root, n=2, orientation="LPS", names=NAMES):
    cases = {}
    for i in range(n):
        c = make_case(names, seed=i, orientation=orientation if i == 0 else "LPS")
        write(c.image, root / "images" / f"case{i}.nii.gz")
        write(c.label_map, root / "labels" / f"case{i}.nii.gz")
        cases[f"case{i}"] = c
    write_json({str(v): n for n, v in cases["case0"].labels.items()}, root / "labels.json")
    return cases


def _nothing_left(raw):
    return [] if not raw.exists() else sorted(p.name for p in raw.iterdir())


def test_round_trip_keeps_geometry_intensities_and_voxels(tmp_path):
    cases = _tree(tmp_path / "src", orientation="RAS")
    out = convert("labelmap", tmp_path / "src", tmp_path / "raw", 7, name="Mini")
    assert out == tmp_path / "raw" / "Dataset007_Mini"
    ds = assert_converted(out, cases, NAMES)
    assert ds["source_format"] == "labelmap"
    assert ds["source_labels"]["kidney_left"] == [{"name": "kidney_left", "value": 3}]
    assert ds["numTraining"] == 2
    assert ds["voxel_counts"]["case0"]["liver"] == int(cases["case0"].masks()["liver"].sum())
    assert "annotated" not in ds  # label maps: every organ is annotated in every case


def test_label_order_follows_source_then_organs_flag(tmp_path):
    _tree(tmp_path / "src")
    out = convert("labelmap", tmp_path / "src", tmp_path / "raw", 1, organs="spleen,liver")
    ds = load_dataset(out)
    assert ds["labels"] == {"background": 0, "spleen": 1, "liver": 2}
    lab = read(out / "labelsTr" / "case0.nii.gz").array
    src = read(tmp_path / "src" / "labels" / "case0.nii.gz").array
    assert set(np.unique(lab).tolist()) == {0, 1, 2}
    assert np.array_equal(lab == 1, src == 4) and np.array_equal(lab == 2, src == 1)
    assert (lab[(src == 2) | (src == 3)] == 0).all()  # kidneys became background


def test_mapping_merges_and_drops(tmp_path):
    cases = _tree(tmp_path / "src")
    out = convert("labelmap", tmp_path / "src", tmp_path / "raw", 1,
                  mapping=["kidney_right=kidneys", "left kidney=kidneys", "spleen=background"])
    ds = load_dataset(out)
    assert ds["labels"] == {"background": 0, "liver": 1, "kidneys": 2}
    assert [s["value"] for s in ds["source_labels"]["kidneys"]] == [2, 3]
    assert ds["dropped_source_labels"] == ["spleen"]
    lab = read(out / "labelsTr" / "case1.nii.gz").array
    m = cases["case1"].masks()
    assert np.array_equal(lab == 2, m["kidney_right"] | m["kidney_left"])


def test_permuted_label_grid_is_realigned_exactly(tmp_path):
    """A label stored with flipped axes covers the same voxels: it is brought onto the image grid."""
    c = make_case(NAMES)
    write(c.image, tmp_path / "src" / "images" / "a.nii.gz")
    write(to_ras(c.label_map), tmp_path / "src" / "labels" / "a.nii.gz")
    write_json({str(v): n for n, v in c.labels.items()}, tmp_path / "src" / "labels.json")
    out = convert("labelmap", tmp_path / "src", tmp_path / "raw", 1)
    assert_converted(out, {"a": c}, NAMES)


def test_swapped_pair_fails_laterality_and_leaves_nothing(tmp_path):
    cases = _tree(tmp_path / "src")
    # the second case's label map has right and left kidney swapped
    lab = cases["case1"].label_map.array.copy()
    r, l_ = cases["case1"].labels["kidney_right"], cases["case1"].labels["kidney_left"]
    swapped = lab.copy()
    swapped[lab == r], swapped[lab == l_] = l_, r
    write(cases["case1"].label_map.with_array(swapped), tmp_path / "src" / "labels" / "case1.nii.gz")
    with pytest.raises(ConversionError, match=r"case case1: laterality check failed: "
                                              r"kidney_right .* kidney_left"):
        convert("labelmap", tmp_path / "src", tmp_path / "raw", 1)
    assert _nothing_left(tmp_path / "raw") == []
    # the check can be switched off knowingly
    out = convert("labelmap", tmp_path / "src", tmp_path / "raw", 1, check_laterality=False)
    assert out.is_dir()


def test_laterality_judged_in_world_not_index(tmp_path):
    """In a RAS-stored file the right kidney has the *larger* index on axis 0, and that is fine."""
    c = make_case(NAMES, orientation="RAS")
    kr = np.argwhere(c.label_map.array == 2).mean(axis=0)[0]
    kl = np.argwhere(c.label_map.array == 3).mean(axis=0)[0]
    assert kr > kl
    write(c.image, tmp_path / "src" / "images" / "a.nii.gz")
    write(c.label_map, tmp_path / "src" / "labels" / "a.nii.gz")
    write_json({str(v): n for n, v in c.labels.items()}, tmp_path / "src" / "labels.json")
    convert("labelmap", tmp_path / "src", tmp_path / "raw", 1)


def test_label_on_other_grid_names_both_files(tmp_path):
    cases = _tree(tmp_path / "src")
    c = cases["case1"]
    shifted = Volume(c.label_map.array, (0.8, 1.1, 3.0), c.label_map.origin)
    write(shifted, tmp_path / "src" / "labels" / "case1.nii.gz")
    with pytest.raises(ConversionError) as e:
        convert("labelmap", tmp_path / "src", tmp_path / "raw", 1)
    msg = str(e.value)
    assert "labels/case1.nii.gz: not on the grid of its image" in msg and "images/case1.nii.gz" in msg
    assert "1 of 2 case(s) failed" in msg
    assert _nothing_left(tmp_path / "raw") == []


def test_unreadable_and_undeclared_and_non_integer(tmp_path):
    _tree(tmp_path / "src", n=3)
    (tmp_path / "src" / "labels" / "case0.nii.gz").write_bytes(b"not an image at all")
    c = make_case(NAMES, seed=1)
    bad = c.label_map.array.copy()
    bad[0, 0, 0] = 9
    write(c.label_map.with_array(bad), tmp_path / "src" / "labels" / "case1.nii.gz")
    c2 = make_case(NAMES, seed=2)
    fractional = c2.label_map.array.astype(np.float32) + 0.5
    write(c2.label_map.with_array(fractional), tmp_path / "src" / "labels" / "case2.nii.gz")
    with pytest.raises(ConversionError) as e:
        convert("labelmap", tmp_path / "src", tmp_path / "raw", 1)
    msg = str(e.value)
    assert "3 of 3 case(s) failed" in msg
    assert "labels/case0.nii.gz: cannot be read" in msg
    assert "labels/case1.nii.gz: label values [9] are not declared" in msg and "labels.json" in msg
    assert "labels/case2.nii.gz: label map holds non-integer values" in msg
    assert _nothing_left(tmp_path / "raw") == []


def test_label_outside_the_vocabulary_is_kept_and_named_in_a_warning(tmp_path, caplog):
    _tree(tmp_path / "src")
    write_json({"1": "liver", "2": "kidney_right", "3": "kidney_left", "4": "splen_thing"},
               tmp_path / "src" / "labels.json")
    with caplog.at_level("WARNING"):
        kept = convert("labelmap", tmp_path / "src", tmp_path / "raw", 1)
    assert load_dataset(kept)["labels"]["splen_thing"] == 4  # a custom label, its exact name
    warning = caplog.text
    assert "labels.json" in warning and "splen_thing" in warning and "did you mean 'spleen'" in warning
    assert "--map" in warning
    out = convert("labelmap", tmp_path / "src", tmp_path / "raw", 1, mapping={"splen_thing": "spleen"},
                  overwrite=True)
    assert load_dataset(out)["labels"]["spleen"] == 4


def test_missing_empty_and_existing(tmp_path):
    with pytest.raises(ConversionError, match="does not exist"):
        convert("labelmap", tmp_path / "nope", tmp_path / "raw", 1)
    (tmp_path / "empty").mkdir()
    write_json({"1": "liver"}, tmp_path / "empty" / "labels.json")
    with pytest.raises(ConversionError, match="no labelled cases found"):
        convert("labelmap", tmp_path / "empty", tmp_path / "raw", 1)
    _tree(tmp_path / "src")
    convert("labelmap", tmp_path / "src", tmp_path / "raw", 1, name="A")
    with pytest.raises(ConversionError, match="already exists"):
        convert("labelmap", tmp_path / "src", tmp_path / "raw", 1, name="A")
    with pytest.raises(ConversionError, match="already used by Dataset001_A"):
        convert("labelmap", tmp_path / "src", tmp_path / "raw", 1, name="B")
    convert("labelmap", tmp_path / "src", tmp_path / "raw", 1, name="A", overwrite=True)
    assert _nothing_left(tmp_path / "raw") == ["Dataset001_A"]


def test_4d_single_volume_image_is_written_3d(tmp_path):
    import SimpleITK as sitk

    from torsoseg import imageio

    c = make_case(NAMES)
    img4 = sitk.JoinSeries([imageio.to_sitk(c.image)])
    (tmp_path / "src" / "images").mkdir(parents=True)
    sitk.WriteImage(img4, str(tmp_path / "src" / "images" / "a.nii.gz"))
    write(c.label_map, tmp_path / "src" / "labels" / "a.nii.gz")
    write_json({str(v): n for n, v in c.labels.items()}, tmp_path / "src" / "labels.json")
    out = convert("labelmap", tmp_path / "src", tmp_path / "raw", 1)
    assert sitk.ReadImage(str(out / "imagesTr" / "a_0000.nii.gz")).GetDimension() == 3
    assert_converted(out, {"a": c}, NAMES)


def test_unreadable_image_is_named(tmp_path):
    _tree(tmp_path / "src")
    (tmp_path / "src" / "images" / "case1.nii.gz").write_bytes(b"\x1f\x8b truncated")
    with pytest.raises(ConversionError, match=r"images/case1\.nii\.gz: cannot be read as an image"):
        convert("labelmap", tmp_path / "src", tmp_path / "raw", 1)
    assert _nothing_left(tmp_path / "raw") == []
