"""Draws the phantom figures of documentation/phantom.md (and the README) into documentation/images/.

* ``phantom_kinds.png``: axial and coronal slices of one phantom of each kind (abdomen, VISCERAL, torso)
  with its labels overlaid, beside the same views of the real CT samples in ../shared/data (the
  TotalSegmentator DICOM series with its segmentation, and the elastix lung CT);
* ``phantom_phases.png``: one patient in the native, arterial and portal-venous phase;
* ``phantom_variation.png``: coronal slices of six patients (habitus, field of view, gallbladder, arms).

Every image is shown in radiological convention (the patient's right on the viewer's left, superior up)
after reorientation to the canonical orientation, so the phantom's varying storage orientations do not
show. Run from the repository root::

    python scripts/make_phantom_figures.py [--size small] [--out documentation/images]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.colors import ListedColormap  # noqa: E402

from torsoseg import organs  # noqa: E402
from torsoseg.imageio import Volume, read_image, reorient_to_canonical  # noqa: E402
from torsoseg.phantom import generate_case, plan_case  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHARED = (REPO / ".." / "shared" / "data").resolve()
WINDOW = (-160.0, 240.0)
LUNG_WINDOW = (-1000.0, 300.0)

#: one colour per canonical organ (so the same organ has the same colour in every panel)
COLOURS = {
    "liver": "#d9534f",
    "spleen": "#5b9bd5",
    "kidney_right": "#f0ad4e",
    "kidney_left": "#ffd966",
    "pancreas": "#70ad47",
    "gallbladder": "#00b050",
    "stomach": "#b4a7d6",
    "artery": "#ff0000",
    "aorta": "#ff0000",
    "portal_vein": "#3366ff",
    "lung_right": "#9dc3e6",
    "lung_left": "#c5e0b4",
    "trachea": "#ffe699",
    "urinary_bladder": "#f4b183",
    "sternum": "#bfbfbf",
    "thyroid_gland": "#ff66cc",
    "vertebrae_L1": "#a5a5a5",
    "adrenal_gland_right": "#ff00ff",
    "adrenal_gland_left": "#cc00cc",
    "psoas_major_right": "#c55a11",
    "psoas_major_left": "#843c0c",
    "rectus_abdominis_right": "#7030a0",
    "rectus_abdominis_left": "#9966ff",
}


def canonical(vol: Volume) -> Volume:
    return reorient_to_canonical(vol)[0]


def name_map(labels: dict[str, int], source: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Relabels ``source`` to indices into a list of canonical names that have a colour."""
    names = [n for n in COLOURS]
    out = np.zeros(source.shape, dtype=np.int16)
    for name, value in labels.items():
        try:
            c = organs.canonical_name(name)
        except organs.UnknownOrganError:
            continue
        whole = organs.whole_of(c) or c
        if whole in names:
            out[source == value] = names.index(whole) + 1
    return out, names


def show(
    ax, image: np.ndarray, labels: np.ndarray | None, names: list[str], aspect: float, window, title: str
):
    """Draws a 2D slice ``(horizontal, vertical)`` already in display order, with a label overlay."""
    ax.imshow(
        np.clip(image, *window),
        cmap="gray",
        vmin=window[0],
        vmax=window[1],
        aspect=aspect,
        interpolation="bilinear",
    )
    if labels is not None and labels.any():
        cmap = ListedColormap(["#000000"] + [COLOURS[n] for n in names])
        ax.imshow(
            np.ma.masked_equal(labels, 0),
            cmap=cmap,
            vmin=0,
            vmax=len(names),
            alpha=0.42,
            aspect=aspect,
            interpolation="nearest",
        )
    ax.set_title(title, fontsize=9)
    ax.set_axis_off()


def axial(vol: np.ndarray, z: int) -> np.ndarray:
    return vol[:, :, z].T  # rows anterior -> posterior, columns right -> left (radiological)


def coronal(vol: np.ndarray, y: int) -> np.ndarray:
    return vol[:, y, :].T[::-1]


def organ_slice(label: np.ndarray, value_mask: np.ndarray, axis: int) -> int:
    idx = np.argwhere(value_mask)
    if len(idx) == 0:
        return label.shape[axis] // 2
    return int(np.median(idx[:, axis]))


def phantom_panels(axs, kind: str, seed: int, size: str) -> None:
    case = generate_case(kind, seed, size)
    img = canonical(case.image)
    lab = canonical(case.label_map)
    mapped, names = name_map(case.labels, lab.array)
    sx, sy, sz = img.spacing
    pancreas = lab.array == case.labels["pancreas"]
    z = organ_slice(lab.array, pancreas, 2)
    y = organ_slice(lab.array, lab.array == case.labels["liver"], 1)
    title = f"phantom {kind} (seed {seed}, {case.phase}, stored {case.orientation})"
    show(
        axs[0],
        axial(img.array, z),
        axial(mapped, z),
        names,
        sy / sx,
        WINDOW,
        title + "\naxial, pancreas level",
    )
    show(axs[1], axial(img.array, z), None, names, sy / sx, WINDOW, "same slice, no overlay")
    show(axs[2], coronal(img.array, y), coronal(mapped, y), names, sz / sx, WINDOW, "coronal, liver centre")
    show(axs[3], coronal(img.array, y), None, names, sz / sx, LUNG_WINDOW, "coronal, lung window")


def real_panels(axs) -> None:
    ct = canonical(read_image(SHARED / "ts_dicom_ct"))
    seg = canonical(read_image(SHARED / "ts_dicom_ct_seg.nii.gz"))
    table = {v: int(k) for k, v in json.loads((SHARED / "ts_labels_total_v2.json").read_text()).items()}
    if not seg.geometry.same_grid(ct.geometry):
        from torsoseg.imageio import resample_to_grid

        seg = resample_to_grid(seg, ct.geometry, is_label=True)
    mapped, names = name_map(table, seg.array)
    sx, sy, sz = ct.spacing
    z = ct.shape[2] // 2
    show(
        axs[0],
        axial(ct.array, z),
        axial(mapped, z),
        names,
        sy / sx,
        WINDOW,
        "real CT (TotalSegmentator sample)\naxial, TotalSegmentator labels",
    )
    show(axs[1], axial(ct.array, z), None, names, sy / sx, WINDOW, "same slice, no overlay")
    lung = canonical(read_image(SHARED / "elastix_lung_ct_small.mha"))
    lx, ly, lz = lung.spacing
    y = lung.shape[1] // 2
    show(
        axs[2],
        coronal(lung.array, y),
        None,
        names,
        lz / lx,
        WINDOW,
        "real thorax CT (elastix sample)\ncoronal",
    )
    show(axs[3], coronal(lung.array, y), None, names, lz / lx, LUNG_WINDOW, "coronal, lung window")


def legend(fig, names: list[str]) -> None:
    from matplotlib.patches import Patch

    handles = [Patch(color=COLOURS[n], label=n) for n in names]
    fig.legend(handles=handles, loc="lower center", ncol=8, fontsize=7, frameon=False)


def figure_kinds(out: Path, size: str) -> Path:
    fig, axs = plt.subplots(4, 4, figsize=(16, 17.5))
    for row, (kind, first) in enumerate((("abdomen", 1), ("visceral", 2), ("torso", 3))):
        # the first seed whose patient has the arms raised (the usual position), so the trunk fills the view
        seed = next(s for s in range(first, first + 50) if plan_case(kind, s, size).patient.arm_radius == 0)
        phantom_panels(axs[row], kind, seed, size)
    if SHARED.is_dir():
        real_panels(axs[3])
    else:
        for ax in axs[3]:
            ax.set_axis_off()
        axs[3][0].set_title(f"real CT samples not found at {SHARED}")
    legend(fig, list(COLOURS))
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    path = out / "phantom_kinds.png"
    fig.savefig(path, dpi=70)
    plt.close(fig)
    return path


def figure_phases(out: Path, size: str) -> Path:
    fig, axs = plt.subplots(1, 3, figsize=(15, 5.4))
    seed = next(s for s in range(12, 60) if plan_case("torso", s, size).patient.arm_radius == 0)
    for ax, phase in zip(axs, ("native", "arterial", "portal_venous")):
        case = generate_case("torso", seed, size, phase=phase)
        img, lab = canonical(case.image), canonical(case.label_map)
        z = organ_slice(lab.array, lab.array == case.labels["kidney_left"], 2)
        show(
            ax,
            axial(img.array, z),
            None,
            [],
            img.spacing[1] / img.spacing[0],
            WINDOW,
            f"torso seed {seed}, {phase}",
        )
    fig.tight_layout()
    path = out / "phantom_phases.png"
    fig.savefig(path, dpi=70)
    plt.close(fig)
    return path


def figure_variation(out: Path, size: str) -> Path:
    fig, axs = plt.subplots(1, 6, figsize=(18, 6.5))
    for ax, seed in zip(axs, range(18, 24)):
        case = generate_case("visceral", seed, size)
        img, lab = canonical(case.image), canonical(case.label_map)
        mapped, names = name_map(case.labels, lab.array)
        y = organ_slice(lab.array, lab.array == case.labels["kidney_right"], 1)
        gb = "gallbladder" if case.masks()["gallbladder"].any() else "no gallbladder"
        show(
            ax,
            coronal(img.array, y),
            coronal(mapped, y),
            names,
            img.spacing[2] / img.spacing[0],
            WINDOW,
            f"seed {seed}, {gb}\n{case.image.shape} @ {', '.join(f'{s:.2g}' for s in case.image.spacing)} mm",
        )
    fig.tight_layout()
    path = out / "phantom_variation.png"
    fig.savefig(path, dpi=65)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", default="small", help="phantom size (tiny, small, full); default small")
    p.add_argument("--out", default=str(REPO / "documentation" / "images"), help="output folder")
    args = p.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for make in (figure_kinds, figure_phases, figure_variation):
        print(make(out, args.size))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
