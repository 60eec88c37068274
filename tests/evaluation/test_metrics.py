"""Metrics of one organ: hand-computed cubes with anisotropic spacing, invariants, empty conventions."""

from __future__ import annotations

import math

import numpy as np
import pytest

from torsoseg.evaluation.metrics import (
    OrganScore,
    bounding_box,
    dice,
    directed_surface_distances,
    hd95,
    image_diagonal_mm,
    organ_metrics,
    surface_dice,
    surface_voxels,
)

SPACING = (0.5, 2.0, 3.0)


def two_cubes(shape=(12, 12, 12), shift=2):
    """Reference cube [2, 8)^3, prediction shifted by ``shift`` voxels along axis 0 (the finest axis)."""
    ref = np.zeros(shape, bool)
    pred = np.zeros(shape, bool)
    ref[2:8, 2:8, 2:8] = True
    pred[2 + shift : 8 + shift, 2:8, 2:8] = True
    return ref, pred


def brute_force_distances(a: np.ndarray, b: np.ndarray, spacing) -> np.ndarray:
    """Distance of each surface voxel of ``a`` to the nearest surface voxel of ``b`` (all pairs)."""
    sa = np.argwhere(surface_voxels(a)) * np.asarray(spacing)
    sb = np.argwhere(surface_voxels(b)) * np.asarray(spacing)
    d = np.sqrt(((sa[:, None, :] - sb[None, :, :]) ** 2).sum(-1))
    return d.min(axis=1)


# --- hand-computed fixture -------------------------------------------------------------------------
# Both cubes have 6^3 = 216 voxels, 6^3 - 4^3 = 152 surface voxels; overlap 4*6*6 = 144 -> Dice 2/3.
# With spacing 0.5 mm along the shift axis (the finest), every reference surface voxel's nearest
# prediction surface voxel lies along axis 0:
#   x=2 face (36 voxels): 2 voxels away -> 1.0 mm; x=3 ring (20): 0.5 mm; x=4..6 rings (60): 0 (shared
#   side faces); x=7 face: ring (20) 0, inner 16 voxels 2 voxels from the prediction's x=9 face -> 1.0 mm.
# So 80 x 0 mm, 20 x 0.5 mm, 52 x 1.0 mm, in both directions (symmetry).


def test_two_cubes_hand_computed_distances():
    ref, pred = two_cubes()
    d_rp, d_pr = directed_surface_distances(ref, pred, SPACING)
    for d in (d_rp, d_pr):
        values, counts = np.unique(d, return_counts=True)
        assert values.tolist() == pytest.approx([0.0, 0.5, 1.0])
        assert counts.tolist() == [80, 20, 52]


def test_two_cubes_hand_computed_metrics():
    ref, pred = two_cubes()
    assert dice(ref, pred) == pytest.approx(2 * 144 / 432)
    # 95th percentile of 152 sorted values: position 0.95 * 151 = 143.45, inside the 1.0 mm block
    assert hd95(ref, pred, SPACING) == pytest.approx(1.0)
    assert surface_dice(ref, pred, SPACING, tolerance_mm=0.25) == pytest.approx(160 / 304)
    assert surface_dice(ref, pred, SPACING, tolerance_mm=0.5) == pytest.approx(200 / 304)
    assert surface_dice(ref, pred, SPACING, tolerance_mm=1.0) == pytest.approx(1.0)
    s = organ_metrics(ref, pred, SPACING, tolerance_mm=0.5)
    assert (s.dice, s.hd95, s.surface_dice, s.status) == pytest.approx((2 / 3, 1.0, 200 / 304, "ok"))
    assert s.reference_voxels == s.prediction_voxels == 216
    assert s.reference_ml == pytest.approx(216 * 0.5 * 2.0 * 3.0 / 1000)


def test_disjoint_cubes_along_the_coarse_axis():
    # slabs 4x4x3 at z = 1..3 and z = 7..9 (3 mm slices): the reference's z=3 face (16 voxels) is 4 slices
    # from the prediction's z=7 face (12 mm), its z=2 ring (12 voxels) 15 mm, its z=1 face (16) 18 mm.
    ref = np.zeros((10, 10, 16), bool)
    pred = np.zeros_like(ref)
    ref[2:6, 2:6, 1:4] = True
    pred[2:6, 2:6, 7:10] = True
    assert dice(ref, pred) == 0.0
    d_rp, _ = directed_surface_distances(ref, pred, SPACING)
    values, counts = np.unique(np.round(d_rp, 6), return_counts=True)
    assert values.tolist() == [12.0, 15.0, 18.0] and counts.tolist() == [16, 12, 16]
    # p95 of 44 values: position 0.95 * 43 = 40.85, inside the 18 mm block
    assert hd95(ref, pred, SPACING) == pytest.approx(18.0)
    assert surface_dice(ref, pred, SPACING, tolerance_mm=11.9) == 0.0
    assert surface_dice(ref, pred, SPACING, tolerance_mm=12.0) == pytest.approx(32 / 88)


def test_identical_masks_are_perfect():
    ref, _ = two_cubes()
    s = organ_metrics(ref, ref, SPACING, tolerance_mm=0.0)
    assert (s.dice, s.hd95, s.surface_dice) == (1.0, 0.0, 1.0)


# --- invariants --------------------------------------------------------------------------------------


def random_blob(rng, shape=(14, 12, 10), n=3):
    from scipy import ndimage

    m = np.zeros(shape, bool)
    for _ in range(n):
        c = [rng.integers(2, s - 2) for s in shape]
        m[tuple(slice(x - 2, x + 3) for x in c)] = True
    return ndimage.binary_opening(m) | m


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_distances_agree_with_brute_force(seed):
    rng = np.random.default_rng(seed)
    a, b = random_blob(rng), random_blob(rng)
    d_ab, d_ba = directed_surface_distances(a, b, SPACING)
    assert np.allclose(np.sort(d_ab), np.sort(brute_force_distances(a, b, SPACING)))
    assert np.allclose(np.sort(d_ba), np.sort(brute_force_distances(b, a, SPACING)))


@pytest.mark.parametrize("seed", [3, 4])
def test_symmetry_padding_and_axis_permutation(seed):
    rng = np.random.default_rng(seed)
    a, b = random_blob(rng), random_blob(rng)
    base = organ_metrics(a, b, SPACING, 2.0, empty_distance_mm=100.0)
    swapped = organ_metrics(b, a, SPACING, 2.0, empty_distance_mm=100.0)
    assert (base.dice, base.hd95, base.surface_dice) == pytest.approx(
        (swapped.dice, swapped.hd95, swapped.surface_dice)
    )
    # padding the grid (the bounding-box crop) changes nothing
    pa, pb = np.pad(a, 5), np.pad(b, 5)
    padded = organ_metrics(pa, pb, SPACING, 2.0, empty_distance_mm=100.0)
    assert (padded.dice, padded.hd95, padded.surface_dice) == pytest.approx(
        (base.dice, base.hd95, base.surface_dice)
    )
    # permuting the axes together with the spacing changes nothing
    perm = (2, 0, 1)
    sp = tuple(SPACING[p] for p in perm)
    permuted = organ_metrics(a.transpose(perm), b.transpose(perm), sp, 2.0, empty_distance_mm=100.0)
    assert (permuted.dice, permuted.hd95, permuted.surface_dice) == pytest.approx(
        (base.dice, base.hd95, base.surface_dice)
    )
    assert 0.0 <= base.dice <= 1.0 and 0.0 <= base.surface_dice <= 1.0


def test_surface_dice_grows_with_tolerance():
    rng = np.random.default_rng(7)
    a, b = random_blob(rng), random_blob(rng)
    values = [surface_dice(a, b, SPACING, t) for t in (0.0, 1.0, 2.0, 4.0, 8.0, 100.0)]
    assert values == sorted(values) and values[-1] == 1.0


def test_surface_voxels_of_a_cube_and_the_array_border():
    m = np.zeros((5, 5, 5), bool)
    m[1:4, 1:4, 1:4] = True
    assert surface_voxels(m).sum() == 26  # 27 minus the centre
    full = np.ones((3, 3, 3), bool)
    assert surface_voxels(full).sum() == 26  # array border counts as outside


def test_bounding_box():
    m = np.zeros((6, 7, 8), bool)
    m[2, 3:5, 7] = True
    assert bounding_box(m) == (slice(2, 3), slice(3, 5), slice(7, 8))
    assert bounding_box(m, margin=1) == (slice(1, 4), slice(2, 6), slice(6, 8))
    assert bounding_box(np.zeros((2, 2, 2), bool)) is None


# --- empty conventions -------------------------------------------------------------------------------


def test_both_empty_is_undefined():
    e = np.zeros((4, 4, 4), bool)
    s = organ_metrics(e, e, SPACING, 1.0)
    assert s.status == "both_empty"
    assert math.isnan(s.dice) and math.isnan(s.hd95) and math.isnan(s.surface_dice)
    assert math.isnan(dice(e, e)) and math.isnan(hd95(e, e, SPACING))
    assert math.isnan(surface_dice(e, e, SPACING, 1))


def test_one_empty_scores_zero_and_worst_distance():
    ref, _ = two_cubes()
    e = np.zeros_like(ref)
    diag = image_diagonal_mm(ref.shape, SPACING)
    assert diag == pytest.approx(math.sqrt((11 * 0.5) ** 2 + 22.0**2 + 33.0**2))
    missed = organ_metrics(ref, e, SPACING, 1.0)
    assert (missed.dice, missed.hd95, missed.surface_dice) == (0.0, diag, 0.0)
    assert missed.status == "prediction_empty"
    invented = organ_metrics(e, ref, SPACING, 1.0, empty_distance_mm=500.0)
    assert (invented.dice, invented.hd95, invented.status) == (0.0, 500.0, "reference_empty")
    assert hd95(ref, e, SPACING) == pytest.approx(diag)


def test_score_json_round_trip_keeps_nan():
    s = organ_metrics(np.zeros((3, 3, 3), bool), np.zeros((3, 3, 3), bool), SPACING, 1.0)
    j = s.to_json()
    assert j["dice"] is None
    back = OrganScore.from_json(j)
    assert back.status == "both_empty" and math.isnan(back.dice)
    ref, pred = two_cubes()
    ok = organ_metrics(ref, pred, SPACING, 1.0)
    assert OrganScore.from_json(ok.to_json()) == ok


# --- bad input ---------------------------------------------------------------------------------------


def test_bad_input_messages():
    a = np.zeros((4, 4, 4), bool)
    with pytest.raises(ValueError, match=r"differ in shape: reference \(4, 4, 4\), prediction \(4, 4, 5\)"):
        dice(a, np.zeros((4, 4, 5), bool))
    with pytest.raises(ValueError, match="spacing must be 3 positive numbers"):
        hd95(a, a, (1.0, 0.0, 1.0))
    with pytest.raises(ValueError, match="tolerance_mm must be a finite number >= 0, got -1"):
        surface_dice(a, a, SPACING, -1)
    with pytest.raises(ValueError, match="masks must be 3D"):
        dice(np.zeros((4, 4), bool), np.zeros((4, 4), bool))
