"""Verification of a raw dataset: every problem of ``dataset.json``, the file pairing and each case."""

from __future__ import annotations

import difflib
import logging
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from torsoseg import imageio, organs
from torsoseg.dataset.cases import Problem, candidate_files, unpaired_files
from torsoseg.dataset.dataset_json import label_set_problems
from torsoseg.dataset.names import split_channel_file
from torsoseg.fileio import read_json

log = logging.getLogger(__name__)

#: Voxel spacings (mm) outside this range are reported as implausible (a warning: check the header).
SPACING_RANGE_MM = (0.1, 20.0)
_REQUIRED_KEYS = ("channel_names", "numTraining", "file_ending")


def verify_dataset(
    dataset_dir: str | os.PathLike, check_voxels: bool = True, progress: bool = False
) -> list[Problem]:
    """Checks a raw dataset and returns every problem found (empty list = clean).

    Checks: dataset.json present and valid (background 0, consecutive values, known organ names warn
    only through the name check), every image with its label and vice versa, ``numTraining``, channel
    files per case, 3D images only, image/label shape and geometry agreement, integer label values all
    declared in dataset.json, finite intensities.

    Args:
        dataset_dir: the ``DatasetXXX_Name`` folder.
        check_voxels: also read the voxels (labels, NaN/inf); headers only when False.
        progress: show a progress bar over cases.

    Example:
        >>> for p in verify_dataset("raw/Dataset001_Abdomen"):  # doctest: +SKIP
        ...     print(p)
    """

    d = Path(dataset_dir)
    if not d.is_dir():
        return [Problem(str(d), "dataset folder does not exist")]
    js = d / "dataset.json"
    try:
        raw = read_json(js)
    except (FileNotFoundError, ValueError) as e:
        return [Problem(str(js), str(e).split(": ", 1)[-1])]
    # label set checks without failing construction, so all problems are listed
    labels = raw.get("labels") if isinstance(raw, dict) else None
    if not isinstance(raw, dict) or not isinstance(labels, dict):
        return [Problem(str(js), "missing or invalid 'labels'")]
    problems, int_labels = _dataset_json_problems(js, raw, labels)
    if any(k not in raw for k in _REQUIRED_KEYS):
        return problems
    ending = str(raw["file_ending"])
    channels = [str(c) for c in raw["channel_names"]]
    img_dir = d / "imagesTr"
    if not img_dir.is_dir():
        problems.append(Problem(str(img_dir), "folder missing"))
        return problems
    problems.extend(unpaired_files(d, ending, channels))
    idents = _paired_image_files(img_dir, ending, problems)
    if not idents:
        problems.append(Problem(str(img_dir), "empty dataset: no training images"))
    if raw.get("numTraining") != len(idents):
        problems.append(
            Problem(
                str(js), f"numTraining is {raw.get('numTraining')} but imagesTr holds {len(idents)} cases"
            )
        )
    declared = set(int_labels.values())
    problems.extend(_cases_problems(d, idents, channels, ending, declared, check_voxels, progress))
    return problems


def _dataset_json_problems(
    js: Path, raw: Mapping[str, Any], labels: Mapping[Any, Any]
) -> tuple[list[Problem], dict[str, int]]:
    """The problems of ``dataset.json`` itself, and its labels that have integer values."""
    problems = [Problem(str(js), f"missing key {k!r}") for k in _REQUIRED_KEYS if k not in raw]
    int_labels: dict[str, int] = {}
    for k, v in labels.items():
        if isinstance(v, bool) or not isinstance(v, int):
            problems.append(Problem(str(js), f"label {k!r} has non-integer value {v!r}"))
        else:
            int_labels[k] = v
    for msg in label_set_problems(int_labels):
        problems.append(Problem(str(js), msg))
    problems.extend(_near_miss_problems(js, int_labels))
    return problems, int_labels


def _near_miss_problems(js: Path, int_labels: Mapping[str, int]) -> list[Problem]:
    """Custom labels (outside the organ vocabulary) that are near misses of an organ name: likely typos."""
    problems = []
    custom = [k for k in int_labels if k != "background" and not organs.is_known(k)]
    for k in custom:
        # a custom label (lesion, tumor) is fine; a near miss of an organ name is almost surely a typo
        keys = [organs.normalize_key(n) for n in organs.ORGANS]
        close = difflib.get_close_matches(organs.normalize_key(k), keys, n=1, cutoff=0.85)
        if close:
            twin = next(n for n in organs.ORGANS if organs.normalize_key(n) == close[0])
            problems.append(Problem(str(js), f"label {k!r} is not in the organ vocabulary but close to "
                                    f"{twin!r}: rename it (custom labels are matched by exact name only)"))
    if custom:
        log.info("%s: custom labels (outside the organ vocabulary, matched by exact name): %s", js,
                 ", ".join(custom))
    return problems


def _paired_image_files(img_dir: Path, ending: str, problems: list[Problem]) -> dict[str, list[Path]]:
    """Case id -> its channel files of ``imagesTr``, leaving out the files ``problems`` already names."""
    named = {p.path for p in problems}
    idents: dict[str, list[Path]] = {}
    for f in candidate_files(img_dir):
        m = split_channel_file(f.name, ending)
        if m and str(f) not in named:
            idents.setdefault(m[0], []).append(f)
    return idents


def _cases_problems(
    d: Path,
    idents: Mapping[str, list[Path]],
    channels: list[str],
    ending: str,
    declared: set[int],
    check_voxels: bool,
    progress: bool,
) -> list[Problem]:
    """The problems of every case, in case order; a case that cannot be checked is one problem."""
    items: Iterable[tuple[str, list[Path]]] = sorted(idents.items())
    if progress:
        from tqdm import tqdm

        items = tqdm(items, desc="verify", unit="case")
    problems: list[Problem] = []
    for ident, files in items:
        lab = d / "labelsTr" / f"{ident}{ending}"
        try:
            problems.extend(
                _verify_case(ident, files, lab if lab.is_file() else None, channels, ending, declared,
                             check_voxels)
            )
        except Exception as e:  # one broken case must not hide the others' problems
            problems.append(Problem(str(files[0]), f"could not be checked ({type(e).__name__}: {e})"))
    return problems


def _verify_case(
    ident: str,
    files: list[Path],
    lab: Path | None,
    channels: list[str],
    ending: str,
    declared: set[int],
    check_voxels: bool,
) -> list[Problem]:
    """The problems (and warnings) of one case; see :func:`verify_dataset`."""
    problems: list[Problem] = []
    img_dir = files[0].parent
    expected = {f"{ident}_{int(c):04d}{ending}" for c in channels}
    have = {f.name for f in files}
    for name in sorted(expected - have):
        problems.append(Problem(str(img_dir / name), "channel file missing"))
    for name in sorted(have - expected):
        problems.append(Problem(str(img_dir / name), "unexpected channel (not in channel_names)"))
    geos = {}
    for f in sorted(files):
        try:
            geos[f] = imageio.read_geometry(f)
        except ValueError as e:
            problems.append(Problem(str(f), str(e).split(": ", 1)[-1]))
    lab_geo = None
    if lab is not None:
        try:
            lab_geo = imageio.read_geometry(lab)
        except ValueError as e:
            problems.append(Problem(str(lab), str(e).split(": ", 1)[-1]))
    for f, g in geos.items():
        problems.extend(_geometry_problems(f, g, lab, lab_geo))
    if not check_voxels:
        return problems
    for f in geos:
        problems.extend(_intensity_problems(f))
    if lab is not None and lab_geo is not None:
        problems.extend(_label_problems(lab, declared))
    return problems


def _geometry_problems(
    f: Path, g: imageio.Geometry, lab: Path | None, lab_geo: imageio.Geometry | None
) -> list[Problem]:
    """A channel image's header: 3D, plausible spacing, and on the grid of the label (when it has one)."""
    problems = []
    if min(g.shape) < 2:
        problems.append(Problem(str(f), f"image is effectively 2D (shape {g.shape})"))
    lo, hi = SPACING_RANGE_MM
    if any(s < lo or s > hi for s in g.spacing):
        problems.append(Problem(str(f), f"implausible spacing {imageio.spacing_str(g.spacing)} mm "
                                f"(outside {lo}..{hi} mm): check the header", warning=True))
    if lab_geo is not None and not g.same_grid(lab_geo):
        problems.append(
            Problem(
                str(lab),
                f"geometry differs from {f.name}: label {lab_geo.describe()}; image {g.describe()}",
            )
        )
    return problems


def _intensity_problems(f: Path) -> list[Problem]:
    """A channel image's voxels: readable and finite."""
    try:
        arr = imageio.read_image(f).array
    except ValueError as e:
        return [Problem(str(f), str(e).split(": ", 1)[-1])]
    if np.issubdtype(arr.dtype, np.floating) and not np.isfinite(arr).all():
        n = int((~np.isfinite(arr)).sum())
        return [Problem(str(f), f"{n} NaN/inf intensities")]
    return []


def _label_problems(lab: Path, declared: set[int]) -> list[Problem]:
    """A label map's voxels: readable, integer, every value declared, not all background (a warning)."""
    try:
        arr = imageio.read_image(lab).array
    except ValueError as e:
        return [Problem(str(lab), str(e).split(": ", 1)[-1])]
    if np.issubdtype(arr.dtype, np.floating):
        if not np.isfinite(arr).all() or not np.all(arr == np.round(arr)):
            return [Problem(str(lab), "label map has non-integer values")]
    problems = []
    values = set(np.unique(arr).astype(np.int64).tolist())
    undeclared = sorted(values - declared)
    if undeclared:
        problems.append(Problem(str(lab), f"label values {undeclared} are not declared in dataset.json"))
    if values <= {0}:
        problems.append(Problem(str(lab), "label map is all background (no organ labelled)", warning=True))
    return problems
