"""scripts/coverage_check.py: axial slabs cut around the spleen, and the summary over runs (the prediction
part needs trained models)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from tests.script_modules import load_script


def _module():
    return load_script("scripts/coverage_check.py")


def _write(array: np.ndarray, path: Path, spacing=(2.0, 2.0, 5.0)) -> None:
    image = sitk.GetImageFromArray(array)  # (z, y, x)
    image.SetSpacing(spacing)
    image.SetOrigin((10.0, -20.0, 300.0))
    sitk.WriteImage(image, str(path))


def test_slabs_keep_the_geometry_and_centre_on_the_spleen(tmp_path):
    m = _module()
    raw = tmp_path / "raw"
    (raw / "labelsTr").mkdir(parents=True)
    (raw / "imagesTr").mkdir()
    (raw / "dataset.json").write_text(json.dumps({"labels": {"background": 0, "liver": 1, "spleen": 2}}))
    lab = np.zeros((40, 8, 8), np.uint8)
    lab[5:35, 1:4, 1:4] = 1
    lab[20:26, 5:7, 5:7] = 2  # spleen centre: slice 22 (mean of 20..25 is 22.5)
    _write(lab, raw / "labelsTr" / "case_001.nii.gz")
    _write(np.arange(lab.size, dtype=np.int16).reshape(lab.shape), raw / "imagesTr" / "case_001_0000.nii.gz")
    m.cut_slabs(raw, tmp_path / "slab", 20.0, 2)
    ref = sitk.ReadImage(str(tmp_path / "slab" / "ref" / "case_001.nii.gz"))
    img = sitk.ReadImage(str(tmp_path / "slab" / "img" / "case_001_0000.nii.gz"))
    assert ref.GetSize() == img.GetSize() == (8, 8, 4)  # 20 mm at 5 mm: slices 20..23
    assert ref.GetOrigin()[2] == 300.0 + 20 * 5.0 and img.GetOrigin() == ref.GetOrigin()
    np.testing.assert_array_equal(sitk.GetArrayFromImage(ref), lab[20:24])
    assert json.loads((tmp_path / "slab" / "ref" / "labels.json").read_text())["spleen"] == 2


def test_summary_is_mean_and_sample_std_over_runs_and_reads_null_averages(tmp_path):
    m = _module()
    works = []
    for i, (liver, lung) in enumerate([(0.6, None), (0.8, 0.5)]):
        for name, dice in (("whole", {"liver": liver, "lung_left": lung}),
                           ("real", {"liver": liver, "spleen": 0.1, "pancreas": 0.0, "aorta": 0.4})):
            folder = tmp_path / f"w{i}" / name / "pred"
            folder.mkdir(parents=True)
            summary = {"dice": {o: {"avg": v} for o, v in dice.items()}}  # null: absent in every case
            (folder / "evaluation.json").write_text(json.dumps({"summary": summary}))
        works.append(tmp_path / f"w{i}")
    text = m.summarize(works)
    whole = next(line for line in text.splitlines() if line.startswith("| whole |"))
    assert "| 0.700 ± 0.141 |" in whole  # liver: mean 0.7, sample std 0.1414
    assert whole.endswith("| 0.500 ± n/a |")  # lung_left: one run had no value, so no spread
    real = next(line for line in text.splitlines() if line.startswith("| real |"))
    assert real.split("|")[2].strip() == "0.300 ± 0.035"  # per run the mean of 4 organs (0.275, 0.325)
