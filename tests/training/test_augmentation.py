"""Tests of torsoseg.training.augmentation (incl. the left-right label swap)."""

from __future__ import annotations

import numpy as np
import pytest

from torsoseg.organs import lr_swap_table
from torsoseg.training.augmentation import (
    LabelSwapMirrorTransform,
    PartialCoverageTransform,
    apply_label_table,
    initial_patch_size,
    mirror_sample,
    training_transforms,
    validation_transforms,
)
from torsoseg.training.settings import AugmentationSettings

LABELS = {"background": 0, "liver": 1, "kidney_right": 2, "kidney_left": 3}


def _sided_sample(shape=(20, 12, 8)):
    """kidney_right at low axis-0 indices (patient's right), kidney_left at high ones, liver on the right."""
    seg = np.zeros(shape, np.int16)
    seg[2:6, 3:8, 2:6] = 2
    seg[14:18, 3:8, 2:6] = 3
    seg[1:8, 8:11, 1:7] = 1
    data = (seg.astype(np.float32) + np.linspace(0, 1, shape[0])[:, None, None])[None]
    return data.astype(np.float32), seg[None]


def test_swap_table_hand_values():
    assert lr_swap_table(LABELS).tolist() == [0, 1, 3, 2]
    seg = np.array([[0, 1, 2, 3, -1]])
    assert apply_label_table(seg, lr_swap_table(LABELS)).tolist() == [[0, 1, 3, 2, -1]]


def test_mirror_axis0_swaps_pairs_other_axes_do_not():
    data, seg = _sided_sample()
    table = lr_swap_table(LABELS)
    d0, s0 = mirror_sample(data, seg, [0], table)
    # the structure that was at the low indices (right kidney) is now at high indices and is called LEFT
    assert set(np.unique(s0[0, 14:18, 3:8, 2:6])) == {3}
    assert set(np.unique(s0[0, 2:6, 3:8, 2:6])) == {2}
    np.testing.assert_array_equal(d0, data[:, ::-1])
    assert (s0 == 1).sum() == (seg == 1).sum()  # unpaired organs keep their value
    _, s1 = mirror_sample(data, seg, [1, 2], table)
    np.testing.assert_array_equal(s1, seg[:, :, ::-1, ::-1])  # no swap without axis 0


def test_mirror_round_trip_is_identity():
    data, seg = _sided_sample()
    table = lr_swap_table(LABELS)
    d, s = mirror_sample(*mirror_sample(data, seg, [0, 2], table), [0, 2], table)
    np.testing.assert_array_equal(d, data)
    np.testing.assert_array_equal(s, seg)


@pytest.mark.parametrize("order_seg", [0, 1])
def test_pipeline_invariant_right_stays_right(order_seg):
    """Whatever the pipeline does (label maps resampled by nearest neighbour or by per-label argmax), a
    voxel labelled kidney_right lies on the patient's right half."""
    data, seg = _sided_sample((24, 16, 12))
    aug = AugmentationSettings(
        rotation_deg=10, p_rotation=0.3, p_scale=0.3, mirror_axes=(0, 1, 2), order_data=1,
        order_seg=order_seg, p_partial_coverage=0.0,  # a cut may remove a kidney; this test is about sides
    )
    t = training_transforms((24, 16, 12), aug, lr_swap_table(LABELS))
    np.random.seed(0)
    flips = 0
    for _ in range(12):
        out = t(data=np.repeat(data[None], 2, 0).copy(), seg=np.repeat(seg[None], 2, 0).copy())
        assert out["data"].dtype == np.float32 and out["seg"].dtype == np.int16
        for b in range(2):
            s = out["seg"][b, 0]
            assert set(np.unique(s)) <= {0, 1, 2, 3}  # nothing invented
            xs_r, xs_l = np.nonzero(s == 2)[0], np.nonzero(s == 3)[0]
            assert xs_r.size and xs_l.size
            assert xs_r.mean() < 12 < xs_l.mean()
            flips += int(out["data"][b, 0, 0].mean() > out["data"][b, 0, -1].mean())
    assert flips > 0  # the mirror did happen (the intensity ramp along axis 0 got reversed)


def test_initial_patch_and_validation_crop():
    assert initial_patch_size((32, 32, 16), 0.0, 1.0) == (32, 32, 16)
    big = initial_patch_size((32, 32, 16), 30.0, 1.25)
    assert all(b > p for b, p in zip(big, (32, 32, 16)))
    data, seg = _sided_sample()
    out = validation_transforms((10, 8, 4))(data=data[None].copy(), seg=seg[None].copy())
    assert out["data"].shape == (1, 1, 10, 8, 4) and out["seg"].shape == (1, 1, 10, 8, 4)


def test_bad_axes():
    data, seg = _sided_sample()
    with pytest.raises(ValueError, match="spatial axes 0, 1, 2"):
        mirror_sample(data, seg, [3], None)
    with pytest.raises(ValueError, match="mirror_axes"):
        AugmentationSettings(mirror_axes=(0, 4))
    with pytest.raises(ValueError, match="p_noise must be in"):
        AugmentationSettings(p_noise=2.0)
    with pytest.raises(ValueError, match="order_seg must be 0 or 1"):
        AugmentationSettings(order_seg=3)
    t = LabelSwapMirrorTransform((0,), lr_swap_table(LABELS), p=1.0)
    out = t(data=data[None].copy(), seg=seg[None].copy())
    assert (out["seg"][0, 0, 14:18, 3:8, 2:6] == 3).all()


def test_partial_coverage_keeps_one_axial_window_and_makes_the_rest_look_like_padding():
    """A sample cut to a thin slab must look as the predictor pads a thin input: image exactly 0 and label
    background outside one contiguous axial window whose length lies in the configured range."""
    np.random.seed(3)
    rng = np.random.default_rng(0)
    data = rng.uniform(1.0, 2.0, (16, 1, 6, 5, 40)).astype(np.float32)
    seg = rng.integers(1, 4, (16, 1, 6, 5, 40)).astype(np.int16)
    out = PartialCoverageTransform((0.25, 0.5), p=1.0)(data=data.copy(), seg=seg.copy())
    lengths = set()
    for b in range(16):
        kept = np.flatnonzero((out["data"][b] != 0).any(axis=(0, 1, 2)))
        assert kept.size and np.array_equal(kept, np.arange(kept[0], kept[-1] + 1))  # one window
        assert 10 <= kept.size <= 20  # 0.25 .. 0.5 of 40 slices
        lengths.add(kept.size)
        inside, outside = (Ellipsis, slice(kept[0], kept[-1] + 1)), np.ones(40, bool)
        outside[kept[0]:kept[-1] + 1] = False
        np.testing.assert_array_equal(out["data"][b][inside], data[b][inside])
        np.testing.assert_array_equal(out["seg"][b][inside], seg[b][inside])
        assert (out["data"][b][..., outside] == 0).all() and (out["seg"][b][..., outside] == 0).all()
    assert len(lengths) > 1  # drawn per sample
    untouched = PartialCoverageTransform((0.25, 0.5), p=0.0)(data=data.copy(), seg=seg.copy())
    np.testing.assert_array_equal(untouched["data"], data)


def test_partial_coverage_is_the_last_augmentation_and_on_by_default():
    """With the cut on, every other augmentation off: outside the kept window the batch is exactly 0 (no noise
    or contrast change is applied after it); every preset has it (p 0.1), and p 0 leaves it out."""
    aug = AugmentationSettings(p_rotation=0, p_scale=0, p_noise=1.0, p_blur=0, p_brightness=0, p_contrast=1.0,
                               p_lowres=0, p_gamma=0, p_gamma_inverted=0, mirror_axes=(),
                               p_partial_coverage=1.0, partial_coverage_range=(0.2, 0.2))
    np.random.seed(0)
    data = np.random.uniform(1, 2, (2, 1, 8, 8, 20)).astype(np.float32)
    seg = np.ones((2, 1, 8, 8, 20), np.int16)
    out = training_transforms((8, 8, 20), aug, None)(data=data, seg=seg)
    for b in range(2):
        assert int((out["data"][b] != 0).any(axis=(0, 1, 2)).sum()) == 4
        assert int(out["seg"][b].any(axis=(0, 1, 2)).sum()) == 4
    from torsoseg.training.settings import PRESETS

    assert all(s.augmentation.p_partial_coverage == 0.1 for s in PRESETS.values())
    off = training_transforms((8, 8, 20), AugmentationSettings(p_partial_coverage=0.0), None)
    assert not any(isinstance(t, PartialCoverageTransform) for t in off.transforms)
    with pytest.raises(ValueError, match="partial_coverage_range must satisfy"):
        AugmentationSettings(partial_coverage_range=(0.5, 0.2))
    with pytest.raises(ValueError, match="partial_coverage_range must satisfy"):
        AugmentationSettings(partial_coverage_range=(0.0, 0.5))


def test_field_of_view_cut_keeps_one_in_plane_box_through_every_slice():
    """A field of view cropped in plane: both in-plane axes cut to one window each, every axial slice kept,
    the rest padding (0) and background; off in every preset, on only through p_field_of_view."""
    aug = AugmentationSettings(p_rotation=0, p_scale=0, p_noise=0, p_blur=0, p_brightness=0, p_contrast=0,
                               p_lowres=0, p_gamma=0, p_gamma_inverted=0, mirror_axes=(),
                               p_partial_coverage=0.0, p_field_of_view=1.0, field_of_view_range=(0.5, 0.5))
    np.random.seed(1)
    data = np.random.uniform(1, 2, (4, 1, 20, 16, 12)).astype(np.float32)
    seg = np.ones((4, 1, 20, 16, 12), np.int16)
    out = training_transforms((20, 16, 12), aug, None)(data=data.copy(), seg=seg.copy())
    starts = set()
    for b in range(4):
        kept = np.argwhere(out["data"][b, 0] != 0)
        lo, hi = kept.min(axis=0), kept.max(axis=0) + 1
        assert tuple(hi - lo) == (10, 8, 12)  # half of x and of y, every slice of z
        box = (slice(lo[0], hi[0]), slice(lo[1], hi[1]), slice(None))
        np.testing.assert_array_equal(out["data"][b, 0][box], data[b, 0][box])
        assert int((out["data"][b] != 0).sum()) == int(out["seg"][b].sum()) == 10 * 8 * 12
        starts.add((int(lo[0]), int(lo[1])))
    assert len(starts) > 1  # the window's place is drawn per sample
    from torsoseg.training.settings import PRESETS

    assert all(s.augmentation.p_field_of_view == 0.0 for s in PRESETS.values())
    default = training_transforms((8, 8, 20), AugmentationSettings(), None)
    assert [t.axes for t in default.transforms if isinstance(t, PartialCoverageTransform)] == [(2,)]
    with pytest.raises(ValueError, match="field_of_view_range must satisfy"):
        AugmentationSettings(field_of_view_range=(0.0, 0.5))
