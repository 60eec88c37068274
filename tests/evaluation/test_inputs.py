"""Where the label maps and label sets of reference and prediction folders come from."""

from __future__ import annotations

import json

import pytest

from tests.evaluation.test_evaluate import PRED_LABELS, REF_LABELS, make_folders
from torsoseg.evaluation.inputs import prediction_inputs, reference_inputs


def test_reference_from_dataset_or_labels_folder(tmp_path):
    raw, pred = make_folders(tmp_path, n=2, annotated={"case_000": ["Liver"]})
    a = reference_inputs(raw)
    assert a.labels == REF_LABELS and sorted(a.files) == ["case_000", "case_001"]
    assert a.annotated == {"case_000": ["liver"]}
    b = reference_inputs(raw / "labelsTr")
    assert b.files == a.files and b.labels == a.labels
    # an explicit label set wins over dataset.json
    c = reference_inputs(raw, ref_labels={"background": 0, "liver": 1})
    assert c.labels == {"background": 0, "liver": 1}
    p = prediction_inputs(pred)
    assert p.labels == PRED_LABELS and sorted(p.files) == ["case_000", "case_001"]


def test_label_folder_without_label_set(tmp_path):
    raw, pred = make_folders(tmp_path, n=1)
    with pytest.raises(FileNotFoundError, match="no dataset.json with labelsTr/ and no labels.json"):
        reference_inputs(pred.parent / "raw")
    (pred / "labels.json").write_text(json.dumps({"liver": "one"}))
    with pytest.raises(ValueError, match="labels.json: label 'liver' has non-integer value 'one'"):
        prediction_inputs(pred)
