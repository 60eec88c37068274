"""Merging per-structure masks: smallest structure wins, contested voxels counted."""

from __future__ import annotations

import numpy as np
import pytest

from torsoseg.dataset_conversion.merge import merge_masks


def _line(start, stop, n=6):
    m = np.zeros((1, 1, n), bool)
    m[0, 0, start:stop] = True
    return m


def test_hand_computed_overlap():
    # value 1 covers 0..3 (4 voxels), value 2 covers 3..4 (2 voxels), value 3 covers 3 only (1 voxel)
    lab, n = merge_masks({1: _line(0, 4), 2: _line(3, 5), 3: _line(3, 4)}, (1, 1, 6))
    assert lab.ravel().tolist() == [1, 1, 1, 3, 2, 0]
    assert n == 1
    assert lab.dtype == np.uint8


def test_tie_goes_to_lower_value_and_order_does_not_matter():
    a, b = _line(0, 3), _line(2, 5)  # both 3 voxels, contest voxel 2
    lab1, n1 = merge_masks({1: a, 2: b}, (1, 1, 6))
    lab2, n2 = merge_masks({2: b, 1: a}, (1, 1, 6))
    assert lab1.ravel().tolist() == lab2.ravel().tolist() == [1, 1, 1, 2, 2, 0]
    assert n1 == n2 == 1


def test_invariants_random():
    rng = np.random.default_rng(0)
    masks = {v: rng.random((5, 6, 7)) < 0.3 for v in range(1, 6)}
    lab, n = merge_masks(masks, (5, 6, 7))
    union = np.any(list(masks.values()), axis=0)
    claims = np.sum(list(masks.values()), axis=0)
    assert n == int((claims > 1).sum())
    assert np.array_equal(lab > 0, union)
    for v, m in masks.items():
        assert not (lab == v)[~m].any()  # never labels a voxel the structure did not claim
        assert np.array_equal((lab == v) & (claims == 1), m & (claims == 1))


def test_empty_and_bad_shape():
    lab, n = merge_masks({}, (2, 3, 4))
    assert lab.shape == (2, 3, 4) and not lab.any() and n == 0
    with pytest.raises(ValueError, match=r"mask of value 1 has shape \(1, 1, 6\), expected \(2, 3, 4\)"):
        merge_masks({1: _line(0, 2)}, (2, 3, 4))
