"""Preprocessing one case (reorient, crop to the body, normalise, resample) and its exact inverse.

Steps, in order (each recorded in :class:`CaseProperties` so export can undo it):

1. reorient to the canonical orientation (:func:`torsoseg.imageio.reorient_to_canonical`; whole-voxel
   permutations and flips only);
2. crop to the body's bounding box (:func:`torsoseg.preprocessing.cropping.body_bbox`; with a label map,
   the box also covers every labelled voxel so no label is ever cut away);
3. normalise intensities (CT: clip to the plans' foreground percentiles, z-score with the plans' mean
   and std; any other modality: z-score per case);
4. resample to ``plans.target_spacing`` (images cubic; labels nearest along refined axes, one-hot
   linear along coarsened ones; see :func:`torsoseg.preprocessing.resampling.label_axis_modes`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from torsoseg import imageio
from torsoseg.imageio import Reorientation, Volume
from torsoseg.plans import Plans
from torsoseg.preprocessing import cropping, resampling

__all__ = [
    "CaseProperties",
    "preprocess_case",
    "preprocess_volume",
    "normalize_channel",
    "canonical_label",
    "case_bbox",
]


@dataclass(frozen=True)
class CaseProperties:
    """Everything needed to map arrays on the preprocessed grid back to the original image.

    Attributes:
        reorientation: how the original was permuted/flipped into canonical orientation.
        crop_bbox: per canonical axis ``(start, stop)`` of the body crop, in the canonical grid at the
            original spacing.
        shape_before_crop: canonical shape before cropping.
        shape_after_crop: canonical shape after cropping (original spacing).
        spacing_after_crop: canonical spacing (mm) before resampling.
        shape_after_resample: shape of the preprocessed arrays.
        spacing_after_resample: the exact spacing of the preprocessed grid (``spacing * n_in / n_out``;
            equal to the plans' target spacing up to rounding of the shape).
    """

    reorientation: Reorientation
    crop_bbox: tuple[tuple[int, int], tuple[int, int], tuple[int, int]]
    shape_before_crop: tuple[int, int, int]
    shape_after_crop: tuple[int, int, int]
    spacing_after_crop: tuple[float, float, float]
    shape_after_resample: tuple[int, int, int]
    spacing_after_resample: tuple[float, float, float]

    def to_json(self) -> dict[str, Any]:
        return {
            "reorientation": self.reorientation.to_json(),
            "crop_bbox": [list(b) for b in self.crop_bbox],
            "shape_before_crop": list(self.shape_before_crop),
            "shape_after_crop": list(self.shape_after_crop),
            "spacing_after_crop": list(self.spacing_after_crop),
            "shape_after_resample": list(self.shape_after_resample),
            "spacing_after_resample": list(self.spacing_after_resample),
        }

    @classmethod
    def from_json(cls, d: dict[str, Any], source: str = "case properties") -> CaseProperties:
        try:
            return cls(
                reorientation=Reorientation.from_json(d["reorientation"]),
                crop_bbox=tuple((int(a), int(b)) for a, b in d["crop_bbox"]),
                shape_before_crop=tuple(int(x) for x in d["shape_before_crop"]),
                shape_after_crop=tuple(int(x) for x in d["shape_after_crop"]),
                spacing_after_crop=tuple(float(x) for x in d["spacing_after_crop"]),
                shape_after_resample=tuple(int(x) for x in d["shape_after_resample"]),
                spacing_after_resample=tuple(float(x) for x in d["spacing_after_resample"]),
            )
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"{source}: invalid case properties ({type(e).__name__}: {e})") from None


def normalize_channel(array: np.ndarray, modality: str, plans: Plans) -> np.ndarray:
    """Normalises one channel: CT with the plans' statistics, anything else by a per-case z-score.

    Non-finite intensities (NaN, inf) become the lowest normalised value (air for CT).
    """
    array = np.asarray(array)
    if np.issubdtype(array.dtype, np.floating):
        bad = ~np.isfinite(array)
        if bad.any():
            low = float(array[~bad].min()) if not bad.all() else 0.0
            array = np.where(bad, low, array)
    if modality.strip().lower() == "ct":
        return plans.normalization.apply(array)
    out = np.asarray(array, dtype=np.float32).copy()
    std = float(out.std())
    out -= np.float32(out.mean())
    out /= np.float32(max(std, 1e-8))
    return out


def canonical_label(label: Volume, declared: set[int] | None = None) -> np.ndarray:
    """A label volume reoriented to canonical, as int16; checks integrality and declared values.

    Raises:
        ValueError: non-integer values, or values not in ``declared``.
    """
    lab = imageio.reorient_to_canonical(label)[0].array
    if not (np.issubdtype(lab.dtype, np.integer) or lab.dtype == np.bool_):
        if not np.all(np.isfinite(lab)) or not np.all(lab == np.round(lab)):
            raise ValueError("label map has non-integer values")
    lab = lab.astype(np.int16)
    if declared is not None:
        present = set(np.unique(lab).tolist())
        if present - declared:
            raise ValueError(
                f"label values {sorted(present - declared)} are not declared (known: {sorted(declared)})"
            )
    return lab


def case_bbox(image: np.ndarray, label: np.ndarray | None = None) -> tuple[tuple[int, int], ...]:
    """The crop box of a canonical case: the body box, grown to cover every labelled voxel."""
    bbox = cropping.body_bbox(image)
    if label is not None:
        lbox = cropping.bbox_of_mask(label != 0)
        if lbox is not None:
            bbox = tuple((min(a, c), max(b, d)) for (a, b), (c, d) in zip(bbox, lbox))
    return tuple((int(a), int(b)) for a, b in bbox)


def preprocess_case(
    images: Volume | Sequence[Volume], plans: Plans, label: Volume | None = None
) -> tuple[np.ndarray, np.ndarray | None, CaseProperties]:
    """Preprocesses a case's channel images (and label map) onto the plans' grid.

    Args:
        images: one volume per input channel (``plans.channel_names`` order), all on one grid.
        plans: target spacing and normalisation.
        label: optional integer label map on the image grid (values of ``plans.labels``).

    Returns:
        ``(data, seg, properties)``: data ``(C, X, Y, Z)`` float32, seg ``(X, Y, Z)`` int16 or ``None``.

    Raises:
        ValueError: wrong number of channels, grids that differ, or undeclared label values.
    """
    vols = [images] if isinstance(images, Volume) else list(images)
    if len(vols) != plans.num_input_channels:
        raise ValueError(
            f"expected {plans.num_input_channels} channel image(s) for the plans, got {len(vols)}"
        )
    ref = vols[0].geometry
    for i, v in enumerate(vols[1:], 1):
        if not v.geometry.same_grid(ref):
            raise ValueError(
                f"channel {i} grid differs from channel 0: {v.geometry.describe()} vs {ref.describe()}"
            )
    if label is not None and not label.geometry.same_grid(ref):
        raise ValueError(
            f"label grid differs from the image: {label.geometry.describe()} vs {ref.describe()}"
        )

    canon, reo = [], None
    for v in vols:
        c, reo = imageio.reorient_to_canonical(v)
        canon.append(c)
    spacing = canon[0].spacing
    shape_before = canon[0].shape
    seg = None
    lab = None
    if label is not None:
        lab = canonical_label(label, set(plans.labels.values()))
    bbox = case_bbox(canon[0].array, lab)
    if lab is not None:
        seg = cropping.crop_to_bbox(lab, bbox)
    modalities = [plans.channel_names.get(str(i), "CT") for i in range(len(canon))]
    cropped = [
        normalize_channel(cropping.crop_to_bbox(c.array, bbox), m, plans) for c, m in zip(canon, modalities)
    ]
    shape_after_crop = tuple(int(n) for n in cropped[0].shape)
    new_shape = resampling.compute_new_shape(shape_after_crop, spacing, plans.target_spacing)
    aniso = resampling.anisotropic_axis(spacing)
    if aniso is None:
        aniso = resampling.anisotropic_axis(plans.target_spacing)
    data = np.empty((len(cropped),) + new_shape, dtype=np.float32)
    for i, c in enumerate(cropped):
        data[i] = resampling.resample_image(c, new_shape, order=3, anisotropic=aniso)
    if seg is not None:
        modes = resampling.label_axis_modes(shape_after_crop, new_shape, anisotropic=aniso)
        seg = resampling.resample_labels(seg, new_shape, "onehot", axis_modes=modes).astype(np.int16)
    props = CaseProperties(
        reorientation=reo,
        crop_bbox=tuple((int(a), int(b)) for a, b in bbox),
        shape_before_crop=tuple(shape_before),
        shape_after_crop=shape_after_crop,
        spacing_after_crop=tuple(float(s) for s in spacing),
        shape_after_resample=tuple(new_shape),
        spacing_after_resample=tuple(
            float(s) * n / m for s, n, m in zip(spacing, shape_after_crop, new_shape)
        ),
    )
    return data, seg, props


def preprocess_volume(volume: Volume | Sequence[Volume], plans: Plans) -> tuple[np.ndarray, CaseProperties]:
    """Preprocesses an image for inference: ``(data (C, X, Y, Z) float32, CaseProperties)``.

    Args:
        volume: the CT image (or one volume per channel) in any orientation.
        plans: the model's plans (target spacing, normalisation).

    Returns:
        The normalised, cropped, resampled data and the record that the way back needs (one path, in
        :mod:`torsoseg.inference.export`: scores resampled to the crop box, then pasted and reoriented).

    Example:
        >>> from torsoseg.inference import export  # doctest: +SKIP
        >>> data, props = preprocess_volume(imageio.read_image("ct.nii.gz"), plans)  # doctest: +SKIP
        >>> scores = network_scores(data)  # (K, X, Y, Z) on the preprocessed grid  # doctest: +SKIP
        >>> seg_crop = export.resample_argmax(scores, props.shape_after_crop)  # doctest: +SKIP
        >>> seg = export.labels_to_input_geometry(seg_crop, props)  # doctest: +SKIP
        >>> imageio.write_image(seg, "seg.nii.gz")  # doctest: +SKIP
    """
    data, _, props = preprocess_case(volume, plans)
    return data, props
