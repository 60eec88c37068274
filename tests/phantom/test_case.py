"""``generate_case``: anatomy in world coordinates, HU per organ and phase, geometry, determinism."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from torsoseg import organs
from torsoseg.imageio import orientation_code, reorient_to_canonical
from torsoseg.phantom import generate_case
from torsoseg.phantom.case import plan_case, render_plan, to_storage
from torsoseg.phantom.scanner import OUTSIDE_FOV_HU, SCANNER_FOV_MM, outside_reconstruction_circle


def centroid(case, name):
    """World (LPS) centroid of an organ, mm."""
    idx = np.argwhere(case.masks()[name])
    assert len(idx), f"{name} is empty"
    return case.label_map.geometry.index_to_world(idx.mean(axis=0))


@pytest.fixture(scope="module")
def torso_pair():
    return generate_case("torso", 4, "tiny", orientation="LPS"), generate_case(
        "torso", 4, "tiny", orientation="RAS"
    )


@pytest.fixture(scope="module")
def visceral_pair():
    return (
        generate_case("visceral", 2, "tiny", orientation="LPS"),
        generate_case("visceral", 2, "tiny", orientation="RAS"),
    )


def test_types_grid_and_labels():
    c = generate_case("abdomen", 0, "tiny")
    assert c.image.array.dtype == np.int16 and c.label_map.array.dtype == np.uint8
    assert c.image.geometry.same_grid(c.label_map.geometry)
    assert all(40 <= s <= 70 for s in c.image.shape)
    assert c.labels["background"] == 0 and c.labels["pancreas"] == 7
    assert set(np.unique(c.label_map.array)) <= set(c.labels.values())
    assert c.phase == "portal_venous"
    masks = c.masks()
    assert set(masks) == set(c.labels) - {"background"} and masks["liver"].dtype == bool


@pytest.mark.parametrize("pair", ["torso_pair", "visceral_pair"])
def test_storage_orientation_changes_arrays_not_anatomy(pair, request):
    lps, ras = request.getfixturevalue(pair)
    assert orientation_code(lps.image.geometry) == "LPS" and orientation_code(ras.image.geometry) == "RAS"
    assert not np.array_equal(lps.image.array, ras.image.array)
    a, _ = reorient_to_canonical(lps.image)
    b, _ = reorient_to_canonical(ras.image)
    assert np.array_equal(a.array, b.array) and a.geometry.same_grid(b.geometry)
    for name in ("liver", "spleen", "kidney_left", "lung_right"):
        assert np.allclose(centroid(lps, name), centroid(ras, name), atol=1e-6)


@pytest.mark.parametrize("pair", ["torso_pair", "visceral_pair"])
@pytest.mark.parametrize("which", [0, 1])
def test_every_pair_is_on_its_side_in_world_coordinates(pair, which, request):
    case = request.getfixturevalue(pair)[which]
    names = [n for n in case.labels if n != "background"]
    pairs = [(r, organs.pair_of(r)) for r in names if r.endswith("_right") and organs.pair_of(r) in names]
    assert len(pairs) >= (2 if case.kind == "torso" else 5)
    for right, left in pairs:
        # LPS world: the patient's right is -x
        assert centroid(case, right)[0] < centroid(case, left)[0], (right, left)
        assert centroid(case, right)[0] < 0 < centroid(case, left)[0]
    assert centroid(case, "liver")[0] < centroid(case, "spleen")[0]


def test_positions_in_world(torso_pair):
    case = torso_pair[1]
    liver, lung_r, lung_l = centroid(case, "liver"), centroid(case, "lung_right"), centroid(case, "lung_left")
    assert lung_r[2] > liver[2] + 60 and lung_l[2] > liver[2] + 60  # lungs above the diaphragm
    liver_z = case.label_map.geometry.index_to_world(np.argwhere(case.masks()["liver"]))[:, 2]
    lung_z = case.label_map.geometry.index_to_world(np.argwhere(case.masks()["lung_right"]))[:, 2]
    assert np.median(lung_z) > np.percentile(liver_z, 95)
    kid = centroid(case, "kidney_right")
    assert kid[1] > liver[1]  # kidneys are posterior (LPS +y) to the liver centre
    assert centroid(case, "pancreas")[1] < kid[1]


def _median_hu(case, name):
    return float(np.median(case.image.array[case.masks()[name]]))


@pytest.mark.parametrize(
    "phase,size,organs",
    [
        ("portal_venous", "small", {"liver": "liver", "spleen": "spleen", "lung_left": "lung"}),
        ("arterial", "tiny", {"liver": "liver", "spleen": "spleen"}),
        ("native", "tiny", {"liver": "liver", "spleen": "spleen"}),
    ],
)
def test_organ_hu_per_phase(phase, size, organs):
    case = generate_case("torso", 7, size, phase=phase)
    plan = plan_case("torso", 7, size, phase=phase)
    assert case.phase == phase
    # the painted organs carry the patient's drawn values, give or take texture, mottling, partial volume
    # at the edges, noise and (lungs) the dependent density of up to +45 HU
    for organ, tissue in organs.items():
        lo, hi = (plan.hu[tissue] - 25, plan.hu[tissue] + (50 if tissue == "lung" else 25))
        assert lo <= _median_hu(case, organ) <= hi, (phase, organ, _median_hu(case, organ), plan.hu[tissue])
    # seed 7 is a patient with a fatty liver: darker than the spleen in every phase
    assert _median_hu(case, "liver") < _median_hu(case, "spleen") - 10
    kidney = _median_hu(case, "kidney_left")
    lo, hi = sorted((plan.hu["kidney_cortex"], plan.hu["kidney_medulla"]))
    assert lo - 20 <= kidney <= hi + 20
    img = case.image.array
    assert img.min() >= -1024 and np.percentile(img, 1) < -900  # air around the patient
    assert _median_hu(case, "lung_right") < -600


def test_phase_changes_intensity_not_anatomy():
    a = generate_case("visceral", 5, "tiny", phase="arterial")
    b = generate_case("visceral", 5, "tiny", phase="native")
    assert np.array_equal(a.label_map.array, b.label_map.array)
    assert _median_hu(a, "aorta") > _median_hu(b, "aorta") + 150


def test_abdomen_artery_and_pancreas_contrast():
    case = generate_case("abdomen", 11, "small")
    assert _median_hu(case, "artery") > _median_hu(case, "liver") + 15
    assert _median_hu(case, "portal_vein") > _median_hu(case, "pancreas")
    # the pancreas is a low-contrast, small structure
    assert abs(_median_hu(case, "pancreas") - _median_hu(case, "liver")) < 45
    assert case.masks()["pancreas"].sum() < 0.15 * case.masks()["liver"].sum()
    assert 0 < case.masks()["gallbladder"].sum() < case.masks()["spleen"].sum()


def test_spacing_field_of_view_and_orientation_vary_across_seeds():
    plans = [plan_case("abdomen", s, "small") for s in range(12)]
    spacings = {p.grid.spacing for p in plans}
    assert len(spacings) == 12
    extents = np.array([np.multiply(p.grid.shape, p.grid.spacing) for p in plans])
    assert np.ptp(extents[:, 2]) > 20 and np.ptp(extents[:, 0]) > 20
    assert all(112 <= p.grid.shape[0] == p.grid.shape[1] <= 144 for p in plans)
    # 100-160 slices, more for the scans that continue into the pelvis
    pelvic = [p.grid.origin[2] < p.patient.level_z("S1") for p in plans]
    assert all(100 <= p.grid.shape[2] <= 160 for p, pel in zip(plans, pelvic) if not pel)
    assert all(160 < p.grid.shape[2] <= 400 for p, pel in zip(plans, pelvic) if pel) and any(pelvic)
    assert {p.orientation for p in plans} >= {"LPS", "RAS"}
    tiny = [plan_case("torso", s, "tiny") for s in range(6)]
    assert all(48 <= n <= 64 for p in tiny for n in p.grid.shape)
    assert len({p.grid.spacing for p in tiny}) == 6


def test_field_of_view_by_kind():
    pelvic = 0
    for seed in range(12):
        abd = plan_case("abdomen", seed, "tiny")
        tho = plan_case("visceral", seed, "tiny")
        z_abd = (abd.grid.shape[2] - 1) * abd.grid.spacing[2]
        z_tho = (tho.grid.shape[2] - 1) * tho.grid.spacing[2]
        assert 550 < z_tho < 900
        # abdomen: from just above the right dome to about the iliac crest (L4) or, in an abdomen-pelvis
        # scan, on to below the urinary bladder
        pt = abd.patient
        bottom = abd.grid.origin[2]
        assert bottom + z_abd > pt.dome_right > bottom and bottom < pt.level_z("L3")
        bladder_bottom = abd.layout.bladder.centre[2] - max(abd.layout.bladder.radii)
        bladder_top = abd.layout.bladder.centre[2] + max(abd.layout.bladder.radii)
        if bottom < pt.level_z("S1"):
            pelvic += 1
            assert bottom < bladder_bottom and 400 < z_abd < 700 and abd.grid.shape[2] > 64
        else:
            assert bottom > bladder_top and 200 < z_abd < 420 and 48 <= abd.grid.shape[2] <= 64
        # the thorax-abdomen kinds always reach below the bladder
        assert tho.grid.origin[2] < tho.layout.bladder.centre[2] - max(tho.layout.bladder.radii)
    assert 2 <= pelvic <= 8, pelvic


def test_abdomen_pelvis_protocol_leaves_the_other_cases_and_the_slice_spacing_alone(monkeypatch):
    from torsoseg.phantom import scanner

    with_pelvis = {s: plan_case("abdomen", s, "tiny") for s in range(12)}
    monkeypatch.setattr(scanner, "ABDOMEN_PELVIS_P", 0.0)
    without = {s: plan_case("abdomen", s, "tiny") for s in range(12)}
    changed = [s for s in range(12) if with_pelvis[s].grid != without[s].grid]
    assert 2 <= len(changed) <= 8
    for s in range(12):
        a, b = with_pelvis[s], without[s]
        # patient, layout, phase and orientation do not depend on the protocol
        assert a.patient.height == b.patient.height
        assert np.array_equal(a.layout.bladder.centre, b.layout.bladder.centre)
        assert a.phase == b.phase and a.orientation == b.orientation
        if s in changed:
            # same top, same in-plane draw, same slice spacing (to rounding), more slices
            top_a = a.grid.origin[2] + (a.grid.shape[2] - 1) * a.grid.spacing[2]
            top_b = b.grid.origin[2] + (b.grid.shape[2] - 1) * b.grid.spacing[2]
            assert top_a == pytest.approx(top_b, abs=0.01)
            assert a.grid.shape[0] == b.grid.shape[0]
            assert a.grid.spacing[2] == pytest.approx(b.grid.spacing[2], rel=0.02)
            assert a.grid.shape[2] > b.grid.shape[2] + 15
        else:
            assert a.grid == b.grid


def test_full_size_spacing_ranges():
    for seed in range(8):
        full = plan_case("visceral", seed, "full").grid
        assert (
            full.shape[:2] == (512, 512) and 0.6 <= full.spacing[0] <= 1.0 and 1.0 <= full.spacing[2] <= 5.0
        )


def test_medium_size_draws_the_spacing_and_fits_the_field_of_view():
    for seed in range(6):
        tiny, medium = plan_case("torso", seed, "tiny").grid, plan_case("torso", seed, "medium").grid
        assert all(4.0 <= s <= 5.0 for s in medium.spacing), medium.spacing
        # same patient and scan range at both sizes: the voxel count follows the field of view
        fov_tiny = tiny.shape[0] * tiny.spacing[0]
        assert abs(medium.shape[0] * medium.spacing[0] - fov_tiny) < medium.spacing[0] + tiny.spacing[0]
        assert medium.shape[2] * medium.spacing[2] == pytest.approx(tiny.shape[2] * tiny.spacing[2], rel=0.05)


def test_gallbladder_sometimes_absent():
    absent = [not plan_case("torso", s, "tiny").gallbladder_present for s in range(40)]
    assert 2 <= sum(absent) <= 20
    case = generate_case("torso", absent.index(True), "tiny")
    assert case.masks()["liver"].any() and not case.masks()["gallbladder"].any()
    present = generate_case("torso", absent.index(False), "tiny")
    assert present.masks()["gallbladder"].any()


def test_same_seed_same_voxels_other_seed_other_voxels():
    a = generate_case("visceral", 9, "tiny")
    b = generate_case("visceral", 9, "tiny")
    c = generate_case("visceral", 10, "tiny")
    assert np.array_equal(a.image.array, b.image.array) and np.array_equal(
        a.label_map.array, b.label_map.array
    )
    assert a.image.geometry == b.image.geometry
    assert a.image.shape != c.image.shape or not np.array_equal(a.image.array, c.image.array)


def test_to_storage_round_trip():
    arr = np.arange(24).reshape(2, 3, 4)
    for code in ("LPS", "RAS", "LAS", "RPI"):
        out, origin, direction = to_storage(arr, (1.0, 2.0, 3.0), (10.0, 20.0, 30.0), code)
        from torsoseg.imageio import Volume

        vol = Volume(out, (1.0, 2.0, 3.0), origin, direction)
        assert orientation_code(vol.geometry) == code
        canon, _ = reorient_to_canonical(vol)
        assert np.array_equal(canon.array, arr) and np.allclose(canon.origin, (10, 20, 30))


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"kind": "chest", "seed": 0}, "unknown phantom kind 'chest'"),
        (
            {"kind": "torso", "seed": 0, "size": "huge"},
            "unknown phantom size 'huge'; valid sizes: tiny, medium, small, full",
        ),
        ({"kind": "torso", "seed": -1}, "seed must be a non-negative integer"),
        ({"kind": "torso", "seed": 0, "phase": "late"}, "unknown phase 'late'"),
        ({"kind": "torso", "seed": 0, "orientation": "XYZ"}, "unsupported storage orientation 'XYZ'"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        generate_case(**kwargs)


def test_arms_beside_the_body_for_some_patients():
    plans = [plan_case("visceral", s, "tiny") for s in range(30)]
    with_arms = [p for p in plans if p.patient.arm_radius > 0]
    assert 2 <= len(with_arms) <= 20
    gaps = [p.patient.arm_gap for p in with_arms]
    assert min(gaps) >= 0 and max(gaps) <= 60 and max(gaps) - min(gaps) > 20  # touching to centimetres away
    assert all(p.patient.arm_gap == 0 for p in plans if p.patient.arm_radius == 0)
    plan = with_arms[0]
    case = generate_case("visceral", plan.seed, "tiny")
    canon, _ = reorient_to_canonical(case.image)
    world_x = canon.origin[0] + np.arange(canon.shape[0]) * canon.spacing[0] - plan.world_shift[0]
    outside = np.abs(world_x) > max(plan.patient.body_a) + plan.patient.arm_gap
    assert (canon.array[outside] > -300).any()  # arm tissue beyond the trunk
    # never wider than a scanner's 50 cm field of view, so a wide patient's arms may be cut at its edge
    assert all(p.grid.spacing[0] * p.grid.shape[0] <= SCANNER_FOV_MM + p.grid.spacing[0] for p in plans)


def test_the_image_is_the_scanners_reconstruction_circle():
    plan = plan_case("torso", 20, "tiny")  # arms beside a wide trunk: cut by the circle
    assert plan.patient.arm_radius > 0
    case = generate_case("torso", 20, "tiny")
    canon, _ = reorient_to_canonical(case.image)
    labels, _ = reorient_to_canonical(case.label_map)
    outside = outside_reconstruction_circle(plan.grid)
    assert outside[0, 0] and outside[-1, -1] and not outside[plan.grid.shape[0] // 2, plan.grid.shape[1] // 2]
    assert 0.15 < outside.mean() < 0.25  # 1 - pi / 4 of the square
    assert (canon.array[outside] == OUTSIDE_FOV_HU).all() and (labels.array[outside] == 0).all()
    inside_edge = ~outside & ndimage.binary_dilation(outside)
    assert (canon.array[inside_edge] > -300).any()  # tissue reaching the circle: an arm cut by it


def test_a_field_of_view_cut_through_the_body_has_no_labels_outside_the_circle():
    from dataclasses import replace as dc_replace

    from torsoseg.phantom.render import Grid

    plan = plan_case("torso", 3, "tiny")
    g = plan.grid
    centre = [o + s * (n - 1) / 2 for o, s, n in zip(g.origin, g.spacing, g.shape)]
    spacing = (g.spacing[0] * 0.55, g.spacing[1] * 0.55, g.spacing[2])  # a field of view inside the body
    origin = (centre[0] - spacing[0] * (g.shape[0] - 1) / 2, centre[1] - spacing[1] * (g.shape[1] - 1) / 2,
              g.origin[2])
    small = dc_replace(plan, grid=Grid(g.shape, spacing, origin))
    case = render_plan(small)
    image, _ = reorient_to_canonical(case.image)
    labels, _ = reorient_to_canonical(case.label_map)
    outside = outside_reconstruction_circle(small.grid)
    assert (image.array[outside] == OUTSIDE_FOV_HU).all() and (labels.array[outside] == 0).all()
    rim = ~outside & ndimage.binary_dilation(outside, iterations=2)
    assert (labels.array[rim] > 0).any()  # organs run into the circle: without the mask they would go on


def test_the_arms_lie_their_gap_away_from_the_trunk():
    from dataclasses import replace as dc_replace

    plan = next(p for p in (plan_case("visceral", s, "small") for s in range(40)) if p.patient.arm_radius > 0)

    def air_between_trunk_and_arm(gap: float) -> float:
        p = dc_replace(plan, patient=dc_replace(plan.patient, arm_gap=gap))
        canon, _ = reorient_to_canonical(render_plan(p).image)
        sp = canon.spacing
        x = canon.origin[0] + np.arange(canon.shape[0]) * sp[0] - p.world_shift[0]
        j = int(round((10.0 - (canon.origin[1] - p.world_shift[1])) / sp[1]))  # y = 10 mm: through the arms
        k = int(round((p.patient.l1_z - (canon.origin[2] - p.world_shift[2])) / sp[2]))  # the L1 level
        tissue = canon.array[:, j, k] > -300
        right = np.flatnonzero(x > 0)
        trunk_end = right[np.argmax(~tissue[right])]  # the first air beside the trunk
        arm_start = trunk_end + np.argmax(tissue[trunk_end:])
        return float(x[arm_start] - x[trunk_end])

    sp = plan.grid.spacing[0]
    assert abs(air_between_trunk_and_arm(50.0) - air_between_trunk_and_arm(20.0) - 30.0) <= 2 * sp
