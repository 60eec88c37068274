"""Where the sliding window's tiles go and how much each one weighs.

Tiles of the plans' patch size start ``step x patch`` apart (rounded so that the first tile starts at 0
and the last one ends flush with the border). Each tile's logits are weighted by a Gaussian importance
map (``sigma = patch * sigma_scale``, default 1/8, centred on voxel ``patch // 2``). Because the map is a
product of three 1D Gaussians and the tile starts form a Cartesian grid, the sum of the weights at every
voxel is a product of three 1D sums, computed exactly (float64) per axis
(:func:`normalized_tile_weights_1d`).

A part of an image can be tiled on the whole image's grid (:func:`tile_window`, :func:`tile_batches`
with ``full``): the cascade's fine stage predicts only the tiles that reach into its candidate region,
at the positions, and with the weights, of a prediction of the whole image.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence

import numpy as np

DEFAULT_STEP = 0.5
DEFAULT_SIGMA_SCALE = 1.0 / 8.0


def check_step(step: float) -> float:
    """``step`` as a float, refused unless in ``(0, 1]``."""
    step = float(step)
    if not 0.0 < step <= 1.0:
        raise ValueError(f"step must be in (0, 1] (a fraction of the patch size), got {step}")
    return step


def tile_starts(size: int, patch: int, step: float = DEFAULT_STEP) -> list[int]:
    """Start indices of the tiles along one axis.

    Args:
        size: voxels along the axis (after any padding to at least ``patch``).
        patch: tile size along the axis.
        step: distance between tile starts as a fraction of ``patch``, in ``(0, 1]``.

    Returns:
        Sorted starts: ``[0]`` when ``size <= patch``; otherwise ``n = ceil((size - patch) / (step *
        patch)) + 1`` starts evenly spread from ``0`` to ``size - patch`` (rounded), so the last tile
        ends flush with the border and neighbours overlap by at least ``1 - step``.

    Example:
        >>> tile_starts(4, 3)
        [0, 1]
        >>> tile_starts(10, 4)
        [0, 2, 4, 6]
    """
    step = check_step(step)
    size, patch = int(size), int(patch)
    if patch < 1 or size < 1:
        raise ValueError(f"size and patch must be >= 1, got size={size}, patch={patch}")
    if size <= patch:
        return [0]
    n = int(math.ceil((size - patch) / (step * patch))) + 1
    actual = (size - patch) / (n - 1)
    return [int(round(actual * i)) for i in range(n)]


def tile_grid(shape: Sequence[int], patch: Sequence[int], step: float = DEFAULT_STEP) -> list[list[int]]:
    """Per axis the tile starts of :func:`tile_starts`; tiles are their Cartesian product."""
    if len(shape) != len(patch):
        raise ValueError(f"shape {tuple(shape)} and patch {tuple(patch)} differ in length")
    return [tile_starts(s, p, step) for s, p in zip(shape, patch)]


def gaussian_1d(patch: int, sigma_scale: float = DEFAULT_SIGMA_SCALE) -> np.ndarray:
    """One axis of the importance map: ``exp(-(i - patch // 2)^2 / (2 sigma^2))``.

    ``sigma = patch * sigma_scale``.

    Returns:
        float64 ``(patch,)``, maximum 1 at ``patch // 2``; strictly positive everywhere (no zero weights:
        at the tile border, ``patch / 2`` = 4 sigma away, it is ``exp(-8) ~ 3.4e-4``).
    """
    if int(patch) < 1:
        raise ValueError(f"patch must be >= 1, got {patch}")
    if not sigma_scale > 0:
        raise ValueError(f"sigma_scale must be > 0, got {sigma_scale}")
    sigma = float(patch) * float(sigma_scale)
    d = np.arange(int(patch), dtype=np.float64) - (int(patch) // 2)
    g = np.exp(-0.5 * (d / sigma) ** 2)
    return g / g.max()


def weight_sum_1d(size: int, patch: int, step: float = DEFAULT_STEP,
                  sigma_scale: float = DEFAULT_SIGMA_SCALE) -> np.ndarray:
    """Sum of the 1D Gaussians of all tiles along one axis at every position.

    Returns:
        float64 ``(size,)``, > 0 everywhere (every voxel is covered). ``size >= patch`` required.
    """
    if size < patch:
        raise ValueError(f"weight_sum_1d needs size >= patch, got size={size}, patch={patch}")
    g = gaussian_1d(patch, sigma_scale)
    w = np.zeros(int(size), dtype=np.float64)
    for s in tile_starts(size, patch, step):
        w[s:s + patch] += g
    return w


def normalized_tile_weights_1d(size: int, patch: int, step: float = DEFAULT_STEP,
                               sigma_scale: float = DEFAULT_SIGMA_SCALE) -> list[np.ndarray]:
    """Per tile start along one axis, its Gaussian divided by the axis' weight sum (float64 ``(patch,)``).

    Over all tiles covering a position the values sum to exactly 1; the 3D weight of a tile is the outer
    product of its three axes' arrays.
    """
    g = gaussian_1d(patch, sigma_scale)
    w = weight_sum_1d(size, patch, step, sigma_scale)
    return [g / w[s:s + patch] for s in tile_starts(size, patch, step)]


TileFilter = Callable[[tuple[slice, slice, slice]], bool]


def _padded(size: int, patch: int) -> tuple[int, int]:
    """An axis' size after :func:`pad_to_patch`, and the padding before the data."""
    return max(int(size), int(patch)), max(0, int(patch) - int(size)) // 2


def whole_image_tiles(shape: Sequence[int], patch: Sequence[int], step: float = DEFAULT_STEP):
    """Yields each tile of an image's sliding-window grid as slices in the image's coordinates (cut to the
    image where it is smaller than the patch and gets padded).

    Example:
        >>> [t[0] for t in whole_image_tiles((20, 8, 4), (8, 8, 8))]
        [slice(0, 8, None), slice(4, 12, None), slice(8, 16, None), slice(12, 20, None)]
    """
    for tile, _ in tiles_and_cells(shape, patch, step):
        yield tile


def nearest_cells_1d(size: int, patch: int, step: float = DEFAULT_STEP) -> list[tuple[int, int]]:
    """Per tile along one axis (of :func:`tile_starts` on the padded axis), the positions of the unpadded
    axis nearer its centre (``start + patch // 2``, where its Gaussian peaks) than any other tile's, ties
    to the earlier tile: ``(begin, end)`` intervals that partition ``[0, size)``.

    Example:
        >>> nearest_cells_1d(20, 8)
        [(0, 7), (7, 11), (11, 15), (15, 20)]
        >>> nearest_cells_1d(5, 8)
        [(0, 5)]
    """
    full, before = _padded(size, patch)
    centres = [s + int(patch) // 2 - before for s in tile_starts(full, patch, step)]
    ends = [(a + b) // 2 + 1 for a, b in zip(centres, centres[1:])] + [int(size)]
    return [(0 if i == 0 else ends[i - 1], e) for i, e in enumerate(ends)]


def tiles_and_cells(shape: Sequence[int], patch: Sequence[int], step: float = DEFAULT_STEP):
    """Yields each tile of an image's sliding-window grid (as :func:`whole_image_tiles`) with its cell:
    the voxels for which it is the nearest tile along every axis (:func:`nearest_cells_1d`), the tile
    whose Gaussian weighs them most. The cells partition the image, so the tiles whose cell reaches into
    a region cover that region, and every voxel of it is weighed by its heaviest tile.

    Example:
        >>> [(t[0], c[0]) for t, c in tiles_and_cells((20, 8, 4), (8, 8, 8))][:2]
        [(slice(0, 8, None), slice(0, 7, None)), (slice(4, 12, None), slice(7, 11, None))]
    """
    axes = [_padded(n, p) for n, p in zip(shape, patch)]
    per_axis = []
    for n, p, (full, before) in zip(shape, patch, axes):
        tiles = [slice(max(st - before, 0), min(st + int(p) - before, int(n)))
                 for st in tile_starts(full, p, step)]
        cells = [slice(a, b) for a, b in nearest_cells_1d(n, p, step)]
        per_axis.append(list(zip(tiles, cells)))
    for combo in itertools.product(*per_axis):
        yield tuple(t for t, _ in combo), tuple(c for _, c in combo)


def tile_window(
    shape: Sequence[int], patch: Sequence[int], keep: TileFilter, step: float = DEFAULT_STEP
) -> tuple[tuple[int, int], ...] | None:
    """The smallest box of an image that holds every tile of its whole-image grid that ``keep`` accepts.

    Tiling only this box with ``window=(shape, box)`` (see :func:`sliding_window_logits`) places the
    tiles exactly where a prediction of the whole image puts them, so a voxel all of whose covering tiles
    are kept gets the same value either way.

    Args:
        shape: the whole image's spatial shape (before any padding to the patch).
        patch: tile size per axis.
        keep: called with each tile's slices in the image's coordinates (cut to the image).
        step: tile step as a fraction of the patch.

    Returns:
        ``((x0, x1), (y0, y1), (z0, z1))`` in the image's coordinates, the whole axis where the image is
        smaller than the patch; ``None`` when no tile is kept.

    Example:
        >>> tile_window((20, 8, 8), (8, 8, 8), lambda t: t[0].start <= 3 < t[0].stop)
        ((0, 8), (0, 8), (0, 8))
    """
    lo, hi = [None] * len(shape), [None] * len(shape)
    for sl in whole_image_tiles(shape, patch, step):
        if not keep(sl):
            continue
        for a, s in enumerate(sl):
            lo[a] = s.start if lo[a] is None else min(lo[a], s.start)
            hi[a] = s.stop if hi[a] is None else max(hi[a], s.stop)
    if lo[0] is None:
        return None
    return tuple((int(a), int(b)) for a, b in zip(lo, hi))


def tile_batches(
    shape: Sequence[int], patch: Sequence[int], step: float, batch_size: int,
    crop: tuple[slice, ...], tile_filter: TileFilter | None, offset: Sequence[int] | None = None,
    full: Sequence[int] | None = None,
) -> tuple[list[list[tuple]], bool]:
    """The tiles (per axis ``(index in the grid, start in the padded data)``) in batches, and whether any
    tile of the grid is left out.

    Without ``full`` the grid covers the padded data (``shape``); with it, the padded whole image
    (``full``) of which the data is the part at ``offset``, and only the grid's tiles inside the data are
    predicted. ``tile_filter`` sees each tile's slices in the coordinates of the unpadded data (``crop``).
    """
    full = shape if full is None else full
    offset = [0] * len(shape) if offset is None else offset
    starts = [tile_starts(f, p, step) for f, p in zip(full, patch)]
    per_axis = [[(i, s - o) for i, s in enumerate(st) if o <= s and s + p <= o + n]
                for st, o, n, p in zip(starts, offset, shape, patch)]
    partial = any(len(a) != len(st) for a, st in zip(per_axis, starts))
    tiles = list(itertools.product(*per_axis))
    if tile_filter is not None:
        def in_data(t) -> tuple[slice, ...]:
            return tuple(slice(max(st - c.start, 0), min(st + p - c.start, c.stop - c.start))
                         for (_, st), p, c in zip(t, patch, crop))

        kept = [t for t in tiles if tile_filter(in_data(t))]
        partial, tiles = partial or len(kept) < len(tiles), kept
    return [tiles[i:i + int(batch_size)] for i in range(0, len(tiles), int(batch_size))], partial


def window_grid(shape: Sequence[int], patch: Sequence[int],
                 window: tuple[Sequence[int], Sequence[tuple[int, int]]]) -> tuple[tuple, tuple]:
    """The padded whole image's shape and the padded data's offset in it, after checking that ``data``
    (``shape``) is the window's box."""
    whole, box = window
    if len(whole) != 3 or len(box) != 3 or tuple(b - a for a, b in box) != tuple(shape):
        raise ValueError(f"window box {tuple(map(tuple, box))} of {tuple(whole)} does not match the data's "
                         f"shape {tuple(shape)}")
    full, offset = [], []
    for n, (a, b), p in zip(whole, box, patch):
        size, before = _padded(n, p)
        if a < 0 or b > n or (before and (a, b) != (0, n)):
            raise ValueError(f"window box {tuple(map(tuple, box))} does not fit {tuple(whole)} with tiles "
                             f"{tuple(patch)} (an axis smaller than the patch must be whole)")
        full.append(size)
        offset.append(a)
    return tuple(full), tuple(offset)
