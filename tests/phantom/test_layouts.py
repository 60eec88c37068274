"""``write_source``: the three source layouts, byte-identical reruns, bad input."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from torsoseg import organs
from torsoseg.fileio import read_json
from torsoseg.imageio import read_image
from torsoseg.phantom import generate_case, write_source


def _digest(folder):
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_abdomen_layout(tmp_path):
    paths = write_source("abdomen", 2, tmp_path, seed=3, size="tiny")
    assert [p.relative_to(tmp_path).as_posix() for p in paths] == ["img/img0001.nii.gz", "img/img0002.nii.gz"]
    assert sorted(p.name for p in (tmp_path / "label").iterdir()) == ["label0001.nii.gz", "label0002.nii.gz"]
    lab = read_image(tmp_path / "label" / "label0002.nii.gz")
    case = generate_case("abdomen", 4, "tiny")  # case i is seed + i
    assert np.array_equal(lab.array, case.label_map.array)
    assert lab.geometry.same_grid(case.label_map.geometry)
    assert set(np.unique(lab.array)) <= set(range(8)) and {3, 4}.issubset(set(np.unique(lab.array)))


def test_visceral_layout(tmp_path):
    write_source("visceral", 2, tmp_path, seed=0, size="tiny")
    vols = sorted(p.name for p in (tmp_path / "Volumes").iterdir())
    assert vols == ["10000100_1_CTce_ThAb.nii.gz", "10000101_1_CTce_ThAb.nii.gz"]
    segs = sorted((tmp_path / "Segmentations").iterdir())
    suffixes = set()
    for pid in ("10000100", "10000101"):
        mine = [p for p in segs if p.name.startswith(pid + "_1_CTce_ThAb_")]
        radlex = set()
        for p in mine:
            parts = p.name[: -len(".nii.gz")].split("_")
            radlex.add(int(parts[4]))
            suffixes.add(parts[5])
        names = {organs.by_radlex(r) for r in radlex}
        assert {"liver", "lung_right", "lung_left", "aorta", "vertebrae_L1", "urinary_bladder"} <= names
        assert len(names) >= 17
    assert len(suffixes) >= 2  # the annotator suffix varies
    mask = read_image(segs[0])
    assert mask.array.dtype == np.uint8 and set(np.unique(mask.array)) == {0, 1}
    image = read_image(tmp_path / "Volumes" / vols[0])
    assert image.geometry.same_grid(mask.geometry) and image.array.dtype == np.int16


def test_torso_layout_and_labels_json(tmp_path):
    write_source("torso", 1, tmp_path, seed=5, size="tiny")
    table = read_json(tmp_path / "labels.json")
    assert table["background"] == 0 and table["right lung"] == 1 and table["left kidney"] == 7
    assert {organs.canonical_name(k): v for k, v in table.items() if k != "background"} == {
        k: v for k, v in generate_case("torso", 5, "tiny").labels.items() if k != "background"
    }
    assert (tmp_path / "images" / "torso_001.nii.gz").is_file()
    assert (tmp_path / "labels" / "torso_001.nii.gz").is_file()


def test_same_seed_same_bytes(tmp_path):
    write_source("visceral", 1, tmp_path / "a", seed=7, size="tiny")
    write_source("visceral", 1, tmp_path / "b", seed=7, size="tiny")
    da, db = _digest(tmp_path / "a"), _digest(tmp_path / "b")
    assert da == db and len(da) > 10


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"kind": "pelvis", "n": 1}, "unknown phantom kind 'pelvis'"),
        ({"kind": "torso", "n": 0}, "n \\(number of cases\\) must be an integer >= 1, got 0"),
        ({"kind": "torso", "n": 1, "size": "huge"}, "unknown phantom size 'huge'"),
        ({"kind": "torso", "n": 1, "seed": -3}, "seed must be a non-negative integer, got -3"),
    ],
)
def test_bad_input(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        write_source(out_dir=tmp_path / "x", **kwargs)
    assert not (tmp_path / "x").exists()


def test_output_is_a_file(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(ValueError, match="exists and is not a folder"):
        write_source("torso", 1, f, size="tiny")
