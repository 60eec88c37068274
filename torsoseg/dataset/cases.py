"""The cases of a raw dataset: listing them, and refusing images and labels that do not pair up."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from torsoseg.dataset.dataset_json import DatasetJson
from torsoseg.dataset.names import split_channel_file
from torsoseg.paths import check_name

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Problem:
    """One finding of :func:`unpaired_files` or :func:`~torsoseg.dataset.verify.verify_dataset`: the file it
    concerns and what is wrong."""

    path: str
    message: str
    warning: bool = False

    def __str__(self) -> str:
        return f"{self.path}: {'warning: ' if self.warning else ''}{self.message}"


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
        parsed = split_channel_file(f.name, ending)
        if f.name.startswith(".") or parsed is None or parsed[1] != 0:
            continue
        ident = parsed[0]
        images = tuple(img_dir / f"{ident}_{c:04d}{ending}" for c in range(n_ch))
        label = d / "labelsTr" / f"{ident}{ending}" if subset == "Tr" else None
        cases.append(Case(ident, images, label if label is not None and label.exists() else None))
    return cases


def candidate_files(folder: Path) -> list[Path]:
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
    d = Path(dataset_dir)
    img_dir, lab_dir = d / "imagesTr", d / "labelsTr"
    labels = {f.name[: -len(ending)]: f for f in candidate_files(lab_dir) if f.name.endswith(ending)}
    problems: list[Problem] = []
    idents: set[str] = set()
    suffixless: set[str] = set()
    for f in candidate_files(img_dir):
        m = split_channel_file(f.name, ending)
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
    cases = []
    for c in list_cases(d, "Tr", ds):
        try:
            check_name(c.identifier, "case id")
        except ValueError:
            continue
        if c.label is not None:
            cases.append(c)
    return cases


