"""Tests of torsoseg.training.patches."""

from __future__ import annotations

import numpy as np
import pytest

from tests.training.conftest import tiny_plans, write_tiny_dataset
from torsoseg.preprocessing.cache import cache_folder
from torsoseg.training.patches import (
    PatchBatchLoader,
    choose_start,
    crop_padded,
    patch_bounds,
    pick_foreground_center,
)


def test_bounds_and_crop_hand_computed():
    lb, ub = patch_bounds((10, 4, 8), (6, 6, 8))
    assert lb.tolist() == [0, -1, 0] and ub.tolist() == [4, -1, 0]
    # margin of the larger initial patch: (8 - 6) / 2 = 1 voxel beyond each border
    lb, ub = patch_bounds((10, 10, 10), (8, 8, 8), (6, 6, 6))
    assert lb.tolist() == [-1] * 3 and ub.tolist() == [3] * 3
    a = np.arange(2 * 3 * 4).reshape(1, 2, 3, 4)
    c = crop_padded(a, (-1, 1, 2), (2, 2, 3), pad_value=-9)
    assert c.shape == (1, 2, 2, 3)
    assert c[0, 0].tolist() == [[-9, -9, -9], [-9, -9, -9]]
    assert c[0, 1].tolist() == [[6, 7, -9], [10, 11, -9]]


def test_foreground_centre_is_inside_patch():
    rng = np.random.default_rng(0)
    locs = {1: np.array([[30, 2, 5]]), 2: np.zeros((0, 3), int)}
    center = pick_foreground_center(locs, rng)
    assert center.tolist() == [30, 2, 5]
    start = choose_start((40, 20, 10), (8, 8, 8), rng, center)
    assert all(s <= c < s + 8 for s, c in zip(start, center))
    assert pick_foreground_center({0: np.array([[1, 1, 1]])}, rng) is None


def test_loader_oversampling_and_shapes(tmp_path):
    plans = tiny_plans()
    d = write_tiny_dataset(tmp_path, plans, n_cases=3)
    folder = cache_folder(d, plans)
    loader = PatchBatchLoader(
        folder, ["case_000", "case_001"], 3, (12, 12, 8), oversample_foreground=0.34, seed=1
    )
    assert [loader.force_foreground(i) for i in range(3)] == [False, False, True]
    for _ in range(10):
        b = next(loader)
        assert b["data"].shape == (3, 1, 12, 12, 8) and b["data"].dtype == np.float32
        assert b["seg"].shape == (3, 1, 12, 12, 8) and b["seg"].dtype == np.int16
        assert (b["seg"][2] > 0).any()  # the forced sample always holds foreground
        assert set(b["keys"]) <= {"case_000", "case_001"}
    # same seed and thread id -> same stream
    a = next(PatchBatchLoader(folder, ["case_000"], 2, (12, 12, 8), seed=5))
    b = next(PatchBatchLoader(folder, ["case_000"], 2, (12, 12, 8), seed=5))
    np.testing.assert_array_equal(a["data"], b["data"])


def test_bad_inputs(tmp_path):
    with pytest.raises(ValueError, match="no cases"):
        PatchBatchLoader(tmp_path, [], 2, (8, 8, 8))
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        PatchBatchLoader(tmp_path, ["a"], 0, (8, 8, 8))
    with pytest.raises(FileNotFoundError, match="no complete cached case 'a'"):
        next(PatchBatchLoader(tmp_path, ["a"], 1, (8, 8, 8)))


def test_region_sampling_keeps_patch_centres_near_the_organs():
    from torsoseg.training.patches import region_center, region_margin_voxels

    assert region_margin_voxels(None, (1, 1, 1)) is None
    assert region_margin_voxels(20.0, (2.0, 3.0, 5.0)) == (10, 7, 4)
    rng = np.random.default_rng(0)
    locs = {1: np.array([[40, 40, 20], [45, 50, 22]]), 2: np.array([[60, 42, 21]])}
    centres = np.array([region_center(locs, (100, 100, 50), (5, 5, 2), rng) for _ in range(500)])
    assert centres.min(0).tolist() == [35, 35, 18] and centres.max(0).tolist() == [65, 55, 24]
    assert region_center({}, (10, 10, 10), (1, 1, 1), rng) is None
