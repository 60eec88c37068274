"""A quick-look PNG of a prediction: axial, coronal and sagittal slices with a coloured label overlay.

Slices pass through the centre of the labelled voxels (the image centre when nothing is labelled), are
shown in radiological convention (patient's right on the left of axial and coronal views, superior up),
with physical aspect ratios, the patient's side marked at the image edges (R/L, A/P), each organ in its
display colour and a legend naming every organ present. Rendering uses matplotlib's Agg
backend through ``matplotlib.figure.Figure`` (no display, no pyplot state); the file is written atomically.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from torsoseg.fileio import atomic_path
from torsoseg.imageio import Volume, reorient_to_canonical

DEFAULT_WINDOW = (-400.0, 600.0)


def slice_indices(label_map: np.ndarray) -> tuple[int, int, int]:
    """Per axis the index through the centre of the labelled voxels (the array centre when none).

    Args:
        label_map: ``(X, Y, Z)`` integer labels (0 = background).

    Returns:
        ``(ix, iy, iz)``.
    """
    fg = np.nonzero(label_map)
    if fg[0].size == 0:
        return tuple(int(n) // 2 for n in label_map.shape)
    return tuple(int(np.round(np.median(c))) for c in fg)


def label_colors(num_values: int) -> np.ndarray:
    """RGBA colours (float ``(num_values, 4)``) for label values; value 0 is transparent."""
    from matplotlib import colormaps

    palette = [colormaps[name](i) for name in ("tab20", "tab20b", "tab20c") for i in range(20)]
    colors = np.array([palette[(i - 1) % len(palette)] for i in range(max(1, num_values))], dtype=np.float64)
    colors[0] = (0.0, 0.0, 0.0, 0.0)
    return colors


# Letters at the left and right edge of each view: the patient's side shown there (radiological convention).
VIEW_MARKERS = {"axial": ("R", "L"), "coronal": ("R", "L"), "sagittal": ("A", "P")}


def overlay_colors(labels: Mapping[str, int], num_values: int) -> np.ndarray:
    """RGBA colours (float ``(num_values, 4)``) for a named label set: each organ its display colour
    (:func:`torsoseg.organ_display.display_colour`, so liver and spleen differ clearly), values without a
    name the :func:`label_colors` palette; value 0 transparent."""
    from torsoseg.organ_display import display_colour

    colors = label_colors(num_values)
    for name, value in labels.items():
        if name != "background" and 0 < int(value) < num_values:
            colors[int(value), :3] = np.asarray(display_colour(name), dtype=np.float64) / 255.0
            colors[int(value), 3] = 1.0
    return colors


def save_preview(
    image: Volume,
    label_map: Volume,
    labels: Mapping[str, int],
    path: str | os.PathLike,
    title: str | None = None,
    window: tuple[float, float] = DEFAULT_WINDOW,
    alpha: float = 0.45,
) -> Path:
    """Writes a 3-panel PNG (axial, coronal, sagittal) with a label overlay and an organ legend.

    Args:
        image: the CT volume (HU), any orientation.
        label_map: the prediction on ``image``'s grid.
        labels: label name -> value (for the legend).
        path: output ``.png`` path (parents created, written atomically).
        title: figure title (e.g. the case name).
        window: HU display window ``(low, high)``.
        alpha: overlay opacity.

    Returns:
        ``path``.

    Raises:
        ValueError: the label map is not on the image's grid.

    Example:
        >>> save_preview(ct, seg, {"background": 0, "liver": 1}, "out/case.png")  # doctest: +SKIP
    """
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    if not label_map.geometry.same_grid(image.geometry):
        raise ValueError(
            f"preview: label map grid {label_map.geometry.describe()} "
            f"differs from image {image.geometry.describe()}"
        )
    img, _ = reorient_to_canonical(image)
    seg, _ = reorient_to_canonical(label_map)
    arr = img.array.astype(np.float32)
    lab = seg.array.astype(np.int64)
    sx, sy, sz = img.spacing
    ix, iy, iz = slice_indices(lab)
    n_values = max(int(lab.max()) + 1, max(labels.values(), default=0) + 1)
    colors = overlay_colors(labels, n_values)
    # canonical: axis 0 -> patient left, 1 -> posterior, 2 -> superior. Rows/cols below give the
    # radiological view: axial rows = anterior->posterior, cols = right->left; coronal/sagittal superior up.
    views = [
        ("axial", arr[:, :, iz].T, lab[:, :, iz].T, sy / sx, "upper"),
        ("coronal", arr[:, iy, :].T, lab[:, iy, :].T, sz / sx, "lower"),
        ("sagittal", arr[ix, :, :].T, lab[ix, :, :].T, sz / sy, "lower"),
    ]
    present = set(np.unique(lab).tolist())
    handles = [Patch(color=colors[v], label=k) for k, v in sorted(labels.items(), key=lambda kv: kv[1])
               if v != 0 and v in present]
    ncol = max(1, min(5, len(handles)))
    legend_h = 0.3 + 0.22 * math.ceil(max(1, len(handles)) / ncol)  # inches below the images
    height = 4.5 + legend_h
    fig = Figure(figsize=(13, height))  # no pyplot: no global state, Agg rendering
    axes = fig.subplots(1, 3)
    for ax, (name, im, lb, aspect, origin) in zip(axes, views):
        ax.imshow(im, cmap="gray", vmin=window[0], vmax=window[1], aspect=aspect, origin=origin,
                  interpolation="nearest")
        ax.imshow(colors[lb], alpha=alpha, aspect=aspect, origin=origin, interpolation="nearest")
        ax.set_title(name)
        ax.axis("off")
        left, right = VIEW_MARKERS[name]
        for x, letter, ha in ((0.01, left, "left"), (0.99, right, "right")):
            ax.text(x, 0.5, letter, transform=ax.transAxes, ha=ha, va="center", color="yellow",
                    fontsize=11, fontweight="bold")
    if handles:
        fig.legend(handles=handles, loc="lower center", ncol=ncol, fontsize=8, frameon=False)
    else:
        fig.text(0.5, 0.5 * legend_h / height, "no organ predicted", ha="center")
    if title:
        fig.suptitle(title)
    fig.tight_layout(rect=(0, legend_h / height, 1, 0.96))
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=90)
    return Path(path)
