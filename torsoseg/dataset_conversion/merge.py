"""Merging per-structure binary masks into one label map, with a defined rule for overlaps.

**Overlap rule**: per-structure masks (VISCERAL, TotalSegmentator) often overlap by a voxel or two at
borders. A voxel claimed by several output structures goes to the **smallest** of them (fewest voxels in
that case); a tie goes to the structure with the lower output value. The smaller structure wins because a
voxel is a larger share of it (an adrenal gland loses proportionally far more to the kidney than the
kidney would lose to it), and because this makes the result independent of file order. Masks merged into
one output (the lobes of one lung) never contest each other. The number of contested voxels is reported
per case.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np


def merge_masks(masks: Mapping[int, np.ndarray], shape: tuple[int, int, int]) -> tuple[np.ndarray, int]:
    """Builds a label map from one boolean mask per output value.

    Args:
        masks: output value (>= 1) -> boolean ``(nx, ny, nz)`` mask (several source masks of one output
            already united).
        shape: the grid shape, used when ``masks`` is empty.

    Returns:
        ``(label_map, contested)``: the uint8 (uint16 above 255) label map and the number of voxels that
        two or more outputs claimed.

    Example:
        >>> a = np.zeros((1, 1, 4), bool); a[0, 0, :3] = True
        >>> b = np.zeros((1, 1, 4), bool); b[0, 0, 2:] = True
        >>> lab, n = merge_masks({1: a, 2: b}, (1, 1, 4))
        >>> lab.ravel().tolist(), n
        ([1, 1, 2, 2], 1)
    """
    top = max(masks, default=0)
    dtype = np.uint8 if top <= 255 else np.uint16
    out = np.zeros(shape, dtype=dtype)
    if not masks:
        return out, 0
    claims = np.zeros(shape, dtype=np.uint8)
    sizes = {}
    for value, mask in masks.items():
        if mask.shape != tuple(shape):
            raise ValueError(f"mask of value {value} has shape {mask.shape}, expected {tuple(shape)}")
        claims += mask
        sizes[value] = int(np.count_nonzero(mask))
    contested = int(np.count_nonzero(claims > 1))
    # largest first, so smaller structures overwrite larger ones; in a tie the lower value is written last
    for value in sorted(masks, key=lambda v: (-sizes[v], -v)):
        out[masks[value]] = value
    return out, contested
