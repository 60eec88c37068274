"""Overlap and surface metrics of one organ: Dice, 95th-percentile Hausdorff distance, surface Dice.

All functions take boolean masks of the same shape ``(X, Y, Z)`` and, for the distance metrics, the
``spacing`` in mm per array axis, so anisotropic voxels are measured correctly.

Definitions (voxel-based, after Nikolov et al. 2021 for the surface Dice):

* **surface voxels** of a mask: mask voxels with at least one of their 6 face neighbours outside the
  mask; voxels on the border of the array count as surface (the outside of the array is background).
* **directed distances** ``d(A -> B)``: for every surface voxel of ``A``, the Euclidean distance in mm
  (voxel centre to voxel centre) to the nearest surface voxel of ``B``.
* **HD95**: ``max(p95(d(A -> B)), p95(d(B -> A)))`` with linear interpolation of the percentile (the
  symmetric 95th-percentile Hausdorff distance, as MONAI computes it).
* **surface Dice at tolerance tau**: ``(#{a: d(a, B) <= tau} + #{b: d(b, A) <= tau}) / (|S_A| + |S_B|)``.

Empty-organ conventions (see :func:`organ_metrics` and ``documentation/evaluation.md``):

=====================  =======  ===========================  ============
case                   Dice     HD95                         surface Dice
=====================  =======  ===========================  ============
both masks empty       NaN      NaN                          NaN
exactly one empty      0        ``empty_distance_mm``        0
=====================  =======  ===========================  ============

NaN means "not defined" and is left out of the table statistics; ``empty_distance_mm`` is a worst-case
penalty (by default the diagonal of the image in mm) so that a missed organ cannot improve the mean HD95.

Distances use ``scipy.ndimage.distance_transform_edt(..., sampling=spacing)`` on the bounding box of
both masks (plus one voxel of margin), which is exact: every surface voxel lies inside that box.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
from scipy import ndimage

STATUSES = ("ok", "both_empty", "reference_empty", "prediction_empty", "not_annotated")
_FACE = ndimage.generate_binary_structure(3, 1)


def _check_pair(reference: np.ndarray, prediction: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ref = np.asarray(reference, dtype=bool)
    pred = np.asarray(prediction, dtype=bool)
    if ref.shape != pred.shape:
        raise ValueError(f"masks differ in shape: reference {ref.shape}, prediction {pred.shape}")
    if ref.ndim != 3:
        raise ValueError(f"masks must be 3D, got shape {ref.shape}")
    return ref, pred


def _check_spacing(spacing: Sequence[float]) -> tuple[float, float, float]:
    sp = tuple(float(s) for s in spacing)
    if len(sp) != 3 or not all(math.isfinite(s) and s > 0 for s in sp):
        raise ValueError(f"spacing must be 3 positive numbers (mm per axis), got {tuple(spacing)}")
    return sp  # type: ignore[return-value]


def bounding_box(mask: np.ndarray, margin: int = 0) -> tuple[slice, ...] | None:
    """The smallest box holding every True voxel, grown by ``margin`` and clipped to the array.

    Args:
        mask: boolean array of any dimension.
        margin: voxels added on each side.

    Returns:
        A tuple of slices, or ``None`` for an empty mask.
    """
    m = np.asarray(mask, dtype=bool)
    if not m.any():
        return None
    box = []
    for axis in range(m.ndim):
        other = tuple(a for a in range(m.ndim) if a != axis)
        hit = np.flatnonzero(m.any(axis=other))
        box.append(slice(max(int(hit[0]) - margin, 0), min(int(hit[-1]) + 1 + margin, m.shape[axis])))
    return tuple(box)


def dice(reference: np.ndarray, prediction: np.ndarray) -> float:
    """Dice coefficient ``2|A and B| / (|A| + |B|)`` of two boolean masks.

    Returns:
        A float in [0, 1]; NaN when both masks are empty (undefined).

    Example:
        >>> a = np.zeros((4, 1, 1), bool); a[:2] = True
        >>> b = np.zeros((4, 1, 1), bool); b[1:] = True
        >>> round(dice(a, b), 3)
        0.4
    """
    ref, pred = _check_pair(reference, prediction)
    total = int(ref.sum()) + int(pred.sum())
    if total == 0:
        return float("nan")
    return 2.0 * int(np.logical_and(ref, pred).sum()) / total


def surface_voxels(mask: np.ndarray) -> np.ndarray:
    """Boolean array of the mask's surface voxels (6-neighbourhood border; array edges count as outside)."""
    m = np.asarray(mask, dtype=bool)
    if not m.any():
        return np.zeros_like(m)
    inner = ndimage.binary_erosion(m, structure=_FACE, border_value=0)
    return m & ~inner


def directed_surface_distances(
    reference: np.ndarray, prediction: np.ndarray, spacing: Sequence[float]
) -> tuple[np.ndarray, np.ndarray]:
    """Distances in mm from each surface voxel of one mask to the other mask's surface.

    Args:
        reference: boolean ``(X, Y, Z)`` mask.
        prediction: boolean mask of the same shape.
        spacing: mm per array axis.

    Returns:
        ``(d_ref_to_pred, d_pred_to_ref)``, float64 1D arrays (one value per surface voxel of the first
        named mask). Both are empty when either mask is empty.
    """
    ref, pred = _check_pair(reference, prediction)
    sp = _check_spacing(spacing)
    if not ref.any() or not pred.any():
        return np.zeros(0), np.zeros(0)
    box = bounding_box(ref | pred, margin=1)
    assert box is not None
    ref_c, pred_c = ref[box], pred[box]
    s_ref, s_pred = surface_voxels(ref_c), surface_voxels(pred_c)
    # distance of every voxel to the nearest surface voxel of the other mask (EDT of the complement)
    to_pred = ndimage.distance_transform_edt(~s_pred, sampling=sp)
    to_ref = ndimage.distance_transform_edt(~s_ref, sampling=sp)
    return np.asarray(to_pred[s_ref], np.float64), np.asarray(to_ref[s_pred], np.float64)


def image_diagonal_mm(shape: Sequence[int], spacing: Sequence[float]) -> float:
    """Length in mm of the diagonal of a grid (centre of the first to centre of the last voxel)."""
    sp = _check_spacing(spacing)
    return float(math.sqrt(sum(((int(n) - 1) * s) ** 2 for n, s in zip(shape, sp))))


def hd95(
    reference: np.ndarray,
    prediction: np.ndarray,
    spacing: Sequence[float],
    empty_distance_mm: float | None = None,
) -> float:
    """Symmetric 95th-percentile Hausdorff distance in mm.

    Args:
        reference, prediction: boolean masks of the same shape.
        spacing: mm per array axis.
        empty_distance_mm: value when exactly one mask is empty; default the image diagonal in mm.

    Returns:
        The distance in mm; NaN when both masks are empty.
    """
    ref, pred = _check_pair(reference, prediction)
    _check_spacing(spacing)
    has_ref, has_pred = bool(ref.any()), bool(pred.any())
    if not has_ref and not has_pred:
        return float("nan")
    if not (has_ref and has_pred):
        if empty_distance_mm is not None:
            return float(empty_distance_mm)
        return image_diagonal_mm(ref.shape, spacing)
    d_rp, d_pr = directed_surface_distances(ref, pred, spacing)
    return float(max(np.percentile(d_rp, 95), np.percentile(d_pr, 95)))


def surface_dice(
    reference: np.ndarray, prediction: np.ndarray, spacing: Sequence[float], tolerance_mm: float
) -> float:
    """Fraction of both surfaces lying within ``tolerance_mm`` of the other surface.

    Returns:
        A float in [0, 1]; NaN when both masks are empty, 0 when exactly one is empty.

    Raises:
        ValueError: a negative or non-finite tolerance.
    """
    ref, pred = _check_pair(reference, prediction)
    _check_spacing(spacing)
    tol = _check_tolerance(tolerance_mm)
    has_ref, has_pred = bool(ref.any()), bool(pred.any())
    if not has_ref and not has_pred:
        return float("nan")
    if not (has_ref and has_pred):
        return 0.0
    d_rp, d_pr = directed_surface_distances(ref, pred, spacing)
    return _surface_dice_from(d_rp, d_pr, tol)


def _check_tolerance(tolerance_mm: float) -> float:
    tol = float(tolerance_mm)
    if not math.isfinite(tol) or tol < 0:
        raise ValueError(f"tolerance_mm must be a finite number >= 0, got {tolerance_mm!r}")
    return tol


def _surface_dice_from(d_rp: np.ndarray, d_pr: np.ndarray, tol: float) -> float:
    # a tiny slack so that a distance equal to the tolerance counts despite float rounding
    eps = 1e-6 * max(tol, 1.0)
    within = int((d_rp <= tol + eps).sum()) + int((d_pr <= tol + eps).sum())
    return within / (d_rp.size + d_pr.size)


def _json_number(v):
    return None if isinstance(v, float) and not math.isfinite(v) else v


@dataclass(frozen=True)
class OrganScore:
    """The metrics of one organ in one case.

    Attributes:
        dice: Dice coefficient (NaN when undefined, see module docstring).
        hd95: symmetric 95th-percentile Hausdorff distance, mm.
        surface_dice: surface Dice at the evaluation's tolerance.
        reference_voxels, prediction_voxels: mask sizes in voxels.
        reference_ml, prediction_ml: mask volumes in millilitres.
        status: one of :data:`STATUSES`.
    """

    dice: float
    hd95: float
    surface_dice: float
    reference_voxels: int
    prediction_voxels: int
    reference_ml: float
    prediction_ml: float
    status: str = "ok"

    def to_json(self) -> dict:
        """Plain dict; NaN becomes ``None`` (JSON has no NaN)."""
        return {k: _json_number(v) for k, v in asdict(self).items()}

    @classmethod
    def from_json(cls, d: dict) -> OrganScore:
        def f(k: str) -> float:
            return float("nan") if d.get(k) is None else float(d[k])

        return cls(
            dice=f("dice"),
            hd95=f("hd95"),
            surface_dice=f("surface_dice"),
            reference_voxels=int(d["reference_voxels"]),
            prediction_voxels=int(d["prediction_voxels"]),
            reference_ml=float(d["reference_ml"]),
            prediction_ml=float(d["prediction_ml"]),
            status=str(d.get("status", "ok")),
        )

    @classmethod
    def not_annotated(cls) -> OrganScore:
        """The record of an organ the reference case does not annotate (all metrics NaN)."""
        nan = float("nan")
        return cls(nan, nan, nan, 0, 0, nan, nan, "not_annotated")


def organ_metrics(
    reference: np.ndarray,
    prediction: np.ndarray,
    spacing: Sequence[float],
    tolerance_mm: float,
    empty_distance_mm: float | None = None,
) -> OrganScore:
    """All metrics of one organ, sharing one distance computation.

    Args:
        reference: boolean ``(X, Y, Z)`` reference mask.
        prediction: boolean mask on the same grid.
        spacing: mm per array axis.
        tolerance_mm: surface Dice tolerance in mm.
        empty_distance_mm: HD95 when exactly one mask is empty (default: the masks' grid diagonal, so
            pass the full image's diagonal when the masks are crops).

    Returns:
        An :class:`OrganScore`; both empty -> NaN metrics and status ``both_empty``; one empty -> Dice 0,
        surface Dice 0, HD95 ``empty_distance_mm``, status ``reference_empty``/``prediction_empty``.

    Example:
        >>> ref = np.zeros((8, 8, 8), bool); ref[2:6, 2:6, 2:6] = True
        >>> organ_metrics(ref, ref, (1.0, 1.0, 2.5), tolerance_mm=1.0).dice
        1.0
    """
    ref, pred = _check_pair(reference, prediction)
    sp = _check_spacing(spacing)
    tol = _check_tolerance(tolerance_mm)
    voxel_ml = sp[0] * sp[1] * sp[2] / 1000.0
    n_ref, n_pred = int(ref.sum()), int(pred.sum())
    sizes = dict(
        reference_voxels=n_ref,
        prediction_voxels=n_pred,
        reference_ml=n_ref * voxel_ml,
        prediction_ml=n_pred * voxel_ml,
    )
    nan = float("nan")
    if n_ref == 0 and n_pred == 0:
        return OrganScore(nan, nan, nan, status="both_empty", **sizes)
    if n_ref == 0 or n_pred == 0:
        worst = empty_distance_mm if empty_distance_mm is not None else image_diagonal_mm(ref.shape, sp)
        status = "reference_empty" if n_ref == 0 else "prediction_empty"
        return OrganScore(0.0, float(worst), 0.0, status=status, **sizes)
    d_rp, d_pr = directed_surface_distances(ref, pred, sp)
    return OrganScore(
        dice=2.0 * int(np.logical_and(ref, pred).sum()) / (n_ref + n_pred),
        hd95=float(max(np.percentile(d_rp, 95), np.percentile(d_pr, 95))),
        surface_dice=_surface_dice_from(d_rp, d_pr, tol),
        **sizes,
    )
