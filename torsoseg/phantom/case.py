"""One phantom case: sample a patient, choose the scan geometry, paint, add noise, store in an orientation.

The anatomy is modelled in the patient frame (LPS world axes of a supine, head-first patient), painted on
a canonical grid, and only then written in the case's storage orientation (e.g. ``RAS``: array axis 0
runs to the patient's right) with the matching direction matrix and origin. So the world position of
every organ is independent of the storage orientation.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from torsoseg.imageio import Volume
from torsoseg.phantom import thorax, trunk, viscera
from torsoseg.phantom.fields import FourierField
from torsoseg.phantom.intensities import PHASES, check_phase, sample_hu
from torsoseg.phantom.labels import KINDS, check_kind, internal_to_source, source_labels
from torsoseg.phantom.layout import Layout, sample_layout
from torsoseg.phantom.patient import Patient, sample_patient
from torsoseg.phantom.render import Grid, RenderContext, finish_image, paint
from torsoseg.phantom.scanner import OUTSIDE_FOV_HU, outside_reconstruction_circle, scan_grid
from torsoseg.phantom.vessels import vessels

logger = logging.getLogger(__name__)

SIZES: tuple[str, ...] = ("tiny", "medium", "small", "full")

#: storage orientations and how often each is drawn
ORIENTATIONS: dict[str, float] = {"LPS": 0.35, "RAS": 0.35, "LAS": 0.1, "RPI": 0.05, "LPI": 0.15}

#: phase probabilities per kind
_PHASE_P = {
    "abdomen": {"portal_venous": 1.0},
    "visceral": {"arterial": 0.3, "portal_venous": 0.7},
    "torso": {"native": 0.1, "arterial": 0.25, "portal_venous": 0.65},
}


@dataclass(frozen=True)
class PhantomCase:
    """A generated case.

    Attributes:
        image: int16 HU volume in the case's storage orientation.
        label_map: uint8 label map on the same grid, values in the kind's source numbering.
        labels: canonical organ name -> value (``"background": 0`` included).
        phase: ``"native"``, ``"arterial"`` or ``"portal_venous"``.
        kind: ``"abdomen"``, ``"visceral"`` or ``"torso"``.
        seed: the seed it was generated from.
        size: ``"tiny"``, ``"medium"``, ``"small"`` or ``"full"``.
        orientation: storage orientation code (``"LPS"``, ``"RAS"``, ...).
    """

    image: Volume
    label_map: Volume
    labels: dict[str, int]
    phase: str
    kind: str = "abdomen"
    seed: int = 0
    size: str = "small"
    orientation: str = "LPS"

    def masks(self) -> dict[str, np.ndarray]:
        """Boolean mask per organ (every label but background, present or not)."""
        arr = self.label_map.array
        return {name: arr == v for name, v in self.labels.items() if name != "background"}


def check_size(size: str) -> str:
    if size not in SIZES:
        raise ValueError(f"unknown phantom size {size!r}; valid sizes: {', '.join(SIZES)}")
    return size


def check_orientation(code: str) -> str:
    """Accepts axis-aligned codes with axes in x, y, z order (``LPS``, ``RAS``, ``LAI``, ...)."""
    ok = len(code) == 3 and code[0] in "LR" and code[1] in "PA" and code[2] in "SI"
    if not ok:
        raise ValueError(
            f"unsupported storage orientation {code!r}; use one of L/R, P/A, S/I per axis, e.g. "
            f"{', '.join(ORIENTATIONS)}"
        )
    return code


def to_storage(array: np.ndarray, spacing, origin, code: str) -> tuple[np.ndarray, tuple, tuple]:
    """Flips a canonical (LPS) array into storage orientation ``code``.

    Returns:
        The stored array, its origin (world of the new voxel 0) and its direction matrix.
    """
    check_orientation(code)
    arr = array
    origin = np.asarray(origin, dtype=np.float64).copy()
    direction = np.eye(3)
    for axis, letter in enumerate(code):
        if letter in "RAI":
            arr = np.flip(arr, axis=axis)
            origin[axis] += spacing[axis] * (array.shape[axis] - 1)
            direction[axis, axis] = -1.0
    return np.ascontiguousarray(arr), tuple(float(o) for o in origin), tuple(map(tuple, direction))


def _anatomy(pt, lay, hu, rng_for):
    parts = []
    parts += trunk.body_wall(pt, hu, rng_for("body_wall"))
    parts += thorax.diaphragm(pt, hu, rng_for("diaphragm"))
    parts += thorax.lungs(pt, hu, rng_for("lungs"))
    parts += thorax.heart(pt, hu, rng_for("heart"))
    parts += thorax.airway_and_neck(pt, hu, rng_for("neck"))
    for name in ("bowel", "stomach", "liver", "gallbladder", "spleen", "kidneys", "pancreas"):
        parts += getattr(viscera, name)(pt, lay, hu, rng_for(name))
    parts += vessels(pt, lay, hu, rng_for("vessels"))
    parts += viscera.psoas(pt, lay, hu, rng_for("psoas"))
    parts += viscera.bladder(pt, lay, hu, rng_for("bladder"))
    parts += trunk.spine(pt, hu, rng_for("spine"))
    parts += trunk.ribs(pt, hu, rng_for("ribs"))
    parts += trunk.sternum(pt, hu, rng_for("sternum"))
    parts += trunk.pelvis(pt, hu, rng_for("pelvis"))
    parts += trunk.rectus_abdominis(pt, hu, rng_for("rectus"))
    parts += trunk.arms(pt, hu, rng_for("arms"))
    return parts


@dataclass(frozen=True)
class CasePlan:
    """Everything drawn for a case before any voxel is painted (cheap to compute).

    Attributes:
        kind, seed, size: the request.
        patient: body habitus and landmarks.
        layout: organ placements.
        phase: contrast phase.
        orientation: storage orientation code.
        grid: canonical grid in the patient frame.
        hu: the patient's HU per tissue for ``phase``.
        world_shift: patient frame -> world (LPS mm) translation.
    """

    kind: str
    seed: int
    size: str
    patient: Patient
    layout: Layout
    phase: str
    orientation: str
    grid: Grid
    hu: dict
    world_shift: tuple[float, float, float]

    @property
    def gallbladder_present(self) -> bool:
        return self.layout.gallbladder is not None


def _root(kind: str, seed: int) -> int:
    return int(seed) * 7 + KINDS.index(kind)


def _rng_for(root: int):
    def rng_for(key: str) -> np.random.Generator:
        return RenderContext(root, (0, 0, 0), (0, 0, 0)).rng(key)

    return rng_for


def plan_case(
    kind: str,
    seed: int,
    size: str = "small",
    phase: str | None = None,
    orientation: str | None = None,
) -> CasePlan:
    """Draws a case's patient, organ layout, phase, orientation and scan grid (no painting).

    Arguments as for :func:`generate_case`, which paints exactly this plan.
    """
    check_kind(kind)
    check_size(size)
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    if phase is not None:
        check_phase(phase)
    if orientation is not None:
        check_orientation(orientation)
    rng_for = _rng_for(_root(kind, seed))
    rng = rng_for("case")
    pt = sample_patient(rng_for("patient"))
    lay = sample_layout(pt, rng_for("layout"))
    p = _PHASE_P[kind]
    drawn_phase = str(rng.choice(list(p), p=list(p.values())))
    names = list(ORIENTATIONS)
    weights = np.array(list(ORIENTATIONS.values()))
    drawn_orientation = str(rng.choice(names, p=weights / weights.sum()))
    phase = phase or drawn_phase
    world = rng_for("table")
    shift = (float(world.uniform(-15, 15)), float(world.uniform(-180, 60)), float(world.uniform(-1300, -150)))
    return CasePlan(
        kind=kind,
        seed=int(seed),
        size=size,
        patient=pt,
        layout=lay,
        phase=phase,
        orientation=orientation or drawn_orientation,
        grid=scan_grid(kind, size, pt, rng_for("grid"), rng_for("protocol")),
        hu=sample_hu(rng_for("hu"), phase),
        world_shift=shift,
    )


def render_plan(plan: CasePlan) -> PhantomCase:
    """Paints a :class:`CasePlan`: anatomy, blur, noise, quantisation, storage orientation."""
    root = _root(plan.kind, plan.seed)
    rng_for = _rng_for(root)
    pt, grid = plan.patient, plan.grid
    parts = _anatomy(pt, plan.layout, plan.hu, rng_for)
    lo, hi = trunk.body_box(pt)
    ctx = RenderContext(root, lo, hi, min_step=0.75 * min(grid.spacing))
    deform = FourierField(rng_for("deformation"), 3, 4, (160.0, 420.0), 2.0)
    hu_arr, internal = paint(parts, grid, ctx, deform)
    g = rng_for("scanner")
    noise_std = {"tiny": (4, 10), "medium": (5, 12), "small": (6, 15), "full": (10, 25)}[plan.size]
    image = finish_image(
        hu_arr,
        g,
        psf_px=float(g.uniform(0.35, 0.7)),
        noise_std=float(g.uniform(*noise_std)),
        noise_corr_px=float(g.uniform(0.6, 1.1)),
    )
    label = internal_to_source(plan.kind)[internal]
    outside = outside_reconstruction_circle(grid)
    image[outside] = OUTSIDE_FOV_HU
    label[outside] = 0
    origin = np.asarray(grid.origin) + np.asarray(plan.world_shift)
    img, org, direc = to_storage(image, grid.spacing, origin, plan.orientation)
    lab, _, _ = to_storage(label, grid.spacing, origin, plan.orientation)
    logger.debug(
        "phantom %s seed %d size %s: grid %s, phase %s, %s",
        plan.kind,
        plan.seed,
        plan.size,
        grid.shape,
        plan.phase,
        plan.orientation,
    )
    return PhantomCase(
        image=Volume(img, grid.spacing, org, direc),
        label_map=Volume(lab, grid.spacing, org, direc),
        labels=source_labels(plan.kind),
        phase=plan.phase,
        kind=plan.kind,
        seed=plan.seed,
        size=plan.size,
        orientation=plan.orientation,
    )


def generate_case(
    kind: str,
    seed: int,
    size: str = "small",
    phase: str | None = None,
    orientation: str | None = None,
) -> PhantomCase:
    """Generates one phantom CT with its label map. Same arguments, same voxels.

    Args:
        kind: ``"abdomen"`` (abdominal field of view, 7 labels, portal-venous), ``"visceral"``
            (thorax-abdomen, the 20 VISCERAL structures) or ``"torso"`` (thorax-abdomen, 8 labels).
        seed: any non-negative integer; it fixes the patient, the scan and the noise.
        size: ``"tiny"`` (about 48-64 voxels per axis, for tests), ``"medium"`` (4-5 mm voxels, as a
            scanner draws them: the voxel count follows the field of view), ``"small"`` (100-160) or
            ``"full"``
            (512 x 512 in-plane at 0.6-1.0 mm, slices 1-5 mm).
        phase: force a contrast phase (``"native"``, ``"arterial"``, ``"portal_venous"``); default: drawn
            for the kind. Forcing it changes intensities only, not the anatomy or the grid.
        orientation: force the storage orientation (``"LPS"``, ``"RAS"``, ...); default: drawn. Forcing it
            changes the stored array and header only; world positions stay.

    Returns:
        The :class:`PhantomCase`.

    Raises:
        ValueError: unknown kind, size, phase or orientation, or a negative seed.

    Example:
        >>> case = generate_case("torso", seed=3, size="tiny")
        >>> case.labels["liver"], case.image.array.dtype
        (3, dtype('int16'))
    """
    return render_plan(plan_case(kind, seed, size, phase, orientation))


__all__ = [
    "PHASES",
    "SIZES",
    "ORIENTATIONS",
    "CasePlan",
    "PhantomCase",
    "generate_case",
    "plan_case",
    "render_plan",
    "to_storage",
    "check_size",
]
