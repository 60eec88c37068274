"""Abdominal builders painted alone: organ sides, HU, the absent gallbladder, the hard pancreas."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from tests.phantom.anatomy_helpers import centroid, hu_table, paint_parts, patient_and_layout
from torsoseg.phantom import trunk, viscera
from torsoseg.phantom.labels import INTERNAL


def _abdomen(pt, lay, hu, rng):
    parts = trunk.body_wall(pt, hu, rng)
    for name in (
        "bowel",
        "stomach",
        "liver",
        "gallbladder",
        "spleen",
        "kidneys",
        "pancreas",
        "psoas",
        "bladder",
    ):
        parts += getattr(viscera, name)(pt, lay, hu, rng)
    return parts


def test_organs_sides_and_intensities():
    pt, lay = patient_and_layout(3)
    hu = hu_table(3)
    img, lab, axes = paint_parts(pt, _abdomen(pt, lay, hu, np.random.default_rng(3)))
    for right, left in (
        ("kidney_right", "kidney_left"),
        ("adrenal_gland_right", "adrenal_gland_left"),
        ("psoas_major_right", "psoas_major_left"),
    ):
        assert centroid(lab, INTERNAL[right], axes)[0] < 0 < centroid(lab, INTERNAL[left], axes)[0]
    assert centroid(lab, INTERNAL["liver"], axes)[0] < centroid(lab, INTERNAL["spleen"], axes)[0]
    liver = np.median(img[lab == INTERNAL["liver"]])
    assert abs(liver - hu["liver"]) < 15
    assert np.median(img[lab == INTERNAL["urinary_bladder"]]) < 40
    assert (lab == INTERNAL["pancreas"]).sum() < 0.15 * (lab == INTERNAL["liver"]).sum()


def test_no_gallbladder_parts_when_absent():
    pt, lay = patient_and_layout(3)
    assert viscera.gallbladder(pt, replace(lay, gallbladder=None), hu_table(), np.random.default_rng(0)) == []
