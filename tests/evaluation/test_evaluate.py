"""Evaluating folders: cases paired by file name, organs by name, errors that name the files."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from torsoseg import imageio
from torsoseg.dataset import write_dataset_json
from torsoseg.evaluation import evaluate_case, evaluate_folders, match_labels
from torsoseg.imageio import Volume
from torsoseg.organs import UnknownOrganError

SPACING = (0.5, 2.0, 3.0)
ORIGIN = (-20.0, 10.0, 100.0)
SHAPE = (24, 12, 12)
REF_LABELS = {"background": 0, "liver": 1, "spleen": 2, "kidney_right": 3, "gallbladder": 4}
# the prediction's own numbering and spellings, plus an organ the reference does not have
PRED_LABELS = {"background": 0, "aorta": 1, "Spleen": 2, "Liver": 5, "right kidney": 3, "gallbladder": 4}


def ref_map() -> np.ndarray:
    m = np.zeros(SHAPE, np.uint8)
    m[2:8, 2:8, 2:8] = 1  # liver cube
    m[12:18, 2:8, 2:8] = 2  # spleen cube
    m[2:6, 9:11, 9:11] = 3  # kidney_right
    return m  # gallbladder (4) absent


def pred_map() -> np.ndarray:
    m = np.zeros(SHAPE, np.uint8)
    m[2:8, 2:8, 2:8] = 5  # liver exact
    m[14:20, 2:8, 2:8] = 2  # spleen shifted by 2 voxels along axis 0 -> the hand-computed two cubes
    m[20:22, 9:11, 9:11] = 1  # aorta, not in the reference
    return m  # kidney_right missed, gallbladder absent as in the reference


def write(path: Path, arr: np.ndarray, spacing=SPACING, origin=ORIGIN) -> Path:
    return imageio.write_image(Volume(arr, spacing, origin), path)


def make_folders(tmp_path: Path, n: int = 2, annotated=None) -> tuple[Path, Path]:
    raw = tmp_path / "raw" / "Dataset003_Torso"
    pred = tmp_path / "pred"
    for i in range(n):
        write(raw / "labelsTr" / f"case_{i:03d}.nii.gz", ref_map())
        write(raw / "imagesTr" / f"case_{i:03d}_0000.nii.gz", np.zeros(SHAPE, np.int16))
        write(pred / f"case_{i:03d}.nii.gz", pred_map())
    extra = {"annotated": annotated} if annotated is not None else {}
    write_dataset_json(raw, REF_LABELS, n, **extra)
    (pred / "labels.json").write_text(json.dumps(PRED_LABELS))
    return raw, pred


def test_folder_evaluation_by_name_hand_computed(tmp_path):
    raw, pred = make_folders(tmp_path)
    res = evaluate_folders(raw, pred, tolerance_mm=0.5)
    assert res.organs == ["liver", "spleen", "kidney_right", "gallbladder"]
    assert res.matching.missing_in_reference == ("aorta",)
    assert [c.case for c in res.cases] == ["case_000", "case_001"]
    s = res.cases[0].scores
    assert (s["liver"].dice, s["liver"].hd95, s["liver"].surface_dice) == (1.0, 0.0, 1.0)
    spleen = s["spleen"]
    assert (spleen.dice, spleen.hd95, spleen.surface_dice) == pytest.approx((2 / 3, 1.0, 200 / 304))
    assert s["kidney_right"].status == "prediction_empty" and s["kidney_right"].dice == 0.0
    diag = math.sqrt((23 * 0.5) ** 2 + (11 * 2.0) ** 2 + (11 * 3.0) ** 2)
    assert s["kidney_right"].hd95 == pytest.approx(diag)
    assert s["gallbladder"].status == "both_empty" and math.isnan(s["gallbladder"].dice)
    summary = res.summary("dice")
    assert summary["spleen"].avg == pytest.approx(2 / 3) and summary["gallbladder"].n == 0
    table = res.table("dice")
    assert "| case_000 | 1.000 | 0.667 | 0.000 | n/a |" in table
    assert "| **avg** | 1.000 | 0.667 | 0.000 | n/a |" in table
    assert "aorta" in res.report()


def test_partial_annotation_and_requested_organs(tmp_path):
    raw, pred = make_folders(tmp_path, annotated={"case_000": ["liver", "Spleen"], "case_001": ["liver"]})
    res = evaluate_folders(raw, pred, organs=["spleen", "Liver"])
    assert res.organs == ["spleen", "liver"]
    assert res.cases[1].scores["spleen"].status == "not_annotated"
    assert res.summary("dice")["spleen"].n == 1


def test_label_folder_with_labels_json_and_parallel_workers(tmp_path):
    raw, pred = make_folders(tmp_path, n=3)
    refs = tmp_path / "refs"
    for f in (raw / "labelsTr").iterdir():
        (refs / f.name).parent.mkdir(exist_ok=True)
        (refs / f.name).write_bytes(f.read_bytes())
    labels_json = tmp_path / "ref_labels.json"
    labels_json.write_text(json.dumps({str(v): k for k, v in REF_LABELS.items() if v}))  # value -> name form
    one = evaluate_folders(refs, pred, ref_labels=labels_json)
    two = evaluate_folders(refs, pred, ref_labels=labels_json, workers=2)
    assert one.table("surface_dice") == two.table("surface_dice")
    assert evaluate_folders(raw / "labelsTr", pred).table() == one.table()


def test_evaluate_case_direct(tmp_path):
    ref = write(tmp_path / "r.nii.gz", ref_map())
    prd = write(tmp_path / "p.nii.gz", ref_map())
    res = evaluate_case(ref, prd, match_labels(REF_LABELS, REF_LABELS), tolerance_mm=1.0)
    assert res.case == "r"
    assert all(s.dice == 1.0 for o, s in res.scores.items() if o != "gallbladder")


# --- bad input ---------------------------------------------------------------------------------------


def test_grid_mismatch_names_both_files(tmp_path):
    raw, pred = make_folders(tmp_path)
    write(pred / "case_001.nii.gz", pred_map(), spacing=(0.5, 2.0, 2.5))
    with pytest.raises(ValueError, match=r"pred/case_001.nii.gz and .*labelsTr/case_001.nii.gz describe"):
        evaluate_folders(raw, pred)
    res = evaluate_folders(raw, pred, skip_failed=True)
    assert [c.case for c in res.cases] == ["case_000"]
    assert "describe different voxels" in res.failed["case_001"]
    write(pred / "case_001.nii.gz", pred_map()[:, :, :10])
    with pytest.raises(ValueError, match=r"shape \(24, 12, 10\).*reference shape \(24, 12, 12\)"):
        evaluate_folders(raw, pred)


def test_missing_files_and_folders(tmp_path):
    raw, pred = make_folders(tmp_path, n=3)
    (pred / "case_002.nii.gz").unlink()
    with pytest.raises(FileNotFoundError, match="case_002.nii.gz: no prediction for reference case case_002"):
        evaluate_folders(raw, pred)
    res = evaluate_folders(raw, pred, skip_failed=True)
    assert res.missing_predictions == ("case_002",) and len(res.cases) == 2
    with pytest.raises(FileNotFoundError, match="prediction folder does not exist"):
        evaluate_folders(raw, tmp_path / "nope")
    with pytest.raises(FileNotFoundError, match="reference folder does not exist"):
        evaluate_folders(tmp_path / "nope", pred)
    (pred / "labels.json").unlink()
    with pytest.raises(FileNotFoundError, match="no labels.json.*--pred-labels"):
        evaluate_folders(raw, pred)
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "labels.json").write_text(json.dumps(PRED_LABELS))
    with pytest.raises(FileNotFoundError, match="no prediction for any reference case"):
        evaluate_folders(raw, empty)
    with pytest.raises(FileNotFoundError, match="no dataset.json with labelsTr/ and no labels.json"):
        evaluate_folders(empty.parent / "pred", empty)


def test_unknown_organ_and_no_common_organ(tmp_path):
    raw, pred = make_folders(tmp_path)
    with pytest.raises(UnknownOrganError, match="unknown organ name 'spleeen'.*'spleen'"):
        evaluate_folders(raw, pred, organs=["spleeen"])
    with pytest.raises(ValueError, match="no organ in common"):
        evaluate_folders(raw, pred, pred_labels={"background": 0, "heart": 1})
    with pytest.raises(ValueError, match="workers must be >= 1"):
        evaluate_folders(raw, pred, workers=0)


def test_non_integer_labels_rejected(tmp_path):
    raw, pred = make_folders(tmp_path, n=1)
    write(pred / "case_000.nii.gz", pred_map().astype(np.float32) + 0.5)
    with pytest.raises(ValueError, match="case_000.nii.gz: prediction label map has non-integer values"):
        evaluate_folders(raw, pred)
