"""Resampling of images, label maps and probabilities."""

from __future__ import annotations

import numpy as np
import pytest

from torsoseg.preprocessing.resampling import (
    anisotropic_axis,
    compute_new_shape,
    resample_image,
    resample_labels,
    resize_nearest,
)


def test_compute_new_shape_hand_computed():
    assert compute_new_shape((100, 100, 40), (1.0, 1.0, 5.0), (2.0, 2.0, 2.5)) == (50, 50, 80)
    assert compute_new_shape((3, 3, 3), (1.0, 1.0, 1.0), (100.0, 100.0, 100.0)) == (1, 1, 1)


def test_compute_new_shape_bad_input():
    with pytest.raises(ValueError, match="positive"):
        compute_new_shape((3, 3, 3), (1, 1, 1), (1, 0, 1))


def test_anisotropic_axis():
    assert anisotropic_axis((0.8, 0.8, 5.0)) == 2
    assert anisotropic_axis((4.0, 1.0, 1.0)) == 0
    assert anisotropic_axis((1.0, 1.0, 2.5)) is None
    # "> 3x every other axis": two coarse axes and one fine one have no single anisotropic axis
    assert anisotropic_axis((3.5, 3.5, 1.0)) is None
    assert anisotropic_axis((0.7, 0.9, 2.5)) is None and anisotropic_axis((0.7, 0.8, 2.5)) == 2


def test_linear_image_hand_computed():
    # 1 x 1 x 2 -> 1 x 1 x 4 (edges aligned): source coords -0.25, 0.25, 0.75, 1.25 -> clipped
    a = np.array([[[0.0, 4.0]]], dtype=np.float32)
    out = resample_image(a, (1, 1, 4), order=1)
    np.testing.assert_allclose(out[0, 0], [0.0, 1.0, 3.0, 4.0])


def test_cubic_image_keeps_a_constant_and_a_linear_ramp():
    a = np.full((6, 7, 5), 3.5, dtype=np.float32)
    np.testing.assert_allclose(resample_image(a, (9, 4, 8)), 3.5, atol=1e-5)
    ramp = np.broadcast_to(np.arange(20, dtype=np.float32)[:, None, None], (20, 3, 3)).copy()
    out = resample_image(ramp, (40, 3, 3))
    # away from the borders, grid-mode resampling of a ramp by 2 gives (j + 0.5) / 2 - 0.5
    j = np.arange(12, 28)  # the border condition (edge value repeated) fades within a few voxels
    np.testing.assert_allclose(out[12:28, 1, 1], (j + 0.5) / 2 - 0.5, atol=1e-3)


def test_same_shape_is_identity_and_channels_are_kept():
    a = np.random.default_rng(0).normal(size=(2, 5, 6, 7)).astype(np.float32)
    np.testing.assert_array_equal(resample_image(a, (5, 6, 7)), a)
    assert resample_image(a, (3, 4, 9)).shape == (2, 3, 4, 9)


def test_anisotropic_axis_is_interpolated_linearly():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(8, 8, 4)).astype(np.float32)
    out = resample_image(a, (8, 8, 8), order=3, anisotropic=2)
    lin = resample_image(a, (8, 8, 8), order=1)
    np.testing.assert_allclose(out, lin, atol=1e-5)  # x/y unchanged -> only the linear z pass


def test_resample_image_bad_input():
    with pytest.raises(ValueError, match="order"):
        resample_image(np.zeros((2, 2, 2)), (3, 3, 3), order=2)
    with pytest.raises(ValueError, match="new_shape"):
        resample_image(np.zeros((2, 2, 2)), (3, 0, 3))
    with pytest.raises(ValueError, match=r"\(X, Y, Z\)"):
        resample_image(np.zeros((2, 2)), (3, 3, 3))


def test_nearest_hand_computed_and_exact_round_trip_for_integer_factors():
    a = np.arange(8, dtype=np.int16).reshape(2, 2, 2)
    up = resize_nearest(a, (4, 4, 4))
    assert up.dtype == np.int16
    np.testing.assert_array_equal(up[::2, ::2, ::2], a)
    np.testing.assert_array_equal(resize_nearest(up, (2, 2, 2)), a)


def _blobs(shape=(30, 26, 22)):
    x, y, z = np.meshgrid(*(np.arange(n) for n in shape), indexing="ij")
    seg = np.zeros(shape, dtype=np.int16)
    seg[(x - 10) ** 2 + (y - 12) ** 2 + (z - 10) ** 2 < 49] = 3
    seg[(x - 21) ** 2 + (y - 12) ** 2 + (z - 11) ** 2 < 25] = 5
    return seg


@pytest.mark.parametrize("method", ["onehot", "nearest"])
def test_labels_never_get_invented_values(method):
    seg = _blobs()
    for shape in [(17, 40, 9), (60, 13, 22)]:
        out = resample_labels(seg, shape, method)
        assert out.dtype == seg.dtype and out.shape == shape
        assert set(np.unique(out)) <= {0, 3, 5}


def test_onehot_labels_round_trip_and_volume():
    seg = _blobs()
    up = resample_labels(seg, (60, 52, 44), "onehot")
    for v in (3, 5):  # volume scales by 8 within a few percent
        assert (up == v).sum() == pytest.approx(8 * (seg == v).sum(), rel=0.06)
    back = resample_labels(up, seg.shape, "onehot")
    for v in (3, 5):
        a, b = back == v, seg == v
        assert 2 * (a & b).sum() / (a.sum() + b.sum()) > 0.97


def test_onehot_labels_hand_computed_1d():
    seg = np.array([0, 0, 1, 1], dtype=np.uint8).reshape(1, 1, 4)
    out = resample_labels(seg, (1, 1, 2), "onehot")
    np.testing.assert_array_equal(out.ravel(), [0, 1])
    out = resample_labels(seg, (1, 1, 8), "onehot")
    np.testing.assert_array_equal(out.ravel(), [0, 0, 0, 0, 1, 1, 1, 1])


def test_a_class_no_target_voxel_samples_disappears_without_error():
    seg = np.zeros((1, 1, 10), np.uint8)
    seg[0, 0, 0] = 4  # target voxel 0 of 1 interpolates source voxels 4 and 5 only
    assert resample_labels(seg, (1, 1, 1), "onehot").ravel().tolist() == [0]


def test_labels_bad_input():
    with pytest.raises(ValueError, match="integer"):
        resample_labels(np.zeros((2, 2, 2), np.float32), (3, 3, 3))
    with pytest.raises(ValueError, match="method"):
        resample_labels(np.zeros((2, 2, 2), np.uint8), (3, 3, 3), method="cubic")
