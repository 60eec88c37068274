"""Preprocessing in slabs and in a box of the target grid equals the one-piece preprocessing."""

from __future__ import annotations

import numpy as np
import pytest

from tests.inference.model_factory import tiny_plans
from torsoseg.imageio import Volume
from torsoseg.preprocessing import preprocess_volume
from torsoseg.preprocessing.boxed import (
    SPLINE_MARGIN,
    preprocess_volume_box,
    resample_image_box,
    source_range,
    target_shape,
)
from torsoseg.preprocessing.resampling import resample_image

TOL = 1e-5  # float32 rounding of normalised intensities (the prefilter's cut-face error is < 1e-6)


def test_source_range_by_hand():
    # 100 -> 50 voxels: target j sits at 2j + 0.5; linear reads 2j and 2j + 1
    assert source_range(100, 50, 10, 20, cubic=False) == (20, 40)
    # cubic reads floor(x) - 1 .. floor(x) + 2 (j = 10: 20.5 -> 19..22; j = 19: 38.5 -> ..40), plus the margin
    assert source_range(100, 50, 10, 20, cubic=True, margin=0) == (19, 41)
    assert source_range(100, 50, 0, 50, cubic=True) == (0, 100)
    assert source_range(100, 50, 10, 20, cubic=True) == (19 - SPLINE_MARGIN, 41 + SPLINE_MARGIN)


@pytest.mark.parametrize("new_shape, aniso", [((50, 80, 40), None), ((35, 45, 90), 2), ((91, 60, 17), 2),
                                               ((70, 60, 40), None)])
@pytest.mark.parametrize("slab_voxels", [10**8, 20000])
def test_a_box_in_slabs_equals_the_same_part_of_the_whole_resampling(new_shape, aniso, slab_voxels):
    rng = np.random.default_rng(0)
    a = rng.normal(size=(70, 60, 40)).astype(np.float32)
    whole = resample_image(a, new_shape, order=3, anisotropic=aniso)
    for box in (None, ((5, 30), (10, 40), (0, new_shape[2])), ((0, new_shape[0]), (3, new_shape[1] - 2),
                                                               (7, new_shape[2]))):
        part = resample_image_box(a, new_shape, box, aniso, slab_voxels=slab_voxels)
        b = box or tuple((0, n) for n in new_shape)
        np.testing.assert_allclose(part, whole[tuple(slice(x, y) for x, y in b)], atol=TOL)


def _ct() -> Volume:
    rng = np.random.default_rng(1)
    arr = np.full((64, 56, 30), -1000, np.int16)
    arr[6:-6, 5:-5, 2:-2] = rng.integers(-300, 400, (52, 46, 26))
    return Volume(arr, (2.0, 2.5, 6.0), (3.0, -4.0, 1.0), ((-1, 0, 0), (0, -1, 0), (0, 0, 1)))


@pytest.mark.parametrize("modality", ["CT", "MR"])
def test_preprocess_volume_box_equals_preprocess_volume(modality):
    plans = tiny_plans(target_spacing=(3.0, 2.0, 4.0)).replace(channel_names={"0": modality})
    vol = _ct()
    ref, props = preprocess_volume(vol, plans)
    data, props_box = preprocess_volume_box(vol, plans, slab_voxels=5000)
    assert props_box == props and target_shape(props, plans) == props.shape_after_resample
    np.testing.assert_allclose(data, ref, atol=TOL)
    box = ((4, 20), (0, 15), (3, props.shape_after_resample[2]))
    part, _ = preprocess_volume_box(vol, plans, box, crop_bbox=props.crop_bbox)
    np.testing.assert_allclose(part, ref[(slice(None), *(slice(a, b) for a, b in box))], atol=TOL)


def test_non_finite_intensities_are_handled_as_in_the_whole_image():
    plans = tiny_plans(target_spacing=(3.0, 3.0, 4.0))
    arr = _ct().array.astype(np.float32)
    arr[30, 30, 10] = np.nan
    arr[10, 20, 5] = np.inf
    vol = Volume(arr, (2.0, 2.5, 6.0))
    ref, _ = preprocess_volume(vol, plans)
    data, _ = preprocess_volume_box(vol, plans, slab_voxels=5000)
    np.testing.assert_allclose(data, ref, atol=TOL)


def test_a_box_outside_the_grid_is_refused():
    a = np.zeros((10, 10, 10), np.float32)
    with pytest.raises(ValueError, match="not a non-empty part of the target grid"):
        resample_image_box(a, (5, 5, 5), ((0, 6), (0, 5), (0, 5)))
