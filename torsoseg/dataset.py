"""The raw dataset format (nnU-Net v2 layout) and its verification.

Layout::

    $TORSOSEG_RAW/DatasetXXX_Name/
        dataset.json                  channel_names, labels (name -> consecutive int, background 0),
                                      numTraining, file_ending (+ torsoseg's own optional keys)
        imagesTr/CASE_0000.nii.gz     one file per channel (CT: channel 0000 only)
        labelsTr/CASE.nii.gz
        imagesTs/CASE_0000.nii.gz     optional

torsoseg's extra keys, ignored by nnU-Net: ``source_format``, ``source_labels`` (output name -> list of
source labels merged into it), ``annotated`` (case -> organs annotated in that case).
"""

from __future__ import annotations

import difflib
import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from torsoseg import organs
from torsoseg.fileio import atomic_write_json, read_json

_DATASET_DIR = re.compile(r"^Dataset(\d{3})_(.+)$")
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DatasetJson:
    """The typed content of ``dataset.json``.

    Attributes:
        name: dataset name (the part after ``DatasetXXX_``).
        labels: label name -> value, ``background`` = 0, values consecutive.
        channel_names: channel index (as str) -> modality, ``{"0": "CT"}`` for CT.
        num_training: number of training cases.
        file_ending: e.g. ``.nii.gz``.
        extra: every other key, kept verbatim on save.
    """

    name: str
    labels: dict[str, int]
    channel_names: dict[str, str] = field(default_factory=lambda: {"0": "CT"})
    num_training: int = 0
    file_ending: str = ".nii.gz"
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        problems = label_set_problems(self.labels)
        if problems:
            raise ValueError(f"dataset.json of {self.name!r}: " + "; ".join(problems))

    @property
    def foreground(self) -> dict[str, int]:
        """Labels without background, ordered by value."""
        return {k: v for k, v in sorted(self.labels.items(), key=lambda kv: kv[1]) if k != "background"}

    @property
    def num_classes(self) -> int:
        """Number of output channels (background included)."""
        return len(self.labels)

    @property
    def label_names(self) -> list[str]:
        """Names by value: ``label_names[v]`` is the name of value ``v``."""
        return [k for k, _ in sorted(self.labels.items(), key=lambda kv: kv[1])]

    def to_json(self) -> dict[str, Any]:
        d = {
            "name": self.name,
            "channel_names": dict(self.channel_names),
            "labels": dict(sorted(self.labels.items(), key=lambda kv: kv[1])),
            "numTraining": int(self.num_training),
            "file_ending": self.file_ending,
        }
        d.update(self.extra)
        return d

    @classmethod
    def from_json(cls, d: Mapping[str, Any], source: str = "dataset.json") -> DatasetJson:
        missing = [k for k in ("channel_names", "labels", "numTraining", "file_ending") if k not in d]
        if missing:
            raise ValueError(f"{source}: missing key(s) {', '.join(missing)}")
        labels = d["labels"]
        if not isinstance(labels, Mapping):
            raise ValueError(f"{source}: 'labels' must map names to integers")
        parsed: dict[str, int] = {}
        for k, v in labels.items():
            if isinstance(v, (list, tuple)):
                raise ValueError(
                    f"{source}: label {k!r} is a region ({v}); torsoseg supports plain label maps only"
                )
            try:
                parsed[str(k)] = int(v)
            except (TypeError, ValueError):
                raise ValueError(f"{source}: label {k!r} has non-integer value {v!r}") from None
        extra = {
            k: v
            for k, v in d.items()
            if k not in ("name", "channel_names", "labels", "numTraining", "file_ending")
        }
        try:
            return cls(
                name=str(d.get("name", "")),
                labels=parsed,
                channel_names={str(k): str(v) for k, v in d["channel_names"].items()},
                num_training=int(d["numTraining"]),
                file_ending=str(d["file_ending"]),
                extra=extra,
            )
        except ValueError as e:
            raise ValueError(f"{source}: {e}") from None

    @classmethod
    def load(cls, path: str | os.PathLike) -> DatasetJson:
        p = Path(path)
        if p.is_dir():
            p = p / "dataset.json"
        return cls.from_json(read_json(p), source=str(p))

    def save(self, path: str | os.PathLike) -> Path:
        p = Path(path)
        if p.is_dir():
            p = p / "dataset.json"
        return atomic_write_json(p, self.to_json())


def label_set_problems(labels: Mapping[str, int]) -> list[str]:
    """Everything wrong with a label map (empty list when fine)."""
    problems = []
    if labels.get("background") != 0:
        problems.append("labels must contain 'background': 0")
    values = sorted(labels.values())
    if len(set(values)) != len(values):
        dup = sorted({v for v in values if values.count(v) > 1})
        problems.append(f"label values {dup} are used twice")
    if values and values != list(range(len(values))):
        problems.append(f"label values must be consecutive 0..{len(values) - 1}, got {values}")
    return problems


def dataset_dir_name(dataset_id: int, name: str) -> str:
    """``(1, "Abdomen")`` -> ``Dataset001_Abdomen``."""
    if not 0 <= int(dataset_id) <= 999:
        raise ValueError(f"dataset id must be 0..999, got {dataset_id}")
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_\-]*", name):
        raise ValueError(f"dataset name {name!r} must be letters, digits, '_' or '-'")
    return f"Dataset{int(dataset_id):03d}_{name}"


_CHANNEL_FILE = re.compile(r"^(?P<case>.+)_(?P<channel>\d{4})$")


def split_channel_name(stem: str) -> tuple[str, int] | None:
    """The one parser of the channel-file naming rule: ``"CASE_0001"`` -> ``("CASE", 1)``.

    ``stem`` is a file name without its ending; ``None`` when it has no ``_XXXX`` channel suffix.
    """
    m = _CHANNEL_FILE.match(stem)
    return (m.group("case"), int(m.group("channel"))) if m else None


def _channel_file(name: str, ending: str) -> tuple[str, int] | None:
    """:func:`split_channel_name` of a file name ending in ``ending`` (``None`` for other names)."""
    return split_channel_name(name[: len(name) - len(ending)]) if name.endswith(ending) else None


def parse_dataset_id(value: int | str) -> int:
    """Accepts ``1``, ``"1"``, ``"001"`` or ``"Dataset001_Abdomen"``."""
    s = str(value)
    m = _DATASET_DIR.match(s)
    if m:
        return int(m.group(1))
    if s.isdigit():
        return int(s)
    raise ValueError(f"not a dataset id: {value!r} (use a number such as 1, or Dataset001_Name)")


def find_dataset(root: str | os.PathLike, dataset_id: int | str) -> Path:
    """The folder ``DatasetXXX_*`` of ``dataset_id`` under ``root``.

    Raises:
        FileNotFoundError: listing the datasets that exist under ``root``.
    """
    r = Path(root)
    did = parse_dataset_id(dataset_id)
    found = sorted(p for p in r.glob(f"Dataset{did:03d}_*") if p.is_dir()) if r.is_dir() else []
    if len(found) == 1:
        return found[0]
    if len(found) > 1:
        raise ValueError(f"{r}: several folders for dataset {did}: {', '.join(p.name for p in found)}")
    have = sorted(p.name for p in r.glob("Dataset*_*") if p.is_dir()) if r.is_dir() else []
    listing = ", ".join(have) if have else "none"
    raise FileNotFoundError(f"{r}: no folder Dataset{did:03d}_* (datasets there: {listing})")


@dataclass(frozen=True)
class Case:
    """One training case: its identifier, channel image files and label file."""

    identifier: str
    images: tuple[Path, ...]
    label: Path | None


def list_cases(
    dataset_dir: str | os.PathLike, subset: str = "Tr", ds: DatasetJson | None = None
) -> list[Case]:
    """Cases of ``imagesTr`` (``subset="Tr"``) or ``imagesTs`` (``"Ts"``), sorted by identifier.

    A case is identified from its ``_0000`` channel file; the label is ``labelsTr/CASE{file_ending}``
    (``None`` when absent, or always for ``Ts``).
    """
    d = Path(dataset_dir)
    ds = ds or DatasetJson.load(d)
    ending = ds.file_ending
    img_dir = d / f"images{subset}"
    if not img_dir.is_dir():
        return []
    n_ch = len(ds.channel_names)
    cases = []
    for f in sorted(img_dir.iterdir()):
        parsed = _channel_file(f.name, ending)
        if f.name.startswith(".") or parsed is None or parsed[1] != 0:
            continue
        ident = parsed[0]
        images = tuple(img_dir / f"{ident}_{c:04d}{ending}" for c in range(n_ch))
        label = d / "labelsTr" / f"{ident}{ending}" if subset == "Tr" else None
        cases.append(Case(ident, images, label if label is not None and label.exists() else None))
    return cases


def _candidate_files(folder: Path) -> list[Path]:
    """Files of ``folder`` that could be meant as data: not our temporaries, not macOS ``._`` files."""
    if not folder.is_dir():
        return []
    return sorted(
        f
        for f in folder.iterdir()
        if f.is_file() and not f.name.startswith("._") and not f.name.endswith(".tmp")
    )


def unpaired_files(dataset_dir: str | os.PathLike, ending: str, channels: list[str]) -> list[Problem]:
    """Every file of ``imagesTr``/``labelsTr`` that does not form a valid training case, with the reason.

    Reasons: a missing channel suffix (``CASE.nii.gz`` instead of ``CASE_0000.nii.gz``), a case id that is
    not a valid name (e.g. starts with ``.`` or holds ``..``), an image without its label, a label without
    its image, and other names that are no ``CASE_XXXX{ending}``.
    """
    from torsoseg.paths import check_name

    d = Path(dataset_dir)
    img_dir, lab_dir = d / "imagesTr", d / "labelsTr"
    labels = {f.name[: -len(ending)]: f for f in _candidate_files(lab_dir) if f.name.endswith(ending)}
    problems: list[Problem] = []
    idents: set[str] = set()
    suffixless: set[str] = set()
    for f in _candidate_files(img_dir):
        m = _channel_file(f.name, ending)
        if m is None:
            if f.name.endswith(ending):
                stem = f.name[: -len(ending)]
                suffixless.add(stem)
                problems.append(
                    Problem(str(f), f"missing channel suffix _0000 (expected {stem}_0000{ending})")
                )
            elif not f.name.startswith("."):
                problems.append(Problem(str(f), f"name does not follow CASE_XXXX{ending}"))
            continue
        try:
            check_name(m[0], "case id")
        except ValueError as e:
            problems.append(Problem(str(f), str(e)))
            continue
        idents.add(m[0])
    for ident in sorted(idents):
        if ident not in labels:
            problems.append(Problem(str(lab_dir / f"{ident}{ending}"), "label missing for image"))
    for ident in sorted(set(labels) - idents):
        if ident in suffixless:
            problems.append(
                Problem(str(labels[ident]), f"its image lacks the channel suffix: rename imagesTr/{ident}"
                        f"{ending} to imagesTr/{ident}_0000{ending}")
            )
        else:
            problems.append(Problem(str(labels[ident]), "label without image"))
    return problems


def training_cases(
    dataset_dir: str | os.PathLike, ds: DatasetJson | None = None, skip_bad_cases: bool = False
) -> list[Case]:
    """The training cases of a raw dataset, refusing a dataset whose images and labels do not pair up.

    Args:
        dataset_dir: the raw ``DatasetXXX_Name`` folder.
        ds: its dataset.json (read when None).
        skip_bad_cases: log every unpaired file as a warning and go on with the paired cases instead.

    Raises:
        ValueError: naming every unpaired file and why (unless ``skip_bad_cases``).
    """
    d = Path(dataset_dir)
    ds = ds or DatasetJson.load(d)
    problems = unpaired_files(d, ds.file_ending, list(ds.channel_names))
    if problems:
        listing = "; ".join(str(p) for p in problems)
        if not skip_bad_cases:
            raise ValueError(
                f"{d}: {len(problems)} file(s) of imagesTr/labelsTr do not pair up (nothing is dropped "
                f"silently; fix them or pass --skip-bad-cases): {listing}"
            )
        log.warning("%s: skipping %d unpaired file(s) (--skip-bad-cases): %s", d, len(problems), listing)
    from torsoseg.paths import check_name

    cases = []
    for c in list_cases(d, "Tr", ds):
        try:
            check_name(c.identifier, "case id")
        except ValueError:
            continue
        if c.label is not None:
            cases.append(c)
    return cases


# ---------------------------------------------------------------------------------------------------
# verification
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """One finding of :func:`verify_dataset`: the file it concerns and what is wrong."""

    path: str
    message: str
    warning: bool = False

    def __str__(self) -> str:
        return f"{self.path}: {'warning: ' if self.warning else ''}{self.message}"


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
    problems: list[Problem] = []
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
    for k in ("channel_names", "numTraining", "file_ending"):
        if k not in raw:
            problems.append(Problem(str(js), f"missing key {k!r}"))
    int_labels: dict[str, int] = {}
    for k, v in labels.items():
        if isinstance(v, bool) or not isinstance(v, int):
            problems.append(Problem(str(js), f"label {k!r} has non-integer value {v!r}"))
        else:
            int_labels[k] = v
    for msg in label_set_problems(int_labels):
        problems.append(Problem(str(js), msg))
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
    if any(p.path == str(js) and "missing key" in p.message for p in problems):
        return problems
    ending = str(raw["file_ending"])
    channels = [str(c) for c in raw["channel_names"]]
    declared = set(int_labels.values())

    img_dir, lab_dir = d / "imagesTr", d / "labelsTr"
    if not img_dir.is_dir():
        problems.append(Problem(str(img_dir), "folder missing"))
        return problems
    problems.extend(unpaired_files(d, ending, channels))
    idents: dict[str, list[Path]] = {}
    for f in _candidate_files(img_dir):
        m = _channel_file(f.name, ending)
        if m and not any(p.path == str(f) for p in problems):
            idents.setdefault(m[0], []).append(f)
    if not idents:
        problems.append(Problem(str(img_dir), "empty dataset: no training images"))
    if raw.get("numTraining") != len(idents):
        problems.append(
            Problem(
                str(js), f"numTraining is {raw.get('numTraining')} but imagesTr holds {len(idents)} cases"
            )
        )
    items = sorted(idents.items())
    if progress:
        from tqdm import tqdm

        items = tqdm(items, desc="verify", unit="case")
    for ident, files in items:
        lab = lab_dir / f"{ident}{ending}"
        try:
            problems.extend(
                _verify_case(ident, files, lab if lab.is_file() else None, channels, ending, declared,
                             check_voxels)
            )
        except Exception as e:  # one broken case must not hide the others' problems
            problems.append(Problem(str(files[0]), f"could not be checked ({type(e).__name__}: {e})"))
    return problems


SPACING_RANGE_MM = (0.1, 20.0)


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
    from torsoseg import imageio

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
    if not check_voxels:
        return problems
    for f in geos:
        try:
            arr = imageio.read_image(f).array
        except ValueError as e:
            problems.append(Problem(str(f), str(e).split(": ", 1)[-1]))
            continue
        if np.issubdtype(arr.dtype, np.floating) and not np.isfinite(arr).all():
            n = int((~np.isfinite(arr)).sum())
            problems.append(Problem(str(f), f"{n} NaN/inf intensities"))
    if lab is not None and lab_geo is not None:
        try:
            arr = imageio.read_image(lab).array
        except ValueError as e:
            problems.append(Problem(str(lab), str(e).split(": ", 1)[-1]))
            return problems
        if np.issubdtype(arr.dtype, np.floating):
            if not np.isfinite(arr).all() or not np.all(arr == np.round(arr)):
                problems.append(Problem(str(lab), "label map has non-integer values"))
                return problems
        values = set(np.unique(arr).astype(np.int64).tolist())
        undeclared = sorted(values - declared)
        if undeclared:
            problems.append(Problem(str(lab), f"label values {undeclared} are not declared in dataset.json"))
        if values <= {0}:
            problems.append(Problem(str(lab), "label map is all background (no organ labelled)",
                                    warning=True))
    return problems


def write_dataset_json(
    dataset_dir: str | os.PathLike,
    labels: Mapping[str, int],
    num_training: int,
    name: str | None = None,
    channel_names: Mapping[str, str] | None = None,
    file_ending: str = ".nii.gz",
    **extra: Any,
) -> DatasetJson:
    """Builds, validates and writes ``dataset.json`` in ``dataset_dir``."""
    d = Path(dataset_dir)
    if name is None:
        m = _DATASET_DIR.match(d.name)
        name = m.group(2) if m else d.name
    ds = DatasetJson(
        name=name,
        labels=dict(labels),
        channel_names=dict(channel_names or {"0": "CT"}),
        num_training=num_training,
        file_ending=file_ending,
        extra=dict(extra),
    )
    ds.save(d / "dataset.json")
    return ds
