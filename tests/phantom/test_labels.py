"""Label numberings of the three kinds."""

from __future__ import annotations

import numpy as np
import pytest

from torsoseg import organs
from torsoseg.phantom.labels import (
    INTERNAL,
    KIND_LABELS,
    KINDS,
    STRUCTURES,
    internal_to_source,
    source_labels,
)


def test_source_numbering_of_common_brief():
    assert source_labels("abdomen") == {
        "background": 0,
        "artery": 1,
        "portal_vein": 2,
        "liver": 3,
        "spleen": 4,
        "stomach": 5,
        "gallbladder": 6,
        "pancreas": 7,
    }
    assert source_labels("torso") == {
        "background": 0,
        "lung_right": 1,
        "lung_left": 2,
        "liver": 3,
        "gallbladder": 4,
        "spleen": 5,
        "kidney_right": 6,
        "kidney_left": 7,
        "pancreas": 8,
    }
    vis = source_labels("visceral")
    assert len(vis) == 21 and sorted(vis.values()) == list(range(21))
    assert all(organs.organ(n).radlex is not None for n in vis if n != "background")


def test_every_name_is_canonical():
    for kind in KINDS:
        for name in KIND_LABELS[kind]:
            assert organs.canonical_name(name) == name
    for name in STRUCTURES:
        assert organs.canonical_name(name) == name


def test_internal_to_source_gathers_aorta_into_artery():
    t = internal_to_source("abdomen")
    assert t[INTERNAL["aorta"]] == t[INTERNAL["artery"]] == 1
    assert t[INTERNAL["kidney_left"]] == 0  # not an abdominal label
    v = internal_to_source("visceral")
    assert v[INTERNAL["artery"]] == 0 and v[INTERNAL["aorta"]] == source_labels("visceral")["aorta"]
    assert t.dtype == np.uint8 and t[0] == 0


def test_unknown_kind():
    with pytest.raises(
        ValueError, match="unknown phantom kind 'thorax'; valid kinds: abdomen, visceral, torso"
    ):
        source_labels("thorax")
