"""The organ vocabulary: every public label set resolves, pairs and lobes are known, bad names explain."""

from __future__ import annotations

import numpy as np
import pytest

from torsoseg import organs

# The label names as the public datasets spell them.
LABEL_SETS = {
    "abdomen (Roth 2017)": ["artery", "portal_vein", "liver", "spleen", "stomach", "gallbladder", "pancreas"],
    "torso (Roth 2017)": [
        "lung_right",
        "lung_left",
        "liver",
        "gallbladder",
        "spleen",
        "kidney_right",
        "kidney_left",
        "pancreas",
    ],
    "BTCV": [
        "spleen",
        "right kidney",
        "left kidney",
        "gallbladder",
        "esophagus",
        "liver",
        "stomach",
        "aorta",
        "inferior vena cava",
        "portal vein and splenic vein",
        "pancreas",
        "right adrenal gland",
        "left adrenal gland",
    ],
    "BTCV (abbreviations)": [
        "spleen",
        "rkid",
        "lkid",
        "gall",
        "eso",
        "liver",
        "sto",
        "aorta",
        "IVC",
        "veins",
        "pancreas",
        "rad",
        "lad",
    ],
    "AMOS22": [
        "spleen",
        "right kidney",
        "left kidney",
        "gall bladder",
        "esophagus",
        "liver",
        "stomach",
        "arota",
        "postcava",
        "pancreas",
        "right adrenal gland",
        "left adrenal gland",
        "duodenum",
        "bladder",
        "prostate/uterus",
    ],
    "WORD": [
        "liver",
        "spleen",
        "left_kidney",
        "right_kidney",
        "stomach",
        "gallbladder",
        "esophagus",
        "pancreas",
        "duodenum",
        "colon",
        "intestine",
        "adrenal",
        "rectum",
        "bladder",
        "Head_of_femur_L",
        "Head_of_femur_R",
    ],
    "FLARE22": [
        "Liver",
        "Right Kidney",
        "Spleen",
        "Pancreas",
        "Aorta",
        "Inferior Vena Cava",
        "Right Adrenal Gland",
        "Left Adrenal Gland",
        "Gallbladder",
        "Esophagus",
        "Stomach",
        "Duodenum",
        "Left Kidney",
    ],
    "FLARE22 (abbreviations)": [
        "liver",
        "RK",
        "spleen",
        "pancreas",
        "aorta",
        "IVC",
        "RAG",
        "LAG",
        "gallbladder",
        "esophagus",
        "stomach",
        "duodenum",
        "LK",
    ],
    "MSD Task03/07/09": ["liver", "pancreas", "spleen"],
    "CT-ORG": ["liver", "bladder", "lungs", "kidneys", "bone", "brain"],
    "TotalSegmentator v2 (organs above)": [
        "spleen",
        "kidney_right",
        "kidney_left",
        "gallbladder",
        "liver",
        "stomach",
        "pancreas",
        "adrenal_gland_right",
        "adrenal_gland_left",
        "lung_upper_lobe_left",
        "lung_lower_lobe_left",
        "lung_upper_lobe_right",
        "lung_middle_lobe_right",
        "lung_lower_lobe_right",
        "esophagus",
        "trachea",
        "thyroid_gland",
        "small_bowel",
        "duodenum",
        "colon",
        "urinary_bladder",
        "prostate",
        "vertebrae_L1",
        "heart",
        "aorta",
        "inferior_vena_cava",
        "portal_vein_and_splenic_vein",
        "iliopsoas_left",
        "iliopsoas_right",
        "sternum",
        "spinal_cord",
    ],
}

VISCERAL = {
    58: "liver",
    86: "spleen",
    170: "pancreas",
    187: "gallbladder",
    237: "urinary_bladder",
    480: "aorta",
    1247: "trachea",
    1302: "lung_right",
    1326: "lung_left",
    2473: "sternum",
    7578: "thyroid_gland",
    29193: "vertebrae_L1",
    29662: "kidney_right",
    29663: "kidney_left",
    30324: "adrenal_gland_right",
    30325: "adrenal_gland_left",
    32248: "psoas_major_right",
    32249: "psoas_major_left",
    40357: "rectus_abdominis_right",
    40358: "rectus_abdominis_left",
}


# lateral structures without a twin on the other side (anatomy, not a gap in the vocabulary)
UNPAIRED_LATERAL = {"lung_middle_lobe_right"}


@pytest.mark.parametrize("dataset", sorted(LABEL_SETS))
def test_every_public_label_set_resolves_completely(dataset):
    names = LABEL_SETS[dataset]
    resolved = organs.resolve_label_names(names)
    assert set(resolved) == set(names)
    # distinct source labels stay distinct organs
    assert len(set(resolved.values())) == len(names)


def test_spellings_resolve_to_the_expected_canonical_names():
    expected = {
        "Right Kidney": "kidney_right",
        "arota": "aorta",
        "postcava": "inferior_vena_cava",
        "gall bladder": "gallbladder",
        "Head_of_femur_L": "femur_head_left",
        "RAG": "adrenal_gland_right",
        "KIDNEY-LEFT": "kidney_left",
        "veins": "portal_vein_and_splenic_vein",
        "bladder": "urinary_bladder",
        "lungs": "lungs",
        "intestine": "small_bowel",
    }
    for name, canonical in expected.items():
        assert organs.canonical_name(name) == canonical, name


def test_visceral_radlex_ids_are_all_known():
    for radlex, name in VISCERAL.items():
        assert organs.by_radlex(radlex) == name
        assert organs.by_radlex(str(radlex)) == name
        assert organs.organ(name).radlex == radlex
    assert len({o.radlex for o in organs.ORGANS.values() if o.radlex is not None}) == 20


def test_lobes_combine_into_lungs():
    assert sorted(organs.parts_of("lung_right")) == [
        "lung_lower_lobe_right",
        "lung_middle_lobe_right",
        "lung_upper_lobe_right",
    ]
    assert sorted(organs.parts_of("lung_left")) == ["lung_lower_lobe_left", "lung_upper_lobe_left"]
    for lobe in organs.parts_of("lung_right") + organs.parts_of("lung_left"):
        assert organs.whole_of(lobe) in ("lung_right", "lung_left")
        assert organs.side_of(lobe) == organs.side_of(organs.whole_of(lobe))
    assert organs.whole_of("liver") is None


def test_every_left_right_pair_is_known_and_symmetric():
    names = {n for names in LABEL_SETS.values() for n in organs.resolve_label_names(names).values()}
    names |= set(VISCERAL.values())
    for name in names:
        side = organs.side_of(name)
        if side is None:
            assert organs.pair_of(name) is None
            continue
        twin = organs.pair_of(name)
        if name in UNPAIRED_LATERAL:
            assert twin is None
            continue
        assert twin is not None, f"{name} has no twin"
        assert organs.pair_of(twin) == name
        assert organs.side_of(twin) == ("left" if side == "right" else "right")
    pairs = organs.lr_pairs()
    assert ("kidney_right", "kidney_left") in pairs and ("lung_right", "lung_left") in pairs
    assert all(organs.side_of(r) == "right" and organs.side_of(l) == "left" for r, l in pairs)


def test_lr_swap_table_swaps_only_pairs_present():
    labels = {"background": 0, "liver": 1, "kidney_right": 2, "kidney_left": 3, "lung_right": 4, "spleen": 5}
    table = organs.lr_swap_table(labels)
    np.testing.assert_array_equal(table, [0, 1, 3, 2, 4, 5])  # lung_left absent: lung_right stays
    # an involution: swapping twice is the identity
    np.testing.assert_array_equal(table[table], np.arange(6))
    # any spelling works
    table2 = organs.lr_swap_table({"background": 0, "Right Kidney": 1, "left kidney": 2})
    np.testing.assert_array_equal(table2, [0, 2, 1])


def test_lookup_ignores_case_and_separators():
    for s in ("kidney_right", "Kidney Right", "KIDNEY-RIGHT", " kidney.right ", "kidneyright"):
        assert organs.canonical_name(s) == "kidney_right"


def test_unknown_name_suggests_close_names():
    with pytest.raises(organs.UnknownOrganError, match="did you mean 'liver'"):
        organs.canonical_name("livr")
    with pytest.raises(organs.UnknownOrganError, match="unknown organ name 'xyzzy'"):
        organs.canonical_name("xyzzy")
    with pytest.raises(organs.UnknownOrganError, match="lesion label"):
        organs.canonical_name("liver tumor")
    with pytest.raises(organs.UnknownOrganError, match="99999"):
        organs.by_radlex(99999)


def test_resolve_reports_every_unknown_name_at_once():
    with pytest.raises(organs.UnknownOrganError) as e:
        organs.resolve_label_names(["liver", "foo", "barr"])
    assert "'foo'" in str(e.value) and "'barr'" in str(e.value)


def test_synonyms_are_unique_across_organs():
    seen = {}
    for o in organs.ORGANS.values():
        for s in (o.name, *o.synonyms):
            k = organs.normalize_key(s)
            assert seen.setdefault(k, o.name) == o.name, f"{s!r} is used by {seen[k]} and {o.name}"


def test_canonical_names_are_fixed_points():
    for name, o in organs.ORGANS.items():
        assert organs.canonical_name(name) == name
        for s in o.synonyms:
            assert organs.canonical_name(organs.canonical_name(s)) == name


def test_vocabulary_covers_totalsegmentator_v2_total_with_pairs(shared_data):
    import json

    from torsoseg import organs as vocab

    names = json.loads((shared_data / "ts_labels_total_v2.json").read_text()).values()
    assert len(names) == 117
    assert all(vocab.is_known(n) and vocab.canonical_name(n) == n for n in names)
    assert vocab.pair_of("rib_left_7") == "rib_right_7" and vocab.side_of("rib_right_12") == "right"
    assert vocab.pair_of("gluteus_minimus_right") == "gluteus_minimus_left"
    assert vocab.pair_of("iliac_vena_left") == "iliac_vena_right"
    assert vocab.pair_of("atrial_appendage_left") is None  # no right twin
    assert vocab.pair_of("sacrum") is None and vocab.side_of("sacrum") is None
    assert vocab.canonical_name("lumbar vertebra 3") == "vertebrae_L3"
    assert vocab.swap_side_in_name("lesion_left") == "lesion_right"
    assert vocab.swap_side_in_name("left_right_thing") is None  # ambiguous: two side words
    table = vocab.lr_swap_table({"background": 0, "lesion_left": 1, "lesion_right": 2, "rib_left_3": 3,
                                 "rib_right_3": 4})
    assert table.tolist() == [0, 2, 1, 4, 3]
