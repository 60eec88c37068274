"""Tests of torsoseg.training.losses."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from torsoseg.training.losses import (
    DeepSupervisionLoss,
    DiceCELoss,
    deep_supervision_weights,
    downsample_target,
    soft_dice,
)


def test_soft_dice_hand_computed():
    # one sample, 2 classes, 4 voxels; class 1 predicted with prob 1 on voxels 0,1; true on 1,2
    probs = torch.tensor([[[0.0, 0.0, 1.0, 1.0], [1.0, 1.0, 0.0, 0.0]]])
    onehot = torch.tensor([[[1.0, 0.0, 0.0, 1.0], [0.0, 1.0, 1.0, 0.0]]])
    d = soft_dice(probs, onehot, smooth=0.0)
    assert d.tolist() == pytest.approx([0.5])  # 2*1 / (2 + 2)


def test_weights_halving_lowest_ignored():
    assert deep_supervision_weights(1) == [1.0]
    assert deep_supervision_weights(4) == pytest.approx([4 / 7, 2 / 7, 1 / 7, 0.0])


def test_perfect_prediction_minimal_and_loss_is_float32():
    target = torch.randint(0, 3, (2, 8, 8, 4))
    perfect = 50.0 * F.one_hot(target, 3).movedim(-1, 1).float()
    loss = DiceCELoss()
    good = loss(perfect.bfloat16(), target)
    bad = loss(torch.zeros_like(perfect), target)
    assert good.dtype == torch.float32
    assert float(good) < 1e-3 < float(bad)


def test_deep_supervision_matches_manual_sum():
    torch.manual_seed(0)
    target = torch.randint(0, 3, (2, 8, 8, 4))
    outs = [torch.randn(2, 3, 8, 8, 4), torch.randn(2, 3, 4, 4, 2), torch.randn(2, 3, 2, 2, 1)]
    base = DiceCELoss()
    ds = DeepSupervisionLoss(base, [(1, 1, 1), (2, 2, 2), (4, 4, 4)])
    expected = 2 / 3 * base(outs[0], target) + 1 / 3 * base(outs[1], target[:, ::2, ::2, ::2])
    torch.testing.assert_close(ds(outs, target), expected)
    assert downsample_target(target, (4, 4, 4)).shape == (2, 2, 2, 1)


def test_bad_shapes():
    with pytest.raises(ValueError, match="does not fit logits"):
        DiceCELoss()(torch.zeros(1, 3, 4, 4, 4), torch.zeros(1, 4, 4, 2, dtype=torch.long))
    with pytest.raises(ValueError, match="2 outputs but 3 strides"):
        DeepSupervisionLoss(DiceCELoss(), [(1, 1, 1)] * 3)(
            [torch.zeros(1, 2, 2, 2, 2)] * 2, torch.zeros(1, 2, 2, 2, dtype=torch.long)
        )


def test_balanced_class_weights_hand_computed():
    from torsoseg.training.losses import balanced_class_weights

    target = torch.tensor([0] * 90 + [1] * 9 + [2] * 1)
    assert balanced_class_weights(target, 4, 0.0) is None
    w = balanced_class_weights(target, 4, 1.0)  # n / (3 present * n_k); class 3 absent -> 1
    torch.testing.assert_close(w, torch.tensor([100 / 270, 100 / 27, 100 / 3, 1.0]))
    w5 = balanced_class_weights(target, 4, 0.5)
    torch.testing.assert_close(w5, w.sqrt() * torch.tensor([1, 1, 1, 1.0]))


def test_balanced_ce_pulls_a_small_class_harder():
    from torsoseg.training.losses import DiceCELoss

    target = torch.zeros(1, 8, 8, 8, dtype=torch.long)
    target[0, :2, :2, :2] = 1  # 8 of 512 voxels
    grads = []
    for balance in (0.0, 1.0):
        logits = torch.zeros(1, 2, 8, 8, 8, requires_grad=True)
        DiceCELoss(weight_dice=0.0, ce_balance=balance)(logits, target).backward()
        grads.append(-logits.grad[0, 1, 0, 0, 0].item())  # push toward class 1 at one of its voxels
    assert grads[1] > 20 * grads[0] > 0
