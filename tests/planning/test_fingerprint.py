"""The dataset fingerprint on a tiny raw dataset and on hand-made inputs."""

from __future__ import annotations

import numpy as np
import pytest

from tests.preprocessing.rawdata import synthetic_case, write_raw_dataset
from torsoseg import dataset, imageio
from torsoseg.planning.fingerprint import Fingerprint, compute_fingerprint, intensity_stats


def test_intensity_stats_hand_computed():
    st = intensity_stats(np.arange(201, dtype=np.float32))
    assert st.median == 100.0 and st.min == 0.0 and st.max == 200.0 and st.mean == 100.0
    assert st.percentile_00_5 == pytest.approx(1.0) and st.percentile_99_5 == pytest.approx(199.0)
    assert st.clipped_mean == pytest.approx(100.0)
    with pytest.raises(ValueError, match="no foreground"):
        intensity_stats(np.array([]))


@pytest.fixture(scope="module")
def synth_raw(tmp_path_factory):
    return write_raw_dataset(tmp_path_factory.mktemp("raw"), 4, "Synth", n=4, synthetic=True)


def test_fingerprint_of_a_synthetic_dataset(synth_raw):
    fp = compute_fingerprint(synth_raw, workers=1)
    assert fp.dataset_name == "Dataset004_Synth" and len(fp.cases) == 4
    for i, case in enumerate(fp.cases):
        img, lab, _ = synthetic_case(
            i,
            spacing=((1.6, 1.6, 2.5), (1.4, 1.4, 3.0), (1.8, 1.8, 2.0), (1.5, 1.5, 2.5))[i],
            ras=bool(i % 2),
        )
        assert case.spacing == pytest.approx(img.spacing)
        assert case.orientation == ("RAS" if i % 2 else "LPS")
        assert case.shape_before_crop == img.shape
        assert all(a < b for a, b in zip(case.shape_after_crop, case.shape_before_crop[:2]))  # air cropped
        counts = np.bincount(lab.array.ravel())
        assert case.class_voxels == {str(v): int(c) for v, c in enumerate(counts) if c}
    st = fp.intensity["0"]
    # foreground = liver (100), spleen (140), lung (-800) + noise (sd 12)
    assert -800 - 60 < st.percentile_00_5 < -700 and 130 < st.percentile_99_5 < 200
    assert fp.class_cases == {"0": 4, "1": 4, "2": 4, "3": 4}
    assert sum(fp.class_voxels.values()) == sum(int(np.prod(c.shape_before_crop)) for c in fp.cases)


def test_fingerprint_json_round_trip(synth_raw, tmp_path):
    fp = compute_fingerprint(synth_raw, workers=2)
    path = fp.save(tmp_path / "fingerprint.json")
    assert Fingerprint.load(tmp_path) == fp
    raw = path.read_text()
    assert raw.lstrip().startswith('{\n  "format_version": 1')


def test_bad_fingerprint_files(tmp_path):
    with pytest.raises(ValueError, match="format_version"):
        Fingerprint.from_json({"format_version": 99}, source="x.json")
    with pytest.raises(ValueError, match="x.json: invalid fingerprint"):
        Fingerprint.from_json({"format_version": 1}, source="x.json")
    with pytest.raises(FileNotFoundError, match="no such file"):
        Fingerprint.load(tmp_path)


def test_bad_cases_name_the_file(tmp_path):
    folder = write_raw_dataset(tmp_path, 5, "Bad", n=2, synthetic=True)
    path = folder / "labelsTr" / "case_001.nii.gz"
    lab = imageio.read_image(path)
    imageio.write_image(lab.with_array(np.full(lab.shape, 7, np.uint8)), path)
    with pytest.raises(RuntimeError, match=r"case_001.*label values \[7\] are not declared"):
        compute_fingerprint(folder)
    img, other, labels = synthetic_case(7)  # another case's grid
    imageio.write_image(other, path)
    with pytest.raises(RuntimeError, match=r"case_001.nii.gz: geometry differs from .*case_001_0000"):
        compute_fingerprint(folder)
    empty = tmp_path / "Dataset006_Empty"
    dataset.write_dataset_json(empty, labels, 0)
    with pytest.raises(FileNotFoundError, match="no training case"):
        compute_fingerprint(empty)
