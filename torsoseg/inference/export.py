"""Export of network-grid predictions back to the input image's exact geometry, in bounded memory.

The network predicts on the canonical, cropped, resampled grid. To return to the input:

1. logits (or probabilities) are resampled to the cropped grid at the original spacing with separable
   linear interpolation (pixel-centre mapping, the same as ``skimage.transform.resize(order=1)`` and
   ``torch.nn.functional.interpolate(mode="trilinear", align_corners=False)``), one class at a time and
   in slabs along axis 0: only two float32 slabs of the output grid exist at once, never all classes at
   full resolution, never float64;
2. a running maximum over the classes gives each slab's argmax, written into a ``uint8`` (``int16``
   beyond 256 classes) label map;
3. the label map is pasted into the uncropped canonical grid (background outside the crop box) and the
   canonical permutation/flips are undone (:func:`torsoseg.imageio.restore_orientation`).

The only full-size buffers are the label maps themselves (1 byte per voxel).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from torsoseg.imageio import Volume, restore_orientation
from torsoseg.preprocessing.cropping import pad_from_bbox
from torsoseg.preprocessing.resampling import linear_resize_indices

logger = logging.getLogger(__name__)

DEFAULT_CHUNK_BYTES = 256 * 1024**2


def _resize_axis(x: torch.Tensor, axis: int, i0: np.ndarray, i1: np.ndarray, w1: np.ndarray) -> torch.Tensor:
    t0 = torch.as_tensor(i0, device=x.device)
    t1 = torch.as_tensor(i1, device=x.device)
    shape = [1] * x.ndim
    shape[axis] = len(w1)
    w = torch.as_tensor(w1, device=x.device, dtype=x.dtype).reshape(shape)
    a = x.index_select(axis, t0)
    b = x.index_select(axis, t1)
    return a.add_((b - a).mul_(w))


def _slabs(n_out: int, bytes_per_slice: int, chunk_bytes: int) -> list[tuple[int, int]]:
    per = max(1, int(chunk_bytes) // max(1, int(bytes_per_slice)))
    return [(s, min(n_out, s + per)) for s in range(0, n_out, per)]


def label_dtype(num_classes: int) -> np.dtype:
    """``uint8`` up to 256 classes, else ``int16``."""
    return np.dtype(np.uint8) if num_classes <= 256 else np.dtype(np.int16)


def _resample_slab(src: torch.Tensor, x_plan: tuple | None, out_yz: tuple[int, int]) -> torch.Tensor:
    """``(C, x_in, Y, Z)`` float32 -> ``(C, x_out, Y', Z')``: slab-local x plan, then bilinear y/z.

    Bilinear ``align_corners=False`` uses the same pixel-centre mapping as :func:`linear_resize_indices`.
    """
    if x_plan is not None:
        src = _resize_axis(src, 1, *x_plan)
    if tuple(src.shape[2:]) != tuple(out_yz):
        c, xs = int(src.shape[0]), int(src.shape[1])
        src = torch.nn.functional.interpolate(
            src.reshape(1, c * xs, *src.shape[2:]), size=tuple(out_yz), mode="bilinear", align_corners=False
        ).reshape(c, xs, *out_yz)
    return src


def _slab_source(scores: torch.Tensor, x0: int, x1: int, plan: tuple, same_x: bool):
    """Input x range and slab-local x plan for output slab ``[x0, x1)``."""
    if same_x:
        return x0, x1, None
    i0, i1, w = plan
    lo, hi = int(i0[x0]), int(i1[x1 - 1]) + 1
    return lo, hi, (i0[x0:x1] - lo, i1[x0:x1] - lo, w[x0:x1])


def resample_argmax(
    scores: torch.Tensor, out_shape: Sequence[int], chunk_bytes: int = DEFAULT_CHUNK_BYTES
) -> np.ndarray:
    """Label map of the class-wise linearly resampled ``scores``.

    Classes are resampled one at a time, slab by slab along axis 0, keeping a running maximum: the only
    float32 buffers are two slabs of the output grid (never ``K`` classes at full resolution).

    Args:
        scores: ``(K, X, Y, Z)`` logits or probabilities (any float dtype; CPU).
        out_shape: target ``(X', Y', Z')``.
        chunk_bytes: memory budget of the float32 slab buffers.

    Returns:
        ``(X', Y', Z')`` ``uint8`` (``int16`` beyond 256 classes) argmax (the first class wins a tie).
    """
    if scores.ndim != 4:
        raise ValueError(f"scores must be (K, X, Y, Z), got shape {tuple(scores.shape)}")
    k = int(scores.shape[0])
    out_shape = tuple(int(s) for s in out_shape)
    if len(out_shape) != 3 or min(out_shape) < 1:
        raise ValueError(f"out_shape must be 3 positive integers, got {out_shape}")
    out = np.empty(out_shape, dtype=label_dtype(k))
    same_x = int(scores.shape[1]) == out_shape[0]
    plan = linear_resize_indices(int(scores.shape[1]), out_shape[0])
    slice_bytes = 4 * 3 * out_shape[1] * out_shape[2]
    tdtype = torch.uint8 if out.dtype == np.uint8 else torch.int16
    with torch.inference_mode():
        for x0, x1 in _slabs(out_shape[0], slice_bytes, chunk_bytes):
            lo, hi, x_plan = _slab_source(scores, x0, x1, plan, same_x)
            best: torch.Tensor | None = None
            idx = torch.zeros((x1 - x0, *out_shape[1:]), dtype=tdtype)
            for c in range(k):
                v = _resample_slab(scores[c:c + 1, lo:hi].float(), x_plan, out_shape[1:])[0]
                if best is None:
                    best = v.clone()  # v may be a view of ``scores`` (no resampling needed)
                    continue
                idx.masked_fill_(v > best, c)
                torch.maximum(best, v, out=best)
            out[x0:x1] = idx.numpy()
    return out


def resample_probabilities(
    probabilities: torch.Tensor, out_shape: Sequence[int], chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    softmax: bool = False, labels: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Class-wise linear resampling of ``(K, X, Y, Z)`` probabilities to ``(K, *out_shape)`` float16.

    Linear interpolation keeps the class probabilities summing to 1 at every voxel. ``softmax``: the
    scores are logits (one fold's), turned into probabilities after the resampling (float32 per slab), as
    nnU-Net v2 does. ``labels``: also return the label map, the argmax of the resampled float32 scores in
    the same pass: the label map :func:`resample_argmax` gives (the first class wins a tie), not the
    argmax of the float16 output, whose rounding makes ties.
    """
    k = int(probabilities.shape[0])
    out_shape = tuple(int(s) for s in out_shape)
    out = np.empty((k, *out_shape), dtype=np.float16)
    seg = np.empty(out_shape, dtype=label_dtype(k)) if labels else None
    same_x = int(probabilities.shape[1]) == out_shape[0]
    plan = linear_resize_indices(int(probabilities.shape[1]), out_shape[0])
    slice_bytes = 4 * 2 * k * out_shape[1] * out_shape[2]
    with torch.inference_mode():
        for x0, x1 in _slabs(out_shape[0], slice_bytes, chunk_bytes):
            lo, hi, x_plan = _slab_source(probabilities, x0, x1, plan, same_x)
            slab = _resample_slab(probabilities[:, lo:hi].float(), x_plan, out_shape[1:])
            if seg is not None:
                seg[x0:x1] = slab.argmax(0).numpy()
            if softmax:
                slab = torch.softmax(slab, dim=0)
            out[:, x0:x1] = slab.numpy().astype(np.float16)
    return out if seg is None else (out, seg)


def softmax_(logits: torch.Tensor, chunk_bytes: int = DEFAULT_CHUNK_BYTES) -> torch.Tensor:
    """In-place softmax over axis 0 of ``(K, X, Y, Z)`` logits, computed in float32 slab by slab.

    The result keeps ``logits``' dtype (float16 or float32), so no full float32 copy is ever made.
    """
    k = int(logits.shape[0])
    slice_bytes = 4 * k * int(np.prod(logits.shape[2:]))
    with torch.inference_mode():
        for x0, x1 in _slabs(int(logits.shape[1]), slice_bytes, chunk_bytes):
            part = logits[:, x0:x1]
            part.copy_(torch.softmax(part.float(), dim=0))
    return logits


def canonical_shape(props: Any) -> tuple[int, int, int]:
    """Shape of the uncropped canonical grid: the input's shape permuted by the reorientation."""
    original = props.reorientation.original.shape
    return tuple(int(original[a]) for a in props.reorientation.axes)


def _outside_mask(props: Any) -> np.ndarray:
    inside = np.zeros(canonical_shape(props), dtype=bool)
    inside[_bbox(props)] = True
    return ~inside


def _bbox(props: Any) -> tuple[slice, slice, slice]:
    return tuple(slice(int(b[0]), int(b[1])) for b in props.crop_bbox)


def labels_to_input_geometry(seg_crop: np.ndarray, props: Any) -> Volume:
    """Pastes a cropped-grid label map into the canonical grid and restores the input orientation.

    Args:
        seg_crop: ``props.shape_after_crop`` label map (canonical orientation, original spacing).
        props: the :class:`~torsoseg.preprocessing.CaseProperties` of the case.

    Returns:
        A :class:`~torsoseg.imageio.Volume` on exactly the input image's grid (background outside the crop).
    """
    bbox = _bbox(props)
    expected = tuple(s.stop - s.start for s in bbox)
    if tuple(seg_crop.shape) != expected:
        raise ValueError(f"label map shape {tuple(seg_crop.shape)} differs from the crop box's {expected}")
    full = pad_from_bbox(seg_crop, props.crop_bbox, canonical_shape(props), fill=0)
    return restore_orientation(full, props.reorientation)


def probabilities_to_input_geometry(prob_crop: np.ndarray, props: Any) -> np.ndarray:
    """``(K, *shape_after_crop)`` probabilities -> ``(K, *input shape)`` float16 in the input's axis order.

    Outside the crop box the background (channel 0) has probability 1.
    """
    prob_crop = prob_crop.astype(np.float16, copy=False)
    full = pad_from_bbox(prob_crop, props.crop_bbox, canonical_shape(props), fill=0)
    full[0][_outside_mask(props)] = 1.0
    return restore_orientation(full, props.reorientation, channel_first=True)
