"""Tiny model folders for inference tests, in the documented checkpoint format (COMMON.md interface 6).

No training: a network is built from a hand-made :class:`Plans` (or a given state dict) and saved as
``<root>/Dataset999_Tiny/Trainer__torsoseg_plans__3d_fullres/fold_K/checkpoint_final.pt``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from torsoseg.network import build_network
from torsoseg.plans import CTNormalization, Plans

TINY_LABELS = {"background": 0, "liver": 1, "kidney_right": 2, "kidney_left": 3}


def tiny_plans(
    labels: dict[str, int] | None = None,
    patch_size: Sequence[int] = (32, 32, 32),
    target_spacing: Sequence[float] = (4.0, 4.0, 5.0),
    features: Sequence[int] = (4, 8, 16),
) -> Plans:
    """A 3-stage U-Net plan small enough to run a whole case in about a second on one core."""
    n = len(features)
    return Plans(
        dataset_name="Dataset999_Tiny",
        labels=dict(labels or TINY_LABELS),
        target_spacing=tuple(float(s) for s in target_spacing),
        patch_size=tuple(int(p) for p in patch_size),
        batch_size=2,
        strides=((1, 1, 1),) + ((2, 2, 2),) * (n - 1),
        kernel_sizes=((3, 3, 3),) * n,
        features=tuple(features),
        normalization=CTNormalization(mean=-200.0, std=350.0, lower=-1000.0, upper=1000.0),
    )


def save_checkpoint(path: Path, plans: Plans, state_dict: dict, labels: dict[str, int] | None = None) -> Path:
    """Writes a checkpoint dict of plain types/tensors (loadable with ``weights_only=True``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(
        {
            "format_version": 1,
            "network_weights": state_dict,
            "plans": plans.to_json(),
            "dataset_json": {"name": "Tiny", "labels": dict(labels or plans.labels),
                             "channel_names": {"0": "CT"}, "numTraining": 0, "file_ending": ".nii.gz"},
            "labels": dict(labels or plans.labels),
            "settings": {"preset": "test"},
            "epoch": 0,
        },
        path,
    )
    return path


def make_model_dir(root: Path, folds: Sequence[int] = (0,), seed: int = 0, plans: Plans | None = None,
                   checkpoints: Sequence[str] = ("final",)) -> Path:
    """A model folder with randomly initialised (seeded) networks; its output heads are scaled up so
    that class margins are not all tiny."""
    plans = plans or tiny_plans()
    model_dir = root / plans.dataset_name / f"Trainer__{plans.plans_name}__{plans.configuration}"
    plans.save(_mkdir(model_dir) / "plans.json")
    for k, fold in enumerate(folds):
        torch.manual_seed(seed + k)
        net = build_network(plans, deep_supervision=False)
        with torch.no_grad():
            for head in net.seg_heads:
                head.weight.mul_(4.0)
        for name in checkpoints:
            save_checkpoint(model_dir / f"fold_{fold}" / f"checkpoint_{name}.pt", plans, net.state_dict())
    return model_dir


def _mkdir(p: Path) -> Path:
    p.mkdir(parents=True, exist_ok=True)
    return p
