"""Gaussian-weighted sliding-window (tiled) inference over a channel-first volume.

The volume is covered by tiles of the plan's patch size, weighted by a Gaussian importance map
(:mod:`torsoseg.inference.tiling` places and weighs them), and the weighted logits of overlapping tiles
are averaged. Each tile's weights are divided by the per-voxel weight sum *before* they are accumulated: the
accumulation buffer holds the final weighted mean directly, needs no weight-map buffer of the size of the
volume, and never under- or overflows in float16 (the normalised weights lie in ``(0, 1]``).

Accumulation is in ``accumulate_dtype`` (float16 by default, as the design asks); the network forward may
run under bfloat16/float16 autocast, but its logits are converted to float32 before they are weighted,
mirrored, channel-swapped and averaged, and nothing is ever accumulated in bfloat16.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from torsoseg.inference.tiling import (
    DEFAULT_SIGMA_SCALE,
    DEFAULT_STEP,
    TileFilter,
    check_step,
    normalized_tile_weights_1d,
    tile_batches,
    window_grid,
)
from torsoseg.network.precision import autocast

logger = logging.getLogger(__name__)


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
    window: tuple[Sequence[int], Sequence[tuple[int, int]]] | None = None,
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
        window: ``(whole shape, box)`` when ``data`` is the part ``box`` of a larger image: the tiles
            and their weights are those of the whole image's grid (only the tiles inside the box are
            predicted), so wherever every covering tile is predicted the result equals the whole
            image's. The box comes from :func:`tile_window` (tiles' edges; the whole axis where the
            image is smaller than the patch).

    Returns:
        ``(K, X, Y, Z)`` tensor of ``accumulate_dtype`` on ``data.device``.

    Example:
        >>> net = torch.nn.Conv3d(1, 3, 3, padding=1).eval()
        >>> sliding_window_logits(net, torch.zeros(1, 40, 40, 20), (32, 32, 16), 3).shape
        torch.Size([3, 40, 40, 20])
    """
    patch, step = _checked(data, patch_size, batch_size, accumulate_dtype), check_step(step)
    run_device = torch.device(device) if device is not None else data.device
    with torch.inference_mode():
        padded, crop = pad_to_patch(data, patch)
        shape = tuple(int(s) for s in padded.shape[1:])
        full, offset = shape, None
        if window is not None:
            full, offset = window_grid(tuple(int(s) for s in data.shape[1:]), patch, window)
        weights = [[torch.as_tensor(w, dtype=torch.float32) for w in
                    normalized_tile_weights_1d(s, p, step, sigma_scale)] for s, p in zip(full, patch)]
        out = torch.zeros((int(num_classes), *shape), dtype=accumulate_dtype, device=data.device)
        batches, partial = tile_batches(shape, patch, step, batch_size, crop, tile_filter, offset, full)
        wsum = torch.zeros(shape, dtype=torch.float32, device=data.device) if partial else None
        logger.debug("sliding window: %d batch(es) of tiles %s over %s (grid of %s)%s", len(batches),
                     patch, shape, full, ", some tiles skipped" if partial else "")
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
        if wsum is not None:  # some tiles were skipped: the kept weights may not sum to 1
            _divide(out, wsum)
        if tuple(out.shape[1:]) == tuple(data.shape[1:]):
            return out
        return out[(slice(None), *crop)].contiguous()


def _checked(data: torch.Tensor, patch_size: Sequence[int], batch_size: int,
             accumulate_dtype: torch.dtype) -> tuple[int, ...]:
    """The patch as integers, after checking the sliding window's arguments."""
    if accumulate_dtype not in (torch.float16, torch.float32, torch.float64):
        raise ValueError(f"accumulate_dtype must be float16, float32 or float64, got {accumulate_dtype}")
    if data.ndim != 4:
        raise ValueError(f"data must be (C, X, Y, Z), got shape {tuple(data.shape)}")
    if len(patch_size) != 3 or any(int(p) < 1 for p in patch_size) or int(batch_size) < 1:
        raise ValueError(f"patch_size must be 3 positive integers and batch_size >= 1, got "
                         f"{tuple(patch_size)} and {batch_size}")
    return tuple(int(p) for p in patch_size)


def _divide(out: torch.Tensor, wsum: torch.Tensor) -> None:
    """Divides the accumulated logits by the weights of the tiles that were predicted (voxels no tile
    covers keep logits 0), one class at a time: no float32 copy of all classes."""
    wsum[wsum == 0] = 1.0
    for c in range(int(out.shape[0])):
        out[c].div_(wsum)


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
