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


def test_sample_is_deterministic_and_within_the_drawn_ranges():
    for phase in PHASES:
        for seed in range(40):
            a = sample_hu(np.random.default_rng(seed), phase)
            assert a == sample_hu(np.random.default_rng(seed), phase)
            for name, t in TISSUES.items():
                if name == "kidney_cortex":
                    continue
                # scaled by the patient's factor, 0.5 to 1.5, at any portal-venous timing from 0 to 1
                enh = [t.mean(phase, timing) - t.native for timing in (0.0, 1.0)]
                lo = min(t.native + f * e for e in enh for f in (0.5, 1.5)) - 2 * t.jitter
                lo -= 45.0 if name == "liver" else 0.0
                hi = max(t.native + f * e for e in enh for f in (0.5, 1.5)) + 2 * t.jitter
                assert lo - 1e-9 <= a[name] <= hi + 1e-9, (phase, seed, name)


def _population(phase, n=3000):
    draws = [sample_hu(np.random.default_rng(seed), phase) for seed in range(n)]
    return {name: np.array([d[name] for d in draws]) for name in draws[0]}


def test_enhancement_varies_between_patients_and_moves_organs_together():
    native, portal = _population("native"), _population("portal_venous")
    # the same patients (seeds): the contrast adds spread, not just an offset
    assert portal["spleen"].std() > 1.8 * native["spleen"].std()
    # one enhancement factor per patient: enhanced organs rise and fall together
    assert np.corrcoef(portal["spleen"], portal["kidney_medulla"])[0, 1] > 0.6
    assert abs(np.corrcoef(native["spleen"], native["kidney_medulla"])[0, 1]) < 0.1
    # a realistic range: portal-venous spleen and liver as low as about 80-90 HU in some patients
    # (weak enhancement), as high as 140-150 in others
    assert np.percentile(portal["spleen"], 2) < 90 < 140 < np.percentile(portal["spleen"], 98)
    assert np.percentile(portal["liver"], 5) < 90 and np.percentile(portal["liver"], 95) > 130
    # portal-venous hepatic enhancement over native: mean about 60 HU, coefficient of variation about 25%
    # (the same seeds draw the same factor in both phases, so the difference is one patient's enhancement)
    enh = portal["liver"] - native["liver"]
    assert 50 < enh.mean() < 70 and 0.15 < enh.std() / enh.mean() < 0.35


def test_a_late_portal_venous_scan_has_washed_out_vessels_and_spleen():
    portal = _population("portal_venous")
    timing = portal["portal_timing"]
    # half of the patients are scanned in the first quarter after the hepatic peak, some near equilibrium
    assert 0.2 < np.median(timing) < 0.3 and 0.05 < (timing > 0.8).mean() < 0.2
    assert all((_population(phase, 50)["portal_timing"] == 0).all() for phase in ("native", "arterial"))
    early, late = timing < 0.2, timing > 0.7
    # at the peak the spleen lies above the liver; near equilibrium it has washed out to about the
    # liver's value or below (as in the real CT sample of ../shared/data: liver 93, spleen 81 HU)
    gap = portal["spleen"] - portal["liver"]
    assert np.median(gap[early]) > np.median(gap[late]) + 5 and np.median(gap[late]) < 3
    # vessels converge towards the blood pool's equilibrium: the aorta and portal vein lose contrast
    assert np.median(portal["aorta_blood"][late]) < np.median(portal["aorta_blood"][early]) - 15
    assert np.median(portal["portal_blood"][late]) < np.median(portal["portal_blood"][early]) - 20
    # the late nephrogram: cortex and medulla alike
    kidney = np.abs(portal["kidney_cortex"] - portal["kidney_medulla"])
    assert np.median(kidney[late]) < np.median(kidney[early]) - 8


def test_fatty_livers_are_a_minority_darker_than_the_spleen_without_contrast():
    native = _population("native")
    fatty = native["liver"] < native["spleen"] - 10  # the CT sign of steatosis (liver-spleen difference)
    assert 0.1 < fatty.mean() < 0.3
    assert np.median(native["liver"]) > np.median(native["spleen"])  # most livers are not fatty


def test_the_spleen_is_mottled_only_in_the_arterial_phase():
    assert all(sample_hu(np.random.default_rng(s), "arterial")["spleen_mottling"] > 0 for s in range(50))
    for phase in ("native", "portal_venous"):
        assert all(sample_hu(np.random.default_rng(s), phase)["spleen_mottling"] == 0 for s in range(50))


def test_unknown_phase():
    with pytest.raises(ValueError, match="unknown phase 'venous'.*portal_venous"):
        check_phase("venous")
    with pytest.raises(ValueError):
        sample_hu(np.random.default_rng(0), "delayed")
