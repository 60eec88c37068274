"""The sampled patient: body habitus and the landmarks every organ is placed against.

The patient frame (mm) has x towards the patient's left, y posterior and z superior (the LPS world axes
of a supine, head-first patient), x = y = 0 on the body axis and z = 0 at the top of the right
hemidiaphragm. Vertebral levels follow from the L1 position and the thoracic and lumbar pitches.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from torsoseg.phantom.shapes import superellipse_2d

#: vertebral levels from C7 down to the sacrum (S1); index used by ``Patient.level_z``.
LEVELS: tuple[str, ...] = (
    "C6",
    "C7",
    "T1",
    "T2",
    "T3",
    "T4",
    "T5",
    "T6",
    "T7",
    "T8",
    "T9",
    "T10",
    "T11",
    "T12",
    "L1",
    "L2",
    "L3",
    "L4",
    "L5",
    "S1",
)


@dataclass(frozen=True)
class Patient:
    """Body habitus and landmarks of one phantom patient (all lengths mm, patient frame).

    Attributes:
        body_z: z of the control points of the body outline (increasing).
        body_a: lateral half-width of the skin outline at ``body_z``.
        body_bf: anterior half-depth at ``body_z``.
        body_bb: posterior half-depth at ``body_z``.
        power: superellipse exponent of the cross-sections (2 = ellipse, larger = squarer).
        fat_ant, fat_lat, fat_post: subcutaneous fat thickness.
        muscle: thickness of the body-wall muscle layer (lateral/anterior).
        y_spine: y of the vertebral body centres.
        dome_right, dome_left: z of the tops of the two hemidiaphragms.
        l1_z: z of the centre of the L1 vertebral body.
        pitch_thoracic, pitch_lumbar: distance between vertebral centres.
        height: craniocaudal scale factor (1 = average adult).
        width, depth: lateral and anteroposterior scale factors.
        obesity: 0 (lean) .. 1 (obese): fat thickness and visceral fat.
        arm_radius: radius of the upper arms when they lie beside the body (arms down), else 0 (arms
            raised above the head, out of the field of view, as usual for torso CT).
        arm_gap: distance (mm) between the trunk's widest outline and an arm lying beside it, the same on
            both sides: from touching the flank to several centimetres (0 without arms down).
    """

    body_z: tuple[float, ...]
    body_a: tuple[float, ...]
    body_bf: tuple[float, ...]
    body_bb: tuple[float, ...]
    power: float
    fat_ant: float
    fat_lat: float
    fat_post: float
    muscle: float
    y_spine: float
    dome_right: float
    dome_left: float
    l1_z: float
    pitch_thoracic: float
    pitch_lumbar: float
    height: float
    width: float
    depth: float
    obesity: float
    arm_radius: float = 0.0
    arm_gap: float = 0.0

    # --- body outline -------------------------------------------------------------------------------
    def outline(self, z, inset_a: float = 0.0, inset_bf: float = 0.0, inset_bb: float = 0.0):
        """Half-axes ``(a, bf, bb)`` of the skin outline at ``z``, shrunk by the insets."""
        a = np.interp(z, self.body_z, self.body_a).astype(np.float32) - np.float32(inset_a)
        bf = np.interp(z, self.body_z, self.body_bf).astype(np.float32) - np.float32(inset_bf)
        bb = np.interp(z, self.body_z, self.body_bb).astype(np.float32) - np.float32(inset_bb)
        return np.maximum(a, 5.0), np.maximum(bf, 5.0), np.maximum(bb, 5.0)

    def skin_sdf(self, x, y, z):
        a, bf, bb = self.outline(z)
        return superellipse_2d(x, y, a, bf, bb, self.power)

    def fat_inner_sdf(self, x, y, z):
        """Inner surface of the subcutaneous fat (outer surface of the body-wall muscle)."""
        a, bf, bb = self.outline(z, self.fat_lat, self.fat_ant, self.fat_post)
        return superellipse_2d(x, y, a, bf, bb, self.power)

    def cavity_back(self, z):
        """Posterior half-depth of the body cavity: it reaches just behind the vertebral bodies."""
        return np.full(np.shape(z), self.y_spine + 22.0, dtype=np.float32)

    def cavity_sdf(self, x, y, z):
        """The body cavity (thoracic above the diaphragm, abdominopelvic below), inside the muscle wall."""
        a, bf, _ = self.outline(z, self.fat_lat + self.muscle, self.fat_ant + self.muscle, 0.0)
        bb = np.minimum(self.cavity_back(z), self.outline(z, 0, 0, self.fat_post + self.muscle)[2])
        return superellipse_2d(x, y, a, bf, bb, self.power)

    # --- the same on a render block, computed once per block -----------------------------------------
    def skin_b(self, b):
        return b.memo("skin", lambda: self.skin_sdf(b.x, b.y, b.zo))

    def fat_inner_b(self, b):
        return b.memo("fat_inner", lambda: self.fat_inner_sdf(b.x, b.y, b.zo))

    def cavity_b(self, b):
        return b.memo("cavity", lambda: self.cavity_sdf(b.x, b.y, b.zo))

    def diaphragm_b(self, b):
        """``diaphragm_z`` on the block."""
        return b.memo("diaphragm", lambda: self.diaphragm_z(b.x, b.y))

    # --- diaphragm ----------------------------------------------------------------------------------
    def diaphragm_z(self, x, y):
        """z of the upper (thoracic) surface of the diaphragm above ``(x, y)``.

        Two domes (the right one higher) over the left and right halves, falling off towards the body
        wall and further posteriorly, which forms the costophrenic recesses.
        """
        a0 = np.float32(self.body_a[len(self.body_a) // 2])
        b0 = np.float32(self.body_bb[len(self.body_bb) // 2])
        xr, xl = -0.42 * a0, 0.42 * a0
        yd = -0.1 * b0
        fall = np.float32(70.0 * self.height)
        dr = self.dome_right - fall * (((x - xr) / (0.6 * a0)) ** 2 + ((y - yd) / (0.85 * b0)) ** 2)
        dl = self.dome_left - fall * (((x - xl) / (0.6 * a0)) ** 2 + ((y - yd) / (0.85 * b0)) ** 2)
        # smooth maximum of the two domes: the central tendon sags between them
        k = np.float32(25.0)
        h = np.clip(0.5 + 0.5 * (dr - dl) / k, 0.0, 1.0)
        top = dl * (1 - h) + dr * h + k * h * (1 - h)
        posterior = np.float32(35.0 * self.height) * np.clip(y / b0, 0.0, None) ** 2
        return (top - posterior).astype(np.float32)

    def below_diaphragm_sdf(self, x, y, z, thickness: float = 5.0):
        """Negative below the lower surface of the diaphragm (abdominal side)."""
        return z - (self.diaphragm_z(x, y) - np.float32(thickness))

    # --- spine --------------------------------------------------------------------------------------
    def level_z(self, level: str) -> float:
        """z of the centre of vertebral body ``level`` (``"T12"``, ``"L1"``, ...)."""
        if level not in LEVELS:
            raise ValueError(f"unknown vertebral level {level!r}; valid levels: {', '.join(LEVELS)}")
        i = LEVELS.index(level)
        i_l1 = LEVELS.index("L1")
        if i <= i_l1:
            return self.l1_z + (i_l1 - i) * self.pitch_thoracic
        return self.l1_z - (i - i_l1) * self.pitch_lumbar

    def level_centres(self) -> np.ndarray:
        return np.array([self.level_z(v) for v in LEVELS])

    @property
    def half_width(self) -> float:
        """Representative lateral half-width of the skin outline (at the diaphragm)."""
        return float(np.interp(0.0, self.body_z, self.body_a))

    @property
    def half_depth_front(self) -> float:
        return float(np.interp(-100.0, self.body_z, self.body_bf))

    @property
    def half_depth_back(self) -> float:
        return float(np.interp(-100.0, self.body_z, self.body_bb))


def sample_patient(rng: np.random.Generator) -> Patient:
    """Draws one adult patient's habitus.

    Args:
        rng: the generator to draw from (a fixed number of draws).

    Returns:
        The :class:`Patient`.
    """
    width = float(rng.uniform(0.86, 1.14))
    depth = float(rng.uniform(0.85, 1.15))
    height = float(rng.uniform(0.9, 1.1))
    obesity = float(rng.beta(2.0, 3.0))
    belly = 1.0 + 0.25 * obesity
    a = 150.0 * width * (1.0 + 0.12 * obesity)
    bf = 112.0 * depth
    bb = 102.0 * depth
    z = np.array([-520, -420, -330, -250, -150, -50, 60, 150, 200, 235, 265, 320]) * height
    av = np.array([0.98, 1.02, 1.04, 1.0, 0.97, 1.0, 1.0, 0.94, 0.82, 0.55, 0.42, 0.4]) * a
    bfv = np.array([0.9, 0.95, 1.0, 1.05 * belly, 1.08 * belly, 1.0, 0.95, 0.9, 0.8, 0.6, 0.55, 0.55]) * bf
    bbv = np.array([1.0, 1.0, 0.95, 0.9, 0.92, 1.0, 1.02, 1.0, 0.95, 0.7, 0.6, 0.6]) * bb
    jitter = rng.normal(1.0, 0.025, size=(3, z.size))
    fat_ant = 8.0 + 38.0 * obesity + rng.uniform(-3, 3)
    fat_lat = 6.0 + 32.0 * obesity + rng.uniform(-3, 3)
    fat_post = 6.0 + 24.0 * obesity + rng.uniform(-2, 2)
    muscle = float(rng.uniform(9.0, 15.0))
    y_spine = float(bb - fat_post - rng.uniform(50, 60) * depth)
    dome_right = 0.0
    dome_left = -float(rng.uniform(8.0, 25.0))
    l1_z = -float(rng.uniform(100.0, 125.0)) * height
    # drawn after every other trait, so the arms never change the rest of a patient
    return _with_arm_gap(rng, Patient(
        body_z=tuple(float(v) for v in z),
        body_a=tuple(float(v) for v in av * jitter[0]),
        body_bf=tuple(float(v) for v in bfv * jitter[1]),
        body_bb=tuple(float(v) for v in bbv * jitter[2]),
        power=float(rng.uniform(2.1, 2.6)),
        fat_ant=float(max(fat_ant, 3.0)),
        fat_lat=float(max(fat_lat, 3.0)),
        fat_post=float(max(fat_post, 3.0)),
        muscle=muscle,
        y_spine=y_spine,
        dome_right=dome_right,
        dome_left=dome_left,
        l1_z=l1_z,
        pitch_thoracic=float(rng.uniform(24.5, 28.0) * height),
        pitch_lumbar=float(rng.uniform(32.0, 36.0) * height),
        height=height,
        width=width,
        depth=depth,
        obesity=obesity,
        arm_radius=float(rng.uniform(36, 48) * width * (1 + 0.2 * obesity)) if rng.uniform() < 0.3 else 0.0,
    ))


#: range (mm) of a patient's gap between trunk and arm when the arms lie beside the body
ARM_GAP_MM = (0.0, 60.0)


def _with_arm_gap(rng: np.random.Generator, pt: Patient) -> Patient:
    """``pt`` with its :attr:`Patient.arm_gap` drawn (one draw, only for patients with their arms down)."""
    if pt.arm_radius <= 0:
        return pt
    return replace(pt, arm_gap=float(rng.uniform(*ARM_GAP_MM)))
