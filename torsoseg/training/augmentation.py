"""Training augmentation with batchgenerators, plus torsoseg's label-aware left-right mirror.

Batches are dicts ``{"data": float32 (B, C, X, Y, Z), "seg": (B, 1, X, Y, Z)}``. The spatial transform
turns the larger sampled patch (:func:`initial_patch_size`, big enough for any rotation/zoom) into the
final patch; intensity transforms follow, then the mirror; a partial-coverage cut (an axial window kept,
the rest set to the padding value; on in every preset) is last. Mirroring spatial axis 0 (the patient's
left-right axis in the canonical orientation) maps every paired organ label to its twin with the table of
:func:`torsoseg.organs.lr_swap_table`, so a mirrored left kidney is labelled a right kidney.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from torsoseg.training.settings import AugmentationSettings


def initial_patch_size(
    patch_size: Sequence[int], rotation_deg: float, max_scale: float
) -> tuple[int, int, int]:
    """Patch to sample before the spatial transform so that rotating by up to ``rotation_deg`` about any axis
    and zooming out by ``max_scale`` (batchgenerators multiplies the sampling grid by the scale) never
    reaches outside it.

    Returns:
        Per axis ``>= patch_size`` (integers).

    Example:
        >>> initial_patch_size((64, 64, 64), 0.0, 1.0)
        (64, 64, 64)
    """
    p = np.asarray(patch_size, dtype=np.float64)
    a = math.radians(min(abs(rotation_deg), 90.0))
    corners = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)], dtype=np.float64)
    corners *= p / 2
    ext = np.abs(corners).max(0)
    for angles in np.array(np.meshgrid(*([np.linspace(-a, a, 5)] * 3))).reshape(3, -1).T:
        r = _rotation_matrix(*angles)
        ext = np.maximum(ext, np.abs(corners @ r.T).max(0))
    ext = 2 * ext * max(max_scale, 1.0)
    return tuple(int(max(math.ceil(e - 1e-6), s)) for e, s in zip(ext, patch_size))


def _rotation_matrix(ax: float, ay: float, az: float) -> np.ndarray:
    cx, sx, cy, sy, cz, sz = (
        math.cos(ax),
        math.sin(ax),
        math.cos(ay),
        math.sin(ay),
        math.cos(az),
        math.sin(az),
    )
    rx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    return rz @ ry @ rx


def mirror_sample(
    data: np.ndarray, seg: np.ndarray | None, axes: Sequence[int], swap_table: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray | None]:
    """Flips one sample along the given spatial axes (deterministic: the axes were sampled before).

    Args:
        data: ``(C, X, Y, Z)``.
        seg: ``(C_seg, X, Y, Z)`` integer-valued label map(s) or ``None``.
        axes: spatial axes (0, 1, 2) to flip.
        swap_table: label permutation applied to ``seg`` when axis 0 is flipped (``None``: identity).

    Returns:
        The flipped ``(data, seg)`` (new arrays).
    """
    axes = tuple(int(a) for a in axes)
    if any(a not in (0, 1, 2) for a in axes):
        raise ValueError(f"mirror axes must be spatial axes 0, 1, 2; got {axes}")
    if not axes:
        return data, seg
    flip = tuple(a + 1 for a in axes)
    data = np.ascontiguousarray(np.flip(data, flip))
    if seg is not None:
        seg = np.ascontiguousarray(np.flip(seg, flip))
        if 0 in axes and swap_table is not None:
            seg = apply_label_table(seg, swap_table)
    return data, seg


def apply_label_table(seg: np.ndarray, table: np.ndarray) -> np.ndarray:
    """``table[seg]`` for integer-valued label arrays of any dtype (negative values are kept)."""
    s = np.rint(seg).astype(np.int64) if np.issubdtype(seg.dtype, np.floating) else seg.astype(np.int64)
    valid = (s >= 0) & (s < len(table))
    out = s.copy()
    out[valid] = table[s[valid]]
    return out.astype(seg.dtype)


class LabelSwapMirrorTransform:
    """batchgenerators-style transform: per sample, flip each of ``axes`` with probability ``p``.

    Args:
        axes: spatial axes that may be flipped.
        swap_table: label permutation for a flip of axis 0 (:func:`torsoseg.organs.lr_swap_table`).
        p: per-axis flip probability.
    """

    def __init__(self, axes: Sequence[int], swap_table: np.ndarray | None, p: float = 0.5):
        self.axes = tuple(int(a) for a in axes)
        self.swap_table = None if swap_table is None else np.asarray(swap_table, dtype=np.int64)
        self.p = float(p)

    def __call__(self, **batch: Any) -> dict[str, Any]:
        data, seg = batch["data"], batch.get("seg")
        for b in range(data.shape[0]):
            chosen = [a for a in self.axes if np.random.uniform() < self.p]
            d, s = mirror_sample(data[b], None if seg is None else seg[b], chosen, self.swap_table)
            data[b] = d
            if seg is not None:
                seg[b] = s
        return batch


class PartialCoverageTransform:
    """batchgenerators-style transform: per sample, with probability ``p``, keep only a window of the
    axial axis (spatial axis 2 in the canonical orientation) and make the rest look like the predictor's
    padding of a thin input: image 0, label background. With ``axis=(0, 1)`` it cuts both in-plane axes
    of the chosen samples instead (a field of view cropped in plane), each with its own window.

    Args:
        keep_range: (low, high) length of the kept window as a fraction of the patch's extent along the
            axis (at least one voxel).
        p: probability per sample.
        axis: the spatial axis cut (2: cranio-caudal), or several, all cut in a chosen sample.
    """

    def __init__(self, keep_range: Sequence[float], p: float, axis: int | Sequence[int] = 2):
        self.keep_range = (float(keep_range[0]), float(keep_range[1]))
        self.p = float(p)
        self.axes = (int(axis),) if isinstance(axis, (int, np.integer)) else tuple(int(a) for a in axis)

    def window(self, extent: int) -> tuple[int, int]:
        """A random kept window ``[start, stop)`` of an axis of ``extent`` voxels."""
        length = int(round(np.random.uniform(*self.keep_range) * extent))
        length = min(max(length, 1), extent)
        start = int(np.random.randint(0, extent - length + 1))
        return start, start + length

    def __call__(self, **batch: Any) -> dict[str, Any]:
        data, seg = batch["data"], batch.get("seg")
        for b in range(data.shape[0]):
            if np.random.uniform() >= self.p:
                continue
            for axis in self.axes:
                extent = data.shape[2 + axis]
                start, stop = self.window(extent)
                outside = np.ones(extent, dtype=bool)
                outside[start:stop] = False
                index = (b, slice(None)) + (slice(None),) * axis + (outside,)
                data[index] = 0
                if seg is not None:
                    seg[index] = 0
        return batch


class FinalizeTransform:
    """Casts ``data`` to contiguous float32 and ``seg`` to int16 (values rounded; nothing invented)."""

    def __call__(self, **batch: Any) -> dict[str, Any]:
        batch["data"] = np.ascontiguousarray(batch["data"], dtype=np.float32)
        if batch.get("seg") is not None:
            batch["seg"] = np.rint(batch["seg"]).astype(np.int16)
        return batch


def training_transforms(
    patch_size: Sequence[int], aug: AugmentationSettings, swap_table: np.ndarray | None
) -> Any:
    """The batchgenerators ``Compose`` used for training batches.

    Args:
        patch_size: final patch (voxels per axis).
        aug: augmentation parameters.
        swap_table: label permutation for a left-right flip (``None``: no pairs).
    """
    from batchgenerators.transforms.abstract_transforms import Compose
    from batchgenerators.transforms.color_transforms import (
        BrightnessMultiplicativeTransform,
        ContrastAugmentationTransform,
        GammaTransform,
    )
    from batchgenerators.transforms.noise_transforms import GaussianBlurTransform, GaussianNoiseTransform
    from batchgenerators.transforms.resample_transforms import SimulateLowResolutionTransform
    from batchgenerators.transforms.spatial_transforms import SpatialTransform

    rot = math.radians(aug.rotation_deg)
    transforms = [
        SpatialTransform(
            tuple(int(p) for p in patch_size),
            patch_center_dist_from_border=None,
            do_elastic_deform=False,
            do_rotation=aug.p_rotation > 0,
            angle_x=(-rot, rot),
            angle_y=(-rot, rot),
            angle_z=(-rot, rot),
            p_rot_per_axis=1,
            do_scale=aug.p_scale > 0,
            scale=tuple(aug.scale_range),
            border_mode_data="constant",
            border_cval_data=0,
            order_data=aug.order_data,
            border_mode_seg="constant",
            border_cval_seg=0,
            order_seg=aug.order_seg,
            random_crop=False,
            p_el_per_sample=0,
            p_scale_per_sample=aug.p_scale,
            p_rot_per_sample=aug.p_rotation,
            independent_scale_for_each_axis=False,
        ),
        GaussianNoiseTransform(noise_variance=tuple(aug.noise_variance), p_per_sample=aug.p_noise),
        GaussianBlurTransform(
            tuple(aug.blur_sigma),
            different_sigma_per_channel=True,
            p_per_sample=aug.p_blur,
            p_per_channel=0.5,
        ),
        BrightnessMultiplicativeTransform(
            multiplier_range=tuple(aug.brightness_range), p_per_sample=aug.p_brightness
        ),
        ContrastAugmentationTransform(contrast_range=tuple(aug.contrast_range), p_per_sample=aug.p_contrast),
        SimulateLowResolutionTransform(
            zoom_range=tuple(aug.lowres_zoom),
            per_channel=True,
            p_per_channel=0.5,
            order_downsample=0,
            order_upsample=3,
            p_per_sample=aug.p_lowres,
            ignore_axes=None,
        ),
        GammaTransform(
            tuple(aug.gamma_range), True, True, retain_stats=True, p_per_sample=aug.p_gamma_inverted
        ),
        GammaTransform(tuple(aug.gamma_range), False, True, retain_stats=True, p_per_sample=aug.p_gamma),
    ]
    if aug.mirror_axes:
        transforms.append(LabelSwapMirrorTransform(aug.mirror_axes, swap_table))
    if aug.p_partial_coverage > 0:  # last: the padding stays exactly 0, as the predictor pads
        transforms.append(PartialCoverageTransform(aug.partial_coverage_range, aug.p_partial_coverage))
    if aug.p_field_of_view > 0:
        transforms.append(PartialCoverageTransform(aug.field_of_view_range, aug.p_field_of_view, axis=(0, 1)))
    transforms.append(FinalizeTransform())
    return Compose(transforms)


def validation_transforms(patch_size: Sequence[int]) -> Any:
    """Centre crop to ``patch_size`` and the final casts (no augmentation)."""
    from batchgenerators.transforms.abstract_transforms import Compose
    from batchgenerators.transforms.crop_and_pad_transforms import CenterCropTransform

    return Compose([CenterCropTransform(tuple(int(p) for p in patch_size)), FinalizeTransform()])
