"""Cropping a CT volume to the patient's body.

Air is about -1000 HU, so "non-zero" voxels are not the body: the body is the largest connected
component of voxels above a HU threshold (default -500, between air/lung-free background and soft
tissue). The couch and clothing are smaller components and are dropped; lungs lie inside the body's
bounding box, so they need no special care.
"""

from __future__ import annotations

import numpy as np

BODY_THRESHOLD_HU = -500.0

__all__ = ["BODY_THRESHOLD_HU", "body_mask", "body_bbox", "crop_to_bbox", "bbox_of_mask", "pad_from_bbox"]


def bbox_of_mask(mask: np.ndarray) -> tuple[tuple[int, int], ...] | None:
    """Per axis ``(start, stop)`` of the True voxels of ``mask`` (stop exclusive); ``None`` when empty."""
    mask = np.asarray(mask, dtype=bool)
    if not mask.any():
        return None
    out = []
    for a in range(mask.ndim):
        other = tuple(i for i in range(mask.ndim) if i != a)
        nz = np.flatnonzero(mask.any(axis=other))
        out.append((int(nz[0]), int(nz[-1]) + 1))
    return tuple(out)


def body_mask(image: np.ndarray, threshold: float = BODY_THRESHOLD_HU, step: int = 1) -> np.ndarray:
    """The largest connected component of ``image > threshold`` (bool, same shape as ``image``).

    Args:
        image: ``(X, Y, Z)`` HU array.
        threshold: HU above which a voxel may belong to the body.
        step: analyse every ``step``-th voxel per axis (faster; the mask is then upsampled by repetition).

    Returns:
        Bool mask; all False when no voxel exceeds ``threshold``.
    """
    from scipy import ndimage

    image = np.asarray(image)
    if image.ndim != 3:
        raise ValueError(f"body_mask needs a 3D array, got shape {image.shape}")
    if step < 1:
        raise ValueError(f"step must be >= 1, got {step}")
    small = image[::step, ::step, ::step] > threshold
    if not small.any():
        return np.zeros(image.shape, dtype=bool)
    labels, n = ndimage.label(small)
    if n > 1:
        counts = np.bincount(labels.ravel())
        counts[0] = 0
        small = labels == int(np.argmax(counts))
    if step == 1:
        return small
    full = small.repeat(step, 0).repeat(step, 1).repeat(step, 2)
    return np.ascontiguousarray(full[: image.shape[0], : image.shape[1], : image.shape[2]])


def body_bbox(
    image: np.ndarray, threshold: float = BODY_THRESHOLD_HU, margin: int = 1
) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int]]:
    """Bounding box ``((x0, x1), (y0, y1), (z0, z1))`` of the body (stop exclusive), grown by ``margin``.

    Analyses a 2x subsampled grid for volumes above 2 million voxels (the box is then exact to 2 voxels
    and grown by 2 more to be safe). Returns the whole volume when no body is found (no CT intensities
    above ``threshold``), so that nothing is ever lost by cropping.

    Example:
        >>> img = np.full((10, 10, 10), -1000, np.int16); img[2:5, 3:8, 1:9] = 40
        >>> body_bbox(img, margin=0)
        ((2, 5), (3, 8), (1, 9))
    """
    image = np.asarray(image)
    step = 2 if image.size > 2_000_000 else 1
    bbox = bbox_of_mask(body_mask(image, threshold, step))
    if bbox is None:
        return tuple((0, int(n)) for n in image.shape)
    grow = margin + (step - 1) * 2
    return tuple((max(0, a - grow), min(int(n), b + grow)) for (a, b), n in zip(bbox, image.shape))


def crop_to_bbox(array: np.ndarray, bbox, channel_first: bool = False) -> np.ndarray:
    """``array[x0:x1, y0:y1, z0:z1]`` (with a leading channel axis when ``channel_first``)."""
    sl = tuple(slice(int(a), int(b)) for a, b in bbox)
    if channel_first:
        sl = (slice(None),) + sl
    return array[sl]


def pad_from_bbox(array: np.ndarray, bbox, full_shape, fill=0) -> np.ndarray:
    """Inverse of :func:`crop_to_bbox`: puts ``array`` into a ``full_shape`` array filled with ``fill``.

    Raises:
        ValueError: ``array``'s shape is not the size of ``bbox``.
    """
    size = tuple(int(b) - int(a) for a, b in bbox)
    if tuple(array.shape[-3:]) != size:
        raise ValueError(f"array shape {array.shape} does not match crop box size {size}")
    out = np.full(tuple(array.shape[:-3]) + tuple(int(n) for n in full_shape), fill, dtype=array.dtype)
    sl = (Ellipsis,) + tuple(slice(int(a), int(b)) for a, b in bbox)
    out[sl] = array
    return out
