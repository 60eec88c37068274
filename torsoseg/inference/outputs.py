"""Optional outputs of a prediction: statistics, an organ subset, one file per organ, colour tables,
probabilities with their geometry.

All functions take the label map as a :class:`~torsoseg.imageio.Volume` on the input image's grid and the
label set ``name -> value``. Files are written atomically.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from torsoseg import imageio
from torsoseg import organs as vocab
from torsoseg.fileio import atomic_path, atomic_write_json
from torsoseg.imageio import Volume
from torsoseg.organ_display import display_colour
from torsoseg.paths import check_name

PERCENTILES = (5.0, 25.0, 50.0, 75.0, 95.0)
OUTPUT_TYPES = ("nifti", "dicom-seg")
PROBABILITY_AXES = "K, X, Y, Z"


@dataclass(frozen=True)
class PredictionOptions:
    """What :func:`~torsoseg.inference.batch.predict_cases` writes beside each label map.

    Attributes:
        save_probabilities: ``<case>.npz`` (float16 ``(K, X, Y, Z)``) + ``<case>_probabilities.json``.
        preview: ``<case>.png``.
        statistics: ``<case>_statistics.json`` (see :func:`organ_statistics`).
        split_organs: ``<case>/<organ>.nii.gz``, one binary mask per organ.
        roi_subset: comma-separated organs (or a list) to keep; every other label becomes background.
        output_type: ``nifti`` or ``dicom-seg`` (also ``<case>.dcm`` for DICOM input).
    """

    save_probabilities: bool = False
    preview: bool = False
    statistics: bool = False
    split_organs: bool = False
    roi_subset: str | tuple[str, ...] | None = None
    output_type: str = "nifti"

    def validate(self, labels: Mapping[str, int]) -> None:
        """Raises ``ValueError`` for an unknown output type, a subset organ the model does not predict, or
        (with ``split_organs``) a label name that cannot be a file name."""
        if self.output_type not in OUTPUT_TYPES:
            raise ValueError(f"output_type {self.output_type!r}: valid are {', '.join(OUTPUT_TYPES)}")
        if self.roi_subset is not None:
            subset_labels(labels, self.roi_subset)
        if self.split_organs:
            check_label_file_names(labels)
        if self.output_type == "dicom-seg":
            from torsoseg.inference.dicom_seg import require_highdicom

            require_highdicom()


def _label_for(labels: Mapping[str, int], organ: str) -> str | None:
    """The label name of ``labels`` that is ``organ``: exact name first, then by canonical organ name."""
    if organ in labels and organ != "background":
        return organ
    if vocab.is_known(organ):
        canon = vocab.canonical_name(organ)
        for name in labels:
            if name != "background" and vocab.is_known(name) and vocab.canonical_name(name) == canon:
                return name
    return None


def subset_labels(labels: Mapping[str, int], organs: str | Iterable[str]) -> dict[str, int]:
    """The labels (``background`` first, values unchanged) of the organs asked for.

    Args:
        labels: the model's label set, name -> value.
        organs: ``"liver,spleen"`` or a list; any vocabulary spelling, custom labels by exact name.

    Raises:
        ValueError: an empty list, or names the model does not predict (all listed, with what it has).
    """
    items = organs.split(",") if isinstance(organs, str) else list(organs)
    names = [str(s).strip() for s in items if str(s).strip()]
    if not names:
        raise ValueError("roi_subset: the organ list is empty")
    chosen, missing = {"background": 0}, []
    for n in names:
        hit = _label_for(labels, n)
        if hit is None:
            missing.append(n)
        else:
            chosen[hit] = int(labels[hit])
    if missing:
        have = ", ".join(k for k in labels if k != "background")
        raise ValueError(f"roi_subset: the model does not predict {', '.join(missing)} (it predicts: {have})")
    return dict(sorted(chosen.items(), key=lambda kv: kv[1]))


def restrict_to(label_map: Volume, labels: Mapping[str, int]) -> Volume:
    """The label map with every value not in ``labels`` set to background (values kept)."""
    keep = np.zeros(int(label_map.array.max(initial=0)) + 1, dtype=bool)
    for v in labels.values():
        if int(v) < keep.size:
            keep[int(v)] = True
    arr = np.where(keep[label_map.array], label_map.array, 0).astype(label_map.array.dtype)
    return label_map.with_array(arr)


def organ_statistics(
    image: Volume, label_map: Volume, labels: Mapping[str, int], percentiles: Iterable[float] = PERCENTILES
) -> dict[str, dict]:
    """Per organ volume and intensity statistics of ``image`` inside the predicted mask.

    Args:
        image: the input CT (HU) on the label map's grid.
        label_map: integer labels on ``image``'s grid.
        labels: name -> value (``background`` is skipped).
        percentiles: intensity percentiles to report (0..100).

    Returns:
        ``{organ: {"voxels", "volume_ml", "mean_hu", "std_hu", "min_hu", "max_hu", "percentiles_hu"}}``;
        volume = voxel count x voxel volume (mm^3) / 1000; std is the population std (``numpy.std``).
        An organ with no voxel has volume 0 and ``None`` intensities.

    Raises:
        ValueError: the two volumes are not on the same grid.
    """
    if not image.geometry.same_grid(label_map.geometry):
        raise ValueError(
            f"statistics: image grid {image.geometry.describe()} differs from the label map's "
            f"{label_map.geometry.describe()}"
        )
    voxel_ml = float(np.prod(np.asarray(image.spacing, dtype=np.float64))) / 1000.0
    qs = [float(q) for q in percentiles]
    lab = label_map.array
    img = image.array
    out: dict[str, dict] = {}
    for name, value in sorted(labels.items(), key=lambda kv: kv[1]):
        if name == "background":
            continue
        mask = lab == int(value)
        n = int(np.count_nonzero(mask))
        rec: dict = {"voxels": n, "volume_ml": n * voxel_ml}
        if n:
            vals = img[mask].astype(np.float64)
            rec.update(mean_hu=float(vals.mean()), std_hu=float(vals.std()), min_hu=float(vals.min()),
                       max_hu=float(vals.max()),
                       percentiles_hu={f"p{q:g}": float(v) for q, v in zip(qs, np.percentile(vals, qs))})
        else:
            rec.update(mean_hu=None, std_hu=None, min_hu=None, max_hu=None,
                       percentiles_hu={f"p{q:g}": None for q in qs})
        out[name] = rec
    return out


def check_label_file_names(labels: Mapping[str, int]) -> None:
    """Refuses label names that cannot be file names of ``--split-organs`` (``../x``, ``a/b``, ``.hidden``).

    Raises:
        ValueError: naming the label, with the allowed pattern.
    """
    for name in labels:
        if name != "background":
            check_name(name, "label name (used as a file name by --split-organs)")


def write_split_organs(label_map: Volume, labels: Mapping[str, int], folder: str | os.PathLike) -> list[Path]:
    """Writes ``folder/<organ>.nii.gz`` (uint8 0/1 on the label map's grid) for every foreground label.

    Raises:
        ValueError: a label name (data read from the model's label set) that is not a plain file name;
            nothing is written then.
    """
    check_label_file_names(labels)
    d = Path(folder)
    d.mkdir(parents=True, exist_ok=True)
    written = []
    for name, value in labels.items():
        if name == "background":
            continue
        mask = (label_map.array == int(value)).astype(np.uint8)
        written.append(imageio.write_image(label_map.with_array(mask), d / f"{name}.nii.gz"))
    return written


def write_probabilities(probabilities: np.ndarray, geometry: imageio.Geometry, labels: Mapping[str, int],
                        npz: str | os.PathLike) -> tuple[Path, Path]:
    """Writes ``<case>.npz`` (``probabilities``, float16 ``(K, X, Y, Z)``) and its geometry sidecar.

    The sidecar ``<case>_probabilities.json`` names the axis order, the class of each channel and the
    grid (spacing, origin, direction, shape in SimpleITK's x, y, z index order, LPS world). nnU-Net's
    ``(K, Z, Y, X)`` order is ``probabilities.transpose(0, 3, 2, 1)``.
    """
    npz = Path(npz)
    if probabilities.shape[1:] != tuple(geometry.shape):
        raise ValueError(f"{npz}: probabilities {probabilities.shape} do not match the grid {geometry.shape}")
    with atomic_path(npz) as tmp, open(tmp, "wb") as f:
        np.savez_compressed(f, probabilities=probabilities)
    side = npz.with_name(npz.name[: -len(".npz")] + "_probabilities.json")
    classes = [name for name, _ in sorted(labels.items(), key=lambda kv: kv[1])]
    atomic_write_json(side, {
        "format_version": 1,
        "file": npz.name,
        "array": "probabilities",
        "axes": PROBABILITY_AXES,
        "axes_note": "K = class (channel k is classes[k]); X, Y, Z = image index i, j, k as in "
        "SimpleITK (world = origin + direction @ (index * spacing), LPS mm); for nnU-Net's (K, Z, Y, X) "
        "use probabilities.transpose(0, 3, 2, 1)",
        "classes": classes,
        "geometry": geometry.to_json(),
    })
    return npz, side


def write_colour_tables(labels: Mapping[str, int], out_dir: str | os.PathLike) -> tuple[Path, Path]:
    """Writes ``labels_itksnap.txt`` (ITK-SNAP label description) and ``labels_slicer.ctbl`` (3D Slicer).

    Both give every label value its name and :func:`~torsoseg.organ_display.display_colour`.
    """
    d = Path(out_dir)
    items = sorted(labels.items(), key=lambda kv: kv[1])
    snap = [
        "################################################",
        "# ITK-SnAP Label Description File (written by torsoseg)",
        "# Columns = IDX -R- -G- -B- -A-- VIS MSH  LABEL",
        "################################################",
        f'{0:5d} {0:5d} {0:4d} {0:4d} {0:8.2f} {0:2d} {0:2d}    "Clear Label"',
    ]
    slicer = ["# 3D Slicer color table written by torsoseg", "# value name R G B A", "0 background 0 0 0 0"]
    for name, value in items:
        if name == "background":
            continue
        r, g, b = display_colour(name)
        snap.append(f'{int(value):5d} {r:5d} {g:4d} {b:4d} {1:8.2f} {1:2d} {1:2d}    "{name}"')
        slicer.append(f"{int(value)} {name} {r} {g} {b} 255")
    snap_path, slicer_path = d / "labels_itksnap.txt", d / "labels_slicer.ctbl"
    for path, lines in ((snap_path, snap), (slicer_path, slicer)):
        with atomic_path(path) as tmp:
            Path(tmp).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return snap_path, slicer_path
