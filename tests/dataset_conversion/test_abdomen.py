"""The abdominal set of the paper: an image and a 7-label map per case."""

from __future__ import annotations

import pytest

from tests.dataset_conversion.trees import assert_converted, load_dataset, make_case, write
from torsoseg.dataset_conversion import ConversionError, convert
from torsoseg.dataset_conversion.abdomen import LABELS

NAMES = [LABELS[v] for v in sorted(LABELS)]


@pytest.mark.parametrize("layout", ["folders", "per_case", "flat"])
def test_abdomen_layouts(tmp_path, layout):
    cases = {}
    for i in range(2):
        c = make_case(NAMES, seed=i, orientation="RAS" if i else "LPS")
        ident = f"abd_{i:03d}"
        if layout == "folders":
            img = tmp_path / "src" / "images" / f"{ident}.nii.gz"
            lab = tmp_path / "src" / "labels" / f"{ident}.nii.gz"
        elif layout == "per_case":
            img = tmp_path / "src" / ident / "image.nii.gz"
            lab = tmp_path / "src" / ident / "label.nii.gz"
        else:
            img, lab = tmp_path / "src" / f"{ident}.nii", tmp_path / "src" / f"{ident}_seg.nii.gz"
        write(c.image, img)
        write(c.label_map, lab)
        cases[ident] = c
    out = convert("abdomen", tmp_path / "src", tmp_path / "raw", 1)
    assert out.name == "Dataset001_Abdomen"
    ds = assert_converted(out, cases, NAMES)
    assert ds["source_format"] == "abdomen"


def test_abdomen_unpaired(tmp_path):
    c = make_case(NAMES)
    write(c.image, tmp_path / "images" / "a.nii.gz")
    write(c.image, tmp_path / "images" / "b.nii.gz")
    write(c.label_map, tmp_path / "labels" / "a.nii.gz")
    with pytest.raises(ConversionError, match=r"images/b\.nii\.gz: no label map for this image"):
        convert("abdomen", tmp_path, tmp_path / "raw", 1)
    assert not (tmp_path / "raw").exists()
    (tmp_path / "images" / "b.nii.gz").unlink()
    out = convert("abdomen", tmp_path, tmp_path / "raw", 1, mapping=["portal_vein=background"])
    assert "portal_vein" not in load_dataset(out)["labels"]


def test_phantom_abdomen_converts_with_one_command(tmp_path):
    """``torsoseg_phantom --kind abdomen`` output converts as is (BTCV-style img/label folders)."""
    import numpy as np

    from tests.dataset_conversion.trees import assert_same_geometry, read
    from torsoseg.cli.convert import main
    from torsoseg.phantom import write_source

    (img,) = write_source("abdomen", 1, tmp_path / "src", seed=5, size="tiny")
    assert main(["abdomen", "-i", str(tmp_path / "src"), "-d", "1", "--raw", str(tmp_path / "raw"),
                 "--no-progress"]) == 0
    out = tmp_path / "raw" / "Dataset001_Abdomen"
    ds = load_dataset(out)
    assert list(ds["labels"]) == ["background", *NAMES]
    src_img, src_lab = read(img), read(tmp_path / "src" / "label" / "label0001.nii.gz")
    got_img = read(out / "imagesTr" / "abdomen_0001_0000.nii.gz")
    got_lab = read(out / "labelsTr" / "abdomen_0001.nii.gz")
    assert_same_geometry(got_img, src_img)
    assert_same_geometry(got_lab, src_img)
    np.testing.assert_array_equal(got_img.array, src_img.array)
    np.testing.assert_array_equal(got_lab.array, src_lab.array)  # same numbering as the source
    counts = np.bincount(src_lab.array.ravel(), minlength=8)
    assert ds["voxel_counts"]["abdomen_0001"] == {n: int(counts[v]) for n, v in ds["labels"].items()
                                                 if v and counts[v]}
