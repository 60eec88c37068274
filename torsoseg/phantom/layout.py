"""Where the abdominal organs and vessels sit in one patient: sampled positions, sizes and rotations.

:func:`sample_layout` draws every organ's placement relative to the patient's landmarks (cavity size,
spine, diaphragm, L1) so that organs keep their relations (the pancreatic head in the duodenal C-loop,
the splenic vein behind the pancreas, the kidneys beside the spine) while varying between patients.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from torsoseg.phantom.patient import Patient
from torsoseg.phantom.shapes import rotation


@dataclass(frozen=True)
class Organ3D:
    """An ellipsoid placement: centre (mm), semi-axes (mm) and rotation (3x3)."""

    centre: np.ndarray
    radii: np.ndarray
    rot: np.ndarray

    def point(self, local) -> np.ndarray:
        """A point given in the organ's local frame, in multiples of the semi-axes."""
        return self.centre + self.rot @ (np.asarray(local, dtype=np.float64) * self.radii)


@dataclass(frozen=True)
class Layout:
    """Placements of the abdominal organs of one patient (see :func:`sample_layout`)."""

    cavity_a: float
    cavity_front: float
    cavity_back: float
    liver_right: Organ3D
    liver_left: Organ3D
    gallbladder: Organ3D | None
    spleen: Organ3D
    kidney_right: Organ3D
    kidney_left: Organ3D
    pancreas_path: np.ndarray
    pancreas_radii: np.ndarray
    stomach_fundus: Organ3D
    stomach_path: np.ndarray
    stomach_radii: np.ndarray
    duodenum_path: np.ndarray
    colon_path: np.ndarray
    bladder: Organ3D
    confluence: np.ndarray
    oral_contrast: bool
    fatty_pancreas: float


def _jit(rng: np.random.Generator, scale: float, n: int = 3) -> np.ndarray:
    return rng.normal(0.0, scale, size=n)


def sample_layout(pt: Patient, rng: np.random.Generator, gallbladder_absent_p: float = 0.25) -> Layout:
    """Draws the organ placements of one patient.

    The draws happen in a fixed order (liver, gallbladder, spleen, kidneys, pancreas, stomach, colon,
    bladder, confluence, oral contrast, fatty pancreas): reordering them changes every phantom of a seed.

    Args:
        pt: the patient.
        rng: generator (a fixed sequence of draws).
        gallbladder_absent_p: probability that the gallbladder is absent (cholecystectomy).

    Returns:
        The :class:`Layout`.
    """
    cav = _cavity(pt)
    liver_right, liver_left = _liver(pt, cav, rng)
    gallbladder = _gallbladder(pt, cav, rng, gallbladder_absent_p)
    spleen = _spleen(pt, cav, rng)
    kidney_right, kidney_left = _kidneys(pt, cav, rng)
    pancreas_path, pancreas_radii = _pancreas(pt, cav, spleen, rng)
    fundus, stomach_path, stomach_radii = _stomach(pt, cav, rng)
    colon = _colon(pt, cav, rng)
    bladder = _bladder(pt, cav, rng)
    confluence = np.array([-5.0, pt.y_spine - 57.0, pt.l1_z - 2.0 * pt.height]) + _jit(rng, 2)
    oral_contrast = bool(rng.uniform() < 0.3)
    fatty_pancreas = float(rng.beta(1.5, 4.0))
    return Layout(
        cavity_a=cav.a,
        cavity_front=cav.front,
        cavity_back=cav.back,
        liver_right=liver_right,
        liver_left=liver_left,
        gallbladder=gallbladder,
        spleen=spleen,
        kidney_right=kidney_right,
        kidney_left=kidney_left,
        pancreas_path=pancreas_path,
        pancreas_radii=pancreas_radii,
        stomach_fundus=fundus,
        stomach_path=stomach_path,
        stomach_radii=stomach_radii,
        duodenum_path=_duodenum(pt, cav, stomach_path[-1]),
        colon_path=colon,
        bladder=bladder,
        confluence=confluence,
        oral_contrast=oral_contrast,
        fatty_pancreas=fatty_pancreas,
    )


@dataclass(frozen=True)
class _Cavity:
    """The abdominal cavity at the reference level: half width, front and back (mm)."""

    a: float
    front: float
    back: float


def _cavity(pt: Patient) -> _Cavity:
    z_ref = -90.0 * pt.height
    a_c = float(np.interp(z_ref, pt.body_z, pt.body_a)) - pt.fat_lat - pt.muscle
    bf_c = float(np.interp(z_ref, pt.body_z, pt.body_bf)) - pt.fat_ant - pt.muscle
    return _Cavity(a_c, bf_c, pt.y_spine + 22.0)


def _liver(pt: Patient, cav: _Cavity, rng: np.random.Generator) -> tuple[Organ3D, Organ3D]:
    """The right and left liver lobes (one size factor for both)."""
    h, a_c, bf_c, bb_c = pt.height, cav.a, cav.front, cav.back
    liver_s = rng.uniform(0.95, 1.15)
    lr = Organ3D(
        np.array([-0.44 * a_c, (bb_c - bf_c) / 2 + 2.0, pt.dome_right - 72.0 * h]) + _jit(rng, 5),
        np.array([0.56 * a_c, 0.5 * (bf_c + bb_c), 88.0 * h]) * liver_s * rng.uniform(0.93, 1.07, 3),
        rotation(rng.uniform(-8, 8), rng.uniform(-10, 10), rng.uniform(-10, 10)),
    )
    ll = Organ3D(
        np.array([0.08 * a_c, -0.52 * bf_c, pt.dome_right - 48.0 * h]) + _jit(rng, 6),
        np.array([0.42 * a_c, 0.3 * bf_c, 40.0 * h]) * liver_s * rng.uniform(0.8, 1.2, 3),
        rotation(0, rng.uniform(-15, 5), rng.uniform(-15, 15)),
    )
    return lr, ll


def _gallbladder(pt: Patient, cav: _Cavity, rng: np.random.Generator, absent_p: float) -> Organ3D | None:
    """The gallbladder, or ``None`` when absent (its placement is drawn either way)."""
    h, a_c, bf_c = pt.height, cav.a, cav.front
    gb_present = rng.uniform() >= absent_p
    gb_s = rng.uniform(0.75, 1.3)
    gb = Organ3D(
        np.array([-0.27 * a_c, -0.45 * bf_c, pt.dome_right - 118.0 * h]) + _jit(rng, 6),
        np.array([14.0, 16.0, 38.0]) * gb_s * rng.uniform(0.85, 1.15, 3),
        rotation(rng.uniform(20, 45), rng.uniform(-25, 5), rng.uniform(-20, 20)),
    )
    return gb if gb_present else None


def _spleen(pt: Patient, cav: _Cavity, rng: np.random.Generator) -> Organ3D:
    sp_s = rng.uniform(0.9, 1.3)
    return Organ3D(
        np.array([0.66 * cav.a, cav.back - 32.0, pt.dome_left - 58.0 * pt.height]) + _jit(rng, 6),
        np.array([22.0, 50.0, 48.0]) * sp_s * rng.uniform(0.9, 1.1, 3),
        rotation(-20.0 + rng.uniform(-10, 10), rng.uniform(-10, 10), -35.0 + rng.uniform(-12, 12)),
    )


def _kidneys(pt: Patient, cav: _Cavity, rng: np.random.Generator) -> tuple[Organ3D, Organ3D]:
    """The right and left kidney beside the spine (the right one lower)."""
    ys, h, l1 = pt.y_spine, pt.height, pt.l1_z
    kidneys = []
    for sign, dz in ((-1.0, -28.0), (1.0, -8.0)):
        s = rng.uniform(0.88, 1.12)
        kidneys.append(
            Organ3D(
                np.array([sign * 0.52 * cav.a, ys + 8.0, l1 + dz * h]) + _jit(rng, 5),
                np.array([26.0, 28.0, 54.0 * h]) * s * rng.uniform(0.92, 1.08, 3),
                rotation(
                    -15.0 + rng.uniform(-8, 8),
                    -sign * (12.0 + rng.uniform(-6, 6)),
                    sign * (30.0 + rng.uniform(-10, 10)),
                ),
            )
        )
    kr, kl = kidneys
    return kr, kl


def _pancreas(
    pt: Patient, cav: _Cavity, spleen: Organ3D, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """The pancreas centre line from the head (in the duodenal C-loop) to the tail at the splenic hilum,
    and its radius at each point."""
    ys, h, l1, a_c = pt.y_spine, pt.height, pt.l1_z, cav.a
    at = rng.uniform(0.8, 1.2)  # pancreas size (atrophy with age)
    spleen_hilum = spleen.point((-1.0, 0.0, 0.0))
    pj = _jit(rng, 4, 3)
    panc = (
        np.array(
            [
                [-0.26 * a_c, ys - 44.0, l1 - 45.0 * h],
                [-0.24 * a_c, ys - 56.0, l1 - 20.0 * h],
                [-8.0, ys - 72.0, l1 - 4.0 * h],
                [0.2 * a_c, ys - 64.0, l1 + 8.0 * h],
                [0.42 * a_c, ys - 42.0, l1 + 20.0 * h],
                [spleen_hilum[0] - 16.0, spleen_hilum[1] - 4.0, spleen_hilum[2] - 12.0],
            ]
        )
        + np.vstack([_jit(rng, 3) for _ in range(6)])
        + pj
    )
    panc_r = np.array([13.0, 15.0, 10.0, 10.0, 9.0, 7.0]) * at * rng.uniform(0.9, 1.1, 6)
    return panc, panc_r


def _stomach(pt: Patient, cav: _Cavity, rng: np.random.Generator) -> tuple[Organ3D, np.ndarray, np.ndarray]:
    """The fundus, and the centre line and radii of the body down to the pylorus (one distension)."""
    ys, h, l1, a_c = pt.y_spine, pt.height, pt.l1_z, cav.a
    dist = rng.uniform(0.7, 1.2)
    fundus = Organ3D(
        np.array([0.36 * a_c, ys - 28.0, pt.dome_left - 38.0 * h]) + _jit(rng, 5),
        np.array([38.0, 36.0, 40.0]) * dist,
        rotation(0, 0, rng.uniform(-20, 20)),
    )
    stomach = np.array(
        [
            fundus.centre + np.array([2.0, -10.0, -25.0 * h]),
            [0.34 * a_c, ys - 85.0, l1 + 40.0 * h],
            [0.05 * a_c, ys - 95.0, l1 + 18.0 * h],
            [-0.14 * a_c, ys - 86.0, l1 + 14.0 * h],
        ]
    ) + np.vstack([np.zeros(3)] + [_jit(rng, 4) for _ in range(3)])
    stomach_r = np.array([34.0 * dist, 30.0 * dist, 20.0 * dist, 10.0])
    return fundus, stomach, stomach_r


def _duodenum(pt: Patient, cav: _Cavity, pylorus: np.ndarray) -> np.ndarray:
    """The duodenal C-loop from the pylorus around the pancreatic head (no draws)."""
    ys, h, l1, a_c = pt.y_spine, pt.height, pt.l1_z, cav.a
    return np.array(
        [
            pylorus,
            [-0.33 * a_c, ys - 62.0, l1 + 6.0 * h],
            [-0.43 * a_c, ys - 52.0, l1 - 30.0 * h],
            [-0.4 * a_c, ys - 46.0, l1 - 68.0 * h],
            [-0.05 * a_c, ys - 44.0, l1 - 82.0 * h],
            [0.12 * a_c, ys - 52.0, l1 - 76.0 * h],
            [0.28 * a_c, ys - 62.0, l1 - 45.0 * h],
        ]
    )


def _colon(pt: Patient, cav: _Cavity, rng: np.random.Generator) -> np.ndarray:
    """The colon's centre line, caecum to rectum."""
    ys, h, l1, a_c, bf_c = pt.y_spine, pt.height, pt.l1_z, cav.a, cav.front
    l4 = pt.level_z("L4")
    s1 = pt.level_z("S1")
    return np.array(
        [
            [-0.6 * a_c, -0.2 * bf_c, l4 - 10.0],
            [-0.64 * a_c, 0.0, l1 - 50.0 * h],
            [-0.5 * a_c, -0.35 * bf_c, l1 + 5.0 * h],
            [-0.1 * a_c, -0.8 * bf_c, l1 - 45.0 * h],
            [0.4 * a_c, -0.5 * bf_c, l1 + 25.0 * h],
            [0.62 * a_c, ys - 15.0, l1 + 30.0 * h],
            [0.64 * a_c, ys - 20.0, pt.level_z("L3")],
            [0.35 * a_c, -0.35 * bf_c, s1 - 40.0 * h],
            [0.0, ys + 5.0, s1 - 75.0 * h],
            [0.0, ys + 30.0, s1 - 120.0 * h],
        ]
    ) + np.vstack([_jit(rng, 6) for _ in range(10)])


def _bladder(pt: Patient, cav: _Cavity, rng: np.random.Generator) -> Organ3D:
    """The urinary bladder (one filling factor)."""
    s1 = pt.level_z("S1")
    fill = rng.uniform(0.5, 1.3)
    return Organ3D(
        np.array([0.0, -0.4 * cav.front, s1 - 115.0 * pt.height]) + _jit(rng, 4),
        np.array([38.0, 30.0, 30.0]) * fill,
        rotation(0, 0, 0),
    )
