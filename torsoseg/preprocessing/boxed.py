"""Preprocessing for inference in bounded memory, optionally only a box of the target grid.

:func:`~torsoseg.preprocessing.case.preprocess_volume` normalises the whole cropped image as float32 and
resamples it in one piece (``scipy.ndimage.zoom`` holds a float64 copy of it on top): for a 512 x 512 x 400
CT about 2 GB at the peak, most of it for voxels far from any organ. Here the target grid is computed in
slabs along axis 0, and optionally only inside a box of it (the cascade's fine stage needs only the part
its candidate region touches): each slab reads the part of the cropped image its interpolation needs,
plus :data:`SPLINE_MARGIN` voxels, normalises and resamples that part alone.

The result equals the one-piece resampling up to the cubic B-spline prefilter's boundary: the spline
coefficients of a part differ from those of the whole image only near the part's cut faces, and that
difference decays by a factor of ``2 - sqrt(3) = 0.268`` per voxel, so after :data:`SPLINE_MARGIN` (12)
voxels it is below ``1e-6`` of the intensity steps (float32 rounding). Along an axis resampled at zoom 1
(or the anisotropic axis, linear only) no margin is needed: a spline evaluated at its knots returns its
data exactly. Where a part reaches the image's edge it is padded exactly as the whole image is.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from torsoseg import imageio
from torsoseg.imageio import Volume
from torsoseg.plans import Plans
from torsoseg.preprocessing import resampling
from torsoseg.preprocessing.case import CaseProperties, case_bbox, normalize_channel

Box = tuple[tuple[int, int], tuple[int, int], tuple[int, int]]

#: extra source voxels read beyond the cubic interpolation's support at a part's cut faces
SPLINE_MARGIN = 12
#: source voxels of one slab (float32 + its edge-padded copy + scipy's float64 spline coefficients)
SLAB_VOXELS = 8 * 1024**2

__all__ = ["SPLINE_MARGIN", "Box", "target_shape", "source_range", "resample_image_box",
           "preprocess_volume_box"]


def target_shape(props: CaseProperties, plans: Plans) -> tuple[int, int, int]:
    """The preprocessed shape of a case (whose crop ``props`` describe) at ``plans``' target spacing."""
    return resampling.compute_new_shape(props.shape_after_crop, props.spacing_after_crop,
                                        plans.target_spacing)


def source_range(n_in: int, n_out: int, lo: int, hi: int, cubic: bool,
                 margin: int = SPLINE_MARGIN) -> tuple[int, int]:
    """Source voxels ``[s0, s1)`` that target voxels ``[lo, hi)`` of a resize ``n_in -> n_out`` read.

    Target ``j`` sits at source ``(j + 0.5) * n_in / n_out - 0.5``; cubic interpolation reads 4
    neighbours plus ``margin`` (the prefilter's reach), linear 2 (:func:`linear_resize_indices`).

    Example:
        >>> source_range(100, 50, 10, 20, cubic=False)
        (20, 40)
    """
    if cubic:
        first = (lo + 0.5) * n_in / n_out - 0.5
        last = (hi - 0.5) * n_in / n_out - 0.5
        return max(0, int(np.floor(first)) - 1 - margin), min(n_in, int(np.floor(last)) + 3 + margin)
    i0, i1, _ = resampling.linear_resize_indices(n_in, n_out)
    return int(i0[lo:hi].min()), int(i1[lo:hi].max()) + 1


def _axis_kinds(shape_in: Sequence[int], shape_out: Sequence[int], anisotropic: int | None) -> list[str]:
    """Per axis: ``"same"`` (zoom 1), ``"linear"`` (the anisotropic axis) or ``"cubic"``."""
    return ["same" if n == m else "linear" if a == anisotropic else "cubic"
            for a, (n, m) in enumerate(zip(shape_in, shape_out))]


def _resample_part(part: np.ndarray, kinds: list[str], n_in: Sequence[int], n_out: Sequence[int],
                   src: Sequence[tuple[int, int]], dst: Sequence[tuple[int, int]]) -> np.ndarray:
    """Target voxels ``dst`` (global ranges) from the source ``part`` (global ranges ``src``), float32."""
    from scipy import ndimage

    zoom = [n_in[a] / n_out[a] if kinds[a] == "cubic" else 1.0 for a in range(3)]
    offset = [((dst[a][0] + 0.5) * zoom[a] - 0.5 - src[a][0]) if kinds[a] == "cubic" else 0.0
              for a in range(3)]
    shape = [dst[a][1] - dst[a][0] if kinds[a] == "cubic" else part.shape[a] for a in range(3)]
    vol = part
    if "cubic" in kinds:
        vol = ndimage.affine_transform(part, np.asarray(zoom), offset=offset, output_shape=tuple(shape),
                                       order=3, mode="nearest", prefilter=True, output=np.float32)
    for a in range(3):
        if kinds[a] == "linear":
            i0, i1, w = resampling.linear_resize_indices(n_in[a], n_out[a])
            lo, hi = dst[a]
            vol = resampling._apply_axis(vol, a, (i0[lo:hi], i1[lo:hi], w[lo:hi]), lo=src[a][0])
        elif kinds[a] == "same":
            vol = np.take(vol, np.arange(dst[a][0] - src[a][0], dst[a][1] - src[a][0]), axis=a)
    return np.ascontiguousarray(vol, dtype=np.float32)


def _channel_normaliser(array: np.ndarray, modality: str, plans: Plans):
    """``part -> normalised float32 part`` with the statistics of the whole ``array`` (see
    :func:`~torsoseg.preprocessing.case.normalize_channel`)."""
    low = None
    if np.issubdtype(array.dtype, np.floating) and not np.isfinite(array).all():
        fin = array[np.isfinite(array)]
        low = float(fin.min()) if fin.size else 0.0
    ct = modality.strip().lower() == "ct"
    mean = std = 0.0
    if not ct:
        a = np.where(np.isfinite(array), array, low if low is not None else 0.0).astype(np.float64)
        mean, std = float(a.mean()), float(a.std())

    def apply(part: np.ndarray) -> np.ndarray:
        if low is not None:
            part = np.where(np.isfinite(part), part, low)
        if ct:
            return normalize_channel(part, "CT", plans)
        return ((np.asarray(part, dtype=np.float32) - np.float32(mean)) / np.float32(max(std, 1e-8)))

    return apply


def resample_image_box(array: np.ndarray, new_shape: Sequence[int], box: Box | None = None,
                       anisotropic: int | None = None, transform=None,
                       slab_voxels: int = SLAB_VOXELS) -> np.ndarray:
    """The part ``box`` of :func:`~torsoseg.preprocessing.resampling.resample_image` ``(array, new_shape,
    order=3, anisotropic)``, computed in slabs along axis 0 (see the module docstring for the tolerance).

    Args:
        array: ``(X, Y, Z)`` source intensities (any dtype; only the parts read are converted).
        new_shape: the whole target grid's shape.
        box: target ``(lo, hi)`` per axis (default: the whole grid).
        anisotropic: the axis interpolated only linearly, as in ``resample_image``.
        transform: applied to each source part before interpolation (a pointwise normalisation).
        slab_voxels: source voxels per slab (memory: about 16 bytes each).

    Returns:
        float32 array of the box's shape.
    """
    n_in, n_out = tuple(int(n) for n in array.shape), tuple(int(n) for n in new_shape)
    box = tuple((0, n) for n in n_out) if box is None else tuple((int(a), int(b)) for a, b in box)
    if any(not (0 <= a < b <= n) for (a, b), n in zip(box, n_out)):
        raise ValueError(f"box {box} is not a non-empty part of the target grid {n_out}")
    kinds = _axis_kinds(n_in, n_out, anisotropic)
    ranges = [source_range(n_in[a], n_out[a], *box[a], cubic=kinds[a] == "cubic") for a in range(3)]
    out = np.empty(tuple(b - a for a, b in box), dtype=np.float32)
    per_plane = (ranges[1][1] - ranges[1][0]) * (ranges[2][1] - ranges[2][0])
    rows = int(slab_voxels) // max(1, per_plane) - 2 * SPLINE_MARGIN - 4  # source rows of one slab
    step = max(1, int(rows * n_out[0] / n_in[0]))
    for x0 in range(box[0][0], box[0][1], step):
        dst = [(x0, min(box[0][1], x0 + step)), box[1], box[2]]
        src = [source_range(n_in[0], n_out[0], *dst[0], cubic=kinds[0] == "cubic"), ranges[1], ranges[2]]
        part = array[tuple(slice(a, b) for a, b in src)]
        part = transform(part) if transform is not None else np.asarray(part, dtype=np.float32)
        out[x0 - box[0][0]:dst[0][1] - box[0][0]] = _resample_part(part, kinds, n_in, n_out, src, dst)
    return out


def preprocess_volume_box(volume: Volume | Sequence[Volume], plans: Plans, box: Box | None = None,
                          crop_bbox: Box | None = None,
                          slab_voxels: int = SLAB_VOXELS) -> tuple[np.ndarray, CaseProperties]:
    """:func:`~torsoseg.preprocessing.case.preprocess_volume` in bounded memory, optionally only ``box``.

    Args:
        volume: the image (or one volume per channel) in any orientation.
        plans: target spacing and normalisation.
        box: the part of the preprocessed grid to compute (default: all of it); ``(lo, hi)`` per axis.
        crop_bbox: the body crop when already known (another stage's ``CaseProperties.crop_bbox``).
        slab_voxels: source voxels per slab.

    Returns:
        ``(data (C, *box shape) float32, CaseProperties of the whole case)``.
    """
    vols = [volume] if isinstance(volume, Volume) else list(volume)
    if len(vols) != plans.num_input_channels:
        raise ValueError(
            f"expected {plans.num_input_channels} channel image(s) for the plans, got {len(vols)}")
    canon = []
    for v in vols:
        c, reo = imageio.reorient_to_canonical(v)
        canon.append(c)
    bbox = case_bbox(canon[0].array) if crop_bbox is None else tuple((int(a), int(b)) for a, b in crop_bbox)
    cropped = [c.array[tuple(slice(a, b) for a, b in bbox)] for c in canon]
    spacing = canon[0].spacing
    shape_after_crop = tuple(int(n) for n in cropped[0].shape)
    new_shape = resampling.compute_new_shape(shape_after_crop, spacing, plans.target_spacing)
    aniso = resampling.anisotropic_axis(spacing)
    if aniso is None:
        aniso = resampling.anisotropic_axis(plans.target_spacing)
    box = tuple((0, n) for n in new_shape) if box is None else box
    data = np.empty((len(cropped), *(b - a for a, b in box)), dtype=np.float32)
    for i, c in enumerate(cropped):
        norm = _channel_normaliser(c, plans.channel_names.get(str(i), "CT"), plans)
        data[i] = resample_image_box(c, new_shape, box, aniso, norm, slab_voxels)
    props = CaseProperties(
        reorientation=reo, crop_bbox=bbox, shape_before_crop=tuple(canon[0].shape),
        shape_after_crop=shape_after_crop, spacing_after_crop=tuple(float(s) for s in spacing),
        shape_after_resample=tuple(new_shape),
        spacing_after_resample=tuple(float(s) * n / m
                                     for s, n, m in zip(spacing, shape_after_crop, new_shape)),
    )
    return data, props
