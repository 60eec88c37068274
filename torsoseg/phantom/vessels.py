"""Great vessels: aorta and its branches, inferior vena cava, portal, splenic and renal veins."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from torsoseg.phantom.labels import INTERNAL
from torsoseg.phantom.layout import Layout
from torsoseg.phantom.patient import Patient
from torsoseg.phantom.render import Part
from torsoseg.phantom.shapes import smooth_path


def _tube_part(name, points, radii, hu_value, label, samples: int = 4) -> Part:
    path = smooth_path(np.asarray(points, dtype=np.float64), samples)
    r = np.interp(np.linspace(0, 1, len(path)), np.linspace(0, 1, len(radii)), radii)
    pad = float(np.max(r)) + 5.0
    return Part(
        name, path.min(axis=0) - pad, path.max(axis=0) + pad, lambda b: b.tube(path, r), hu_value, label
    )


def vessels(pt: Patient, lay: Layout, hu: dict[str, float], rng: np.random.Generator) -> list[Part]:
    """All vessels, in painting order (veins, then arteries on top)."""
    s = float(rng.uniform(0.9, 1.15))  # vessel calibre
    at = _Anchors.of(pt, lay)
    return [*_systemic_veins(at, pt, hu, s), *_portal_veins(at, lay, hu, s), *_arteries(at, pt, lay, hu, s)]


@dataclass(frozen=True)
class _Anchors:
    """Landmarks the vessels run between (mm, patient frame)."""

    ys: float  # spine (y)
    l1: float  # L1 (z)
    h: float  # height factor
    dome: float  # right diaphragm dome (z)
    heart_y: float
    l4: float
    s1: float
    hil_r: np.ndarray  # renal hila
    hil_l: np.ndarray
    sp_hilum: np.ndarray  # splenic hilum
    porta: np.ndarray  # porta hepatis

    @classmethod
    def of(cls, pt: Patient, lay: Layout) -> _Anchors:
        kr, kl = lay.kidney_right, lay.kidney_left
        return cls(
            ys=pt.y_spine,
            l1=pt.l1_z,
            h=pt.height,
            dome=pt.dome_right,
            heart_y=-0.3 * pt.half_depth_front,
            l4=pt.level_z("L4"),
            s1=pt.level_z("S1"),
            hil_r=kr.centre + kr.rot @ np.array([kr.radii[0], 0.0, 0.0]),
            hil_l=kl.centre + kl.rot @ np.array([-kl.radii[0], 0.0, 0.0]),
            sp_hilum=lay.spleen.point((-1.0, 0.0, 0.0)),
            porta=np.array([-0.28 * lay.cavity_a, pt.y_spine - 62.0, pt.l1_z + 42.0 * pt.height]),
        )


def _systemic_veins(at: _Anchors, pt: Patient, hu: dict[str, float], s: float) -> list[Part]:
    """The inferior vena cava and the renal veins (no organ label: they are painted over later)."""
    ys, l1, h, dome, heart_y, hil_r, hil_l = at.ys, at.l1, at.h, at.dome, at.heart_y, at.hil_r, at.hil_l
    return [
        _tube_part(
            "ivc",
            [
                [-22, ys - 26, at.l4],
                [-23, ys - 30, pt.level_z("L2")],
                [-25, ys - 40, l1 + 25 * h],
                [-22, ys - 46, dome - 40],
                [-12, heart_y + 25, dome + 20],
            ],
            [11 * s, 12 * s, 13 * s, 13 * s, 14 * s],
            hu["ivc_blood"],
            0,
        ),
        _tube_part("renal_vein_right", [hil_r, [-22, ys - 32, hil_r[2] + 5]], [5.0, 6.0], hu["ivc_blood"], 0),
        _tube_part(
            "renal_vein_left",
            [hil_l, [14, ys - 50, hil_l[2] + 3], [-20, ys - 36, hil_l[2] + 5]],
            [5.0, 5.5, 6.0],
            hu["ivc_blood"],
            0,
        ),
    ]


def _portal_veins(at: _Anchors, lay: Layout, hu: dict[str, float], s: float) -> list[Part]:
    """The portal vein and its left branch, the superior mesenteric and the splenic vein."""
    conf, porta, lr, l1, h = lay.confluence, at.porta, lay.liver_right, at.l1, at.h
    panc = lay.pancreas_path
    sv = [conf, panc[3] + [0, 17, 2], panc[4] + [0, 15, 0], at.sp_hilum]
    portal = INTERNAL["portal_vein"]
    return [
        _tube_part(
            "portal_vein",
            [conf, porta, [lr.centre[0] * 0.7, lr.centre[1] - 5, porta[2] + 20]],
            [7.5 * s, 7.0 * s, 5.0 * s],
            hu["portal_blood"],
            portal,
        ),
        _tube_part(
            "portal_vein_left",
            [porta, [lay.liver_left.centre[0], lay.liver_left.centre[1] + 12, porta[2] + 28]],
            [5.0 * s, 3.5 * s],
            hu["portal_blood"],
            portal,
        ),
        _tube_part(
            "smv",
            [conf, [conf[0] - 4, conf[1] - 10, l1 - 45 * h], [conf[0] - 8, conf[1] - 20, l1 - 95 * h]],
            [6.5 * s, 6.0 * s, 5.0 * s],
            hu["portal_blood"],
            portal,
        ),
        _tube_part("splenic_vein", sv, [5.5 * s, 5.0 * s, 4.5 * s, 4.5 * s], hu["portal_blood"], portal),
    ]


def _arteries(at: _Anchors, pt: Patient, lay: Layout, hu: dict[str, float], s: float) -> list[Part]:
    """The aorta, then the iliac, celiac, hepatic, splenic, superior mesenteric and renal arteries."""
    ys, l1, h, l4, s1, heart_y, dome = at.ys, at.l1, at.h, at.l4, at.s1, at.heart_y, at.dome
    aorta = [
        [6, heart_y + 15, dome + 55],
        [4, heart_y + 8, dome + 110],
        [6, ys - 45, pt.level_z("T3")],
        [18, ys - 26, pt.level_z("T5")],
        [20, ys - 24, pt.level_z("T8")],
        [12, ys - 30, l1 + 10],
        [7, ys - 31, pt.level_z("L3")],
        [3, ys - 30, l4],
    ]
    parts = [
        _tube_part(
            "aorta",
            aorta,
            np.array([15, 14, 13, 12, 11.5, 10.5, 9.5, 9.0]) * s,
            hu["aorta_blood"],
            INTERNAL["aorta"],
        )
    ]
    art = INTERNAL["artery"]
    ah = hu["visceral_artery_blood"]
    for sign, name in ((-1, "right"), (1, "left")):
        parts.append(
            _tube_part(
                f"iliac_{name}",
                [[3, ys - 30, l4 + 5], [sign * 35, ys - 22, s1], [sign * 62, ys - 40, s1 - 70 * h]],
                [7 * s, 6 * s, 5 * s],
                ah,
                art,
            )
        )
    return parts + _visceral_arteries(at, lay.pancreas_path, ah, art)


def _visceral_arteries(at: _Anchors, panc: np.ndarray, ah: float, art: int) -> list[Part]:
    """The celiac trunk and its hepatic and splenic branches, the SMA and the renal arteries."""
    ys, l1, h, porta, sp_hilum, hil_r, hil_l = at.ys, at.l1, at.h, at.porta, at.sp_hilum, at.hil_r, at.hil_l
    celiac = np.array([10.0, ys - 62.0, l1 + 30 * h])
    return [
        _tube_part("celiac_trunk", [[12, ys - 38, l1 + 25 * h], celiac], [4.0, 3.5], ah, art),
        _tube_part(
            "hepatic_artery",
            [celiac, [-20, ys - 64, l1 + 34 * h], porta + [6, -6, 0]],
            [3.2, 3.0, 2.5],
            ah,
            art,
        ),
        _tube_part(
            "splenic_artery",
            [celiac, panc[3] + [0, 8, 12], panc[4] + [8, 6, 12], sp_hilum + [4, -6, 6]],
            [3.2, 3.0, 3.0, 2.8],
            ah,
            art,
        ),
        _tube_part(
            "sma",
            [[10, ys - 39, l1 + 8 * h], [9, ys - 58, l1 - 12 * h], [5, ys - 72, l1 - 90 * h]],
            [4.5, 4.0, 3.0],
            ah,
            art,
        ),
        _tube_part(
            "renal_artery_right",
            [[4, ys - 28, l1 - 12 * h], [-22, ys - 20, hil_r[2] + 8], hil_r],
            [3.2, 3.0, 2.8],
            ah,
            art,
        ),
        _tube_part("renal_artery_left", [[16, ys - 28, l1 - 8 * h], hil_l + [0, 4, 4]], [3.2, 2.8], ah, art),
    ]
