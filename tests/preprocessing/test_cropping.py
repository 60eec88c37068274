"""Body mask and crop box."""

from __future__ import annotations

import numpy as np
import pytest

from torsoseg.preprocessing.cropping import bbox_of_mask, body_bbox, body_mask, crop_to_bbox, pad_from_bbox


def test_body_bbox_hand_computed():
    img = np.full((10, 10, 10), -1000, np.int16)
    img[2:5, 3:8, 1:9] = 40
    assert body_bbox(img, margin=0) == ((2, 5), (3, 8), (1, 9))
    assert body_bbox(img, margin=1) == ((1, 6), (2, 9), (0, 10))


def test_air_is_not_body_and_the_couch_is_dropped():
    img = np.full((20, 20, 12), -1000, np.int16)
    img[4:16, 3:14, 2:10] = 30  # body
    img[6:9, 6:9, 4:7] = -850  # lung inside the body: in the box anyway
    img[:, 17:19, :] = 400  # couch, a separate smaller component
    img[0, 0, 0] = 0  # "non-zero" would be the wrong body: a single -> 0 HU voxel is noise
    assert body_bbox(img, margin=0) == ((4, 16), (3, 14), (2, 10))
    m = body_mask(img)
    assert m.sum() == 12 * 11 * 8 - 27


def test_subsampled_mask_of_large_volumes_still_covers_the_body():
    img = np.full((140, 130, 120), -1000, np.int16)
    img[21:117, 13:101, 7:111] = 50
    (x0, x1), (y0, y1), (z0, z1) = body_bbox(img, margin=0)
    assert x0 <= 21 and x1 >= 117 and y0 <= 13 and y1 >= 101 and z0 <= 7 and z1 >= 111
    assert x0 >= 21 - 4 and x1 <= 117 + 4  # at most a few voxels of slack


def test_no_body_keeps_the_whole_volume():
    img = np.full((4, 5, 6), -1000, np.int16)
    assert body_bbox(img) == ((0, 4), (0, 5), (0, 6))
    assert bbox_of_mask(np.zeros((2, 2, 2), bool)) is None


def test_crop_and_pad_round_trip():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 5, (2, 7, 8, 9))
    box = ((1, 6), (2, 8), (0, 9))
    c = crop_to_bbox(a, box, channel_first=True)
    assert c.shape == (2, 5, 6, 9)
    full = pad_from_bbox(c, box, (7, 8, 9), fill=0)
    np.testing.assert_array_equal(full[:, 1:6, 2:8, :], a[:, 1:6, 2:8, :])
    assert full[:, 0].sum() == 0


def test_bad_input():
    with pytest.raises(ValueError, match="does not match crop box"):
        pad_from_bbox(np.zeros((2, 2, 2)), ((0, 3), (0, 2), (0, 2)), (4, 4, 4))
    with pytest.raises(ValueError, match="3D"):
        body_mask(np.zeros((3, 3)))


def test_body_box_of_a_real_ct_keeps_every_organ_and_drops_air(shared_data):
    from torsoseg import imageio

    ct = imageio.read_image(shared_data / "ts_dicom_ct")
    seg = imageio.resample_to_grid(
        imageio.read_image(shared_data / "ts_dicom_ct_seg.nii.gz"), ct.geometry, True
    )
    box = body_bbox(ct.array)
    organs = bbox_of_mask(seg.array > 0)
    assert all(b0 <= o0 and o1 <= b1 for (b0, b1), (o0, o1) in zip(box, organs))
    # the anterior-posterior extent of the body is much less than the 512-voxel field of view
    assert box[1][1] - box[1][0] < 0.6 * ct.shape[1]
