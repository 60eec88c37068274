"""The one remapping step: names -> organs -> consecutive values, --organs and --map."""

from __future__ import annotations

import numpy as np
import pytest

from torsoseg.dataset_conversion.remap import build_label_plan, parse_mapping, parse_organs
from torsoseg.dataset_conversion.sources import ConversionError
from torsoseg.dataset_conversion.sources import SourceLabel as S


def test_source_order_and_lookup_table():
    plan = build_label_plan([S("Spleen", 1), S("right kidney", 2), S("arota", 8)])
    assert plan.labels == {"background": 0, "spleen": 1, "kidney_right": 2, "aorta": 3}
    table = plan.lookup_table([S("Spleen", 1), S("right kidney", 2), S("arota", 8)])
    assert table.tolist() == [0, 1, 2, 0, 0, 0, 0, 0, 3]
    assert plan.source_labels["aorta"] == [{"name": "arota", "value": 8}]


def test_organs_order_wins_and_subset():
    src = [S("liver", 1), S("spleen", 2), S("pancreas", 3)]
    plan = build_label_plan(src, organs="pancreas, Liver")
    assert plan.labels == {"background": 0, "pancreas": 1, "liver": 2}
    assert plan.value_of("spleen") == 0 and plan.dropped == ("spleen",)


def test_parts_combine_unless_asked_for():
    src = [S("lung_upper_lobe_left"), S("lung_lower_lobe_left"), S("lung_upper_lobe_right")]
    plan = build_label_plan(src)
    assert plan.labels == {"background": 0, "lung_left": 1, "lung_right": 2}
    assert len(plan.source_labels["lung_left"]) == 2
    plan = build_label_plan(src, organs=["lung_upper_lobe_left", "lung_right"])
    assert plan.labels == {"background": 0, "lung_upper_lobe_left": 1, "lung_right": 2}
    assert plan.value_of("lung_lower_lobe_left") == 0


def test_mapping_by_source_name_or_organ():
    src = [S("arota", 1), S("postcava", 2), S("liver", 3)]
    plan = build_label_plan(src, mapping=["aorta=artery", "postcava=background"])
    assert plan.labels == {"background": 0, "artery": 1, "liver": 2}
    plan = build_label_plan(src, organs="aorta,liver", mapping={"arota": "artery"})
    assert plan.labels == {"background": 0, "artery": 1, "liver": 2}
    # merging two labels: the merged output takes the first one's place
    plan = build_label_plan([S("liver", 1), S("kidney_right", 2), S("spleen", 3), S("kidney_left", 4)],
                            mapping={"kidney_right": "kidneys", "kidney_left": "kidneys"})
    assert plan.labels == {"background": 0, "liver": 1, "kidneys": 2, "spleen": 3}
    assert np.array_equal(plan.lookup_table([S("liver", 1), S("kidney_right", 2), S("spleen", 3),
                                             S("kidney_left", 4)]), [0, 1, 2, 3, 2])


def test_bad_input(tmp_path):
    assert build_label_plan([S("livr", 1)], label_file=tmp_path / "x.json").labels == {
        "background": 0, "livr": 1}  # kept as a custom label (a warning suggests 'liver')
    with pytest.raises(ConversionError, match="cannot be a label name"):
        build_label_plan([S("a/b", 1)], label_file=tmp_path / "x.json")
    assert build_label_plan([S("livr", 1), S("liver", 2)], drop_unknown=True).labels == {"background": 0,
                                                                                          "liver": 1}
    with pytest.raises(ConversionError, match="declared twice"):
        build_label_plan([S("liver", 1), S("liver", 2)])
    with pytest.raises(ConversionError, match="expected SRC=DST"):
        parse_mapping(["aorta"])
    # a custom target name and a custom organ are taken verbatim (matched exactly)
    assert build_label_plan([S("aorta", 1)], mapping=["aorta=blob"]).labels == {"background": 0, "blob": 1}
    assert parse_organs("liver,lesion") == ["liver", "lesion"]
    with pytest.raises(ConversionError, match=r"organs \['kidny'\] are not in the source"):
        build_label_plan([S("liver", 1)], organs="liver,kidny")
    with pytest.raises(ConversionError, match="cannot be a label name"):
        build_label_plan([S("aorta", 1)], mapping=["aorta=../x"])
    with pytest.raises(ConversionError, match="the list is empty"):
        parse_organs(" , ")
