"""Dice + cross-entropy loss with deep supervision. Always evaluated in float32.

Shapes: logits ``(B, K, X, Y, Z)``; targets ``(B, X, Y, Z)`` integer label values ``0..K-1``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn


def soft_dice(
    probs: torch.Tensor,
    onehot: torch.Tensor,
    batch_dice: bool = True,
    smooth: float = 1e-5,
    include_background: bool = False,
) -> torch.Tensor:
    """Per-class soft Dice.

    Args:
        probs: softmax probabilities ``(B, K, ...)``.
        onehot: one-hot target of the same shape.
        batch_dice: sum over the batch too (one Dice per class), else one per sample and class.
        smooth: added to numerator and denominator (an absent, unpredicted class scores 1).
        include_background: keep class 0.

    Returns:
        ``(K',)`` or ``(B, K')`` Dice values, ``K' = K`` or ``K - 1``.
    """
    if probs.shape != onehot.shape:
        raise ValueError(f"soft_dice: probs {tuple(probs.shape)} and target {tuple(onehot.shape)} differ")
    if not include_background:
        probs, onehot = probs[:, 1:], onehot[:, 1:]
    axes = tuple(range(2, probs.ndim))
    if batch_dice:
        axes = (0, *axes)
    tp = (probs * onehot).sum(axes)
    denom = probs.sum(axes) + onehot.sum(axes)
    return (2 * tp + smooth) / (denom + smooth).clamp_min(1e-8)


def balanced_class_weights(target: torch.Tensor, num_classes: int, exponent: float) -> torch.Tensor | None:
    """Cross-entropy class weights ``(n / (K_present * n_k)) ** exponent`` from the batch's label counts.

    ``exponent`` 0 gives ``None`` (plain cross-entropy); 0.5 weights a class 100x rarer than another 10x
    higher; 1 balances the classes fully. Absent classes get weight 1 (they contribute nothing anyway).
    ``F.cross_entropy`` normalises by the sum of the voxels' weights, so the loss stays on its usual scale.

    Example:
        >>> balanced_class_weights(torch.tensor([0, 0, 0, 1]), 3, 1.0).tolist()
        [0.6666666865348816, 2.0, 1.0]
    """
    if exponent == 0.0:
        return None
    counts = torch.bincount(target.reshape(-1), minlength=num_classes).float()
    present = counts > 0
    w = torch.ones(num_classes, device=target.device)
    w[present] = (counts.sum() / (present.sum() * counts[present])) ** exponent
    return w


class DiceCELoss(nn.Module):
    """``CE + (1 - mean soft Dice over foreground classes)``.

    ``ce_balance`` > 0 weights the cross-entropy by inverse class frequency (see
    :func:`balanced_class_weights`): a small organ's voxels then pull as hard as the background's. Its
    softmax gradient does not vanish the way the soft Dice's does once the background dominates, which is
    what keeps small organs at 0 for hundreds of steps on short budgets.
    """

    def __init__(
        self,
        batch_dice: bool = True,
        smooth: float = 1e-5,
        weight_ce: float = 1.0,
        weight_dice: float = 1.0,
        ce_balance: float = 0.0,
    ):
        super().__init__()
        if ce_balance < 0:
            raise ValueError(f"ce_balance must be >= 0, got {ce_balance}")
        self.batch_dice, self.smooth = batch_dice, smooth
        self.weight_ce, self.weight_dice = weight_ce, weight_dice
        self.ce_balance = float(ce_balance)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        logits = logits.float()
        target = target.long()
        if (
            target.ndim != logits.ndim - 1
            or target.shape[0] != logits.shape[0]
            or target.shape[1:] != logits.shape[2:]
        ):
            raise ValueError(f"loss: target {tuple(target.shape)} does not fit logits {tuple(logits.shape)}")
        k = logits.shape[1]
        ce = F.cross_entropy(logits, target, weight=balanced_class_weights(target, k, self.ce_balance))
        if k < 2:
            return self.weight_ce * ce
        probs = torch.softmax(logits, 1)
        onehot = F.one_hot(target, k).movedim(-1, 1).to(probs.dtype)
        dice = soft_dice(probs, onehot, self.batch_dice, self.smooth).mean()
        return self.weight_ce * ce + self.weight_dice * (1.0 - dice)


def deep_supervision_weights(n_outputs: int) -> list[float]:
    """Weights ``1, 1/2, 1/4, ...`` (highest resolution first), the lowest output ignored, summing to 1.

    Example:
        >>> deep_supervision_weights(3)
        [0.6666666666666666, 0.3333333333333333, 0.0]
    """
    if n_outputs < 1:
        raise ValueError(f"n_outputs must be >= 1, got {n_outputs}")
    w = [0.5**i for i in range(n_outputs)]
    if n_outputs > 1:
        w[-1] = 0.0
    s = sum(w)
    return [x / s for x in w]


def downsample_target(target: torch.Tensor, stride: Sequence[int]) -> torch.Tensor:
    """Nearest-neighbour subsampling of a label batch ``(B, X, Y, Z)`` by integer strides per axis."""
    sx, sy, sz = (int(s) for s in stride)
    return target[:, ::sx, ::sy, ::sz]


class DeepSupervisionLoss(nn.Module):
    """Weighted sum of a base loss over the deep-supervision outputs.

    Args:
        base: loss(logits, target).
        strides: per output (highest resolution first) its cumulative stride per axis w.r.t. the patch.
    """

    def __init__(self, base: nn.Module, strides: Sequence[Sequence[int]]):
        super().__init__()
        self.base = base
        self.strides = [tuple(int(x) for x in s) for s in strides]
        self.weights = deep_supervision_weights(len(self.strides))

    def forward(self, outputs: Sequence[torch.Tensor] | torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if isinstance(outputs, torch.Tensor):
            return self.base(outputs, target)
        if len(outputs) != len(self.strides):
            raise ValueError(f"deep supervision: {len(outputs)} outputs but {len(self.strides)} strides")
        total = outputs[0].new_zeros((), dtype=torch.float32)
        for out, stride, w in zip(outputs, self.strides, self.weights):
            if w == 0.0:  # ignored output: keep it in the graph (DDP expects every parameter to get a grad)
                total = total + 0.0 * out.float().mean()
                continue
            total = total + w * self.base(out, downsample_target(target, stride))
        return total
