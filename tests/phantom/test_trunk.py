"""Body wall and skeleton builders painted alone."""

from __future__ import annotations

import numpy as np

from tests.phantom.anatomy_helpers import centroid, hu_table, paint_parts, patient_and_layout
from torsoseg.phantom import trunk
from torsoseg.phantom.labels import INTERNAL


def test_body_wall_layers_and_rectus_sides():
    pt, _ = patient_and_layout(0)
    hu = hu_table()
    rng = np.random.default_rng(0)
    parts = trunk.body_wall(pt, hu, rng) + trunk.rectus_abdominis(pt, hu, rng)
    img, lab, axes = paint_parts(pt, parts)
    right = centroid(lab, INTERNAL["rectus_abdominis_right"], axes)
    left = centroid(lab, INTERNAL["rectus_abdominis_left"], axes)
    assert right[0] < 0 < left[0] and right[1] < 0 and left[1] < 0  # anterior
    assert img.min() == -1000 and (img > 30).any() and (img < -60).any()  # air, muscle, fat


def test_spine_labels_only_l1_and_ribs_sternum():
    pt, _ = patient_and_layout(1)
    hu = hu_table(1)
    rng = np.random.default_rng(1)
    parts = trunk.body_wall(pt, hu, rng) + trunk.spine(pt, hu, rng) + trunk.ribs(pt, hu, rng)
    parts += trunk.sternum(pt, hu, rng)
    img, lab, axes = paint_parts(pt, parts)
    assert set(np.unique(lab)) == {0, INTERNAL["vertebrae_L1"], INTERNAL["sternum"]}
    l1 = centroid(lab, INTERNAL["vertebrae_L1"], axes)
    assert abs(l1[2] - pt.l1_z) < pt.pitch_lumbar / 2 and abs(l1[0]) < 8
    st = centroid(lab, INTERNAL["sternum"], axes)
    assert st[1] < -40 and pt.level_z("T9") < st[2] < pt.level_z("T3")
    assert (img > 500).sum() > 50  # cortical bone present


def test_arms_only_when_down():
    pt, _ = patient_and_layout(0)
    hu = hu_table()
    from dataclasses import replace

    assert trunk.arms(replace(pt, arm_radius=0.0), hu, np.random.default_rng(0)) == []
    parts = trunk.arms(replace(pt, arm_radius=40.0), hu, np.random.default_rng(0))
    assert len(parts) == 10 and all(p.label in (0, None) for p in parts)
