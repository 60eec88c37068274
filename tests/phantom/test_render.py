"""Painting parts with partial volume; finishing (blur, noise, quantisation)."""

from __future__ import annotations

import numpy as np
import pytest

from torsoseg.phantom.render import Grid, Part, RenderContext, finish_image, paint
from torsoseg.phantom.shapes import ellipsoid


def _grid(spacing=(2.0, 2.0, 3.0), n=(24, 24, 16)):
    origin = tuple(-(ni - 1) * s / 2 for ni, s in zip(n, spacing))
    return Grid(n, spacing, origin)


def _sphere(r, label=1, hu=100.0):
    return Part(
        "ball", (-r, -r, -r), (r, r, r), lambda b: ellipsoid(b.x, b.y, b.z, (0, 0, 0), (r, r, r)), hu, label
    )


def test_partial_volume_keeps_the_volume():
    grid = _grid()
    ctx = RenderContext(0, (-30, -30, -30), (30, 30, 30))
    hu, label = paint([_sphere(12.0)], grid, ctx, None, background_hu=0.0)
    voxel = np.prod(grid.spacing)
    true = 4 / 3 * np.pi * 12.0**3
    assert hu.sum() / 100.0 * voxel == pytest.approx(true, rel=0.03)
    assert label.sum() * voxel == pytest.approx(true, rel=0.12)
    assert set(np.unique(label)) == {0, 1}
    assert hu.min() >= 0 and hu.max() <= 100.0 + 1e-4


def test_later_parts_cover_earlier_and_intensity_only_parts_keep_labels():
    grid = _grid()
    ctx = RenderContext(0, (-30, -30, -30), (30, 30, 30))
    inner = Part(
        "inner",
        (-5, -5, -5),
        (5, 5, 5),
        lambda b: ellipsoid(b.x, b.y, b.z, (0, 0, 0), (5, 5, 5)),
        500.0,
        None,
    )
    hu, label = paint([_sphere(12.0), inner], grid, ctx, None, background_hu=0.0)
    c = tuple(s // 2 for s in grid.shape)
    assert label[c] == 1 and hu[c] > 300
    hu2, label2 = paint([_sphere(12.0), _sphere(6.0, label=2)], grid, ctx, None, background_hu=0.0)
    assert label2[c] == 2 and (label2 == 1).sum() > 0


def test_thick_slices_are_supersampled_and_labels_stay_centred():
    grid = _grid(spacing=(1.5, 1.5, 6.0), n=(24, 24, 12))
    ctx = RenderContext(0, (-30, -30, -40), (30, 30, 40))
    hu, label = paint([_sphere(10.0)], grid, ctx, None, background_hu=0.0)
    voxel = np.prod(grid.spacing)
    assert hu.sum() / 100.0 * voxel == pytest.approx(4 / 3 * np.pi * 1000, rel=0.05)
    assert label.shape == grid.shape


def test_finish_image_quantises_and_clips():
    hu = np.full((8, 8, 2), 5000.0, dtype=np.float32)
    hu[0] = -3000.0
    out = finish_image(hu, np.random.default_rng(0), 0.5, 0.0, 0.8)
    assert out.dtype == np.int16 and out.max() == 3071 and out.min() == -1024
    noisy = finish_image(np.zeros((64, 64, 4), np.float32), np.random.default_rng(0), 0.0, 10.0, 0.8)
    assert 7 < noisy.std() < 13
