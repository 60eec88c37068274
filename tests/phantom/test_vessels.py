"""Vessel builder painted alone: aorta left of the IVC, portal system labelled, arteries labelled."""

from __future__ import annotations

import numpy as np

from tests.phantom.anatomy_helpers import centroid, hu_table, paint_parts, patient_and_layout
from torsoseg.phantom.labels import INTERNAL
from torsoseg.phantom.vessels import vessels


def test_vessel_labels_and_enhancement():
    pt, lay = patient_and_layout(5)
    hu = hu_table(5, "arterial")
    parts = vessels(pt, lay, hu, np.random.default_rng(5))
    assert {p.label for p in parts} == {0, INTERNAL["aorta"], INTERNAL["artery"], INTERNAL["portal_vein"]}
    img, lab, axes = paint_parts(pt, parts, step=4.0)
    aorta = centroid(lab, INTERNAL["aorta"], axes)
    assert aorta[0] > 0 and aorta[1] < pt.y_spine  # left of the midline, in front of the spine
    assert np.median(img[lab == INTERNAL["aorta"]]) > 200  # arterial phase
    assert centroid(lab, INTERNAL["portal_vein"], axes)[1] < pt.y_spine
