"""The cascade's candidate region and the arithmetic between its grids.

Three grids cover the same cropped, canonical box of a case: the coarse stage's (``3d_lowres`` spacing),
the fine stage's (full-resolution spacing) and the crop grid at the input's own spacing. Each maps onto
another by pixel centres (``(j + 0.5) * n_from / n_to - 0.5``, the mapping of every resampler here), so
an index box or a mask carries over without physical coordinates.

* :func:`candidate_region`: the coarse stage's organs grown by a margin in mm (an exact Euclidean
  distance, computed only inside the organs' box grown by the margin).
* :func:`box_plan` and :func:`resample_box`: the linear resampling of the fine stage's box of scores onto
  the part of the crop grid it covers, with exactly the weights a resampling of the whole grid would use,
  in slabs and one class at a time (memory as in :mod:`torsoseg.inference.export`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from torsoseg.inference.export import DEFAULT_CHUNK_BYTES, _resize_axis, _slabs, label_dtype
from torsoseg.preprocessing.cropping import bbox_of_mask
from torsoseg.preprocessing.resampling import linear_resize_indices

Box = tuple[tuple[int, int], tuple[int, int], tuple[int, int]]

__all__ = ["candidate_region", "grid_index_map", "box_plan", "resample_box"]


def candidate_region(seg: np.ndarray, spacing: Sequence[float], margin_mm: float) -> np.ndarray:
    """Voxels within ``margin_mm`` (Euclidean, in mm) of any foreground voxel of ``seg``.

    Args:
        seg: ``(X, Y, Z)`` integer label map (0 = background), e.g. the coarse stage's prediction.
        spacing: mm per axis of ``seg``'s grid.
        margin_mm: the margin (>= 0).

    Returns:
        bool ``(X, Y, Z)``; it contains every foreground voxel of ``seg``; all ``False`` when ``seg`` has
        no foreground.

    Example:
        >>> s = np.zeros((9, 1, 1), np.uint8); s[4] = 2
        >>> candidate_region(s, (2.0, 1.0, 1.0), 4.0)[:, 0, 0].astype(int).tolist()
        [0, 0, 1, 1, 1, 1, 1, 0, 0]
    """
    from scipy.ndimage import distance_transform_edt

    if float(margin_mm) < 0:
        raise ValueError(f"margin_mm must be >= 0, got {margin_mm}")
    fg = np.asarray(seg) != 0
    region = np.zeros(fg.shape, dtype=bool)
    box = bbox_of_mask(fg)
    if box is None:
        return region
    grow = [int(np.ceil(float(margin_mm) / float(s))) for s in spacing]
    sl = tuple(slice(max(a - g, 0), min(b + g, n)) for (a, b), g, n in zip(box, grow, fg.shape))
    sub = fg[sl]
    if margin_mm > 0:
        sub = distance_transform_edt(~sub, sampling=[float(s) for s in spacing]) <= float(margin_mm)
    region[sl] = sub
    return region


def grid_index_map(n_from: int, n_to: int) -> np.ndarray:
    """For each of ``n_to`` voxels, the voxel of an ``n_from``-voxel grid over the same extent holding its
    centre (int64 ``(n_to,)``).

    Example:
        >>> grid_index_map(2, 5).tolist()
        [0, 0, 1, 1, 1]
    """
    j = (np.arange(int(n_to), dtype=np.float64) + 0.5) * (int(n_from) / int(n_to))
    return np.clip(np.floor(j).astype(np.int64), 0, int(n_from) - 1)


def box_plan(n_in: int, n_out: int, box: tuple[int, int]) -> tuple[tuple[int, int], tuple]:
    """The output range a linear resize ``n_in -> n_out`` can compute from input ``box`` alone, and its
    plan relative to the box.

    Returns:
        ``((o0, o1), (i0, i1, w))``: outputs ``o0..o1-1`` read only input voxels in ``box``; ``i0, i1`` are
        box-relative source indices, ``w`` the weights, equal to those of :func:`linear_resize_indices`
        over the whole axis. ``o0 == o1`` when no output qualifies.
    """
    i0, i1, w = linear_resize_indices(int(n_in), int(n_out))
    ok = np.flatnonzero((i0 >= box[0]) & (i1 <= box[1] - 1))
    if ok.size == 0:
        return (0, 0), (i0[:0], i1[:0], w[:0])
    o0, o1 = int(ok[0]), int(ok[-1]) + 1
    return (o0, o1), (i0[o0:o1] - box[0], i1[o0:o1] - box[0], w[o0:o1])


def _resample_slab(src: torch.Tensor, x_plan: tuple, n_in_yz: Sequence[int],
                   box_yz: Sequence[tuple[int, int]], n_out_yz: Sequence[int],
                   ranges_yz: Sequence[tuple[int, int]]) -> torch.Tensor:
    """``(C, x_in, box y, box z)`` -> ``(C, x_out, range y, range z)``: the x plan by gathering, then y and z
    by one bilinear resize of the whole plane (the box placed in a zero plane of the input's size, the
    outputs cropped to their ranges). Outputs in the ranges read only box voxels, so this is the same
    arithmetic as :func:`torsoseg.inference.export.resample_argmax` over the whole grid, and many times
    faster than gathering along y and z."""
    v = _resize_axis(src, 1, *x_plan)
    c, xs = int(v.shape[0]), int(v.shape[1])
    plane = v.new_zeros((c, xs, *n_in_yz))
    plane[:, :, box_yz[0][0]:box_yz[0][1], box_yz[1][0]:box_yz[1][1]] = v
    del v
    out = torch.nn.functional.interpolate(plane.reshape(1, c * xs, *n_in_yz), size=tuple(n_out_yz),
                                          mode="bilinear", align_corners=False).reshape(c, xs, *n_out_yz)
    return out[:, :, ranges_yz[0][0]:ranges_yz[0][1], ranges_yz[1][0]:ranges_yz[1][1]]


def resample_box(
    scores: torch.Tensor, n_in: Sequence[int], n_out: Sequence[int], box: Box, probabilities: bool = False,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES, softmax: bool = False, labels: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Linear resampling of a box's ``(K, X, Y, Z)`` scores onto the outputs of the whole-grid resize
    ``n_in -> n_out`` that read only voxels of the box (the ranges :func:`box_plan` gives per axis).

    Args:
        scores: the box's logits or probabilities (any float dtype; CPU), ``box`` cut from an ``n_in`` grid.
        n_in: the whole input grid's shape.
        n_out: the whole output grid's shape.
        box: ``((x0, x1), (y0, y1), (z0, z1))`` on the input grid.
        probabilities: return float16 ``(K, *out)`` resampled scores instead of the argmax.
        softmax: with ``probabilities``, the scores are logits: softmax after the resampling (see
            :func:`torsoseg.inference.export.resample_probabilities`).
        labels: with ``probabilities``, also return the argmax (as without them) from the same pass.
        chunk_bytes: memory budget of the float32 slab buffers.

    Returns:
        ``uint8`` (``int16`` beyond 256 classes) argmax over the output ranges (the first class wins a
        tie), or float16 ``(K, *ranges)``; equal to the whole grid's resampling there.
    """
    k = int(scores.shape[0])
    (ranges, plans) = zip(*(box_plan(a, b, c) for a, b, c in zip(n_in, n_out, box)))
    out_shape = tuple(o1 - o0 for o0, o1 in ranges)
    x_plan, yz = plans[0], (tuple(n_in[1:]), tuple(box[1:]), tuple(n_out[1:]), tuple(ranges[1:]))
    seg = np.empty(out_shape, dtype=label_dtype(k)) if (labels or not probabilities) else None
    out = np.empty((k, *out_shape), dtype=np.float16) if probabilities else seg
    if min(out_shape) < 1:
        return (out, seg) if probabilities and labels else out
    slice_bytes = 4 * (2 * k if probabilities else 3) * max(1, int(np.prod(n_out[1:])))
    with torch.inference_mode():
        for x0, x1 in _slabs(out_shape[0], slice_bytes, chunk_bytes):
            lo, hi = int(x_plan[0][x0]), int(x_plan[1][x1 - 1]) + 1
            local = (x_plan[0][x0:x1] - lo, x_plan[1][x0:x1] - lo, x_plan[2][x0:x1])
            if probabilities:
                slab = _resample_slab(scores[:, lo:hi].float(), local, *yz)
                if seg is not None:
                    seg[x0:x1] = slab.argmax(0).numpy()
                out[:, x0:x1] = (torch.softmax(slab, dim=0) if softmax else slab).numpy()
                continue
            best = idx = None
            for c in range(k):
                v = _resample_slab(scores[c:c + 1, lo:hi].float(), local, *yz)[0]
                if best is None:
                    best, idx = v.clone(), torch.zeros(v.shape, dtype=torch.int16)
                    continue
                idx.masked_fill_(v > best, c)
                torch.maximum(best, v, out=best)
            out[x0:x1] = idx.numpy()
    return (out, seg) if probabilities and labels else out
