"""Writing phantom cases in the SOURCE layout of each of the paper's three datasets.

Case ``i`` (0-based) of ``write_source(kind, n, out_dir, seed)`` is ``generate_case(kind, seed + i, size)``.

``abdomen`` (one image and one label map per case, BTCV-style folders; labels 1 artery, 2 portal_vein,
3 liver, 4 spleen, 5 stomach, 6 gallbladder, 7 pancreas; no label file, the numbering is the dataset's)::

    OUT/img/img0001.nii.gz      OUT/label/label0001.nii.gz      ...

``visceral`` (VISCERAL Anatomy3: one binary uint8 mask per structure, named by RadLex ID, with an
annotator suffix that varies between cases and sometimes between structures; absent or empty structures
have no file)::

    OUT/Volumes/10000100_1_CTce_ThAb.nii.gz
    OUT/Segmentations/10000100_1_CTce_ThAb_58_5.nii.gz        (58 = liver, annotator 5)
    ...

``torso`` (one label map per case and one ``labels.json`` mapping label names, spelled as people write
them, e.g. ``"right lung"``, to values 1 right lung, 2 left lung, 3 liver, 4 gallbladder, 5 spleen,
6 right kidney, 7 left kidney, 8 pancreas)::

    OUT/images/torso_001.nii.gz     OUT/labels/torso_001.nii.gz     OUT/labels.json
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from torsoseg import organs
from torsoseg.fileio import atomic_write_json
from torsoseg.imageio import Volume, write_image
from torsoseg.phantom.case import PhantomCase, check_size, generate_case
from torsoseg.phantom.labels import check_kind

logger = logging.getLogger(__name__)

VISCERAL_PID_BASE = 10000100
_ANNOTATORS = ("1", "2", "4", "5", "7")

#: how the torso dataset's labels.json spells its organs
TORSO_NAMES: dict[str, str] = {
    "lung_right": "right lung",
    "lung_left": "left lung",
    "liver": "liver",
    "gallbladder": "gallbladder",
    "spleen": "spleen",
    "kidney_right": "right kidney",
    "kidney_left": "left kidney",
    "pancreas": "pancreas",
}


def _write_abdomen(case: PhantomCase, out: Path, index: int) -> Path:
    img = write_image(case.image, out / "img" / f"img{index + 1:04d}.nii.gz")
    write_image(case.label_map, out / "label" / f"label{index + 1:04d}.nii.gz")
    return img


def visceral_pid(seed: int) -> str:
    """The VISCERAL patient id of the case generated from ``seed``."""
    return str(VISCERAL_PID_BASE + int(seed))


def _write_visceral(case: PhantomCase, out: Path, index: int) -> Path:
    stem = f"{visceral_pid(case.seed)}_1_CTce_ThAb"
    img = write_image(case.image, out / "Volumes" / f"{stem}.nii.gz")
    rng = np.random.default_rng([case.seed, 977])
    annotator = str(rng.choice(_ANNOTATORS))
    for name, mask in case.masks().items():
        other = str(rng.choice(_ANNOTATORS))
        if not mask.any():
            continue
        who = other if rng.uniform() < 0.1 else annotator
        radlex = organs.organ(name).radlex
        vol = Volume(mask.astype(np.uint8), case.image.spacing, case.image.origin, case.image.direction)
        write_image(vol, out / "Segmentations" / f"{stem}_{radlex}_{who}.nii.gz")
    return img


def _write_torso(case: PhantomCase, out: Path, index: int) -> Path:
    name = f"torso_{index + 1:03d}"
    img = write_image(case.image, out / "images" / f"{name}.nii.gz")
    write_image(case.label_map, out / "labels" / f"{name}.nii.gz")
    return img


_WRITERS = {"abdomen": _write_abdomen, "visceral": _write_visceral, "torso": _write_torso}


def write_source(
    kind: str,
    n: int,
    out_dir: str | os.PathLike,
    seed: int = 0,
    size: str = "small",
    progress: bool = False,
) -> list[Path]:
    """Generates ``n`` cases of ``kind`` and writes them in the kind's source layout under ``out_dir``.

    Args:
        kind: ``"abdomen"``, ``"visceral"`` or ``"torso"`` (layouts in the module docstring).
        n: number of cases (>= 1).
        out_dir: output folder (created; existing files of the same names are replaced atomically).
        seed: seed of the first case; case ``i`` uses ``seed + i``.
        size: ``"tiny"``, ``"medium"``, ``"small"`` or ``"full"``.
        progress: show a progress bar.

    Returns:
        The image paths written, one per case.

    Raises:
        ValueError: unknown kind or size, ``n < 1`` or a negative seed.

    Example:
        >>> write_source("visceral", 2, "/tmp/visceral_src", seed=0, size="tiny")  # doctest: +SKIP
    """
    check_kind(kind)
    check_size(size)
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 1:
        raise ValueError(f"n (number of cases) must be an integer >= 1, got {n!r}")
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ValueError(f"{out}: exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)
    if kind == "torso":
        labels = {"background": 0}
        from torsoseg.phantom.labels import source_labels

        labels.update({TORSO_NAMES[k]: v for k, v in source_labels("torso").items() if k != "background"})
        atomic_write_json(out / "labels.json", labels)
    indices = range(n)
    if progress:
        from tqdm import tqdm

        indices = tqdm(indices, desc=f"phantom {kind}", unit="case")
    written = []
    for i in indices:
        case = generate_case(kind, int(seed) + i, size)
        written.append(_WRITERS[kind](case, out, i))
        logger.info("wrote %s case %d (seed %d) to %s", kind, i, int(seed) + i, written[-1])
    return written
