"""Tests of torsoseg.training.schedule."""

from __future__ import annotations

import pytest

from torsoseg.training.schedule import learning_rate


def test_hand_values():
    assert learning_rate(0, 10, 0.01) == 0.01
    assert learning_rate(5, 10, 0.01, exponent=1.0) == pytest.approx(0.005)
    assert learning_rate(9, 10, 0.01, exponent=1.0) == pytest.approx(0.001)
    # warm-up 3 epochs: 1/4, 2/4, 3/4 of the peak, then the peak
    assert [learning_rate(e, 10, 1.0, warmup_epochs=3) for e in range(4)] == [0.25, 0.5, 0.75, 1.0]


def test_monotone_decay_after_warmup():
    lrs = [learning_rate(e, 50, 1e-2, warmup_epochs=5) for e in range(50)]
    assert all(a < b for a, b in zip(lrs[:5], lrs[1:6]))
    assert all(a > b for a, b in zip(lrs[5:], lrs[6:]))
    assert lrs[-1] > 0


def test_bad_epoch():
    with pytest.raises(ValueError, match="epoch 10 is outside 0..9"):
        learning_rate(10, 10, 0.01)
    with pytest.raises(ValueError, match="num_epochs must be >= 1"):
        learning_rate(0, 0, 0.01)
