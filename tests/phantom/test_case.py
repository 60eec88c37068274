"""``generate_case``: anatomy in world coordinates, HU per organ and phase, geometry, determinism."""

from __future__ import annotations

import numpy as np
import pytest

from torsoseg import organs
from torsoseg.imageio import orientation_code, reorient_to_canonical
from torsoseg.phantom import generate_case
from torsoseg.phantom.case import to_storage
from torsoseg.phantom.layout import sample_layout
from torsoseg.phantom.patient import sample_patient


def centroid(case, name):
    """World (LPS) centroid of an organ, mm."""
    idx = np.argwhere(case.masks()[name])
    assert len(idx), f"{name} is empty"
    return case.label_map.geometry.index_to_world(idx.mean(axis=0))


@pytest.fixture(scope="module")
def torso_pair():
    return generate_case("torso", 4, "tiny", orientation="LPS"), generate_case("torso", 4, "tiny", orientation="RAS")


@pytest.fixture(scope="module")
def visceral_pair():
    return (generate_case("visceral", 2, "tiny", orientation="LPS"),
            generate_case("visceral", 2, "tiny", orientation="RAS"))


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
    "phase,expect",
    [
        ("portal_venous", {"liver": (85, 145), "spleen": (90, 150), "kidney_left": (110, 200),
                           "lung_left": (-920, -760)}),
        ("arterial", {"liver": (50, 105), "spleen": (80, 170), "kidney_right": (90, 220), "lung_right": (-920, -760)}),
        ("native", {"liver": (35, 80), "spleen": (25, 70), "kidney_left": (15, 60), "lung_left": (-920, -760)}),
    ],
)
def test_organ_hu_per_phase(phase, expect):
    case = generate_case("torso", 7, "small" if phase == "portal_venous" else "tiny", phase=phase)
    assert case.phase == phase
    for name, (lo, hi) in expect.items():
        assert lo <= _median_hu(case, name) <= hi, (phase, name, _median_hu(case, name))
    img = case.image.array
    assert img.min() >= -1024 and np.percentile(img, 1) < -900  # air around the patient


def test_abdomen_artery_and_pancreas_contrast():
    case = generate_case("abdomen", 11, "small")
    assert _median_hu(case, "artery") > _median_hu(case, "liver") + 15
    assert _median_hu(case, "portal_vein") > _median_hu(case, "pancreas")
    # the pancreas is a low-contrast, small structure
    assert abs(_median_hu(case, "pancreas") - _median_hu(case, "liver")) < 45
    assert case.masks()["pancreas"].sum() < 0.15 * case.masks()["liver"].sum()


def test_spacing_and_field_of_view_vary_across_seeds():
    cases = [generate_case("abdomen", s, "tiny") for s in range(4)]
    spacings = {c.image.spacing for c in cases}
    shapes = {c.image.shape for c in cases}
    assert len(spacings) == 4 and len(shapes) >= 3
    extents = [np.multiply(c.image.shape, c.image.spacing) for c in cases]
    assert np.ptp([e[2] for e in extents]) > 10 and np.ptp([e[0] for e in extents]) > 10
    assert {c.orientation for c in [generate_case("abdomen", s, "tiny") for s in range(4, 10)] + cases} >= {"LPS",
                                                                                                            "RAS"}


def test_field_of_view_by_kind():
    abd = generate_case("abdomen", 3, "tiny")
    tho = generate_case("visceral", 3, "tiny")
    z_abd = abd.image.shape[2] * abd.image.spacing[2]
    z_tho = tho.image.shape[2] * tho.image.spacing[2]
    assert 220 < z_abd < 420 and 550 < z_tho < 900


def test_small_size_and_full_spacing_ranges():
    from torsoseg.phantom.case import scan_grid
    from torsoseg.phantom.render import RenderContext

    for seed in range(6):
        rng = RenderContext(seed, (0, 0, 0), (0, 0, 0)).rng
        pt = sample_patient(rng("p"))
        full = scan_grid("visceral", "full", pt, rng("g"))
        small = scan_grid("visceral", "small", pt, rng("g"))
        assert full.shape[:2] == (512, 512) and 0.6 <= full.spacing[0] <= 1.0 and 1.0 <= full.spacing[2] <= 5.0
        assert all(100 <= n <= 160 for n in small.shape)


def test_gallbladder_sometimes_absent():
    absent = []
    for seed in range(40):
        from torsoseg.phantom.render import RenderContext

        rng = RenderContext(seed, (0, 0, 0), (0, 0, 0)).rng
        absent.append(sample_layout(sample_patient(rng("patient")), rng("layout")).gallbladder is None)
    assert 2 <= sum(absent) <= 20
    # and a generated case of such a seed has an empty gallbladder mask
    seed = next(s for s in range(40) if not generate_case("torso", s, "tiny").masks()["gallbladder"].any())
    case = generate_case("torso", seed, "tiny")
    assert case.masks()["liver"].any() and not case.masks()["gallbladder"].any()


def test_same_seed_same_voxels_other_seed_other_voxels():
    a = generate_case("visceral", 9, "tiny")
    b = generate_case("visceral", 9, "tiny")
    c = generate_case("visceral", 10, "tiny")
    assert np.array_equal(a.image.array, b.image.array) and np.array_equal(a.label_map.array, b.label_map.array)
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
        ({"kind": "torso", "seed": 0, "size": "huge"}, "unknown phantom size 'huge'; valid sizes: tiny, small, full"),
        ({"kind": "torso", "seed": -1}, "seed must be a non-negative integer"),
        ({"kind": "torso", "seed": 0, "phase": "late"}, "unknown phase 'late'"),
        ({"kind": "torso", "seed": 0, "orientation": "XYZ"}, "unsupported storage orientation 'XYZ'"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        generate_case(**kwargs)
