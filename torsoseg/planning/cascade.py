"""The cascade's low-resolution stage (``3d_lowres``), and the planner's words on why it plans one or not.

Rule (nnU-Net's, Roth et al. 2017's hierarchy): when the full-resolution patch covers less than a quarter
of the median image, the network sees too little context at once, and a coarse stage that sees the whole
body pays off. The spacing is coarsened (x1.03 per step, anisotropic axes first) until the low-resolution
patch covers a quarter of the low-resolution median image. A stage that would not be at least 2x coarser
(in voxels) than full resolution is not worth a second network, and is dropped.

The fine stage (``3d_cascade``) needs no planning of its own: it is the full-resolution network, trained
on crops around the organs and run only inside the coarse stage's candidate region.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from torsoseg.planning.budgets import Budget
from torsoseg.planning.topology import Topology, plan_topology
from torsoseg.plans import StageConfiguration

CASCADE_THRESHOLD = 0.25
#: The low-resolution median image must hold at most this share of the full-resolution voxels.
MAX_LOWRES_SHARE = 0.5

__all__ = ["CASCADE_THRESHOLD", "forced_cascade", "plan_cascade"]


def _stage(spacing: np.ndarray, topo: Topology, low_med: np.ndarray) -> StageConfiguration:
    return StageConfiguration(
        target_spacing=tuple(round(float(s), 6) for s in spacing),
        patch_size=tuple(topo.patch_size),
        strides=tuple(tuple(s) for s in topo.strides),
        kernel_sizes=tuple(tuple(k) for k in topo.kernel_sizes),
        features=tuple(topo.features),
        batch_size=int(topo.batch_size),
        median_shape=tuple(int(m) for m in low_med),
    )


def forced_cascade(
    spacing: Sequence[float],
    med: Sequence[int],
    factor: float,
    budget: Budget,
    num_classes: int,
    in_channels: int,
    dataset_voxels: float,
    rule_note: str = "",
) -> tuple[StageConfiguration, str]:
    """A low-resolution stage at ``factor`` times the full-resolution spacing, whatever the rule says.

    For data too small for the rule to plan one (the demo's phantoms), or to try a cascade on purpose.
    The stage's patch and network are planned for its median image as any configuration's.

    Args:
        spacing, med, budget, num_classes, in_channels, dataset_voxels: as for :func:`plan_cascade`.
        factor: coarsening of every axis (> 1).
        rule_note: what the rule alone would have said, quoted in the note.

    Raises:
        ValueError: ``factor`` is not a finite number > 1.
    """
    factor = float(factor)
    if not (np.isfinite(factor) and factor > 1.0):
        raise ValueError(f"lowres_factor must be a number > 1, got {factor}")
    sp = np.asarray(spacing, dtype=np.float64)
    current = sp * factor
    low_med = np.maximum(np.round(np.asarray(med) * sp / current).astype(int), 1)
    topo = plan_topology(low_med, current, budget, num_classes, in_channels, dataset_voxels / factor**3)
    stage = _stage(current, topo, low_med)
    share = float(np.prod(low_med)) / float(np.prod(med))
    note = (f"cascade forced (lowres_factor {factor:g}): 3d_lowres segments the whole image at "
            f"{stage.target_spacing} mm ({100 * share:.0f}% of the voxels), then 3d_cascade refines only "
            f"around the organs it finds")
    return stage, note + (f"; the planner's rule alone: {rule_note}" if rule_note else "")


def _coarsen(spacing: np.ndarray) -> np.ndarray:
    """One step: anisotropic (finer than half the coarsest) axes first, then all axes, x1.03."""
    current = spacing.copy()
    coarse = current.max() / current > 2
    if coarse.any():
        current[coarse] *= 1.03
    else:
        current *= 1.03
    return current


def plan_cascade(
    fullres: Topology,
    spacing: Sequence[float],
    med: Sequence[int],
    budget: Budget,
    num_classes: int,
    in_channels: int,
    dataset_voxels: float,
) -> tuple[StageConfiguration | None, str]:
    """The low-resolution stage for a planned full-resolution ``fullres`` topology, or ``None``, with why.

    Args:
        fullres: the full-resolution topology.
        spacing: the full-resolution target spacing (mm).
        med: the median shape at ``spacing``.
        budget, num_classes, in_channels: as for :func:`~torsoseg.planning.topology.plan_topology`.
        dataset_voxels: voxels of the whole dataset at ``spacing``.

    Returns:
        ``(stage, note)``: the :class:`StageConfiguration` (``None`` when no cascade is planned) and one
        plain sentence saying why.
    """
    med_vox = float(np.prod(med))
    covered = float(np.prod(fullres.patch_size)) / med_vox
    if covered >= CASCADE_THRESHOLD:
        return None, (
            f"no cascade: the full-resolution patch {tuple(fullres.patch_size)} already covers "
            f"{100 * min(covered, 1.0):.0f}% of the median image {tuple(int(m) for m in med)} (a cascade "
            f"is planned below {100 * CASCADE_THRESHOLD:.0f}%), so one network sees enough context"
        )
    sp = np.asarray(spacing, dtype=np.float64)
    current = sp.copy()
    for _ in range(200):
        current = _coarsen(current)
        low_med = np.maximum(np.round(np.asarray(med) * sp / current).astype(int), 1)
        low_vox = dataset_voxels * float(np.prod(sp / current))
        topo = plan_topology(low_med, current, budget, num_classes, in_channels, low_vox)
        if np.prod(topo.patch_size) / float(np.prod(low_med)) >= CASCADE_THRESHOLD:
            break
    share = float(np.prod(low_med)) / med_vox
    if share > MAX_LOWRES_SHARE:
        return None, (
            f"no cascade: the full-resolution patch covers only {100 * covered:.0f}% of the median image, "
            f"but a low-resolution stage whose patch covers {100 * CASCADE_THRESHOLD:.0f}% would keep "
            f"{100 * share:.0f}% of the voxels: not coarse enough to be worth a second network"
        )
    stage = _stage(current, topo, low_med)
    return stage, (
        f"cascade planned: the full-resolution patch covers only {100 * covered:.0f}% of the median image; "
        f"3d_lowres segments the whole image at {stage.target_spacing} mm ({100 * share:.0f}% of the "
        f"voxels), then 3d_cascade refines only around the organs it finds"
    )
