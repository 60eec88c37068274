"""Chest builders painted alone: lungs on their sides above the diaphragm, trachea and thyroid."""

from __future__ import annotations

import numpy as np

from tests.phantom.anatomy_helpers import centroid, hu_table, paint_parts, patient_and_layout
from torsoseg.phantom import thorax, trunk
from torsoseg.phantom.labels import INTERNAL


def test_lungs_heart_airway():
    pt, _ = patient_and_layout(2)
    hu = hu_table(2)
    rng = np.random.default_rng(2)
    parts = trunk.body_wall(pt, hu, rng) + thorax.diaphragm(pt, hu, rng) + thorax.lungs(pt, hu, rng)
    parts += thorax.heart(pt, hu, rng) + thorax.airway_and_neck(pt, hu, rng)
    img, lab, axes = paint_parts(pt, parts)
    r = centroid(lab, INTERNAL["lung_right"], axes)
    left = centroid(lab, INTERNAL["lung_left"], axes)
    assert r[0] < 0 < left[0] and min(r[2], left[2]) > pt.dome_right
    lung = lab == INTERNAL["lung_right"]
    assert np.median(img[lung]) < -700
    tr = centroid(lab, INTERNAL["trachea"], axes)
    assert abs(tr[0]) < 10 and tr[2] > pt.level_z("T5")
    th = centroid(lab, INTERNAL["thyroid_gland"], axes)
    assert abs(th[0]) < 10 and th[2] > pt.level_z("T1") and th[1] < tr[1] + 10
    # nothing labelled lung below the domes' lowest point
    zs = axes[2][np.argwhere(lab == INTERNAL["lung_left"])[:, 2]]
    assert zs.min() > pt.dome_left - 140
