"""Parameter groups and their learning rates: the fine-tuning strategies of the settings.

Three groups: ``encoder``, ``decoder`` (together the transferred *body*) and ``heads`` (the 1x1x1 output
convolutions ``seg_heads.*``, deep-supervision heads included, which hold the rows of organs new to a
fine-tuned model). Each epoch's rate of a group is the schedule's rate times a factor:

* ``heads``: ``settings.head_lr_factor`` (fine-tuning lets the new organ rows move at the from-scratch
  rate while the transferred body keeps the paper's 10x smaller rate);
* ``encoder``: 0 during ``freeze_encoder_epochs``;
* ``encoder`` and ``decoder``: 0 during ``head_first_epochs`` ("linear probing, then fine-tuning").

While the body is frozen its parameters also stop requiring gradients (single-process training), so a
head-first step costs a forward pass and the heads' backward only.
"""

from __future__ import annotations

from typing import Any

import torch

from torsoseg.training.settings import TrainingSettings

GROUPS = ("encoder", "decoder", "heads")


def group_of(name: str) -> str:
    """The group of parameter ``name`` (``encoder.*``, ``seg_heads.*``, everything else ``decoder``)."""
    if name.startswith("encoder."):
        return "encoder"
    if name.startswith("seg_heads."):
        return "heads"
    return "decoder"


def parameter_groups(model: torch.nn.Module) -> list[dict[str, Any]]:
    """Optimizer parameter groups ``[{"params": [...], "name": group}, ...]`` in :data:`GROUPS` order.

    Empty groups are left out (the optimizer refuses them).
    """
    by_group: dict[str, list[torch.nn.Parameter]] = {g: [] for g in GROUPS}
    for n, p in model.named_parameters():
        by_group[group_of(n)].append(p)
    return [{"params": ps, "name": g} for g, ps in by_group.items() if ps]


def group_rates(settings: TrainingSettings, epoch: int, lr: float) -> dict[str, float]:
    """Learning rate of each group in ``epoch`` (0-based) given the schedule's rate ``lr``.

    Example:
        >>> from torsoseg.training.settings import get_settings
        >>> s = get_settings("cpu", head_lr_factor=10.0, head_first_epochs=2)
        >>> group_rates(s, 0, 1e-4)["decoder"], group_rates(s, 2, 1e-4)["heads"]
        (0.0, 0.001)
    """
    head_only = epoch < settings.head_first_epochs
    return {
        "encoder": 0.0 if head_only or epoch < settings.freeze_encoder_epochs else lr,
        "decoder": 0.0 if head_only else lr,
        "heads": lr * settings.head_lr_factor,
    }


def apply_group_rates(
    optimizer: torch.optim.Optimizer, rates: dict[str, float], toggle_grad: bool = True
) -> None:
    """Sets each group's ``lr``; with ``toggle_grad`` a group at rate 0 stops requiring gradients.

    ``toggle_grad`` must be off under DistributedDataParallel, which expects the same parameters to
    receive gradients in every step.
    """
    for g in optimizer.param_groups:
        g["lr"] = rates[g["name"]]
        if toggle_grad:
            for p in g["params"]:
                p.requires_grad_(rates[g["name"]] > 0.0)
