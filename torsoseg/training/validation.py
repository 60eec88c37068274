"""Validation on held-out patches: loss and pseudo Dice per organ, plus the EMA that picks the best model.

The validation patches are drawn once (fixed seed, no augmentation, foreground oversampling as in
training) and reused every epoch, so the curve is not noise from changing patches.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from torsoseg.network.precision import autocast


def draw_batches(batches: Any, n: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """``n`` batches ``(data (B,C,X,Y,Z) float32, seg (B,X,Y,Z) int64)`` as CPU tensors."""
    out = []
    for _ in range(n):
        b = next(batches)
        out.append(
            (
                torch.from_numpy(np.asarray(b["data"], dtype=np.float32)),
                torch.from_numpy(np.asarray(b["seg"][:, 0], dtype=np.int64)),
            )
        )
    return out


def confusion_counts(pred: torch.Tensor, target: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Per foreground class ``[tp, fp, fn]`` (int64 ``(K-1, 3)``) of label tensors of equal shape."""
    if pred.shape != target.shape:
        raise ValueError(f"prediction {tuple(pred.shape)} and target {tuple(target.shape)} differ")
    out = torch.zeros(num_classes - 1, 3, dtype=torch.int64)
    for k in range(1, num_classes):
        p, t = pred == k, target == k
        out[k - 1, 0] = (p & t).sum()
        out[k - 1, 1] = (p & ~t).sum()
        out[k - 1, 2] = (~p & t).sum()
    return out


def dice_from_counts(counts: torch.Tensor) -> np.ndarray:
    """``2 tp / (2 tp + fp + fn)`` per class; NaN where the class is absent and never predicted.

    Example:
        >>> dice_from_counts(torch.tensor([[1, 1, 0], [0, 0, 0]])).round(3).tolist()
        [0.667, nan]
    """
    c = counts.double().numpy()
    denom = 2 * c[:, 0] + c[:, 1] + c[:, 2]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denom > 0, 2 * c[:, 0] / np.where(denom > 0, denom, 1), np.nan)


@torch.no_grad()
def validate(
    model: torch.nn.Module,
    batches: Sequence[tuple[torch.Tensor, torch.Tensor]],
    loss_fn: Callable[[Any, torch.Tensor], torch.Tensor],
    device: torch.device,
    amp_dtype: Any = None,
    memory_format: torch.memory_format = torch.contiguous_format,
) -> tuple[float, np.ndarray]:
    """Mean loss and pseudo Dice per foreground class (over all validation voxels together)."""
    was_training = model.training
    model.eval()
    losses = []
    counts = None
    try:
        for data, seg in batches:
            x = data.to(device, non_blocking=True).contiguous(memory_format=memory_format)
            y = seg.to(device, non_blocking=True)
            with autocast(amp_dtype, device):
                out = model(x)
            losses.append(float(loss_fn(out, y)))
            logits = out[0] if isinstance(out, (list, tuple)) else out
            pred = logits.argmax(1).cpu()
            c = confusion_counts(pred, seg, logits.shape[1])
            counts = c if counts is None else counts + c
    finally:
        model.train(was_training)
    if counts is None:
        return float("nan"), np.array([])
    return float(np.mean(losses)), dice_from_counts(counts)


def update_ema(ema: float | None, value: float, alpha: float) -> float:
    """``alpha * ema + (1 - alpha) * value`` (the first value starts the average; NaN values are skipped)."""
    if not np.isfinite(value):
        return ema if ema is not None else float("nan")
    if ema is None or not np.isfinite(ema):
        return float(value)
    return float(alpha * ema + (1 - alpha) * value)
