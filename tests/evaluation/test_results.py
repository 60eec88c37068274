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
