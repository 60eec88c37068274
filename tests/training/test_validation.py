"""Tests of torsoseg.training.validation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from torsoseg.training.losses import DiceCELoss
from torsoseg.training.validation import confusion_counts, dice_from_counts, update_ema, validate


def test_counts_and_dice_hand_computed():
    pred = torch.tensor([0, 1, 1, 2, 0])
    ref = torch.tensor([0, 1, 2, 2, 2])
    c = confusion_counts(pred, ref, 4)
    assert c.tolist() == [[1, 1, 0], [1, 0, 2], [0, 0, 0]]
    d = dice_from_counts(c)
    assert d[0] == pytest.approx(2 / 3) and d[1] == pytest.approx(0.5) and math.isnan(d[2])


def test_ema_hand_values():
    assert update_ema(None, 0.5, 0.9) == 0.5
    assert update_ema(0.5, 1.0, 0.9) == pytest.approx(0.55)
    assert update_ema(0.5, float("nan"), 0.9) == 0.5


def test_validate_perfect_model_scores_one():
    class Oracle(torch.nn.Module):
        def forward(self, x):
            return 20 * torch.nn.functional.one_hot(x[:, 0].long(), 3).movedim(-1, 1).float()

    seg = torch.randint(0, 3, (2, 4, 4, 4))
    batches = [(seg[:, None].float(), seg)]
    loss, dice = validate(Oracle(), batches, DiceCELoss(), torch.device("cpu"))
    np.testing.assert_allclose(dice, [1.0, 1.0])
    assert loss < 1e-3


def test_bad_shapes():
    with pytest.raises(ValueError, match="differ"):
        confusion_counts(torch.zeros(3), torch.zeros(4), 2)
