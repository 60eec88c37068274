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
