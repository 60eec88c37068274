"""Abdominal and pelvic organs painted from a :class:`~torsoseg.phantom.layout.Layout`.

Bowel (distractors), stomach, liver, gallbladder, spleen, kidneys, adrenals, pancreas, psoas muscles and
urinary bladder.
"""

from __future__ import annotations

import numpy as np

from torsoseg.phantom.labels import INTERNAL
from torsoseg.phantom.layout import Layout, Organ3D
from torsoseg.phantom.patient import Patient
from torsoseg.phantom.render import Part
from torsoseg.phantom.shapes import ellipsoid, rotation, smooth_path, smooth_union
from torsoseg.phantom.trunk import body_box


def _box(o: Organ3D, pad: float = 8.0):
    r = float(np.max(o.radii)) + pad
    return o.centre - r, o.centre + r


def _path_box(path: np.ndarray, r: float):
    return path.min(axis=0) - r, path.max(axis=0) + r


def _in_abdomen(pt: Patient, b, d, spine_gap: float | None = None):
    """Clips a field to the abdominal cavity (below the diaphragm, inside the muscle wall).

    With ``spine_gap``, also keeps the organ that far (mm) from the axis of the spine (intraperitoneal
    organs stay in front of and beside the retroperitoneal spine, aorta and crura).
    """
    d = np.maximum(np.maximum(d, (b.z - (pt.diaphragm_b(b) - 5.0))), pt.cavity_b(b) + 1.0)
    if spine_gap is not None:
        r = np.sqrt(b.x**2 + (b.y - np.float32(pt.y_spine)) ** 2)
        d = np.maximum(d, np.float32(spine_gap) - r)
    return d


def bowel(pt: Patient, lay: Layout, hu: dict[str, float], rng: np.random.Generator) -> list[Part]:
    """Small-bowel loops (convoluted tubes from a noise field), the colon and the duodenum."""
    lo, hi = body_box(pt)
    top = pt.l1_z + 25.0 * pt.height
    bottom = lay.bladder.centre[2] - 10.0
    lo_b = (lo[0], lo[1], bottom)
    hi_b = (hi[0], hi[1], top)
    width = float(rng.uniform(0.38, 0.5)) * (1.0 - 0.25 * pt.obesity)

    def loops(b, inset=0.0):
        n = b.noise("small_bowel", 16.0, lo_b, hi_b)
        d = (np.abs(n) - width) * 8.0 + inset
        d = np.maximum(d, np.maximum(b.z - np.float32(top), np.float32(bottom) - b.z))
        return _in_abdomen(pt, b, d, spine_gap=35.0)

    def content_hu(b):
        c = b.noise("bowel_content", 30.0, lo_b, hi_b)
        fluid = hu["bowel_fluid"] + 10.0 * b.noise("bowel_fluid", 5.0, lo_b, hi_b)
        out = np.where(c > 1.1, hu["air"], fluid)
        if lay.oral_contrast:
            out = np.where(c < -0.2, hu["oral_contrast"], out)
        return out.astype(np.float32)

    colon = smooth_path(lay.colon_path, 5)
    colon_r = np.interp(np.linspace(0, 1, len(colon)), [0, 0.15, 0.6, 0.85, 1.0], [26, 23, 20, 17, 15])

    def colon_sdf(b, inset=0.0):
        d = b.tube(colon, colon_r) + 3.0 * b.noise("haustra", 9.0) + inset
        return np.maximum(d, pt.cavity_b(b) + 2.0)

    def stool_hu(b):
        n = b.noise("stool", 5.0)
        return np.where(n > 0.7, hu["air"], hu["stool"] + 60.0 * n).astype(np.float32)

    duo = smooth_path(lay.duodenum_path, 4)

    def duo_sdf(b, inset=0.0):
        return b.tube(duo, 11.0) + 1.5 * b.noise("duodenum", 8.0) + inset

    c_lo, c_hi = _path_box(colon, 35)
    d_lo, d_hi = _path_box(duo, 20)
    return [
        Part("small_bowel_wall", lo_b, hi_b, loops, hu["bowel_wall"], 0),
        Part("small_bowel_content", lo_b, hi_b, lambda b: loops(b, 2.5), content_hu, 0),
        Part("colon_wall", c_lo, c_hi, colon_sdf, hu["bowel_wall"], 0),
        Part("colon_content", c_lo, c_hi, lambda b: colon_sdf(b, 3.0), stool_hu, 0),
        Part("duodenum_wall", d_lo, d_hi, duo_sdf, hu["bowel_wall"], 0),
        Part(
            "duodenum_content",
            d_lo,
            d_hi,
            lambda b: duo_sdf(b, 3.0),
            lambda b: np.where(b.noise("duo_air", 12.0) > 1.2, hu["air"], hu["bowel_fluid"]).astype(
                np.float32
            ),
            0,
        ),
    ]


def stomach(pt: Patient, lay: Layout, hu: dict[str, float], rng: np.random.Generator) -> list[Part]:
    """Stomach: enhancing wall, fluid or food, and an air cap on the anterior (non-dependent) side."""
    path = smooth_path(lay.stomach_path, 4)
    radii = np.interp(
        np.linspace(0, 1, len(path)), np.linspace(0, 1, len(lay.stomach_radii)), lay.stomach_radii
    )
    f = lay.stomach_fundus
    lab = INTERNAL["stomach"]

    def sdf(b, inset=0.0):
        d = smooth_union(ellipsoid(b.x, b.y, b.z, f.centre, f.radii, f.rot), b.tube(path, radii), 15.0)
        d = d + 2.0 * b.noise("stomach_shape", 20.0)
        return _in_abdomen(pt, b, d, spine_gap=40.0) + inset

    y_front = float(min(path[:, 1].min() - radii.max(), f.centre[1] - f.radii[1]))
    air_level = y_front + float(rng.uniform(0, 40))
    food = float(rng.uniform())

    def content_hu(b):
        base = hu["gastric_fluid"] + food * 35.0 * (1 + b.noise("food", 6.0))
        return np.where(b.y < air_level, hu["air"], base).astype(np.float32)

    lo, hi = _path_box(np.vstack([path, f.centre[None]]), float(max(radii.max(), f.radii.max())) + 10)
    return [
        Part("stomach_wall", lo, hi, sdf, hu["stomach_wall"], lab),
        Part("stomach_content", lo, hi, lambda b: sdf(b, 4.0), content_hu, lab),
    ]


def liver(pt: Patient, lay: Layout, hu: dict[str, float], rng: np.random.Generator) -> list[Part]:
    """Liver (two smoothly joined lobes under the right dome) with hepatic veins inside it."""
    r, le = lay.liver_right, lay.liver_left
    lab = INTERNAL["liver"]
    panc = smooth_path(lay.pancreas_path, 2)
    panc_r = np.interp(
        np.linspace(0, 1, len(panc)), np.linspace(0, 1, len(lay.pancreas_radii)), lay.pancreas_radii
    )
    duo = smooth_path(lay.duodenum_path, 2)
    gap = float(rng.uniform(8.0, 16.0))

    def sdf(b):
        d = smooth_union(
            ellipsoid(b.x, b.y, b.z, r.centre, r.radii, r.rot),
            ellipsoid(b.x, b.y, b.z, le.centre, le.radii, le.rot),
            25.0,
        )
        d = d + 5.0 * b.noise("liver_shape", 45.0) + 1.0 * b.noise("liver_edge", 8.0)
        # the visceral surface keeps clear of the pancreas and duodenum (fat, lesser sac between them)
        keep_out = np.minimum(b.tube(panc, panc_r + gap), b.tube(duo, 11.0 + gap))
        d = np.maximum(d, -keep_out)
        return _in_abdomen(pt, b, d, spine_gap=40.0)

    def liver_hu(b):
        return hu["liver"] + 5.0 * b.noise("liver_texture", 8.0)

    top = r.centre + r.rot @ np.array([0.0, 0.0, 0.9 * r.radii[2]])
    ivc_top = np.array([-22.0, pt.y_spine - 48.0, pt.dome_right - 12.0])
    veins = [
        np.array([ivc_top, top + [-0.4 * r.radii[0], -5.0, -35.0]]),
        np.array([ivc_top, [r.centre[0] * 0.4, r.centre[1] - 0.6 * r.radii[1], top[2] - 45.0]]),
        np.array([ivc_top, le.centre + [0.3 * le.radii[0], 0.0, 0.0]]),
    ]

    def hepatic_veins(b):
        d = np.minimum(
            np.minimum(b.tube(veins[0], [6.0, 2.0]), b.tube(veins[1], [5.5, 2.0])),
            b.tube(veins[2], [5.0, 2.0]),
        )
        return np.maximum(d, sdf(b) + 3.0)

    lo = np.minimum(r.centre - r.radii.max(), le.centre - le.radii.max()) - 15
    hi = np.maximum(r.centre + r.radii.max(), le.centre + le.radii.max()) + 15
    return [
        Part("liver", lo, hi, sdf, liver_hu, lab),
        Part("hepatic_veins", lo, hi, hepatic_veins, hu["hepatic_vein"], None),
    ]


def gallbladder(pt: Patient, lay: Layout, hu: dict[str, float], rng: np.random.Generator) -> list[Part]:
    """Gallbladder in the liver's fossa (bile with a thin wall), or nothing when absent."""
    g = lay.gallbladder
    if g is None:
        return []
    lab = INTERNAL["gallbladder"]
    lo, hi = _box(g)

    def sdf(b, inset=0.0):
        d = ellipsoid(b.x, b.y, b.z, g.centre, g.radii, g.rot) + 0.8 * b.noise("gb", 10.0)
        return _in_abdomen(pt, b, d) + inset

    return [
        Part("gallbladder_wall", lo, hi, sdf, hu["gallbladder_wall"], lab),
        Part("bile", lo, hi, lambda b: sdf(b, 2.0), hu["bile"], lab),
    ]


def spleen(pt: Patient, lay: Layout, hu: dict[str, float], rng: np.random.Generator) -> list[Part]:
    """Spleen: a curved ellipsoid behind the stomach with a concave hilum; mottled in the arterial phase."""
    s = lay.spleen
    hilum = s.point((-1.3, 0.0, 0.0))

    def sdf(b):
        d = ellipsoid(b.x, b.y, b.z, s.centre, s.radii, s.rot)
        d = np.maximum(d, -ellipsoid(b.x, b.y, b.z, hilum, s.radii * np.array([0.9, 0.6, 0.6]), s.rot))
        return _in_abdomen(pt, b, d + 3.0 * b.noise("spleen_shape", 30.0), spine_gap=45.0)

    def spleen_hu(b):
        t = 4.0 * b.noise("spleen_texture", 6.0)
        if hu["spleen_mottling"] > 0:  # arterial phase
            t = t + hu["spleen_mottling"] * b.noise("spleen_arterial", 9.0)
        return hu["spleen"] + t

    lo, hi = _box(s, 12)
    return [Part("spleen", lo, hi, sdf, spleen_hu, INTERNAL["spleen"])]


def kidneys(pt: Patient, lay: Layout, hu: dict[str, float], rng: np.random.Generator) -> list[Part]:
    """Kidneys with cortex, medulla (pyramids), renal sinus fat and pelvis; adrenal glands above them."""
    parts: list[Part] = []
    for side, k, medial in (("right", lay.kidney_right, 1.0), ("left", lay.kidney_left, -1.0)):
        lab = INTERNAL[f"kidney_{side}"]
        hilum = k.point((0.0, 0.0, 0.0)) + k.rot @ np.array([medial * k.radii[0], 0.0, 0.0])
        sinus_c = k.centre + k.rot @ np.array([medial * 0.35 * k.radii[0], 0.0, 0.0])

        def outer(b, k=k, hilum=hilum):
            d = ellipsoid(b.x, b.y, b.z, k.centre, k.radii, k.rot) + 1.0 * b.noise("kidney_shape", 15.0)
            notch = ellipsoid(b.x, b.y, b.z, hilum, k.radii * np.array([0.45, 0.35, 0.3]), k.rot)
            return np.maximum(d, -notch)

        def medulla(b, k=k, side=side):
            d = ellipsoid(b.x, b.y, b.z, k.centre, k.radii * np.array([0.72, 0.72, 0.8]), k.rot)
            return d + 4.0 * b.noise(f"pyramids_{side}", 7.0)

        def sinus(b, k=k, c=sinus_c):
            return ellipsoid(b.x, b.y, b.z, c, k.radii * np.array([0.38, 0.42, 0.5]), k.rot)

        def pelvis(b, k=k, c=sinus_c):
            return ellipsoid(b.x, b.y, b.z, c, k.radii * np.array([0.2, 0.22, 0.22]), k.rot)

        lo, hi = _box(k, 10)
        parts += [
            Part(f"kidney_{side}_cortex", lo, hi, outer, hu["kidney_cortex"], lab),
            Part(f"kidney_{side}_medulla", lo, hi, medulla, hu["kidney_medulla"], lab),
            Part(f"kidney_{side}_sinus", lo, hi, sinus, hu["renal_sinus"], lab),
            Part(f"kidney_{side}_pelvis", lo, hi, pelvis, hu["urine"], lab),
        ]
        # adrenal: an inverted Y of two thin limbs, above and medial to the upper pole
        top = k.point((0.0, 0.0, 1.0))
        c = np.array([top[0] + medial * 18.0, pt.y_spine - 6.0, top[2] + 12.0]) + rng.normal(0, 3, 3)
        s = rng.uniform(0.8, 1.2)
        limb_a = (c, np.array([2.8, 13.0, 15.0]) * s, rotation(0, 0, medial * 35.0))
        limb_b = (
            c + [-medial * 5.0, 6.0, -6.0],
            np.array([2.5, 11.0, 13.0]) * s,
            rotation(0, 0, -medial * 25.0),
        )

        def adrenal(b, la=limb_a, lb=limb_b):
            return smooth_union(ellipsoid(b.x, b.y, b.z, *la), ellipsoid(b.x, b.y, b.z, *lb), 3.0)

        parts.append(
            Part(
                f"adrenal_gland_{side}",
                c - 30,
                c + 30,
                adrenal,
                hu["adrenal"],
                INTERNAL[f"adrenal_gland_{side}"],
            )
        )
    return parts


def pancreas(pt: Patient, lay: Layout, hu: dict[str, float], rng: np.random.Generator) -> list[Part]:
    """Pancreas: a thin, lobulated tube from the head (in the duodenal C) to the tail at the splenic
    hilum, with fatty clefts between lobules and an attenuation close to bowel and vessels."""
    path = smooth_path(lay.pancreas_path, 5)
    radii = np.interp(
        np.linspace(0, 1, len(path)), np.linspace(0, 1, len(lay.pancreas_radii)), lay.pancreas_radii
    )
    fat = lay.fatty_pancreas

    def sdf(b):
        d = b.tube(path, radii) + 2.5 * b.noise("pancreas_lobules", 6.0)
        return _in_abdomen(pt, b, d + 1.5 * b.noise("pancreas_shape", 20.0))

    def panc_hu(b):
        clefts = np.clip((b.noise("pancreas_fat", 4.0) - 1.0 + fat) * 1.5, 0.0, 1.0) * (0.3 + fat)
        base = hu["pancreas"] + 6.0 * b.noise("pancreas_texture", 4.0)
        return (base + clefts * (hu["fat"] - base)).astype(np.float32)

    lo, hi = _path_box(path, 25)
    return [Part("pancreas", lo, hi, sdf, panc_hu, INTERNAL["pancreas"])]


def psoas(pt: Patient, lay: Layout, hu: dict[str, float], rng: np.random.Generator) -> list[Part]:
    """Psoas major muscles from L1 to the pelvis, growing caudally, beside the vertebral bodies."""
    ys = pt.y_spine
    s = rng.uniform(0.8, 1.2)
    z = [
        pt.l1_z + 10,
        pt.level_z("L3"),
        pt.level_z("L5"),
        pt.level_z("S1") - 60 * pt.height,
        pt.level_z("S1") - 125 * pt.height,
    ]
    parts = []
    for side, sign in (("right", -1.0), ("left", 1.0)):
        path = smooth_path(
            np.array(
                [
                    [sign * 20, ys + 4, z[0]],
                    [sign * 34, ys - 2, z[1]],
                    [sign * 48, ys - 10, z[2]],
                    [sign * 60, ys - 28, z[3]],
                    [sign * 70, ys - 45, z[4]],
                ]
            ),
            4,
        )
        radii = np.interp(
            np.linspace(0, 1, len(path)), np.linspace(0, 1, 5), np.array([6, 15, 21, 19, 16]) * s
        )

        def sdf(b, path=path, radii=radii, side=side):
            d = b.tube(path, radii) + 1.0 * b.noise(f"psoas_{side}", 12.0)
            return np.maximum(d, np.float32(z[0]) - b.z - 100.0)

        lo, hi = _path_box(path, 30)
        parts.append(
            Part(f"psoas_major_{side}", lo, hi, sdf, hu["muscle"] + 2.0, INTERNAL[f"psoas_major_{side}"])
        )
    return parts


def bladder(pt: Patient, lay: Layout, hu: dict[str, float], rng: np.random.Generator) -> list[Part]:
    """Urinary bladder (wall and urine) in the pelvis."""
    o = lay.bladder
    lab = INTERNAL["urinary_bladder"]
    lo, hi = _box(o)

    def sdf(b, inset=0.0):
        d = ellipsoid(b.x, b.y, b.z, o.centre, o.radii, o.rot) + 2.0 * b.noise("bladder", 25.0)
        return np.maximum(d, pt.cavity_b(b) + 2.0) + inset

    return [
        Part("bladder_wall", lo, hi, sdf, hu["muscle"], lab),
        Part("urine", lo, hi, lambda b: sdf(b, 3.0), hu["urine"], lab),
    ]
