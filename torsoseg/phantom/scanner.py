"""The scanner of a phantom case: its craniocaudal range, its voxel grid and its reconstruction circle.

The field of view follows the patient, as a radiographer sets it: the widest body cross-section in the
scanned range (the arms when they lie beside the body) plus a margin, but never wider than a clinical
scanner reconstructs (:data:`SCANNER_FOV_MM`), so a wide patient's arms are cut at its edge. The image is
the circle the scanner reconstructs (:func:`outside_reconstruction_circle`).
"""

from __future__ import annotations

import numpy as np

from torsoseg.phantom.patient import Patient
from torsoseg.phantom.render import Grid
from torsoseg.phantom.trunk import arm_reach

#: voxels per in-plane axis and per slice axis (ranges) for the reduced sizes
_REDUCED = {"tiny": ((48, 60), (48, 64)), "small": ((112, 144), (100, 160))}
#: spacing ranges (mm, in-plane and slice) of the sizes drawn like a scanner: a fixed voxel size, the
#: voxel count following the patient's field of view
_SPACED = {"medium": ((4.0, 5.0), (4.0, 5.0))}
_FULL_SLICE_MM = (1.0, 1.25, 1.5, 2.0, 2.5, 3.0, 5.0)

#: share of abdomen scans that run on into the pelvis, to below the urinary bladder (abdomen-pelvis
#: protocol). Clinical abdominal series often do; without them the pretraining set never shows a bladder,
#: and a model pretrained on it takes the fluid-filled bladder for a gallbladder.
ABDOMEN_PELVIS_P = 0.3

#: the widest reconstruction field of view (mm) of a clinical CT scanner (its 50 cm scan field). A
#: patient with the arms beside the body is often wider: the arms are then cut at its edge.
SCANNER_FOV_MM = 500.0
#: value of the pixels outside the reconstruction circle (the scanner's padding; Siemens' -1024)
OUTSIDE_FOV_HU = -1024


def _below_bladder(pt: Patient, rng: np.random.Generator) -> float:
    """Caudal end (z) of a scan that covers the whole pelvis: a few centimetres below the bladder."""
    return pt.level_z("S1") - 165.0 * pt.height - float(rng.uniform(0, 30))


def field_of_view(
    kind: str, pt: Patient, rng: np.random.Generator, protocol: np.random.Generator
) -> tuple[float, float, float]:
    """Craniocaudal extent of the scan in the patient frame.

    The abdomen kind spans from just above the diaphragm to around the iliac crest (L4); a share
    :data:`ABDOMEN_PELVIS_P` of its scans (drawn from ``protocol``, its own generator, so that the other
    cases and every later draw stay as they were) continues to below the urinary bladder. The
    thorax-abdomen kinds span from the thyroid to below the bladder.

    Returns:
        ``(bottom, top, short_bottom)``: the scan's z range and where an abdomen-only scan would have
        ended (``bottom`` except for abdomen-pelvis scans); reduced sizes draw their slice spacing for the
        short extent, so a longer scan gets more slices, not coarser ones.
    """
    if kind == "abdomen":
        top = pt.dome_right + float(rng.uniform(15, 45))
        short_bottom = pt.level_z("L4") - float(rng.uniform(10, 60))
        pelvic = protocol.uniform() < ABDOMEN_PELVIS_P
        bottom = _below_bladder(pt, protocol) if pelvic else short_bottom
        return bottom, top, short_bottom
    top = pt.level_z("C7") + float(rng.uniform(25, 45))
    bottom = _below_bladder(pt, rng)
    return bottom, top, bottom


def scan_grid(
    kind: str, size: str, pt: Patient, rng: np.random.Generator, protocol: np.random.Generator
) -> Grid:
    """Draws the voxel grid of a case: field of view, spacing and voxel counts for ``size``.

    ``protocol`` draws the scan protocol (abdomen-only or abdomen-pelvis, see :func:`field_of_view`).
    """
    bottom, top, short_bottom = field_of_view(kind, pt, rng, protocol)
    zz = np.linspace(bottom, top, 16)
    a = float(np.max(np.interp(zz, pt.body_z, pt.body_a)))
    bf = float(np.max(np.interp(zz, pt.body_z, pt.body_bf)))
    bb = float(np.max(np.interp(zz, pt.body_z, pt.body_bb)))
    half = a + arm_reach(pt)
    fov = min(2.0 * max(half, (bf + bb) / 2.0) + float(rng.uniform(25, 80)), SCANNER_FOV_MM)
    cx = float(rng.uniform(-10, 10))
    cy = (bb - bf) / 2.0 + float(rng.uniform(-5, 15))
    extent_z = top - bottom
    if size == "full":
        n_xy = 512
        s_xy = float(np.clip(fov / n_xy, 0.6, 1.0))
        s_z = float(rng.choice(_FULL_SLICE_MM))
        n_z = int(round(extent_z / s_z)) + 1
        rng.uniform()  # keep the number of draws the same for every size
    elif size in _SPACED:
        (lo_xy, hi_xy), (lo_z, hi_z) = _SPACED[size]
        s_xy = float(rng.uniform(lo_xy, hi_xy))
        s_z = float(rng.uniform(lo_z, hi_z))
        n_xy = int(np.ceil(fov / s_xy))
        n_z = int(round(extent_z / s_z)) + 1
        s_z = extent_z / (n_z - 1)
    else:
        (lo_xy, hi_xy), (lo_z, hi_z) = _REDUCED[size]
        n_xy = int(rng.integers(lo_xy, hi_xy + 1))
        n_z = int(rng.integers(lo_z, hi_z + 1))
        s_xy = fov / n_xy
        # the slice count is drawn for the abdomen-only extent; a scan into the pelvis keeps that slice
        # spacing and gets more slices
        s_z = (top - short_bottom) / (n_z - 1)
        n_z = int(round(extent_z / s_z)) + 1
        s_z = extent_z / (n_z - 1)
        rng.uniform()
    s_xy = round(s_xy, 4)
    s_z = round(s_z, 4)
    origin = (cx - s_xy * (n_xy - 1) / 2.0, cy - s_xy * (n_xy - 1) / 2.0, bottom)
    return Grid((n_xy, n_xy, n_z), (s_xy, s_xy, s_z), origin)


def outside_reconstruction_circle(grid: Grid) -> np.ndarray:
    """``(X, Y)`` mask of the pixels outside the circle a CT scanner reconstructs: the circle inscribed
    in the square in-plane field of view. What lies beyond it (an arm, the table's ends) is not imaged."""
    nx, ny = grid.shape[0], grid.shape[1]
    sx, sy = grid.spacing[0], grid.spacing[1]
    x = (np.arange(nx) - (nx - 1) / 2.0) * sx
    y = (np.arange(ny) - (ny - 1) / 2.0) * sy
    radius = min(nx * sx, ny * sy) / 2.0
    return x[:, None] ** 2 + y[None, :] ** 2 > radius**2
