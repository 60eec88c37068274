"""Tissue HU per phase."""

from __future__ import annotations

import numpy as np
import pytest

from torsoseg.phantom.intensities import PHASES, TISSUES, check_phase, sample_hu


def test_means_are_clinical():
    assert 100 <= TISSUES["liver"].portal_venous <= 130
    assert TISSUES["fat"].native == -100
    assert TISSUES["air"].arterial == -1000
    assert TISSUES["kidney_cortex"].arterial - TISSUES["kidney_medulla"].arterial > 60  # corticomedullary
    assert abs(TISSUES["kidney_cortex"].portal_venous - TISSUES["kidney_medulla"].portal_venous) < 40
    assert (
        TISSUES["aorta_blood"].arterial > TISSUES["aorta_blood"].portal_venous > TISSUES["aorta_blood"].native
    )


def test_sample_is_deterministic_and_within_two_sd():
    for phase in PHASES:
        a = sample_hu(np.random.default_rng(5), phase)
        assert a == sample_hu(np.random.default_rng(5), phase)
        for name, t in TISSUES.items():
            if name == "kidney_cortex":
                continue
            assert abs(a[name] - t.mean(phase)) <= 2 * t.jitter + 1e-9


def test_unknown_phase():
    with pytest.raises(ValueError, match="unknown phase 'venous'.*portal_venous"):
        check_phase("venous")
    with pytest.raises(ValueError):
        sample_hu(np.random.default_rng(0), "delayed")
