"""The cascade's figure: the coarse prediction, its candidate region and the fine result on one slice.

Runs a trained cascade (a ``3d_cascade`` model folder with its ``3d_lowres`` sibling) on one image and
draws three panels on the axial slice (canonical orientation, body crop) where the candidate region is
largest: (1) the coarse stage's label map, (2) the candidate region (the coarse organs grown by the
margin) as the only part of the image the fine stage tiles, (3) the cascade's final label map. The
coarse grid is shown with its own large voxels (nearest neighbour onto the image grid).

Example:
    python scripts/cascade_figure.py -m RESULTS/Dataset002_VISCERAL/Trainer_cpu__torsoseg_plans__3d_cascade \
        -i RAW/Dataset003_Torso/imagesTr/torso_001_0000.nii.gz -o documentation/images/cascade_stages.png
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np


def canonical_crop_slices(volume, cascade):
    """``(ct, coarse, region, fine, z, spacing)``: canonical, body-cropped arrays on the image grid, the
    slice (patient's right on the left, anterior up) and the canonical spacing."""
    from torsoseg.imageio import Volume, reorient_to_canonical
    from torsoseg.inference.region import grid_index_map

    stage = cascade.coarse_stage(volume)
    fine = cascade.predict(volume)
    box = tuple(slice(a, b) for a, b in stage.props.crop_bbox)
    canon = reorient_to_canonical(volume)[0]
    ct = canon.array[box]
    fine_c = reorient_to_canonical(Volume(fine.array, volume.spacing, volume.origin, volume.direction))[0]
    idx = np.ix_(*(grid_index_map(nc, n) for nc, n in zip(stage.seg.shape, ct.shape)))
    coarse, region = stage.seg[idx], stage.region[idx]
    z = int(np.argmax(region.sum(axis=(0, 1)))) if region.any() else ct.shape[2] // 2
    return ct, coarse, region, fine_c.array[box], z, canon.spacing


def draw(ct, coarse, region, fine, z, spacing, out: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap

    k = int(max(coarse.max(), fine.max(), 1))
    colours = ListedColormap(plt.get_cmap("tab20")(np.arange(k) % 20))
    img = np.clip(ct[:, :, z].T.astype(np.float32), -200, 300)
    aspect = spacing[1] / spacing[0]
    fig, axes = plt.subplots(1, 3, figsize=(12, 4.4))
    panels = (("1. coarse stage (3d_lowres), whole image", coarse, None),
              ("2. candidate region: organs + margin", None, region),
              ("3. fine stage inside the region = result", fine, region))
    for ax, (name, labels, reg) in zip(axes, panels):
        ax.imshow(img, cmap="gray", aspect=aspect, origin="upper")
        if labels is not None:
            lab = labels[:, :, z].T.astype(float)
            ax.imshow(np.ma.masked_where(lab == 0, lab - 1), cmap=colours, vmin=0, vmax=max(k - 1, 1),
                      alpha=0.6, aspect=aspect, origin="upper", interpolation="nearest")
        if reg is not None and labels is None:
            ax.imshow(np.ma.masked_where(~reg[:, :, z].T, reg[:, :, z].T.astype(float)), cmap="autumn",
                      alpha=0.35, aspect=aspect, origin="upper", interpolation="nearest")
        if reg is not None:
            ax.contour(reg[:, :, z].T.astype(float), levels=[0.5], colors="yellow", linewidths=1.2)
        ax.set_title(name, fontsize=10)
        ax.axis("off")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("-m", "--model", required=True, type=Path, help="the 3d_cascade model folder")
    p.add_argument("-i", "--image", required=True, type=Path, help="the CT image")
    p.add_argument("-o", "--out", required=True, type=Path, help="the PNG to write")
    p.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    args = p.parse_args(argv)
    import torch

    from torsoseg.imageio import read_image
    from torsoseg.inference import Predictor

    torch.set_num_threads(args.threads)
    cascade = Predictor.from_model_dir(args.model, folds="all", device="cpu", precision="fp32")
    volume = read_image(args.image)
    ct, coarse, region, fine, z, spacing = canonical_crop_slices(volume, cascade)
    title = (f"{args.image.name}: coarse {cascade.coarse.plans.target_spacing} mm, fine "
             f"{cascade.fine.plans.target_spacing} mm, margin {cascade.margin_mm:g} mm; region = "
             f"{100 * region.mean():.0f}% of the body crop")
    draw(ct, coarse, region, fine, z, spacing, args.out, title)
    print(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
