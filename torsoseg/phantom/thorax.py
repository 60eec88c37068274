"""The chest and neck: diaphragm, lungs with vessels, heart, trachea, oesophagus and thyroid."""

from __future__ import annotations

import numpy as np

from torsoseg.phantom.labels import INTERNAL
from torsoseg.phantom.patient import Patient
from torsoseg.phantom.render import Part
from torsoseg.phantom.shapes import ellipsoid, rotation, smooth_path
from torsoseg.phantom.trunk import body_box


def lung_sdf(pt: Patient, b, side: str, apex: float, med_half: float):
    """Signed distance of one lung: the cavity above the diaphragm, lateral to the mediastinum."""
    return b.memo(f"lung_{side}", lambda: _lung_sdf(pt, b, side, apex, med_half))


def _lung_sdf(pt: Patient, b, side: str, apex: float, med_half: float):
    cav = pt.cavity_b(b)
    above = pt.diaphragm_b(b) - b.z
    sign = -1.0 if side == "right" else 1.0
    a0 = pt.half_width
    xa, ya = sign * 0.32 * a0, 0.25 * pt.half_depth_back  # the apices are posterior and medial
    r2 = ((b.x - xa) / (0.55 * a0)) ** 2 + ((b.y - ya) / (0.9 * pt.half_depth_back)) ** 2
    cap = b.z - (apex - 150.0 * r2)
    # mediastinum: a midline band, widest anteriorly; the spine and great vessels are painted later
    mid = np.abs(b.x - 4.0) - (med_half + 6.0 * np.clip(-b.y / 60.0, 0, 1))
    side_limit = -sign * b.x + 2.0
    return np.maximum(np.maximum(cav, above), np.maximum(np.maximum(cap, -mid), side_limit)).astype(
        np.float32
    )


def diaphragm(pt: Patient, hu: dict[str, float], rng: np.random.Generator) -> list[Part]:
    """The diaphragm: a 5 mm muscle sheet under the lungs and heart, inside the cavity."""
    lo, hi = body_box(pt)
    lo = (lo[0], lo[1], pt.dome_right - 160 * pt.height)
    hi = (hi[0], hi[1], pt.dome_right + 15)

    def sdf(b):
        dz = pt.diaphragm_b(b)
        sheet = np.abs(b.z - (dz - 2.5)) - 2.5
        return np.maximum(sheet, pt.cavity_b(b) - 1.0)

    return [Part("diaphragm", lo, hi, sdf, hu["muscle"], 0)]


def lungs(pt: Patient, hu: dict[str, float], rng: np.random.Generator) -> list[Part]:
    """Right and left lung (labelled), a dependent density gradient, and vessels (intensity only)."""
    apex = float(pt.level_z("T1") + rng.uniform(-5, 15))
    med_half = float(rng.uniform(14, 22))
    lo, hi = body_box(pt)
    lo = (lo[0], lo[1], pt.dome_right - 140 * pt.height)
    hi = (hi[0], hi[1], apex + 10)
    b0 = pt.half_depth_back
    hilum_z = pt.level_z("T6")

    def lung_hu(b):
        dep = 45.0 * np.clip(b.y / b0, 0.0, 1.0) ** 2
        return hu["lung"] + dep + 12.0 * b.noise("lung_texture", 5.0)

    def vessels(b):
        n1 = b.noise("lung_vessel_a", 9.0, lo, hi)
        n2 = b.noise("lung_vessel_b", 9.0, lo, hi)
        dist = np.sqrt((np.abs(b.x) - 45.0) ** 2 + (b.y - pt.y_spine + 30) ** 2 + (b.z - hilum_z) ** 2)
        t = 0.26 * np.clip(1.0 - dist / 170.0, 0.08, 1.0)
        d = (np.maximum(np.abs(n1), np.abs(n2)) - t) * 6.0
        inside = np.minimum(lung_sdf(pt, b, "right", apex, med_half), lung_sdf(pt, b, "left", apex, med_half))
        return np.maximum(d, inside + 2.0).astype(np.float32)

    parts = []
    for side in ("right", "left"):
        parts.append(
            Part(
                f"lung_{side}",
                lo,
                hi,
                (lambda b, s=side: lung_sdf(pt, b, s, apex, med_half)),
                lung_hu,
                INTERNAL[f"lung_{side}"],
            )
        )
    parts.append(Part("lung_vessels", lo, hi, vessels, hu["lung_vessel"], None))
    return parts


def heart(pt: Patient, hu: dict[str, float], rng: np.random.Generator) -> list[Part]:
    """Heart with pericardial fat, myocardium and left/right blood pools, resting on the diaphragm."""
    s = float(rng.uniform(0.88, 1.12))
    c = (
        float(rng.uniform(12, 30)),
        -0.3 * pt.half_depth_front + float(rng.uniform(-8, 8)),
        pt.dome_right + 50.0,
    )
    radii = (62.0 * s, 48.0 * s, 58.0 * s)
    rot = rotation(float(rng.uniform(-10, 10)), 25.0, -35.0 + float(rng.uniform(-10, 10)))
    r = max(radii) + 10

    def base(b, grow=0.0):
        d = ellipsoid(b.x, b.y, b.z, c, (radii[0] + grow, radii[1] + grow, radii[2] + grow), rot)
        return np.maximum(d, pt.diaphragm_b(b) - b.z)

    def chamber(offset, rr):
        centre = np.asarray(c) + rot @ np.asarray(offset)
        return lambda b: np.maximum(ellipsoid(b.x, b.y, b.z, centre, np.multiply(rr, s), rot), base(b, -6.0))

    lo, hi = np.subtract(c, r), np.add(c, r)
    return [
        Part("pericardial_fat", lo, hi, lambda b: base(b, 4.0), hu["fat"] + 10, 0),
        Part("myocardium", lo, hi, base, hu["heart_muscle"], 0),
        Part("right_heart", lo, hi, chamber((-22, -12, 2), (26, 20, 34)), hu["heart_blood_right"], 0),
        Part("left_ventricle", lo, hi, chamber((18, 6, -8), (24, 20, 30)), hu["heart_blood_left"], 0),
        Part("left_atrium", lo, hi, chamber((0, 28, 26), (24, 15, 16)), hu["heart_blood_left"], 0),
    ]


def airway_and_neck(pt: Patient, hu: dict[str, float], rng: np.random.Generator) -> list[Part]:
    """Trachea (labelled, to the carina) with main bronchi, oesophagus and the thyroid gland."""
    ys = pt.y_spine
    top = pt.body_z[-1]
    carina = pt.level_z("T5") + float(rng.uniform(-10, 10))
    r_tr = float(rng.uniform(8.0, 10.5))
    yt = ys - float(rng.uniform(38, 46))
    trachea_path = np.array([[0.0, yt - 8, top], [0.0, yt - 4, pt.level_z("T1")], [1.0, yt, carina]])
    bronchi = [np.array([[1.0, yt, carina + 4], [sign * 30.0, yt + 8, carina - 22]]) for sign in (-1, 1)]

    def trachea(b, grow=0.0):
        return b.tube(trachea_path, [r_tr + grow] * 3)

    def bronchus(b, grow=0.0):
        return np.minimum(
            b.tube(bronchi[0], [r_tr * 0.75 + grow] * 2), b.tube(bronchi[1], [r_tr * 0.7 + grow] * 2)
        )

    eso = smooth_path(
        [
            [-2.0, ys - 27, top],
            [3.0, ys - 28, carina],
            [10.0, ys - 30, pt.dome_right - 10],
            [28.0, ys - 45, pt.dome_left - 35],
        ]
    )
    tz = pt.level_z("C7") + float(rng.uniform(-10, 10))
    lobe_r = (float(rng.uniform(8, 12)), float(rng.uniform(10, 14)), float(rng.uniform(20, 28)))
    lobes = [(sign * (r_tr + lobe_r[0] + 1), yt - 3, tz) for sign in (-1, 1)]
    isthmus = np.array([[-r_tr, yt - r_tr - 4, tz - 8], [r_tr, yt - r_tr - 4, tz - 8]])

    def thyroid(b):
        d = np.minimum(ellipsoid(b.x, b.y, b.z, lobes[0], lobe_r), ellipsoid(b.x, b.y, b.z, lobes[1], lobe_r))
        d = np.minimum(d, b.tube(isthmus, [4.0, 4.0]))
        return np.maximum(d, -trachea(b, 2.0))

    lo_t, hi_t = (-30.0, yt - 30, carina - 40), (30.0, yt + 30, top + 10)
    lo_e, hi_e = eso.min(axis=0) - 15, eso.max(axis=0) + 15
    lo_y, hi_y = (-50.0, yt - 40, tz - 40), (50.0, yt + 25, tz + 40)
    return [
        Part("oesophagus", lo_e, hi_e, lambda b: b.tube(eso, 8.0), hu["esophagus"], 0),
        Part("trachea_wall", lo_t, hi_t, lambda b: trachea(b, 1.5), hu["trachea_wall"], INTERNAL["trachea"]),
        Part("trachea", lo_t, hi_t, trachea, hu["air"], INTERNAL["trachea"]),
        Part("bronchi_wall", lo_t, hi_t, lambda b: bronchus(b, 1.5), hu["trachea_wall"], 0),
        Part("bronchi", lo_t, hi_t, bronchus, hu["air"], 0),
        Part("thyroid_gland", lo_y, hi_y, thyroid, hu["thyroid"], INTERNAL["thyroid_gland"]),
    ]
