"""Gaussian-weighted sliding-window (tiled) inference over a channel-first volume.

The volume is covered by tiles of the plan's patch size whose starts are ``step x patch`` apart
(rounded so that the first tile starts at 0 and the last one ends flush with the border). Each tile's
logits are weighted by a Gaussian importance map (``sigma = patch * sigma_scale``, default 1/8, centred
on voxel ``patch // 2``) and the weighted logits of overlapping tiles are averaged.

Because the importance map is a product of three 1D Gaussians and the tile starts form a Cartesian grid,
the sum of the weights at every voxel is itself a product of three 1D sums. It is computed exactly (in
float64) per axis, so each tile's weights are divided by that sum *before* they are accumulated: the
accumulation buffer holds the final weighted mean directly, needs no weight-map buffer of the size of the
volume, and never under- or overflows in float16 (the normalised weights lie in ``(0, 1]``).

Accumulation is in ``accumulate_dtype`` (float16 by default, as the design asks); the network forward may
run under bfloat16/float16 autocast, but its logits are converted to float32 before they are weighted,
mirrored, channel-swapped and averaged, and nothing is ever accumulated in bfloat16.
"""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from torsoseg.network.precision import autocast

logger = logging.getLogger(__name__)

DEFAULT_STEP = 0.5
DEFAULT_SIGMA_SCALE = 1.0 / 8.0


def _check_step(step: float) -> float:
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
    step = _check_step(step)
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


def pad_to_patch(
    data: torch.Tensor, patch: Sequence[int], value: float = 0.0
) -> tuple[torch.Tensor, tuple[slice, ...]]:
    """Pads the spatial axes of ``data`` (``(C, *spatial)``) that are smaller than ``patch``.

    Padding is split evenly (the extra voxel after), filled with ``value`` (0 = the normalised mean).

    Returns:
        The padded tensor and the slices (spatial axes only) that crop it back to ``data``'s shape.
    """
    spatial = data.shape[1:]
    if len(spatial) != len(patch):
        raise ValueError(f"data spatial shape {tuple(spatial)} and patch {tuple(patch)} differ in length")
    before = [max(0, p - s) // 2 for s, p in zip(spatial, patch)]
    after = [max(0, p - s) - b for s, p, b in zip(spatial, patch, before)]
    crop = tuple(slice(b, b + s) for b, s in zip(before, spatial))
    if not any(before) and not any(after):
        return data, crop
    pad: list[int] = []
    for b, a in zip(reversed(before), reversed(after)):  # torch pads the last axis first
        pad += [b, a]
    return torch.nn.functional.pad(data, pad, mode="constant", value=value), crop


def mirror_combinations(axes: Sequence[int]) -> list[tuple[int, ...]]:
    """Every subset of the spatial ``axes`` to flip, the identity first (``(0, 1, 2)`` -> 8 subsets)."""
    axes = tuple(sorted(set(int(a) for a in axes)))
    if any(a < 0 or a > 2 for a in axes):
        raise ValueError(f"mirror axes must be spatial axes 0, 1 or 2, got {axes}")
    return [c for r in range(len(axes) + 1) for c in itertools.combinations(axes, r)]


def _forward(network: Callable[[torch.Tensor], Any], x: torch.Tensor) -> torch.Tensor:
    out = network(x)
    if isinstance(out, (list, tuple)):
        out = out[0]
    return out


def predict_tiles(
    network: Callable[[torch.Tensor], Any],
    batch: torch.Tensor,
    mirror_axes: Sequence[int] = (),
    lr_swap: Sequence[int] | None = None,
    autocast_dtype: torch.dtype | None = None,
    channels_last: bool = False,
) -> torch.Tensor:
    """Logits of a batch of tiles, averaged over mirrorings, in float32.

    Args:
        network: maps ``(B, C, X, Y, Z)`` to logits ``(B, K, X, Y, Z)`` (or a list, first = full resolution).
        batch: ``(B, C, X, Y, Z)`` tiles on the network's device.
        mirror_axes: spatial axes (0 = left-right) to mirror for test-time augmentation; every subset is
            predicted, flipped back and averaged.
        lr_swap: channel permutation applied to predictions of inputs flipped along axis 0
            (``torsoseg.organs.lr_swap_table`` of the label set): a left organ seen in a mirrored image
            is predicted as its right twin, so the channels are swapped back before averaging.
        autocast_dtype: bfloat16/float16 autocast for the forward only, ``None`` for float32.
        channels_last: feed the network channels-last 3D tensors.

    Returns:
        float32 ``(B, K, X, Y, Z)``.
    """
    device = batch.device
    combos = mirror_combinations(mirror_axes) if mirror_axes else [()]
    swap = None
    if lr_swap is not None and any(0 in c for c in combos):
        swap = torch.as_tensor(np.asarray(lr_swap, dtype=np.int64), device=device)
    total: torch.Tensor | None = None
    for combo in combos:
        dims = [a + 2 for a in combo]
        x = torch.flip(batch, dims) if dims else batch
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last_3d)
        with autocast(autocast_dtype, device):
            y = _forward(network, x)
        y = y.float()
        if dims:
            y = torch.flip(y, dims)
        if swap is not None and 0 in combo:
            if swap.numel() != y.shape[1]:
                raise ValueError(
                    f"lr_swap has {swap.numel()} entries but the network predicts {y.shape[1]} classes"
                )
            y = y.index_select(1, swap)
        total = y if total is None else total.add_(y)
    assert total is not None
    if len(combos) > 1:
        total /= len(combos)
    return total


TileFilter = Callable[[tuple[slice, slice, slice]], bool]


def _tile_batches(
    shape: Sequence[int], patch: Sequence[int], step: float, batch_size: int,
    crop: tuple[slice, ...], tile_filter: TileFilter | None,
) -> tuple[list[list[tuple]], int]:
    """The tiles (per axis ``(index, start)``) in batches, and how many ``tile_filter`` dropped.

    ``tile_filter`` sees each tile's slices in the coordinates of the unpadded data (``crop``).
    """
    tiles = list(itertools.product(*[list(enumerate(s)) for s in tile_grid(shape, patch, step)]))
    if tile_filter is not None:
        def in_data(t) -> tuple[slice, ...]:
            return tuple(slice(max(st - c.start, 0), min(st + p - c.start, c.stop - c.start))
                         for (_, st), p, c in zip(t, patch, crop))

        kept = [t for t in tiles if tile_filter(in_data(t))]
        dropped, tiles = len(tiles) - len(kept), kept
    else:
        dropped = 0
    return [tiles[i:i + int(batch_size)] for i in range(0, len(tiles), int(batch_size))], dropped


def sliding_window_logits(
    network: Callable[[torch.Tensor], Any],
    data: torch.Tensor,
    patch_size: Sequence[int],
    num_classes: int,
    step: float = DEFAULT_STEP,
    sigma_scale: float = DEFAULT_SIGMA_SCALE,
    batch_size: int = 1,
    mirror_axes: Sequence[int] = (),
    lr_swap: Sequence[int] | None = None,
    autocast_dtype: torch.dtype | None = None,
    channels_last: bool = False,
    accumulate_dtype: torch.dtype = torch.float16,
    device: torch.device | str | None = None,
    progress: bool = False,
    tile_filter: TileFilter | None = None,
) -> torch.Tensor:
    """Gaussian-weighted mean of tile logits over the whole volume (or the tiles ``tile_filter`` keeps).

    Args:
        network: a module (in eval mode) mapping ``(B, C, *patch)`` to logits ``(B, K, *patch)``.
        data: ``(C, X, Y, Z)`` float32 preprocessed image (padded when smaller than the patch).
        patch_size, num_classes: tile size ``(px, py, pz)`` and ``K``, channels of the network output.
        step, sigma_scale, batch_size: tile step and Gaussian sigma (fractions of the patch), tiles per pass.
        mirror_axes, lr_swap, autocast_dtype, channels_last: see :func:`predict_tiles`.
        accumulate_dtype: dtype of the result/accumulation buffer (float16 or float32; never bfloat16).
        device: where the network runs; ``None`` = ``data.device``. The result stays on ``data.device``.
        progress: show a tqdm bar over batches.
        tile_filter: called with each tile's slices (in ``data``'s coordinates); only the tiles it keeps
            are predicted (the cascade's fine stage). Voxels of kept tiles get the weighted mean over the
            kept tiles; voxels no kept tile covers stay 0.

    Returns:
        ``(K, X, Y, Z)`` tensor of ``accumulate_dtype`` on ``data.device``.

    Example:
        >>> net = torch.nn.Conv3d(1, 3, 3, padding=1).eval()
        >>> sliding_window_logits(net, torch.zeros(1, 40, 40, 20), (32, 32, 16), 3).shape
        torch.Size([3, 40, 40, 20])
    """
    if accumulate_dtype not in (torch.float16, torch.float32, torch.float64):
        raise ValueError(f"accumulate_dtype must be float16, float32 or float64, got {accumulate_dtype}")
    if data.ndim != 4:
        raise ValueError(f"data must be (C, X, Y, Z), got shape {tuple(data.shape)}")
    if len(patch_size) != 3 or any(int(p) < 1 for p in patch_size) or int(batch_size) < 1:
        raise ValueError(f"patch_size must be 3 positive integers and batch_size >= 1, got "
                         f"{tuple(patch_size)} and {batch_size}")
    patch = tuple(int(p) for p in patch_size)
    step = _check_step(step)
    run_device = torch.device(device) if device is not None else data.device
    with torch.inference_mode():
        padded, crop = pad_to_patch(data, patch)
        shape = tuple(int(s) for s in padded.shape[1:])
        weights = [[torch.as_tensor(w, dtype=torch.float32) for w in
                    normalized_tile_weights_1d(s, p, step, sigma_scale)] for s, p in zip(shape, patch)]
        out = torch.zeros((int(num_classes), *shape), dtype=accumulate_dtype, device=data.device)
        batches, dropped = _tile_batches(shape, patch, step, batch_size, crop, tile_filter)
        wsum = torch.zeros(shape, dtype=torch.float32, device=data.device) if dropped else None
        logger.debug("sliding window: %d batch(es) of tiles %s over %s, %d tile(s) skipped", len(batches),
                     patch, shape, dropped)
        iterator: Any = batches
        if progress:
            from tqdm import tqdm

            iterator = tqdm(batches, desc="tiles", unit="batch", leave=False)
        for group in iterator:
            slices = [tuple(slice(st, st + p) for (_, st), p in zip(t, patch)) for t in group]
            x = torch.stack([padded[(slice(None), *sl)] for sl in slices]).to(run_device, non_blocking=True)
            logits = predict_tiles(network, x, mirror_axes, lr_swap, autocast_dtype, channels_last)
            if logits.shape[1] != int(num_classes) or tuple(logits.shape[2:]) != patch:
                raise ValueError(f"network output {tuple(logits.shape)} does not match "
                                 f"({len(group)}, {num_classes}, *{patch})")
            _accumulate(out, wsum, logits.to(data.device), group, slices, weights)
        if wsum is not None:  # some tiles were skipped: the kept weights no longer sum to 1
            wsum[wsum == 0] = 1.0  # voxels no kept tile covers keep logits 0
            for c in range(int(num_classes)):  # one class at a time: no float32 copy of all classes
                out[c].div_(wsum)
        if tuple(out.shape[1:]) == tuple(data.shape[1:]):
            return out
        return out[(slice(None), *crop)].contiguous()


def _accumulate(out: torch.Tensor, wsum: torch.Tensor | None, logits: torch.Tensor, group: list,
                slices: list, weights: list) -> None:
    """Adds each tile's Gaussian-weighted logits to ``out`` (and its weights to ``wsum`` when given)."""
    for b, (t, sl) in enumerate(zip(group, slices)):
        (ix, _), (iy, _), (iz, _) = t
        w = weights[0][ix][:, None, None] * weights[1][iy][None, :, None]
        w = (w * weights[2][iz][None, None, :]).to(logits.device)
        target = out[(slice(None), *sl)]
        target += logits[b].mul_(w)
        if wsum is not None:
            wsum[sl] += w
