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
                           ("real", {"liver": liver, "spleen": 0.1, "pancreas": 0.0, "aorta": 0.4}),
                           ("real_lung", {"lung_right": 0.3 + 0.2 * i})):
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
    lung = next(line for line in text.splitlines() if line.startswith("| real_lung |"))
    assert lung == "| real_lung | 0.400 ± 0.141 | 0.400 ± 0.141 |"  # its own table, lung_right only
    rows = [line.split("|")[1].strip() for line in text.splitlines() if line.startswith("| ")]
    assert [r for r in rows if r != "input"] == ["whole", "real", "real_lung"]


def test_lung_crop_keeps_the_lung_box_in_plane_and_the_slices_below_it_whichever_way_z_runs(tmp_path):
    m = _module()
    lab = np.zeros((30, 12, 14), np.uint8)  # (z, y, x)
    lab[10:20, 3:7, 2:6] = 1  # lung_right: x 2..5, y 3..6, z 10..19
    lab[22:28, 3:7, 2:6] = 3  # liver: at higher indices, so below the lung only when z runs down
    for z_dir in (1.0, -1.0):
        raw = tmp_path / f"raw{z_dir:+.0f}"
        (raw / "labelsTr").mkdir(parents=True)
        (raw / "imagesTr").mkdir()
        labels = {"background": 0, "lung_right": 1, "liver": 3}
        (raw / "dataset.json").write_text(json.dumps({"labels": labels}))
        hu = np.arange(lab.size, dtype=np.int16).reshape(lab.shape)
        files = ((lab, raw / "labelsTr" / "c_001.nii.gz"), (hu, raw / "imagesTr" / "c_001_0000.nii.gz"))
        for array, path in files:
            image = sitk.GetImageFromArray(array)
            image.SetDirection((1, 0, 0, 0, 1, 0, 0, 0, z_dir))
            sitk.WriteImage(image, str(path))
        out = tmp_path / f"crop{z_dir:+.0f}"
        m.cut_lung_crops(raw, out, 1, margin=1, below=4)
        crop = sitk.GetArrayFromImage(sitk.ReadImage(str(out / "ref" / "c_001.nii.gz")))
        img = sitk.GetArrayFromImage(sitk.ReadImage(str(out / "img" / "c_001_0000.nii.gz")))
        # in plane: the lung's box and 1 voxel around it
        assert crop.shape[1:] == (6, 6) and img.shape == crop.shape
        if z_dir > 0:  # physical z grows with the index: "below" the lung is the lower indices
            np.testing.assert_array_equal(crop, lab[6:21, 2:8, 1:7])
        else:  # z runs down: below the lung is the higher indices, where the liver is
            np.testing.assert_array_equal(crop, lab[9:24, 2:8, 1:7])
            assert (crop == 3).any()
        assert (crop == 1).sum() == (lab == 1).sum()  # the whole lung is kept


def test_the_threshold_lung_reference_is_the_largest_air_region(tmp_path):
    m = _module()
    hu = np.full((10, 20, 20), 40, np.int16)
    hu[2:8, 4:16, 4:16] = -850  # the lung
    hu[0:2, 0:3, 0:3] = -1000  # air outside the body in a corner: smaller, left out
    _write(hu, tmp_path / "ct.mha")
    m.threshold_lung_reference(tmp_path / "ct.mha", tmp_path / "ref" / "ct.nii.gz")
    ref = sitk.ReadImage(str(tmp_path / "ref" / "ct.nii.gz"))
    assert ref.GetSpacing() == (2.0, 2.0, 5.0) and ref.GetOrigin() == (10.0, -20.0, 300.0)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(ref), (hu == -850).astype(np.uint8))
    assert json.loads((tmp_path / "ref" / "labels.json").read_text()) == {"background": 0, "lung_right": 1}


def test_the_real_samples_absent_organs_are_measured_in_ml_and_summarized(tmp_path, shared_data):
    m = _module()
    seg = sitk.ReadImage(str(shared_data / "ts_dicom_ct_seg.nii.gz"))
    pred = np.zeros(sitk.GetArrayFromImage(seg).shape, np.uint8)
    pred[0, :10, :10] = 1  # 100 voxels called right lung
    pred[1, :5, :4] = 3  # 20 voxels called gallbladder
    image = sitk.GetImageFromArray(pred)
    image.CopyInformation(seg)
    sitk.WriteImage(image, str(tmp_path / "pred.nii.gz"))
    voxel_ml = float(np.prod(seg.GetSpacing())) / 1000.0
    labels = {"background": 0, "lung_right": 1, "liver": 2, "gallbladder": 3}
    ml = m.absent_organ_ml(shared_data, tmp_path / "pred.nii.gz", labels)
    assert list(ml) == list(m.REAL_ABSENT)
    assert ml["lung_right"] == 100 * voxel_ml and ml["gallbladder"] == 20 * voxel_ml
    assert ml["lung_left"] == ml["kidney_right"] == 0.0  # not predicted, or not in the label set at all
    works = []
    for i, lung in enumerate((100.0, 300.0)):
        folder = tmp_path / f"w{i}" / "real" / "pred"
        folder.mkdir(parents=True)
        dice = {o: {"avg": 0.5} for o in m.REAL_ORGANS}
        (folder / "evaluation.json").write_text(json.dumps({"summary": {"dice": dice}}))
        absent = {**dict.fromkeys(m.REAL_ABSENT, 0.0), "lung_left": lung}
        (folder / m.ABSENT_FILE).write_text(json.dumps(absent))
        works.append(tmp_path / f"w{i}")
    row = next(line for line in m.summarize(works).splitlines() if line.startswith("| real: organs"))
    assert row.split("|")[2].strip() == "200 ± 141" and row.split("|")[4].strip() == "200 ± 141"


def test_missing_inputs_are_named_before_any_prediction(tmp_path, capsys):
    m = _module()
    model, test, real = tmp_path / "model", tmp_path / "raw", tmp_path / "data"
    model.mkdir()
    (test / "imagesTr").mkdir(parents=True)
    real.mkdir()
    problems = m.input_problems(model, test, real, lung_crop=True)
    assert f"{model}: not a trained model folder (no plans.json)" in problems
    assert any(p.startswith(f"{test}: no dataset.json") for p in problems)
    assert any(p.startswith(f"{test}: no labelsTr") for p in problems)
    assert any(p.startswith(f"{real}: no ts_dicom_ct ") for p in problems)
    assert any("elastix_lung_ct_small.mha" in p for p in problems)
    assert not any("elastix" in p for p in m.input_problems(model, test, real, lung_crop=False))
    # the command refuses with those messages and a non-zero exit, writing nothing
    work = tmp_path / "work"
    try:
        m.main([str(model), "--test", str(test), "--real", str(real), "--work", str(work)])
    except SystemExit as exc:
        assert exc.code == 2
    else:
        raise AssertionError("coverage_check accepted a folder without plans.json")
    assert "no plans.json" in capsys.readouterr().err and not work.exists()


def test_slabs_below_the_lungs_hold_no_lung_and_their_false_organs_are_measured_in_ml(tmp_path):
    m = _module()
    lab = np.zeros((30, 8, 8), np.uint8)  # (z, y, x)
    lab[14:26, 1:4, 1:4] = 1  # lung_right at the higher indices
    lab[2:13, 4:7, 4:7] = 3  # liver below it when z runs up
    labels = {"background": 0, "lung_right": 1, "lung_left": 2, "liver": 3}
    for z_dir in (1.0, -1.0):
        raw = tmp_path / f"raw{z_dir:+.0f}"
        (raw / "labelsTr").mkdir(parents=True)
        (raw / "imagesTr").mkdir()
        (raw / "dataset.json").write_text(json.dumps({"labels": labels}))
        for array, path in ((lab, raw / "labelsTr" / "c_001.nii.gz"),
                            (lab.astype(np.int16), raw / "imagesTr" / "c_001_0000.nii.gz")):
            image = sitk.GetImageFromArray(array)
            image.SetSpacing((2.0, 2.0, 5.0))
            image.SetDirection((1, 0, 0, 0, 1, 0, 0, 0, z_dir))
            sitk.WriteImage(image, str(path))
        out = tmp_path / f"below{z_dir:+.0f}"
        if z_dir < 0:  # z runs down: below the lungs is the higher indices, and only 4 slices are left
            try:
                m.cut_below_lungs(raw, out, 40.0, (1, 2))
            except SystemExit as e:
                assert "less than 40 mm below the lungs" in str(e) and "c_001" in str(e)
            else:
                raise AssertionError("a case without room below its lungs must be refused")
            continue
        m.cut_below_lungs(raw, out, 40.0, (1, 2))  # 8 slices of 5 mm under slice 14
        ref = sitk.GetArrayFromImage(sitk.ReadImage(str(out / "ref" / "c_001.nii.gz")))
        np.testing.assert_array_equal(ref, lab[6:14])
        assert not (ref == 1).any() and (ref == 3).any()
        # a prediction that calls 10 voxels lung: 10 x 2 x 2 x 5 mm^3 = 0.2 mL; the liver is in the slab
        pred = ref.copy()
        pred[0, :2, :5] = 1
        (out / "pred").mkdir()
        image = sitk.GetImageFromArray(pred)
        image.SetSpacing((2.0, 2.0, 5.0))
        sitk.WriteImage(image, str(out / "pred" / "c_001.nii.gz"))
        (out / "pred" / "labels.json").write_text(json.dumps(labels))
        ml = m.absent_in_slabs_ml(out / "ref", out / "pred", ["lung_right", "lung_left", "liver"])
        assert ml == {"all": 0.2, "lung_right": 0.2, "lung_left": 0.0, "liver": 0.0}
        assert m.organs_held(out / "ref", ["lung_right", "lung_left", "liver"]) == ["liver"]


def test_the_summary_gives_the_false_organ_volumes_below_the_lungs_over_runs(tmp_path):
    m = _module()
    works = []
    for i, lung in enumerate((100.0, 300.0)):
        folder = tmp_path / f"w{i}" / "below_lungs_40mm" / "pred"
        folder.mkdir(parents=True)
        (folder / "evaluation.json").write_text(json.dumps({"summary": {"dice": {"liver": {"avg": 0.5}}}}))
        ml = {"all": lung + 10, "lung_right": lung, "liver": 10.0}
        (folder / "absent_ml.json").write_text(json.dumps(ml))
        whole = tmp_path / f"w{i}" / "whole" / "pred"
        whole.mkdir(parents=True)
        dice = {"lung_right": {"avg": 0.9}, "liver": {"avg": 0.8}}
        (whole / "evaluation.json").write_text(json.dumps({"summary": {"dice": dice}}))
        works.append(tmp_path / f"w{i}")
    text = m.summarize(works)
    # the slab below the lungs scores only the liver: a table of its own, not the whole scans' columns
    lines = text.splitlines()
    below = lines.index("| below_lungs_40mm | 0.500 ± 0.000 | 0.500 ± 0.000 |")
    assert lines[below - 2] == "| input | mean | liver |"
    assert "| input | mean | lung_right | liver |" in lines
    assert "| input (mL, mean over the cases) | all | lung_right | liver |" in text
    assert "| below_lungs_40mm: organs it does not hold | 210 ± 141 | 200 ± 141 | 10 ± 0 |" in text
