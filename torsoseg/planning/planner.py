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
* **cascade**: when the patch covers less than a quarter of the median image, a low-resolution stage is
  planned by coarsening the spacing (x1.03 per step) until its patch covers a quarter.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from torsoseg.network.estimate import estimate_network
from torsoseg.planning.fingerprint import Fingerprint
from torsoseg.plans import CTNormalization, Plans, StageConfiguration
from torsoseg.preprocessing.resampling import ANISOTROPY_THRESHOLD, anisotropic_axis, compute_new_shape

log = logging.getLogger(__name__)

MIN_FEATURE_MAP = 4
MAX_STAGES = 6
INITIAL_PATCH_VOXELS = 256**3
CASCADE_THRESHOLD = 0.25

__all__ = [
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


@dataclass(frozen=True)
class Budget:
    """A planning budget: the memory the estimate of one training step must fit in.

    Attributes:
        name: preset name (``cpu``, ``8gb``, ...) or ``"<X>gb"`` for a number.
        memory_gb: GiB available for the estimated training memory (activations, parameters and optimiser
            state). For ``cpu`` it is a compute budget in disguise: the same estimate scales with the
            work of a step, and 2 cores run a step of that size in about a second.
        base_features: features of the first stage (doubling per stage).
        max_features: cap of the features.
        max_batch_size: upper bound of the batch size (``None`` = no preset cap).
        usable_fraction: share of ``memory_gb`` the estimate may use (framework overhead, fragmentation).
    """

    name: str
    memory_gb: float
    base_features: int = 32
    max_features: int = 320
    max_batch_size: int | None = None
    usable_fraction: float = 0.8

    def __post_init__(self) -> None:
        if not (np.isfinite(self.memory_gb) and self.memory_gb > 0):
            raise ValueError(f"budget {self.name!r}: memory_gb must be > 0, got {self.memory_gb}")
        if self.base_features < 1 or self.max_features < self.base_features:
            raise ValueError(f"budget {self.name!r}: need 1 <= base_features <= max_features")

    @property
    def usable_bytes(self) -> float:
        return self.memory_gb * self.usable_fraction * 2**30

    def features(self, n_stages: int) -> tuple[int, ...]:
        return tuple(min(self.base_features * 2**s, self.max_features) for s in range(n_stages))


#: Named presets, ordered from small to large.
BUDGETS: dict[str, Budget] = {
    "cpu": Budget("cpu", memory_gb=0.75, base_features=16, max_batch_size=2),
    "8gb": Budget("8gb", memory_gb=8.0),
    "24gb": Budget("24gb", memory_gb=24.0),
    "40gb": Budget("40gb", memory_gb=40.0),
}


def get_budget(budget: str | None = "cpu", budget_gb: float | None = None) -> Budget:
    """Resolves a preset name or a number of GiB (not both) into a :class:`Budget`.

    Raises:
        ValueError: both given, an unknown name (lists the presets) or a non-positive number.

    Example:
        >>> get_budget("8gb").memory_gb, get_budget(budget_gb=12).name
        (8.0, '12gb')
    """
    if budget_gb is not None:
        if budget is not None and budget != "cpu":
            raise ValueError(f"give a budget preset ({budget!r}) or a number of GiB ({budget_gb}), not both")
        try:
            gb = float(budget_gb)
        except (TypeError, ValueError):
            raise ValueError(f"budget_gb must be a number, got {budget_gb!r}") from None
        if not (np.isfinite(gb) and gb > 0):
            raise ValueError(f"budget_gb must be > 0, got {budget_gb}")
        return Budget(f"{gb:g}gb", gb)
    name = "cpu" if budget is None else str(budget).lower()
    if name not in BUDGETS:
        raise ValueError(
            f"unknown budget {budget!r}; valid presets: {', '.join(BUDGETS)} (or a number of GiB)"
        )
    return BUDGETS[name]


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


def plan_pooling(
    patch_size: Sequence[int],
    spacing: Sequence[float],
    max_stages: int = MAX_STAGES,
    min_feature_map: int = MIN_FEATURE_MAP,
) -> tuple[tuple[tuple[int, int, int], ...], tuple[tuple[int, int, int], ...]]:
    """Strides and kernel sizes per stage for a patch at ``spacing`` (see the module docstring).

    Returns:
        ``(strides, kernel_sizes)``, one entry per stage; ``strides[0] == (1, 1, 1)``.

    Example:
        >>> s, k = plan_pooling((32, 32, 8), (1.0, 1.0, 4.0))
        >>> s
        ((1, 1, 1), (2, 2, 1), (2, 2, 1), (2, 2, 2))
        >>> k
        ((3, 3, 1), (3, 3, 1), (3, 3, 3), (3, 3, 3))
    """
    if len(patch_size) != 3 or len(spacing) != 3:
        raise ValueError(f"patch_size and spacing need 3 entries, got {patch_size} and {spacing}")
    sp = [float(s) for s in spacing]
    fm = [int(p) for p in patch_size]
    kernel = [1, 1, 1]
    strides: list[tuple[int, int, int]] = [(1, 1, 1)]
    kernels: list[tuple[int, int, int]] = []
    while True:
        finest = min(sp)
        for a in range(3):
            if sp[a] / finest < 2:
                kernel[a] = 3
        kernels.append(tuple(kernel))
        if len(strides) >= max_stages:
            break
        room = [a for a in range(3) if fm[a] // 2 >= min_feature_map]
        if not room:
            break
        finest_room = min(sp[a] for a in room)
        pool = [a for a in room if sp[a] / finest_room < 2]
        strides.append(tuple(2 if a in pool else 1 for a in range(3)))
        for a in pool:
            sp[a] *= 2
            fm[a] //= 2
    return tuple(strides), tuple(kernels)


@dataclass(frozen=True)
class Topology:
    """A planned network configuration (one resolution stage)."""

    patch_size: tuple[int, int, int]
    strides: tuple[tuple[int, int, int], ...]
    kernel_sizes: tuple[tuple[int, int, int], ...]
    features: tuple[int, ...]
    batch_size: int
    memory_bytes: int

    def to_json(self) -> dict[str, Any]:
        return {
            "patch_size": list(self.patch_size),
            "strides": [list(s) for s in self.strides],
            "kernel_sizes": [list(k) for k in self.kernel_sizes],
            "features": list(self.features),
            "batch_size": self.batch_size,
        }


def _divisible(patch: Sequence[int], strides) -> tuple[int, int, int]:
    total = [int(np.prod([s[a] for s in strides])) for a in range(3)]
    return tuple(max(t, (int(p) // t) * t) for p, t in zip(patch, total))


def plan_topology(
    median_shape: Sequence[int],
    spacing: Sequence[float],
    budget: Budget,
    num_classes: int,
    in_channels: int = 1,
    dataset_voxels: float | None = None,
    n_conv_per_stage: int = 2,
) -> Topology:
    """Largest patch (and its topology and batch size) whose batch-2 training step fits ``budget``.

    Args:
        median_shape: median case shape at ``spacing`` (voxels).
        spacing: the target spacing (mm).
        budget: the :class:`Budget`.
        num_classes: output channels, background included.
        in_channels: input channels.
        dataset_voxels: total voxels of the dataset at ``spacing`` (caps the batch at 5% of it).
        n_conv_per_stage: conv blocks per stage.

    Raises:
        ValueError: the budget cannot hold even the smallest patch.
    """
    med = np.maximum(np.asarray(median_shape, dtype=np.int64), 1)
    inv = 1.0 / np.asarray(spacing, dtype=np.float64)
    patch = np.round(inv * (INITIAL_PATCH_VOXELS / np.prod(inv)) ** (1 / 3)).astype(np.int64)
    patch = np.minimum(patch, med)
    limit = budget.usable_bytes
    while True:
        strides, kernels = plan_pooling(patch, spacing)
        patch = np.asarray(_divisible(patch, strides))
        strides, kernels = plan_pooling(patch, spacing)
        feats = budget.features(len(strides))
        est = estimate_network(patch, strides, kernels, feats, num_classes, in_channels, n_conv_per_stage)
        if est.memory_bytes(2) <= limit:
            break
        total = [int(np.prod([s[a] for s in strides])) for a in range(3)]
        order = np.argsort(-(patch / med), kind="stable")
        for a in order:
            if patch[a] - total[a] >= 2 * MIN_FEATURE_MAP:
                patch[a] -= total[a]
                break
        else:
            raise ValueError(
                f"budget {budget.name!r} ({budget.memory_gb:g} GiB) cannot hold the smallest patch "
                f"{tuple(int(p) for p in patch)} "
                f"(estimated {est.memory_bytes(2) / 2**30:.2f} GiB for batch 2)"
            )
    if len(strides) < 2:
        raise ValueError(
            f"images of median shape {tuple(int(m) for m in med)} are too small for a U-Net: no axis can be "
            f"pooled while keeping {MIN_FEATURE_MAP} voxels (at least {2 * MIN_FEATURE_MAP} voxels needed)"
        )
    batch = 2
    while est.memory_bytes(batch + 1) <= limit:
        batch += 1
        if batch >= 1024:
            break
    if budget.max_batch_size is not None:
        batch = min(batch, budget.max_batch_size)
    if dataset_voxels is not None:
        batch = min(batch, int(0.05 * float(dataset_voxels) / float(np.prod(patch))))
    batch = max(2, batch)
    return Topology(
        patch_size=tuple(int(p) for p in patch),
        strides=tuple(strides),
        kernel_sizes=tuple(kernels),
        features=tuple(feats),
        batch_size=int(batch),
        memory_bytes=int(est.memory_bytes(batch)),
    )


def _plan_cascade(
    fullres: Topology,
    spacing: Sequence[float],
    med: Sequence[int],
    budget: Budget,
    num_classes: int,
    in_channels: int,
    dataset_voxels: float,
) -> StageConfiguration | None:
    med_vox = float(np.prod(med))
    if np.prod(fullres.patch_size) / med_vox >= CASCADE_THRESHOLD:
        return None
    sp = np.asarray(spacing, dtype=np.float64)
    current = sp.copy()
    for _ in range(200):
        coarse = current.max() / current > 2
        if coarse.any():
            current[coarse] *= 1.03
        else:
            current *= 1.03
        low_med = np.maximum(np.round(np.asarray(med) * sp / current).astype(int), 1)
        low_vox = dataset_voxels * float(np.prod(sp / current))
        topo = plan_topology(low_med, current, budget, num_classes, in_channels, low_vox)
        if np.prod(topo.patch_size) / float(np.prod(low_med)) >= CASCADE_THRESHOLD:
            break
    if med_vox / float(np.prod(low_med)) < 2:
        return None  # the low-resolution stage would not be much coarser than full resolution
    return StageConfiguration(
        target_spacing=tuple(round(float(s), 6) for s in current),
        patch_size=tuple(topo.patch_size),
        strides=tuple(tuple(s) for s in topo.strides),
        kernel_sizes=tuple(tuple(k) for k in topo.kernel_sizes),
        features=tuple(topo.features),
        batch_size=int(topo.batch_size),
        median_shape=tuple(int(m) for m in low_med),
    )


def normalization_from_fingerprint(fingerprint: Fingerprint, channel: str = "0") -> CTNormalization:
    """CT normalisation from the fingerprint's foreground statistics of ``channel``."""
    st = fingerprint.intensity[channel]
    return CTNormalization(
        mean=st.clipped_mean,
        std=max(st.clipped_std, 1e-6),
        lower=st.percentile_00_5,
        upper=max(st.percentile_99_5, st.percentile_00_5 + 1e-3),
    )


def plan_experiment(
    fingerprint: Fingerprint, budget: str | None = "cpu", budget_gb: float | None = None
) -> Plans:
    """Plans a dataset from its fingerprint.

    Args:
        fingerprint: the dataset's :class:`Fingerprint`.
        budget: a preset of :data:`BUDGETS`.
        budget_gb: a number of GiB instead of a preset.

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
    cascade = _plan_cascade(topo, spacing, med, b, n_cls, n_in, dataset_voxels)
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
