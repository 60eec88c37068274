"""The experiment planner: target spacing, patch size, U-Net topology and batch size under a budget.

Rules (numbers from nnU-Net and the paper's reference [4]):

* **target spacing**: the median spacing per axis; when the coarsest axis is more than 3x coarser than
  the others, that axis takes the 10th percentile of its spacings instead (not finer than the others).
* **topology** for a patch: an axis is pooled (stride 2) at a stage while its feature map stays >= 4
  voxels after pooling and its current spacing is less than 2x the finest poolable one (a thick-slice
  axis waits until the others have caught up); kernel size 3 on an axis once its spacing is within 2x of
  the finest, else 1; at most 6 stages; features double per stage from the budget's start (32; ``cpu``:
  16) to a cap of 320.
* **patch**: starts physically isotropic (256^3 voxels' worth at the target spacing) clipped to the
  median shape, and shrinks, one axis at a time (the one covering the largest fraction of the median
  shape, by its divisor ``2^pools``), until the estimated training memory of batch 2
  (:mod:`torsoseg.network.estimate`) fits the budget. Every patch axis is divisible by ``2^pools``.
  The sequence of candidate patches does not depend on the budget, and a budget takes the first that
  fits, so a larger budget never gives a smaller patch.
* **batch size**: as many patches as the budget holds, at least 2, at most the preset's cap and at most
  5% of the dataset's voxels per step.
* **CT normalisation**: clip to the labelled voxels' 0.5 and 99.5 percentiles, but never above
  :data:`CT_WINDOW_FLOOR_HU` at the low end (fat stays apart from lung and air), then z-score with the
  clipped foreground's mean and std.
* **cascade**: when the patch covers less than a quarter of the median image, a low-resolution stage is
  planned by coarsening the spacing (x1.03 per step) until its patch covers a quarter
  (:mod:`torsoseg.planning.cascade`); ``plans.cascade_note`` says in words why one was planned or not.

Budgets live in :mod:`torsoseg.planning.budgets`, the topology arithmetic in
:mod:`torsoseg.planning.topology`; their names are re-exported here.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from torsoseg.planning.budgets import BUDGETS, Budget, get_budget
from torsoseg.planning.cascade import CASCADE_THRESHOLD, forced_cascade, plan_cascade
from torsoseg.planning.fingerprint import Fingerprint
from torsoseg.planning.topology import (
    INITIAL_PATCH_VOXELS,
    MAX_STAGES,
    MIN_FEATURE_MAP,
    Topology,
    plan_pooling,
    plan_topology,
)
from torsoseg.plans import CTNormalization, Plans
from torsoseg.preprocessing.resampling import ANISOTROPY_THRESHOLD, anisotropic_axis, compute_new_shape

log = logging.getLogger(__name__)

__all__ = [
    "CASCADE_THRESHOLD",
    "CT_WINDOW_FLOOR_HU",
    "INITIAL_PATCH_VOXELS",
    "MAX_STAGES",
    "MIN_FEATURE_MAP",
    "Budget",
    "BUDGETS",
    "Topology",
    "get_budget",
    "target_spacing",
    "median_shape",
    "plan_pooling",
    "plan_topology",
    "plan_experiment",
    "plans_from",
]


def target_spacing(
    spacings: np.ndarray | Sequence[Sequence[float]], anisotropy_threshold: float = ANISOTROPY_THRESHOLD
) -> tuple[float, float, float]:
    """The target spacing of a dataset from its per-case spacings ``(N, 3)``.

    Median per axis; when the coarsest axis is more than ``anisotropy_threshold`` times the coarsest of
    the other two, it takes the 10th percentile of its spacings, but never finer than the others.

    Example:
        >>> target_spacing([[0.8, 0.8, 5.0], [0.8, 0.8, 1.0], [0.8, 0.8, 5.0], [0.8, 0.8, 5.0]])
        (0.8, 0.8, 2.2)
    """
    sp = np.asarray(spacings, dtype=np.float64)
    if sp.ndim != 2 or sp.shape[1] != 3 or sp.shape[0] == 0:
        raise ValueError(f"spacings must be an (N, 3) array with N >= 1, got shape {sp.shape}")
    if not np.all(np.isfinite(sp)) or np.any(sp <= 0):
        raise ValueError("spacings must be positive and finite")
    target = np.median(sp, axis=0)
    worst = anisotropic_axis(target, anisotropy_threshold)
    if worst is not None:
        others = [a for a in range(3) if a != worst]
        target[worst] = max(float(np.percentile(sp[:, worst], 10)), float(max(target[others])))
    return tuple(round(float(t), 6) for t in target)


def median_shape(fingerprint: Fingerprint, spacing: Sequence[float]) -> tuple[int, int, int]:
    """Median over cases of the cropped shape resampled to ``spacing``."""
    shapes = [compute_new_shape(c.shape_after_crop, c.spacing, spacing) for c in fingerprint.cases]
    return tuple(int(round(float(m))) for m in np.median(np.asarray(shapes, dtype=np.float64), axis=0))


#: The CT window's low end is at most this (HU). nnU-Net clips at the labelled voxels' 0.5th percentile;
#: when every label is soft tissue (an abdominal set with a little gas in its stomach labels) that can be
#: -84 to -104 HU, and fat (-190 to -30 HU), lung and air then reach the network as one value. A model
#: pretrained on such a set and fine-tuned to a torso set keeps the window, and cannot tell a lung from the
#: fat beside it. At -200 HU fat keeps its own values while the soft-tissue contrast keeps its scale
#: (-1000 HU, air, measured worse on the soft-tissue organs: documentation/training.md, "The CT
#: window's floor").
CT_WINDOW_FLOOR_HU = -200.0


def normalization_from_fingerprint(fingerprint: Fingerprint, channel: str = "0") -> CTNormalization:
    """CT normalisation from the fingerprint's foreground statistics of ``channel``.

    The window is the foreground's 0.5 to 99.5 percentiles with its low end lowered to
    :data:`CT_WINDOW_FLOOR_HU` where it lies above; mean and std are of the foreground clipped to the
    percentiles, so normalised soft tissue has the same scale either way.
    """
    st = fingerprint.intensity[channel]
    lower = min(st.percentile_00_5, CT_WINDOW_FLOOR_HU)
    return CTNormalization(
        mean=st.clipped_mean,
        std=max(st.clipped_std, 1e-6),
        lower=lower,
        upper=max(st.percentile_99_5, lower + 1e-3),
    )


def plan_experiment(
    fingerprint: Fingerprint, budget: str | None = "cpu", budget_gb: float | None = None,
    lowres_factor: float | None = None,
) -> Plans:
    """Plans a dataset from its fingerprint.

    Args:
        fingerprint: the dataset's :class:`Fingerprint`.
        budget: a preset of :data:`BUDGETS`.
        budget_gb: a number of GiB instead of a preset.
        lowres_factor: plan the cascade's low-resolution stage at this multiple (> 1) of the target
            spacing even where the rule plans none (:func:`~torsoseg.planning.cascade.forced_cascade`).

    Returns:
        The :class:`Plans` (not written).

    Example:
        >>> fp = Fingerprint.load("preprocessed/Dataset001_Abdomen")  # doctest: +SKIP
        >>> plans = plan_experiment(fp, "cpu")  # doctest: +SKIP
        >>> plans.patch_size, plans.features  # doctest: +SKIP
    """
    b = get_budget(budget, budget_gb)
    spacing = target_spacing(fingerprint.spacings)
    med = median_shape(fingerprint, spacing)
    shapes = [compute_new_shape(c.shape_after_crop, c.spacing, spacing) for c in fingerprint.cases]
    dataset_voxels = float(sum(np.prod(s) for s in shapes))
    n_cls = len(fingerprint.labels)
    n_in = len(fingerprint.channel_names)
    topo = plan_topology(med, spacing, b, n_cls, n_in, dataset_voxels)
    cascade, note = plan_cascade(topo, spacing, med, b, n_cls, n_in, dataset_voxels)
    if lowres_factor is not None:
        cascade, note = forced_cascade(spacing, med, lowres_factor, b, n_cls, n_in, dataset_voxels, note)
    log.info("%s: %s", fingerprint.dataset_name, note)
    return Plans(
        dataset_name=fingerprint.dataset_name,
        labels=dict(fingerprint.labels),
        target_spacing=spacing,
        patch_size=topo.patch_size,
        batch_size=topo.batch_size,
        strides=topo.strides,
        kernel_sizes=topo.kernel_sizes,
        features=topo.features,
        normalization=normalization_from_fingerprint(fingerprint),
        median_shape=med,
        budget=b.name,
        budget_gb=b.memory_gb,
        cascade=cascade,
        cascade_note=note,
        channel_names=dict(fingerprint.channel_names),
    )


def plans_from(source: Plans, fingerprint: Fingerprint) -> Plans:
    """Plans a dataset with ``source``'s spacing, patch, topology, batch and CT normalisation.

    The label set, dataset name and median shape are the new dataset's; ``planned_from`` names the
    source. This is what fine-tuning a model of ``source`` on the new dataset needs.

    Raises:
        ValueError: the input channels differ (a model of ``source`` could not read the new images).
    """
    if len(source.channel_names) != len(fingerprint.channel_names) or [
        v.lower() for _, v in sorted(source.channel_names.items())
    ] != [v.lower() for _, v in sorted(fingerprint.channel_names.items())]:
        raise ValueError(
            f"cannot plan {fingerprint.dataset_name} from {source.dataset_name}: input channels differ "
            f"({fingerprint.channel_names} vs {source.channel_names})"
        )
    return source.replace(
        dataset_name=fingerprint.dataset_name,
        labels=dict(fingerprint.labels),
        median_shape=median_shape(fingerprint, source.target_spacing),
        planned_from=source.dataset_name,
    )
