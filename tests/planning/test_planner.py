"""Planner arithmetic on fingerprints written by hand: spacing rule, topology, budgets, --plans-from."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from torsoseg.network.estimate import estimate_network
from torsoseg.planning.fingerprint import CaseFingerprint, Fingerprint, IntensityStats
from torsoseg.planning.planner import (
    BUDGETS,
    CT_WINDOW_FLOOR_HU,
    MIN_FEATURE_MAP,
    get_budget,
    plan_experiment,
    plan_pooling,
    plan_topology,
    plans_from,
    target_spacing,
)
from torsoseg.plans import Plans

LABELS = {"background": 0, "liver": 1, "spleen": 2, "kidney_right": 3, "kidney_left": 4}


def hand_fingerprint(spacings, shapes, labels=None, name="Dataset001_Hand", channels=None) -> Fingerprint:
    cases = tuple(
        CaseFingerprint(f"case_{i:03d}", tuple(sp), tuple(sh), tuple(sh), "LPS", {"0": 100, "1": 10})
        for i, (sp, sh) in enumerate(zip(spacings, shapes))
    )
    stats = IntensityStats(
        mean=60.0,
        std=40.0,
        median=58.0,
        min=-900.0,
        max=1500.0,
        percentile_00_5=-80.0,
        percentile_99_5=240.0,
        clipped_mean=59.0,
        clipped_std=38.0,
        num_samples=1000,
    )
    return Fingerprint(
        dataset_name=name,
        labels=dict(labels or LABELS),
        channel_names=dict(channels or {"0": "CT"}),
        cases=cases,
        intensity={"0": stats},
        class_voxels={"0": 300, "1": 30},
        class_cases={"0": 3, "1": 3},
    )


# small phantom-like: ~2.5 mm isotropic, ~110 x 85 x 130 voxels after crop
SMALL = hand_fingerprint([(2.5, 2.5, 2.5), (2.4, 2.4, 2.6), (2.6, 2.6, 2.4)], [(110, 85, 130)] * 3)
# clinical-like, thick slices: 0.8 x 0.8 x 5 mm, 512 x 512 x 80
THICK = hand_fingerprint([(0.8, 0.8, 5.0)] * 4 + [(0.8, 0.8, 1.0)], [(512, 512, 80)] * 4 + [(512, 512, 400)])


# -- target spacing ------------------------------------------------------------------------------------
def test_target_spacing_is_the_median_per_axis():
    assert target_spacing([[1.0, 2.0, 3.0], [2.0, 2.0, 3.0], [3.0, 1.0, 2.0]]) == (2.0, 2.0, 3.0)


def test_anisotropic_axis_takes_its_10th_percentile():
    sp = [[0.7, 0.7, 5.0]] * 8 + [[0.7, 0.7, 1.0], [0.7, 0.7, 1.5]]
    # median z 5.0 > 3 * 0.7 -> z = 10th percentile of (1.0, 1.5, 5.0 x 8) = 1.45
    assert target_spacing(sp) == pytest.approx((0.7, 0.7, float(np.percentile([1.0, 1.5] + [5.0] * 8, 10))))


def test_anisotropic_axis_is_never_finer_than_the_others():
    sp = [[1.0, 1.0, 5.0]] * 8 + [[1.0, 1.0, 0.5]] * 2  # 10th percentile 0.5 < 1.0
    assert target_spacing(sp)[2] == pytest.approx(1.0)


def test_moderate_anisotropy_keeps_the_median():
    sp = [[1.0, 1.0, 2.9], [1.0, 1.0, 1.0], [1.0, 1.0, 2.9]]  # 2.9 < 3 x 1.0
    assert target_spacing(sp) == (1.0, 1.0, 2.9)


@pytest.mark.parametrize("bad", [[], [[1.0, 1.0]], [[1.0, 0.0, 1.0]], [[1.0, float("nan"), 1.0]]])
def test_target_spacing_rejects_bad_input(bad):
    with pytest.raises(ValueError, match="spacings"):
        target_spacing(bad)


# -- pooling / topology --------------------------------------------------------------------------------
def test_plan_pooling_hand_computed():
    strides, kernels = plan_pooling((32, 32, 8), (1.0, 1.0, 4.0))
    # z (4 mm) waits until x/y reach 4 mm; then z is 8 -> 4 voxels; x,y 32 -> 4
    assert strides == ((1, 1, 1), (2, 2, 1), (2, 2, 1), (2, 2, 2))
    assert kernels == ((3, 3, 1), (3, 3, 1), (3, 3, 3), (3, 3, 3))


def test_plan_pooling_keeps_feature_maps_of_at_least_4():
    for patch, sp in [
        ((64, 48, 80), (2.5, 2.5, 2.5)),
        ((160, 192, 32), (0.8, 0.8, 5.0)),
        ((9, 17, 100), (1, 1, 1)),
    ]:
        strides, _ = plan_pooling(patch, sp)
        fm = np.asarray(patch)
        for s in strides[1:]:
            fm = fm // np.asarray(s)
            pooled = np.asarray(s) == 2
            assert np.all(fm[pooled] >= MIN_FEATURE_MAP), (patch, strides)
            assert pooled.any()
        assert len(strides) <= 6


@pytest.mark.parametrize("fp", [SMALL, THICK], ids=["small", "thick"])
@pytest.mark.parametrize("budget", list(BUDGETS))
def test_planned_topology_invariants(fp, budget):
    plans = plan_experiment(fp, budget)
    ts = plans.total_stride
    assert all(p % t == 0 for p, t in zip(plans.patch_size, ts)), (plans.patch_size, ts)
    fm = np.asarray(plans.patch_size)
    for s in plans.strides[1:]:
        fm = fm // np.asarray(s)
        assert np.all(fm[np.asarray(s) == 2] >= MIN_FEATURE_MAP)
    assert plans.batch_size >= 2
    assert plans.features[-1] <= 320
    assert all(b == min(2 * a, 320) for a, b in zip(plans.features, plans.features[1:]))
    assert plans.features[0] == (16 if budget == "cpu" else 32)
    assert all(p <= m for p, m in zip(plans.patch_size, plans.median_shape))
    est = estimate_network(
        plans.patch_size, plans.strides, plans.kernel_sizes, plans.features, plans.num_classes
    )
    assert est.memory_bytes(2) <= get_budget(budget).usable_bytes


def test_thick_slices_get_fewer_voxels_and_in_plane_kernels_first():
    plans = plan_experiment(THICK, "8gb")
    assert plans.target_spacing[2] > 3 * plans.target_spacing[0]
    assert plans.patch_size[2] < plans.patch_size[0]
    assert plans.kernel_sizes[0] == (3, 3, 1)
    assert plans.strides[1] == (2, 2, 1)


def test_cpu_plan_of_the_small_phantom_is_what_the_docs_say():
    plans = plan_experiment(SMALL, "cpu")
    assert plans.target_spacing == (2.5, 2.5, 2.5)
    assert plans.patch_size == (64, 48, 64)
    assert plans.features == (16, 32, 64, 128, 256)
    assert plans.batch_size == 2
    # the patch covers less than a quarter of the median image, but a low-resolution stage whose patch
    # covers a quarter would not be 2x coarser than full resolution: no cascade
    assert np.prod(plans.patch_size) < 0.25 * np.prod(plans.median_shape)
    assert plans.cascade is None


def test_cascade_is_planned_for_large_images_under_a_small_budget():
    plans = plan_experiment(THICK, "cpu")
    c = plans.cascade
    assert c is not None
    assert all(lo >= hi for lo, hi in zip(c.target_spacing, plans.target_spacing))
    assert np.prod(c.patch_size) >= 0.25 * np.prod(c.median_shape)
    assert np.prod(plans.median_shape) >= 2 * np.prod(c.median_shape)
    assert all(p % int(np.prod([s[a] for s in c.strides])) == 0 for a, p in enumerate(c.patch_size))


def test_each_configuration_is_a_typed_record_of_its_stage():
    plans = plan_experiment(THICK, "cpu")
    fine, coarse, cascade = (plans.configuration_record(n) for n in ("3d_fullres", "3d_lowres", "3d_cascade"))
    assert (fine.target_spacing, fine.patch_size) == (plans.target_spacing, plans.patch_size)
    low = plans.cascade
    assert (coarse.target_spacing, coarse.patch_size) == (low.target_spacing, low.patch_size)
    assert coarse.data_configuration == "3d_lowres" and coarse.region_margin_mm is None
    # the fine stage is the full-resolution network on the full-resolution cache, refining 3d_lowres
    assert (cascade.target_spacing, cascade.features) == (fine.target_spacing, fine.features)
    assert cascade.data_configuration == "3d_fullres" and cascade.previous_stage == "3d_lowres"
    assert cascade.region_margin_mm == plans.cascade_margin_mm
    with pytest.raises(ValueError, match="valid: 3d_fullres, 3d_lowres, 3d_cascade"):
        plans.configuration_record("2d")


def test_batch_size_floor_is_two_even_when_the_dataset_is_tiny():
    fp = hand_fingerprint([(1.0, 1.0, 1.0)], [(24, 24, 24)])
    plans = plan_experiment(fp, "40gb")
    assert plans.batch_size == 2  # 5% of one 24^3 image is less than one patch
    assert plans.patch_size == (24, 24, 24)
    assert plans.cascade is None  # the patch covers the whole image


def test_batch_grows_with_budget_on_a_large_dataset():
    fp = hand_fingerprint([(1.0, 1.0, 1.0)] * 2000, [(40, 40, 40)] * 2000)
    assert plan_experiment(fp, "40gb").batch_size > plan_experiment(fp, "8gb").batch_size >= 2


@pytest.mark.parametrize("fp", [SMALL, THICK], ids=["small", "thick"])
def test_a_larger_budget_never_gives_a_smaller_patch(fp):
    patches = [plan_experiment(fp, name).patch_size for name in BUDGETS]
    patches += [plan_experiment(fp, None, gb).patch_size for gb in (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 80)]
    order = [0, 1, 2, 3]  # presets are ordered small -> large
    for a, b in zip(order, order[1:]):
        assert all(x <= y for x, y in zip(patches[a], patches[b])), (patches[a], patches[b])
    numbers = patches[4:]
    for a, b in zip(numbers, numbers[1:]):
        assert all(x <= y for x, y in zip(a, b)), (a, b)


def test_too_small_images_raise():
    with pytest.raises(ValueError, match="too small for a U-Net"):
        plan_topology((7, 6, 5), (1.0, 1.0, 1.0), get_budget("cpu"), 3)


def test_too_small_budget_raises_with_the_numbers():
    with pytest.raises(ValueError, match=r"cannot hold the smallest patch"):
        plan_topology((200, 200, 200), (1.0, 1.0, 1.0), get_budget(budget_gb=1e-6), 3)


# -- budgets -------------------------------------------------------------------------------------------
def test_budget_registry_and_numbers():
    assert get_budget("24gb").memory_gb == 24.0
    assert get_budget(None, 12.5).name == "12.5gb"
    assert [BUDGETS[k].memory_gb for k in BUDGETS] == sorted(BUDGETS[k].memory_gb for k in BUDGETS)


@pytest.mark.parametrize(
    "kw, match",
    [
        ({"budget": "16gb"}, "valid presets: cpu, 8gb, 24gb, 40gb"),
        ({"budget": "8gb", "budget_gb": 4}, "not both"),
        ({"budget": None, "budget_gb": -1}, "> 0"),
        ({"budget": None, "budget_gb": "many"}, "a number"),
    ],
)
def test_bad_budget(kw, match):
    with pytest.raises(ValueError, match=match):
        get_budget(**kw)


# -- CT normalisation ----------------------------------------------------------------------------------
def _with_percentiles(fp: Fingerprint, low: float, high: float) -> Fingerprint:
    stats = replace(fp.intensity["0"], percentile_00_5=low, percentile_99_5=high)
    return replace(fp, intensity={"0": stats})


def test_ct_window_of_a_soft_tissue_only_dataset_still_tells_fat_from_lung():
    # an abdominal set whose labels are all soft tissue: 0.5th percentile -80 HU, where fat lies
    norm = plan_experiment(_with_percentiles(SMALL, -80.0, 240.0), "cpu").normalization
    assert norm.lower == CT_WINDOW_FLOOR_HU == -200.0
    assert norm.upper == 240.0
    assert (norm.mean, norm.std) == (59.0, 38.0)  # the soft-tissue scale is the percentiles' as before
    fat, lung, air, liver = norm.apply(np.array([-100.0, -850.0, -1000.0, 60.0]))
    assert fat < liver and lung < fat - 2.0  # fat (-100) and lung (-850) reach the network apart
    assert lung == air  # below the window everything is one value


def test_ct_window_below_the_floor_is_the_percentiles():
    norm = plan_experiment(_with_percentiles(SMALL, -585.0, 193.0), "cpu").normalization
    assert (norm.lower, norm.upper) == (-585.0, 193.0)


# -- --plans-from --------------------------------------------------------------------------------------
def test_plans_from_copies_spacing_patch_topology_and_normalisation():
    source = plan_experiment(SMALL, "cpu")
    other_labels = {"background": 0, "lung_right": 1, "lung_left": 2}
    target_fp = hand_fingerprint(
        [(1.0, 1.0, 1.0)] * 2, [(300, 200, 250)] * 2, other_labels, "Dataset002_Other"
    )
    plans = plans_from(source, target_fp)
    for key in (
        "target_spacing",
        "patch_size",
        "strides",
        "kernel_sizes",
        "features",
        "batch_size",
        "normalization",
        "n_conv_per_stage",
    ):
        assert getattr(plans, key) == getattr(source, key), key
    assert plans.labels == other_labels
    assert plans.dataset_name == "Dataset002_Other"
    assert plans.planned_from == source.dataset_name
    assert plans.median_shape == (120, 80, 100)  # the new dataset's shape at the source spacing
    assert Plans.from_json(plans.to_json()) == plans


def test_plans_from_refuses_other_input_channels():
    source = plan_experiment(SMALL, "cpu")
    mri = hand_fingerprint([(1.0, 1.0, 1.0)], [(50, 50, 50)], channels={"0": "T1"})
    with pytest.raises(ValueError, match="input channels differ"):
        plans_from(source, mri)


def test_plans_round_trip_json():
    plans = plan_experiment(THICK, "24gb")
    again = Plans.from_json(plans.to_json())
    assert again == plans
    assert again.cascade == plans.cascade


def test_the_planner_says_in_words_why_it_plans_a_cascade_or_not():
    from torsoseg.plans import CONFIGURATIONS

    small = plan_experiment(hand_fingerprint([[1.0, 1.0, 1.0]] * 3, [[40, 40, 40]] * 3), "cpu")
    assert small.cascade is None and small.configuration_names == ("3d_fullres",)
    assert small.cascade_note.startswith("no cascade: the full-resolution patch")
    with pytest.raises(ValueError, match="3d_lowres is not planned \\(no cascade"):
        small.for_configuration("3d_lowres")
    big = plan_experiment(hand_fingerprint([[0.8, 0.8, 1.0]] * 3, [[512, 512, 400]] * 3), "cpu")
    assert big.cascade is not None and big.configuration_names == CONFIGURATIONS
    assert big.cascade_note.startswith("cascade planned")
    low, fine = big.for_configuration("3d_lowres"), big.for_configuration("3d_cascade")
    assert low.target_spacing == big.cascade.target_spacing and low.data_configuration == "3d_lowres"
    assert fine.patch_size == big.patch_size and fine.data_configuration == "3d_fullres"
    assert fine.region_margin_mm == big.cascade_margin_mm and big.region_margin_mm is None
    assert Plans.from_json(big.to_json()) == big
    old = big.to_json()
    for key in ("configurations", "cascade_note", "cascade_margin_mm"):  # a plans.json of before the cascade
        old.pop(key)
    assert Plans.from_json(old).configuration_names == CONFIGURATIONS
    with pytest.raises(ValueError, match="unknown configuration"):
        big.for_configuration("2d")


def test_a_forced_low_resolution_stage_for_small_images():
    fp = hand_fingerprint([[2.0, 2.0, 3.0]] * 3, [[80, 70, 60]] * 3)
    rule = plan_experiment(fp, "cpu")
    assert rule.cascade is None
    forced = plan_experiment(fp, "cpu", lowres_factor=2.5)
    c = forced.cascade
    assert c is not None and forced.configuration_names[-1] == "3d_cascade"
    assert c.target_spacing == pytest.approx(tuple(2.5 * s for s in forced.target_spacing))
    assert c.median_shape == tuple(max(1, round(m / 2.5)) for m in forced.median_shape)
    assert forced.cascade_note.startswith("cascade forced (lowres_factor 2.5)")
    assert "the planner's rule alone: no cascade" in forced.cascade_note
    # everything else is the rule's plan
    assert forced.replace(cascade=None, cascade_note=rule.cascade_note) == rule
    for bad in (1.0, 0.5, float("nan")):
        with pytest.raises(ValueError, match="lowres_factor must be a number > 1"):
            plan_experiment(fp, "cpu", lowres_factor=bad)
