"""Organ placements: sides, relations, the absent gallbladder."""

from __future__ import annotations

import numpy as np
import pytest

from torsoseg.phantom.layout import Organ3D, sample_layout
from torsoseg.phantom.patient import sample_patient
from torsoseg.phantom.shapes import rotation


def test_organ3d_point_hand_value():
    o = Organ3D(np.array([10.0, 0.0, 0.0]), np.array([2.0, 3.0, 4.0]), rotation(0, 0, 90))
    assert np.allclose(o.point((1, 0, 0)), [10.0, 2.0, 0.0])


@pytest.mark.parametrize("seed", range(5))
def test_relations_hold_for_every_patient(seed):
    pt = sample_patient(np.random.default_rng(seed))
    lay = sample_layout(pt, np.random.default_rng(seed + 50))
    assert lay.liver_right.centre[0] < 0 < lay.spleen.centre[0]
    assert lay.kidney_right.centre[0] < 0 < lay.kidney_left.centre[0]
    assert lay.kidney_right.centre[2] < lay.kidney_left.centre[2]  # the right kidney lies lower
    head, tail = lay.pancreas_path[0], lay.pancreas_path[-1]
    assert head[0] < 0 < tail[0] and tail[2] > head[2]
    assert lay.pancreas_path[2][1] < lay.confluence[1]  # the neck lies in front of the portal confluence
    assert lay.bladder.centre[2] < pt.level_z("S1")
    assert np.all(lay.pancreas_radii < 20) and np.all(lay.pancreas_radii > 4)


def test_gallbladder_absence_probability():
    pt = sample_patient(np.random.default_rng(0))
    assert sample_layout(pt, np.random.default_rng(1), gallbladder_absent_p=1.0).gallbladder is None
    assert sample_layout(pt, np.random.default_rng(1), gallbladder_absent_p=0.0).gallbladder is not None
    same = sample_layout(pt, np.random.default_rng(1), gallbladder_absent_p=0.0)
    assert np.array_equal(
        same.liver_right.centre, sample_layout(pt, np.random.default_rng(1), 1.0).liver_right.centre
    )
