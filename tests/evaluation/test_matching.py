"""Matching organs of two label sets by name."""

from __future__ import annotations

import json

import pytest

from torsoseg.evaluation.matching import load_label_set, match_labels, parse_label_set
from torsoseg.organs import UnknownOrganError

TORSO = {
    "background": 0, "lung_right": 1, "lung_left": 2, "liver": 3, "gallbladder": 4, "spleen": 5,
    "kidney_right": 6, "kidney_left": 7, "pancreas": 8,
}
# a VISCERAL-style 20-label set in another order and other spellings
VISCERAL = {
    "background": 0, "Liver": 1, "Spleen": 2, "Pancreas": 3, "Gall Bladder": 4, "urinary_bladder": 5,
    "aorta": 6, "trachea": 7, "right lung": 8, "left lung": 9, "sternum": 10, "thyroid": 11,
    "vertebrae_L1": 12, "right kidney": 13, "left kidney": 14, "adrenal_gland_right": 15,
    "adrenal_gland_left": 16, "psoas_major_right": 17, "psoas_major_left": 18,
    "rectus_abdominis_right": 19, "rectus_abdominis_left": 20,
}


def test_visceral_model_against_torso_reference():
    m = match_labels(TORSO, VISCERAL)
    assert m.organs == list(TORSO)[1:]  # reference order
    by = {o.organ: o for o in m.matched}
    assert by["lung_right"].reference_values == (1,) and by["lung_right"].prediction_values == (8,)
    assert by["gallbladder"].prediction_names == ("Gall Bladder",)
    assert by["kidney_left"].prediction_values == (14,)
    assert m.missing_in_prediction == ()
    assert set(m.missing_in_reference) == {
        "urinary_bladder", "aorta", "trachea", "sternum", "thyroid_gland", "vertebrae_L1",
        "adrenal_gland_right", "adrenal_gland_left", "psoas_major_right", "psoas_major_left",
        "rectus_abdominis_right", "rectus_abdominis_left",
    }


def test_abdomen_model_reports_missing_organs_not_guessed():
    abdomen = {"background": 0, "artery": 1, "portal_vein": 2, "liver": 3, "spleen": 4, "stomach": 5,
               "gallbladder": 6, "pancreas": 7}
    m = match_labels(TORSO, abdomen)
    assert m.organs == ["liver", "gallbladder", "spleen", "pancreas"]
    assert m.missing_in_prediction == ("lung_right", "lung_left", "kidney_right", "kidney_left")
    assert m.missing_in_reference == ("artery", "portal_vein", "stomach")


def test_lobes_combine_into_lungs_and_sides_into_bilateral_unions():
    lobes = {"background": 0, "lung_upper_lobe_left": 1, "lung_lower_lobe_left": 2,
             "lung_upper_lobe_right": 3, "lung_middle_lobe_right": 4, "lung_lower_lobe_right": 5}
    m = match_labels(TORSO, lobes)
    by = {o.organ: o for o in m.matched}
    assert by["lung_right"].prediction_values == (3, 4, 5)
    assert by["lung_left"].prediction_values == (1, 2)
    assert m.missing_in_reference == ()
    # reference in lobes, prediction with whole lungs: the wholes are evaluated on both sides
    m2 = match_labels(lobes, TORSO)
    by2 = {o.organ: o for o in m2.matched}
    assert list(by2) == ["lung_left", "lung_right"]
    assert by2["lung_right"].reference_values == (3, 4, 5) and by2["lung_right"].prediction_values == (1,)
    # CT-ORG style 'lungs' / 'kidneys' reference
    ctorg = {"background": 0, "liver": 1, "lungs": 3, "kidneys": 4}
    m3 = match_labels(ctorg, TORSO)
    by3 = {o.organ: o for o in m3.matched}
    assert by3["lungs"].prediction_values == (1, 2) and by3["kidneys"].prediction_values == (6, 7)


def test_incomplete_parts_are_not_combined():
    partial = {"background": 0, "lung_upper_lobe_right": 1, "lung_lower_lobe_right": 2}
    m = match_labels(TORSO, partial)
    assert "lung_right" in m.missing_in_prediction and m.matched == ()


def test_requested_organs_in_order_any_spelling():
    m = match_labels(TORSO, VISCERAL, organs=["Right Kidney", "liver", "liver"])
    assert m.organs == ["kidney_right", "liver"]
    m2 = match_labels(TORSO, {"background": 0, "liver": 1}, organs=["liver", "spleen"])
    assert m2.organs == ["liver"] and m2.missing_in_prediction == ("spleen",)


def test_unknown_and_absent_requested_organs():
    with pytest.raises(UnknownOrganError, match="unknown organ name 'livr'.*'liver'"):
        match_labels(TORSO, VISCERAL, organs=["livr"])
    with pytest.raises(ValueError, match="organ 'heart' is in neither label set"):
        match_labels(TORSO, VISCERAL, organs=["heart"])


def test_names_outside_the_vocabulary_match_by_spelling():
    ref = {"background": 0, "rib_left_1": 1, "liver": 2}
    pred = {"background": 0, "Rib-Left-1": 4, "liver": 1}
    m = match_labels(ref, pred)
    assert [(o.organ, o.prediction_values) for o in m.matched] == [("rib_left_1", (4,)), ("liver", (1,))]


def test_parse_label_set_forms(tmp_path):
    assert parse_label_set({"liver": 1}) == {"background": 0, "liver": 1}
    assert parse_label_set({"1": "spleen", "2": "liver"}) == {"background": 0, "spleen": 1, "liver": 2}
    ds_like = {"labels": {"background": 0, "liver": 1}, "name": "x"}
    assert parse_label_set(ds_like) == {"background": 0, "liver": 1}
    (tmp_path / "labels.json").write_text(json.dumps({"background": 0, "liver": 2}))
    assert load_label_set(tmp_path) == {"background": 0, "liver": 2}
    assert load_label_set(tmp_path / "labels.json") == {"background": 0, "liver": 2}


@pytest.mark.parametrize(
    "obj, message",
    [
        ({"liver": "x"}, "label 'liver' has non-integer value 'x'"),
        ({"liver": 1, "spleen": 1}, r"label value\(s\) \[1\] are used by more than one name"),
        ({"liver": 0}, "value 0 is named 'liver'; 0 must be background"),
        ({"background": 2, "liver": 1}, "background must be 0"),
        ({"liver": [1, 2]}, "expected one integer"),
        ({}, "the label set is empty"),
        ([1, 2], "expected a JSON object"),
    ],
)
def test_parse_label_set_bad_input(obj, message):
    with pytest.raises(ValueError, match=message):
        parse_label_set(obj, source="x.json")


def test_load_label_set_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="neither labels.json nor dataset.json"):
        load_label_set(tmp_path)
    with pytest.raises(FileNotFoundError, match="nope.json: no such file"):
        load_label_set(tmp_path / "nope.json")
