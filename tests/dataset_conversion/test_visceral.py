"""VISCERAL Anatomy3: per-structure masks by RadLex ID, annotator suffixes, missing structures."""

from __future__ import annotations

import numpy as np
import pytest

from tests.dataset_conversion.trees import assert_converted, load_dataset, make_case, read, write
from torsoseg import organs
from torsoseg.dataset_conversion import ConversionError, convert
from torsoseg.dataset_conversion.visceral import structure_file_name, volume_file_name

RADLEX = [58, 86, 170, 187, 237, 480, 1247, 1302, 1326, 2473, 7578, 29193, 29662, 29663, 30324, 30325,
          32248, 32249, 40357, 40358]
NAMES = [organs.by_radlex(r) for r in RADLEX]


def _write_case(root, pid, case, annotator, skip=(), suffix=".nii.gz", extra=None):
    write(case.image, root / "Volumes" / volume_file_name(pid, 1).replace(".nii.gz", suffix))
    for r, name in zip(RADLEX, NAMES):
        if name in skip:
            continue
        mask = case.masks()[name]
        if extra and name in extra:
            mask = mask | extra[name]
        write(case.label_map.with_array(mask.astype(np.uint8)),
              root / "Segmentations" / structure_file_name(pid, 1, r, annotator))


def _tree(root):
    a = make_case(NAMES, seed=1, orientation="RAS")
    b = make_case(NAMES, seed=2, drop=("gallbladder", "thyroid_gland"))
    _write_case(root, "10000100", a, annotator=7)
    # case b: gallbladder and thyroid have no file; the right adrenal mask also claims 4 liver voxels
    liver = b.masks()["liver"]
    stolen = np.zeros_like(liver)
    stolen[tuple(idx for idx in np.argwhere(liver)[:4].T)] = True
    _write_case(root, "10000105", b, annotator=5, skip=("gallbladder", "thyroid_gland"), suffix=".nii",
                extra={"adrenal_gland_right": stolen})
    # an unannotated volume and a volume of another region are left out
    write(a.image, root / "Volumes" / volume_file_name("10000200", 1))
    write(a.image, root / "Volumes" / volume_file_name("10000100", 1, region="MRT1_Ab"))
    return {"10000100_1": a, "10000105_1": b}, stolen


def test_visceral_converts_with_radlex_order_and_overlap_rule(tmp_path):
    cases, stolen = _tree(tmp_path / "Anatomy3")
    out = convert("visceral", tmp_path / "Anatomy3", tmp_path / "raw", 2)
    assert out.name == "Dataset002_VISCERAL"
    ds = load_dataset(out)
    assert list(ds["labels"])[1:] == NAMES
    assert ds["source_labels"]["psoas_major_right"] == [{"name": "32248"}]
    assert ds["numTraining"] == 2
    assert ds["annotated"]["10000100_1"] == NAMES
    assert ds["annotated"]["10000105_1"] == [n for n in NAMES if n not in ("gallbladder", "thyroid_gland")]
    assert ds["contested_voxels"] == {"10000100_1": 0, "10000105_1": 4}
    # case a has no overlaps: exact comparison
    assert_converted_a = {"10000100_1": cases["10000100_1"]}
    lab_b = read(out / "labelsTr" / "10000105_1.nii.gz").array
    # smallest structure wins: the adrenal (48 voxels + 4) beats the liver (56 voxels)
    assert (lab_b[stolen] == ds["labels"]["adrenal_gland_right"]).all()
    assert int((lab_b == ds["labels"]["liver"]).sum()) == int(cases["10000105_1"].masks()["liver"].sum()) - 4
    assert ds["voxel_counts"]["10000105_1"]["adrenal_gland_right"] == 48 + 4
    # case a, all exact (the RAS-stored case)
    out_a = tmp_path / "raw_a"
    convert("visceral", tmp_path / "Anatomy3", out_a, 2, organs=NAMES)
    assert_converted(out_a / "Dataset002_VISCERAL", assert_converted_a, NAMES)


def test_visceral_region_flag_and_swapped_psoas(tmp_path):
    root = tmp_path / "src"
    c = make_case(NAMES, seed=3)
    write(c.image, root / "Volumes" / volume_file_name("1", 1, region="CT_wb"))
    for r, name in zip(RADLEX, NAMES):
        # a source that believes 32248 is the LEFT psoas
        rid = {32248: 32249, 32249: 32248}.get(r, r)
        write(c.label_map.with_array(c.masks()[name].astype(np.uint8)),
              root / "Segmentations" / structure_file_name("1", 1, rid, "3", region="CT_wb"))
    with pytest.raises(ConversionError, match="no labelled cases"):
        convert("visceral", root, tmp_path / "raw", 2)
    with pytest.raises(ConversionError, match=r"case 1_1: laterality check failed: psoas_major_right"):
        convert("visceral", root, tmp_path / "raw", 2, region="CT_wb")
    assert not (tmp_path / "raw").exists() or not any((tmp_path / "raw").iterdir())
    # the documented fix for such a copy: name the IDs explicitly
    out = convert("visceral", root, tmp_path / "raw", 2, region="CT_wb",
                  mapping=["32248=psoas_major_left", "32249=psoas_major_right"])
    ds = load_dataset(out)
    assert ds["source_labels"]["psoas_major_right"] == [{"name": "32249"}]
    assert list(ds["labels"])[17:19] == ["psoas_major_left", "psoas_major_right"]


def test_visceral_bad_masks(tmp_path):
    root = tmp_path / "src"
    c = make_case(NAMES[:3], seed=4)
    write(c.image, root / "Volumes" / volume_file_name("9", 1))
    m = c.masks()["liver"].astype(np.uint8) * 2
    write(c.label_map.with_array(m), root / "Segmentations" / structure_file_name("9", 1, 58, 1))
    with pytest.raises(ConversionError, match=r"_58_1\.nii\.gz: mask is not binary "
                                              r"\(values other than 0 and 1: 2\)"):
        convert("visceral", root, tmp_path / "raw", 2)
    write(c.label_map.with_array(m // 2), root / "Segmentations" / structure_file_name("9", 1, 58, 1))
    write(c.label_map.with_array(m // 2), root / "Segmentations" / structure_file_name("9", 1, 12345, 1))
    with pytest.raises(ConversionError, match=r"_12345_1\.nii\.gz: unknown RadLex ID 12345"):
        convert("visceral", root, tmp_path / "raw", 2)
    with pytest.raises(ConversionError, match="no Volumes/ and Segmentations/"):
        convert("visceral", root / "Volumes", tmp_path / "raw", 2)


def test_phantom_visceral_converts_and_catches_swapped_kidneys(tmp_path):
    """``torsoseg_phantom --kind visceral`` output converts with one command; swapping the kidney masks'
    RadLex IDs makes the laterality check fail, naming the case and the pair, and writes nothing."""
    import shutil

    from tests.dataset_conversion.trees import assert_same_geometry
    from torsoseg.cli.convert import main
    from torsoseg.phantom import write_source

    (img,) = write_source("visceral", 1, tmp_path / "src", seed=1, size="tiny")
    raw = tmp_path / "raw"
    assert main(["visceral", "-i", str(tmp_path / "src"), "-d", "2", "--raw", str(raw), "--no-progress"]) == 0
    out = raw / "Dataset002_VISCERAL"
    ds = load_dataset(out)
    case = img.name.replace("_CTce_ThAb.nii.gz", "")
    seg_files = sorted((tmp_path / "src" / "Segmentations").iterdir())
    present = {organs.by_radlex(int(f.name.split("_")[4])) for f in seg_files}
    assert ds["annotated"][case] == [n for n in NAMES if n in present]
    lab = read(out / "labelsTr" / f"{case}.nii.gz")
    assert_same_geometry(lab, read(img))
    for f in seg_files:
        name = organs.by_radlex(int(f.name.split("_")[4]))
        mask = read(f).array.astype(bool)
        got = lab.array == ds["labels"][name]
        if ds["contested_voxels"][case] == 0:
            assert int(got.sum()) == int(mask.sum()), name
        assert not (got & ~mask).any(), name

    swapped = tmp_path / "swapped"
    shutil.copytree(tmp_path / "src", swapped)
    segs = swapped / "Segmentations"
    right = next(segs.glob("*_CTce_ThAb_29662_*.nii.gz"))
    left = next(segs.glob("*_CTce_ThAb_29663_*.nii.gz"))
    right.rename(segs / "tmp.nii.gz")
    left.rename(segs / left.name.replace("_29663_", "_29662_"))  # the left mask now claims to be right
    (segs / "tmp.nii.gz").rename(segs / right.name.replace("_29662_", "_29663_"))
    raw2 = tmp_path / "raw2"
    with pytest.raises(ConversionError,
                       match=rf"case {case}: laterality check failed: kidney_right .*kidney_left"):
        convert("visceral", swapped, raw2, 2)
    assert not raw2.exists() or list(raw2.iterdir()) == []
