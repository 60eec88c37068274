"""U-Net topology for a patch (pooling, kernels, features) and the largest patch that fits a budget.

The rules are those of :mod:`torsoseg.planning.planner`'s docstring (pooling while the feature map stays
>= 4 voxels, thick-slice axes waiting, patch shrinking one axis at a time until the estimate fits).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from torsoseg.network.estimate import estimate_network
from torsoseg.planning.budgets import Budget

MIN_FEATURE_MAP = 4
MAX_STAGES = 6
INITIAL_PATCH_VOXELS = 256**3

__all__ = [
    "MIN_FEATURE_MAP", "MAX_STAGES", "INITIAL_PATCH_VOXELS", "Topology", "plan_pooling", "plan_topology",
]


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
