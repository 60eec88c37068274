"""scripts/prior_correction_check.py: the per-tau table of the cases with and without an organ."""

from __future__ import annotations

import math

from tests.script_modules import load_script


def test_presence_rows_pool_the_runs_cases_per_tau():
    m = load_script("scripts/prior_correction_check.py")
    nan = math.nan
    # per run, tau -> organ -> per case (Dice, reference has it, prediction has it)
    run0 = {0.0: {"gallbladder": [(0.5, True, True), (0.0, False, True)], "liver": [(0.9, True, True)]},
            1.0: {"gallbladder": [(0.3, True, True), (nan, False, False)], "liver": [(0.8, True, True)]}}
    run1 = {0.0: {"gallbladder": [(0.0, True, False), (0.0, False, True)], "liver": [(0.7, True, True)]},
            1.0: {"gallbladder": [(0.0, True, False), (0.0, False, True)], "liver": [(0.6, True, True)]}}
    rows = m.presence_rows([run0, run1], [0.0, 1.0])
    # the liver is in every case: no row; the gallbladder pooled over 4 cases, 2 with it and 2 without
    assert rows == ["| gallbladder | 0 | 2 | 0.250 | 1 | 2 | 2 |",
                    "| gallbladder | 1 | 2 | 0.150 | 1 | 2 | 1 |"]
    assert m.case_mean(run0[1.0]["gallbladder"]) == 0.3  # both empty is left out, as the evaluation does
    assert math.isnan(m.case_mean([(nan, False, False)]))


def test_per_organ_offsets_are_chosen_only_where_they_gain_on_held_out_cases():
    m = load_script("scripts/prior_correction_check.py")
    nan = math.nan
    heldout = {
        "spleen": {0.0: 0.80, 0.5: 0.84, 1.0: 0.86, 2.0: 0.86},  # best at 1.0 (the tie keeps the smaller)
        "liver": {0.0: 0.90, 0.5: 0.903, 1.0: 0.88},  # gains less than min_gain: none
        "thyroid_gland": {0.0: 0.30, 0.5: 0.20, 1.0: 0.0},  # loses: none
        "gallbladder": {0.0: nan, 0.5: 0.4},  # absent from every held-out reference: none
    }
    assert m.choose_offsets(heldout, min_gain=0.005) == {"spleen": 1.0}
    assert m.choose_offsets(heldout, min_gain=0.0) == {"spleen": 1.0, "liver": 0.5}
