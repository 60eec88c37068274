"""FLARE22: images/CASE_0000 + labels/CASE, 13 organs, unlabelled cases ignored."""

from __future__ import annotations

import pytest

from tests.dataset_conversion.trees import assert_converted, make_case, write
from torsoseg import organs
from torsoseg.dataset_conversion import ConversionError, convert
from torsoseg.dataset_conversion.flare22 import LABELS

NAMES = [LABELS[v] for v in sorted(LABELS)]
CANON = [organs.canonical_name(n) for n in NAMES]


def test_flare22_layout(tmp_path):
    labelled = tmp_path / "Training" / "FLARE22_LabeledCase50"
    cases = {}
    for i in (1, 2):
        c = make_case(NAMES, seed=i, orientation="RAS" if i == 2 else "LPS")
        write(c.image, labelled / "images" / f"FLARE22_Tr_{i:04d}_0000.nii.gz")
        write(c.label_map, labelled / "labels" / f"FLARE22_Tr_{i:04d}.nii.gz")
        cases[f"FLARE22_Tr_{i:04d}"] = c
    write(c.image, tmp_path / "Training" / "FLARE22_UnlabeledCase1-1000" / "Case_00001_0000.nii.gz")
    out = convert("flare22", tmp_path, tmp_path / "raw", 22)
    assert_converted(out, cases, CANON)
    assert CANON[:3] == ["liver", "kidney_right", "spleen"] and CANON[-1] == "kidney_left"


def test_flare22_orphan_label(tmp_path):
    c = make_case(NAMES)
    write(c.label_map, tmp_path / "labels" / "FLARE22_Tr_0009.nii.gz")
    (tmp_path / "images").mkdir()
    with pytest.raises(ConversionError, match=r"FLARE22_Tr_0009\.nii\.gz: no image FLARE22_Tr_0009_0000"):
        convert("flare22", tmp_path, tmp_path / "raw", 22)
