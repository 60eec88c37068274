"""The sampled patient: landmarks, outline, diaphragm."""

from __future__ import annotations

import numpy as np
import pytest

from torsoseg.phantom.patient import LEVELS, sample_patient


def test_deterministic_and_varied():
    a = sample_patient(np.random.default_rng(1))
    assert a == sample_patient(np.random.default_rng(1))
    b = sample_patient(np.random.default_rng(2))
    assert a != b and a.body_a != b.body_a


def test_levels_descend_with_the_right_pitches():
    pt = sample_patient(np.random.default_rng(0))
    z = pt.level_centres()
    assert len(z) == len(LEVELS) and np.all(np.diff(z) < 0)
    assert pt.level_z("L1") == pytest.approx(pt.l1_z)
    assert pt.level_z("T12") - pt.level_z("L1") == pytest.approx(pt.pitch_thoracic)
    assert pt.level_z("L1") - pt.level_z("L2") == pytest.approx(pt.pitch_lumbar)
    assert pt.level_z("T1") > pt.dome_right > pt.level_z("L1")


def test_outline_layers_are_nested():
    pt = sample_patient(np.random.default_rng(3))
    rng = np.random.default_rng(0)
    x = rng.uniform(-200, 200, 5000).astype(np.float32)
    y = rng.uniform(-150, 150, 5000).astype(np.float32)
    z = rng.uniform(-300, 150, 5000).astype(np.float32)
    skin, fat, cav = pt.skin_sdf(x, y, z), pt.fat_inner_sdf(x, y, z), pt.cavity_sdf(x, y, z)
    assert np.all(fat[cav < 0] < 0) and np.all(skin[fat < 0] < 0)
    a, bf, bb = pt.outline(np.float32(0.0))
    assert pt.skin_sdf(np.float32(a), np.float32(0), np.float32(0)) == pytest.approx(0.0, abs=1e-2)


def test_right_dome_is_higher_and_recesses_are_lower():
    pt = sample_patient(np.random.default_rng(4))
    a = pt.half_width
    right = pt.diaphragm_z(np.float32(-0.42 * a), np.float32(-0.1 * pt.half_depth_back))
    left = pt.diaphragm_z(np.float32(0.42 * a), np.float32(-0.1 * pt.half_depth_back))
    assert right > left
    assert pt.diaphragm_z(np.float32(-0.42 * a), np.float32(0.9 * pt.half_depth_back)) < right - 20


def test_unknown_level():
    pt = sample_patient(np.random.default_rng(0))
    with pytest.raises(ValueError, match="unknown vertebral level 'L7'; valid levels: C6"):
        pt.level_z("L7")
