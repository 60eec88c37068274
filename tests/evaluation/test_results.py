"""EvaluationResult: tables, statistics and the JSON round trip."""

from __future__ import annotations

import json
import math

import pytest

from tests.evaluation.test_evaluate import make_folders
from torsoseg.evaluation import EvaluationResult, evaluate_folders


def test_result_json_round_trip(tmp_path):
    raw, pred = make_folders(tmp_path)
    res = evaluate_folders(raw, pred)
    path = res.save(tmp_path / "out" / "results.json")
    raw_json = json.loads(path.read_text())  # strict JSON: NaN written as null
    assert raw_json["format_version"] == 1
    assert raw_json["cases"][0]["organs"]["gallbladder"]["dice"] is None
    assert raw_json["summary"]["dice"]["liver"]["avg"] == 1.0
    assert raw_json["summary"]["dice"]["gallbladder"]["n"] == 0
    back = EvaluationResult.load(path)
    assert back.table("hd95") == res.table("hd95") and back.organs == res.organs
    assert back.matching == res.matching and [c.case for c in back.cases] == ["case_000", "case_001"]
    assert math.isnan(back.cases[0].scores["gallbladder"].dice)


def test_values_and_summary_invariants(tmp_path):
    raw, pred = make_folders(tmp_path, n=3)
    res = evaluate_folders(raw, pred)
    values = res.values("surface_dice")
    assert list(values) == ["case_000", "case_001", "case_002"]
    for stats in res.summary("dice").values():
        if stats.n:
            assert stats.min <= stats.avg <= stats.max
    with pytest.raises(ValueError, match="unknown metric 'iou'; valid: dice, hd95, surface_dice"):
        res.values("iou")


def test_load_rejects_unknown_version(tmp_path):
    p = tmp_path / "r.json"
    p.write_text(json.dumps({"format_version": 99}))
    with pytest.raises(ValueError, match="r.json: unsupported format_version 99"):
        EvaluationResult.load(p)


def presence_folders(tmp_path, annotated=None):
    """3 cases: the kidney missed everywhere; the gallbladder only in case_002's reference (predicted
    exactly), and predicted falsely in case_001 (2 x 2 x 2 voxels of 3 mm3: 0.024 mL)."""
    from tests.evaluation.test_evaluate import pred_map, ref_map, write

    raw, pred = make_folders(tmp_path, n=3, annotated=annotated)
    false_gb = pred_map()
    false_gb[10:12, 9:11, 9:11] = 4
    write(pred / "case_001.nii.gz", false_gb)
    ref, true_gb = ref_map(), pred_map()
    ref[10:12, 9:11, 2:4] = 4
    true_gb[10:12, 9:11, 2:4] = 4
    write(raw / "labelsTr" / "case_002.nii.gz", ref)
    write(pred / "case_002.nii.gz", true_gb)
    return raw, pred


def test_presence_splits_cases_with_and_without_the_organ(tmp_path):
    raw, pred = presence_folders(tmp_path)
    res = evaluate_folders(raw, pred)
    assert res.summary("dice")["gallbladder"].avg == pytest.approx(0.5)  # the false one's 0 and the true 1
    p = res.presence()
    gb = p["gallbladder"]
    assert (gb.with_organ, gb.dice_with_organ, gb.missed) == (1, 1.0, 0)
    assert (gb.without_organ, gb.false_positives) == (2, 1)
    assert gb.false_positive_ml == pytest.approx(8 * 0.5 * 2.0 * 3.0 / 1000)
    kid = p["kidney_right"]
    assert (kid.with_organ, kid.dice_with_organ, kid.missed, kid.without_organ) == (3, 0.0, 3, 0)
    assert math.isnan(kid.false_positive_ml)
    table = res.presence_table()
    assert "| gallbladder | 1 | 1.000 | 0 | 2 | 1 | 0.0 |" in table
    assert "| kidney_right | 3 | 0.000 | 3 | 0 | 0 | n/a |" in table
    assert "liver" not in table and "spleen" not in table  # in every case, never missed
    assert "| liver | 3 | 1.000 | 0 | 0 | 0 | n/a |" in res.presence_table(only_uneven=False)
    csv_lines = res.presence_table("csv").splitlines()
    assert csv_lines[0].startswith("organ,cases_with_it,Dice_on_them,missed")
    assert csv_lines[1] == "kidney_right,3,0.000000,3,0,0,"
    assert csv_lines[2] == "gallbladder,1,1.000000,0,2,1,0.024000"
    saved = json.loads(res.save(tmp_path / "r.json").read_text())["presence"]
    assert saved["gallbladder"]["false_positives"] == 1 and saved["kidney_right"]["false_positive_ml"] is None


def test_presence_leaves_out_cases_that_do_not_annotate_the_organ(tmp_path):
    every = ["liver", "spleen", "kidney_right", "gallbladder"]
    annotated = {"case_000": every, "case_001": ["liver", "spleen", "kidney_right"], "case_002": every}
    raw, pred = presence_folders(tmp_path, annotated=annotated)
    gb = evaluate_folders(raw, pred).presence()["gallbladder"]
    # case_001's false gallbladder is in a case that does not annotate it: neither counted nor scored
    assert (gb.with_organ, gb.without_organ, gb.false_positives) == (1, 1, 0)


def test_presence_table_empty_when_nothing_is_uneven(tmp_path):
    raw, pred = make_folders(tmp_path)
    res = evaluate_folders(raw, pred, organs=["liver", "spleen"])
    assert res.presence_table() == ""
    with pytest.raises(ValueError, match="unknown table format 'tsv'"):
        res.presence_table("tsv", only_uneven=False)
