"""Bounded-memory export: linear resize, argmax in slabs, paste and reorientation back to the input."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from torsoseg.imageio import Volume, reorient_to_canonical
from torsoseg.inference.export import (
    labels_to_input_geometry,
    probabilities_to_input_geometry,
    resample_argmax,
    resample_probabilities,
    softmax_,
)
from torsoseg.preprocessing.case import CaseProperties
from torsoseg.preprocessing.resampling import linear_resize_indices, resample_image


def test_linear_resize_indices_hand_computed():
    i0, i1, w = linear_resize_indices(2, 4)  # positions -0.25, 0.25, 0.75, 1.25 -> clamped
    assert i0.tolist() == [0, 0, 0, 1] and i1.tolist() == [1, 1, 1, 1]
    np.testing.assert_allclose(w, [0.0, 0.25, 0.75, 0.0])
    i0, i1, w = linear_resize_indices(4, 2)  # positions 0.5, 2.5
    assert i0.tolist() == [0, 2] and i1.tolist() == [1, 3]
    np.testing.assert_allclose(w, [0.5, 0.5])
    with pytest.raises(ValueError, match="n_in >= 1"):
        linear_resize_indices(0, 3)


@pytest.mark.parametrize("shape", [(20, 11, 9), (13, 17, 9), (7, 30, 4), (1, 1, 1)])
def test_resample_probabilities_in_slabs_equals_torch_trilinear_and_preprocessing(shape):
    torch.manual_seed(1)
    x = torch.randn(3, 13, 17, 9)
    ref = F.interpolate(x[None], size=shape, mode="trilinear", align_corners=False)[0].numpy()
    for chunk in (1, 10**9):  # one slice per slab, everything at once
        out = resample_probabilities(x, shape, chunk_bytes=chunk)  # float16 out
        assert out.dtype == np.float16 and out.shape == (3, *shape)
        np.testing.assert_allclose(out.astype(np.float32), ref, atol=4e-3, rtol=1e-3)
    # the same grid mapping as preprocessing's linear image resampler (preprocessing <-> export agree)
    np.testing.assert_allclose(resample_image(x.numpy(), shape, order=1), ref, atol=1e-5)


@pytest.mark.parametrize("shape", [(20, 11, 9), (13, 17, 9), (6, 40, 12)])
def test_resample_argmax_in_slabs_matches_full_resolution_argmax(shape):
    torch.manual_seed(0)
    x = torch.randn(5, 13, 17, 9)
    ref = F.interpolate(x[None], size=shape, mode="trilinear", align_corners=False)[0].argmax(0).numpy()
    for chunk in (1, 5000, 10**9):  # one slice per slab ... everything at once
        out = resample_argmax(x, shape, chunk_bytes=chunk)
        assert out.dtype == np.uint8 and out.shape == shape
        np.testing.assert_array_equal(out, ref)
    # float16 scores (the accumulation dtype) give the same labels up to half-precision ties
    assert (resample_argmax(x.half(), shape) == ref).mean() > 0.995


def test_resample_argmax_identity_and_many_classes():
    x = torch.randn(300, 4, 3, 2)
    out = resample_argmax(x, (4, 3, 2))
    assert out.dtype == np.int16
    np.testing.assert_array_equal(out, x.argmax(0).numpy())
    with pytest.raises(ValueError, match=r"\(K, X, Y, Z\)"):
        resample_argmax(x[0], (4, 3, 2))


def test_softmax_in_place_keeps_dtype_and_sums_to_one():
    x = torch.randn(4, 9, 5, 3).half()
    ref = torch.softmax(x.float(), 0)
    out = softmax_(x, chunk_bytes=100)
    assert out is x and out.dtype == torch.float16
    torch.testing.assert_close(out.float(), ref, atol=1e-3, rtol=1e-3)
    probs = resample_probabilities(out, (12, 4, 6), chunk_bytes=300)
    assert probs.dtype == np.float16 and probs.shape == (4, 12, 4, 6)
    np.testing.assert_allclose(probs.astype(np.float32).sum(0), 1.0, atol=3e-3)


def _props_for(volume: Volume, bbox) -> CaseProperties:
    canon, reo = reorient_to_canonical(volume)
    crop_shape = tuple(b - a for a, b in bbox)
    return CaseProperties(reorientation=reo, crop_bbox=tuple(bbox), shape_before_crop=canon.shape,
                          shape_after_crop=crop_shape, spacing_after_crop=canon.spacing,
                          shape_after_resample=crop_shape, spacing_after_resample=canon.spacing)


def test_labels_back_to_a_ras_input_round_trip():
    rng = np.random.default_rng(0)
    arr = rng.integers(0, 5, (8, 7, 6)).astype(np.uint8)
    ras = Volume(arr, (1.5, 0.8, 3.0), (10.0, -4.0, 2.0), ((-1, 0, 0), (0, -1, 0), (0, 0, 1)))
    canon, _ = reorient_to_canonical(ras)
    bbox = ((1, 7), (0, 5), (2, 6))
    props = _props_for(ras, bbox)
    crop = canon.array[1:7, 0:5, 2:6]
    back = labels_to_input_geometry(crop, props)
    assert back.geometry.same_grid(ras.geometry)
    inside = np.zeros(canon.shape, bool)
    inside[1:7, 0:5, 2:6] = True
    inside_input = inside[::-1, ::-1, :]  # canonical -> RAS is a flip of axes 0 and 1
    np.testing.assert_array_equal(back.array[inside_input], arr[inside_input])
    assert (back.array[~inside_input] == 0).all()
    with pytest.raises(ValueError, match="crop box"):
        labels_to_input_geometry(crop[:-1], props)


def test_probabilities_back_to_input_geometry_have_background_outside_the_crop():
    vol = Volume(np.zeros((6, 5, 4), np.int16), (1.0, 2.0, 3.0))
    props = _props_for(vol, ((1, 5), (0, 5), (1, 3)))
    probs = np.full((3, 4, 5, 2), 1 / 3, dtype=np.float16)
    full = probabilities_to_input_geometry(probs, props)
    assert full.shape == (3, 6, 5, 4) and full.dtype == np.float16
    np.testing.assert_allclose(full.astype(np.float32).sum(0), 1.0, atol=2e-3)
    assert full[0, 0, 0, 0] == 1.0 and full[1, 0, 0, 0] == 0.0
