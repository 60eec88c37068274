"""Resampling images, label maps and class probabilities between voxel grids of the same extent.

All functions map voxel *edges* onto voxel edges ("grid mode"): target voxel ``j`` of an axis with
``n_out`` voxels samples the source at continuous index ``(j + 0.5) * n_in / n_out - 0.5``. The new
spacing is therefore exactly ``spacing * n_in / n_out`` and resampling back to ``n_in`` voxels returns to
the original grid. Arrays are ``(X, Y, Z)`` or channel-first ``(C, X, Y, Z)``.

Kinds are handled differently (house rule: never invent a label value):

* images: cubic B-spline (``order=3``) or linear; a *very anisotropic* axis (spacing more than 3x every
  other axis, :func:`anisotropic_axis`) is interpolated only linearly along that axis, after cubic
  in-plane interpolation, because a cubic fit across thick slices rings;
* label maps: one-hot linear ("soft" labels per class, argmax; the background takes what the classes
  leave) or nearest; along a very anisotropic axis always nearest. Only values present in the input can
  appear in the output;
* probabilities: linear per channel.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

ANISOTROPY_THRESHOLD = 3.0

__all__ = [
    "ANISOTROPY_THRESHOLD",
    "compute_new_shape",
    "anisotropic_axis",
    "linear_resize_indices",
    "resample_image",
    "resample_labels",
    "label_axis_modes",
    "resize_nearest",
]


def compute_new_shape(
    shape: Sequence[int], spacing: Sequence[float], new_spacing: Sequence[float]
) -> tuple[int, int, int]:
    """Voxels per axis covering the same extent at ``new_spacing``: ``round(shape * spacing / new)``, >= 1.

    Example:
        >>> compute_new_shape((100, 100, 40), (1.0, 1.0, 5.0), (2.0, 2.0, 2.5))
        (50, 50, 80)
    """
    if len(shape) != 3 or len(spacing) != 3 or len(new_spacing) != 3:
        raise ValueError(
            f"shape, spacing and new_spacing need 3 entries, got {shape}, {spacing}, {new_spacing}"
        )
    if any(float(s) <= 0 for s in list(spacing) + list(new_spacing)):
        raise ValueError(f"spacings must be positive, got {tuple(spacing)} and {tuple(new_spacing)}")
    return tuple(
        max(1, int(round(int(n) * float(s) / float(t)))) for n, s, t in zip(shape, spacing, new_spacing)
    )


def anisotropic_axis(spacing: Sequence[float], threshold: float = ANISOTROPY_THRESHOLD) -> int | None:
    """The one definition of "anisotropic": the coarsest axis when its spacing exceeds ``threshold`` times
    that of every other axis (DESIGN.md: "> 3x the others"), else ``None``.

    The planner gives such an axis its 10th-percentile spacing; resampling interpolates images only
    linearly and label maps by nearest neighbour along it.

    Example:
        >>> [anisotropic_axis(s) for s in [(0.8, 0.8, 5.0), (1.0, 1.0, 2.0), (3.5, 3.5, 1.0)]]
        [2, None, None]
    """
    sp = np.asarray(spacing, dtype=np.float64)
    worst = int(np.argmax(sp))
    others = np.delete(sp, worst)
    return worst if sp[worst] > threshold * others.max() else None


def linear_resize_indices(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Source indices and weights of a 1D linear resize from ``n_in`` to ``n_out`` samples.

    Output sample ``j`` sits at input coordinate ``(j + 0.5) * n_in / n_out - 0.5`` (pixel centres
    aligned, ``align_corners=False``), clamped to ``[0, n_in - 1]``.

    Returns:
        ``i0``, ``i1`` (int64 ``(n_out,)``) and ``w1`` (float32 ``(n_out,)``): ``out[j] = (1 - w1[j]) *
        in[i0[j]] + w1[j] * in[i1[j]]``.

    Example:
        >>> i0, i1, w = linear_resize_indices(2, 4)
        >>> i0.tolist(), i1.tolist(), w.tolist()
        ([0, 0, 0, 1], [1, 1, 1, 1], [0.0, 0.25, 0.75, 0.0])
    """
    if n_in < 1 or n_out < 1:
        raise ValueError(f"resize needs n_in >= 1 and n_out >= 1, got {n_in} -> {n_out}")
    pos = (np.arange(n_out, dtype=np.float64) + 0.5) * (n_in / n_out) - 0.5
    pos = np.clip(pos, 0.0, n_in - 1)
    i0 = np.minimum(np.floor(pos).astype(np.int64), n_in - 1)
    i1 = np.minimum(i0 + 1, n_in - 1)
    w1 = (pos - i0).astype(np.float32)
    w1[i1 == i0] = 0.0
    return i0, i1, w1


def _axis_plan(n_in: int, n_out: int, mode: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per target index: the two source indices and the weight of the second (linear) / 0 (nearest)."""
    if mode != "nearest":
        return linear_resize_indices(n_in, n_out)
    x = (np.arange(n_out, dtype=np.float64) + 0.5) * (n_in / n_out) - 0.5
    i0 = np.clip(np.floor(x + 0.5), 0, n_in - 1).astype(np.intp)
    return i0, i0, np.zeros(n_out, dtype=np.float32)


def _apply_axis(arr: np.ndarray, axis: int, plan, lo: int = 0) -> np.ndarray:
    i0, i1, w = plan
    a0 = np.take(arr, i0 - lo, axis=axis)
    if not w.any():
        return a0
    a1 = np.take(arr, i1 - lo, axis=axis)
    shape = [1] * arr.ndim
    shape[axis] = len(w)
    a1 -= a0
    a1 *= w.reshape(shape)
    a0 += a1
    return a0


def _check(array: np.ndarray, new_shape: Sequence[int]) -> tuple[np.ndarray, bool, tuple[int, int, int]]:
    array = np.asarray(array)
    if array.ndim not in (3, 4):
        raise ValueError(f"expected an (X, Y, Z) or (C, X, Y, Z) array, got shape {array.shape}")
    new_shape = tuple(int(n) for n in new_shape)
    if len(new_shape) != 3 or any(n < 1 for n in new_shape):
        raise ValueError(f"new_shape must be 3 positive integers, got {new_shape}")
    if any(n < 1 for n in array.shape[-3:]):
        raise ValueError(f"cannot resample an empty array of shape {array.shape}")
    return array, array.ndim == 4, new_shape


def resize_nearest(array: np.ndarray, new_shape: Sequence[int]) -> np.ndarray:
    """Nearest-neighbour resize of ``(X, Y, Z)`` or ``(C, X, Y, Z)``; keeps the dtype and the values."""
    array, cf, new_shape = _check(array, new_shape)
    off = 1 if cf else 0
    out = array
    for a in range(3):
        n_in = array.shape[a + off]
        if n_in != new_shape[a]:
            out = np.take(out, _axis_plan(n_in, new_shape[a], "nearest")[0], axis=a + off)
    return np.ascontiguousarray(out)


def _linear_resize(array: np.ndarray, new_shape, modes, off: int) -> np.ndarray:
    out = array.astype(np.float32, copy=True)
    for a in range(3):
        n_in = out.shape[a + off]
        if n_in != new_shape[a]:
            out = _apply_axis(out, a + off, _axis_plan(n_in, new_shape[a], modes[a]))
    return out


def resample_image(
    array: np.ndarray, new_shape: Sequence[int], order: int = 3, anisotropic: int | None = None
) -> np.ndarray:
    """Resamples an image to ``new_shape`` (float32 out).

    Args:
        array: ``(X, Y, Z)`` or ``(C, X, Y, Z)`` intensities.
        new_shape: target voxels per spatial axis.
        order: 3 (cubic B-spline) or 1 (linear).
        anisotropic: an axis to interpolate only linearly (see :func:`anisotropic_axis`), or ``None``.

    Returns:
        float32 array of shape ``new_shape`` (with the channel axis kept).
    """
    from scipy import ndimage

    array, cf, new_shape = _check(array, new_shape)
    if order not in (1, 3):
        raise ValueError(f"order must be 1 (linear) or 3 (cubic), got {order}")
    if anisotropic is not None and anisotropic not in (0, 1, 2):
        raise ValueError(f"anisotropic must be an axis 0..2 or None, got {anisotropic}")
    off = 1 if cf else 0
    old = array.shape[off:]
    if tuple(old) == new_shape:
        return array.astype(np.float32, copy=True)
    if order == 1:
        return _linear_resize(array, new_shape, ["linear"] * 3, off)
    chans = array if cf else array[None]
    out = np.empty((chans.shape[0],) + new_shape, dtype=np.float32)
    for c in range(chans.shape[0]):
        vol = np.asarray(chans[c], dtype=np.float32)
        zoom = [n / o for n, o in zip(new_shape, old)]
        if anisotropic is not None:
            zoom[anisotropic] = 1.0
        if any(z != 1.0 for z in zoom):
            vol = ndimage.zoom(vol, zoom, order=3, mode="nearest", grid_mode=True, prefilter=True)
        if anisotropic is not None and vol.shape[anisotropic] != new_shape[anisotropic]:
            vol = _apply_axis(
                vol, anisotropic, _axis_plan(vol.shape[anisotropic], new_shape[anisotropic], "linear")
            )
        out[c] = vol
    return out if cf else out[0]


def resample_labels(
    seg: np.ndarray,
    new_shape: Sequence[int],
    method: str = "onehot",
    anisotropic: int | None = None,
    axis_modes: Sequence[str] | None = None,
) -> np.ndarray:
    """Resamples an integer label map ``(X, Y, Z)`` to ``new_shape``; never invents a value.

    Args:
        seg: integer labels, 0 = background.
        new_shape: target voxels per axis.
        method: ``"onehot"`` (linear interpolation of each class's mask, then argmax with the background
            as the remainder; smooth boundaries) or ``"nearest"``.
        anisotropic: an axis resampled by nearest neighbour whatever the method.
        axis_modes: per axis ``"linear"`` or ``"nearest"`` for the one-hot method (overrides
            ``anisotropic``); see :func:`label_axis_modes`.

    Returns:
        Label map of ``seg``'s dtype with shape ``new_shape``.
    """
    seg, cf, new_shape = _check(seg, new_shape)
    if cf:
        raise ValueError(f"resample_labels expects one (X, Y, Z) label map, got shape {seg.shape}")
    if not (np.issubdtype(seg.dtype, np.integer) or seg.dtype == np.bool_):
        raise ValueError(f"label maps must be integer, got dtype {seg.dtype}")
    if method not in ("onehot", "nearest"):
        raise ValueError(f"method must be 'onehot' or 'nearest', got {method!r}")
    if tuple(seg.shape) == new_shape:
        return seg.copy()
    if method == "nearest":
        return resize_nearest(seg, new_shape)
    if axis_modes is None:
        modes = ["nearest" if a == anisotropic else "linear" for a in range(3)]
    else:
        modes = [str(m) for m in axis_modes]
        if len(modes) != 3 or any(m not in ("linear", "nearest") for m in modes):
            raise ValueError(f"axis_modes must be 3 of 'linear'/'nearest', got {axis_modes}")
    plans = [_axis_plan(seg.shape[a], new_shape[a], modes[a]) for a in range(3)]
    best_p = np.zeros(new_shape, dtype=np.float32)
    best_c = np.zeros(new_shape, dtype=seg.dtype)
    total = np.zeros(new_shape, dtype=np.float32)
    fg = np.flatnonzero(seg.ravel() != 0)
    values = np.unique(seg.ravel()[fg]) if fg.size else []
    for value in values:
        mask = seg == value
        box_src, box_dst, sub_plans = [], [], []
        for a in range(3):
            nz = np.flatnonzero(mask.any(axis=tuple(i for i in range(3) if i != a)))
            lo, hi = int(nz[0]), int(nz[-1]) + 1
            i0, i1, w = plans[a]
            sel = np.flatnonzero((i1 >= lo) & (i0 < hi))
            if sel.size == 0:  # no target voxel samples this class (strong downsampling)
                break
            j0, j1 = int(sel[0]), int(sel[-1]) + 1
            s0, s1 = int(i0[j0:j1].min()), int(i1[j0:j1].max()) + 1
            box_src.append(slice(s0, s1))
            box_dst.append(slice(j0, j1))
            sub_plans.append((i0[j0:j1], i1[j0:j1], w[j0:j1], s0))
        if len(sub_plans) < 3:
            continue
        p = mask[tuple(box_src)].astype(np.float32)
        for a in range(3):
            i0, i1, w, s0 = sub_plans[a]
            p = _apply_axis(p, a, (i0, i1, w), lo=s0)
        dst = tuple(box_dst)
        total[dst] += p
        better = p > best_p[dst]
        best_p[dst][better] = p[better]
        best_c[dst][better] = value
    best_c[best_p <= 1.0 - total] = 0
    return best_c


def label_axis_modes(
    old_shape: Sequence[int], new_shape: Sequence[int], anisotropic: int | None = None
) -> list[str]:
    """Per axis, how preprocessing resamples a label map from ``old_shape`` to ``new_shape``.

    Going to a finer grid along an axis, nearest neighbour copies every source voxel faithfully. Going to
    a coarser grid, one-hot linear interpolation is a vote of the neighbours. The anisotropic axis is
    always nearest. (The way back to the input grid resamples class scores, not labels:
    :mod:`torsoseg.inference.export`.)

    Example:
        >>> label_axis_modes((10, 10, 10), (20, 5, 10))
        ['nearest', 'linear', 'nearest']
    """
    out = []
    for a, (o, n) in enumerate(zip(old_shape, new_shape)):
        out.append("nearest" if a == anisotropic or n >= o else "linear")
    return out
