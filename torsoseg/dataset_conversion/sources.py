"""What a format module hands to the shared conversion step, and the file-finding helpers they share.

A format module only *scans* its source tree: it returns a :class:`SourceScan` that lists the cases
(image file plus either one multi-label map or one binary mask per structure) and the source's label
table in the source's own order. Reading, remapping, merging, checking and writing happen once, in
:mod:`torsoseg.dataset_conversion.core`, for every format alike.
"""

from __future__ import annotations

import csv
import io
import logging
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from torsoseg import imageio
from torsoseg.fileio import read_json

logger = logging.getLogger(__name__)


class ConversionError(ValueError):
    """A source tree that cannot be converted; the message names the file and the problem."""


@dataclass(frozen=True)
class SourceLabel:
    """One foreground label of the source, as the source names it.

    Attributes:
        name: the source's own spelling (``"arota"``, ``"1302"``, ``"lung_upper_lobe_left"``).
        value: its value in the source's label maps (``None`` for per-structure masks).
        organ: the organ it stands for when the format knows better than the name (a RadLex ID, a
            tumour label merged into its host); ``None`` = resolve ``name`` through the vocabulary.
    """

    name: str
    value: int | None = None
    organ: str | None = None

    def describe(self) -> dict:
        """JSON record of this source label (for ``source_labels`` in dataset.json)."""
        d: dict = {"name": self.name}
        if self.value is not None:
            d["value"] = int(self.value)
        return d


@dataclass(frozen=True)
class SourceCase:
    """One case of the source tree.

    Attributes:
        identifier: the case name used in the raw dataset (``CASE_0000.nii.gz``).
        image: the CT image file (or DICOM folder).
        label_map: a multi-label map whose values are the :class:`SourceLabel` values, or ``None``.
        masks: ``(source label name, file)`` per annotated structure, for per-structure sources.
        subset: ``"Tr"`` (training, labelled) or ``"Ts"`` (test; written to imagesTs/labelsTs).
    """

    identifier: str
    image: Path
    label_map: Path | None = None
    masks: tuple[tuple[str, Path], ...] = ()
    subset: str = "Tr"


@dataclass(frozen=True)
class SourceScan:
    """The result of a format module's scan of a source tree.

    Attributes:
        cases: every case found, in a deterministic order.
        labels: the foreground source labels in the source's own order.
        label_file: the file that declares the labels (named in errors), if there is one.
        drop_unknown: source labels unknown to the vocabulary are dropped (listed in a warning) instead
            of being kept as custom labels of their exact name.
        skipped: ``(what, why)`` for everything the scan left out on purpose (MRI cases, junk files).
        suggested_name: a dataset name taken from the source (an MSD task, an nnU-Net dataset).
    """

    cases: tuple[SourceCase, ...]
    labels: tuple[SourceLabel, ...]
    label_file: Path | None = None
    drop_unknown: bool = False
    skipped: tuple[tuple[str, str], ...] = ()
    suggested_name: str | None = None

    @property
    def per_structure(self) -> bool:
        """True when the cases come as one binary mask per structure."""
        return any(c.masks for c in self.cases)


# ---------------------------------------------------------------------------------------------------
# helpers for format modules
# ---------------------------------------------------------------------------------------------------


def require_dir(path: str | os.PathLike, what: str = "source folder") -> Path:
    """``path`` as a :class:`Path`; an error naming it when it is not an existing folder."""
    p = Path(path)
    if not p.exists():
        raise ConversionError(f"{p}: {what} does not exist")
    if not p.is_dir():
        raise ConversionError(f"{p}: {what} is not a folder")
    return p


def index_images(folder: str | os.PathLike) -> dict[str, Path]:
    """Image files of ``folder`` by name without suffix.

    Hidden files and macOS AppleDouble ``._*`` files are ignored. When the same name exists as
    ``.nii`` and ``.nii.gz`` (a partly decompressed copy), the ``.nii.gz`` file is used and the other
    logged.
    """
    out: dict[str, Path] = {}
    p = Path(folder)
    if not p.is_dir():
        return out
    for f in imageio.list_images(p):
        stem = imageio.strip_suffix(f.name)
        if stem in out:
            keep, drop = (f, out[stem]) if f.name.lower().endswith(".nii.gz") else (out[stem], f)
            logger.info("%s: using %s, ignoring the duplicate %s", p, keep.name, drop.name)
            out[stem] = keep
        else:
            out[stem] = f
    return out


def find_subdir(root: Path, names: Iterable[str]) -> Path | None:
    """The first existing sub-folder of ``root`` among ``names`` (case-insensitive), else ``None``."""
    if not root.is_dir():
        return None
    children = {c.name.lower(): c for c in root.iterdir() if c.is_dir()}
    for n in names:
        if n.lower() in children:
            return children[n.lower()]
    return None


def resolve_listed(root: Path, relative: str, what: str, listed_in: Path) -> Path:
    """A file named in a JSON list (``"./imagesTr/x.nii.gz"``), as a path under ``root``.

    Accepts the ``.nii`` twin when only that exists. Raises an error naming the list when missing.
    """
    p = root / relative
    if p.exists():
        return p
    stem = imageio.strip_suffix(p.name)
    for suffix in imageio.IMAGE_SUFFIXES:
        alt = p.with_name(stem + suffix)
        if alt.exists():
            return alt
    raise ConversionError(f"{listed_in}: {what} {relative!r} does not exist ({p})")


_LABEL_WORDS = ("label", "labels", "seg", "segmentation", "mask", "gt")


def _is_label_name(stem: str) -> bool:
    parts = re.split(r"[_\-.\s]+", stem.lower())
    return any(p in _LABEL_WORDS for p in parts)


def find_image_label_pairs(root: Path) -> list[tuple[str, Path, Path]]:
    """Pairs ``(identifier, image, label map)`` in the common layouts of "an image and a label map per
    case".

    Layouts tried, in this order:

    1. an image folder (``images``, ``imagesTr``, ``img``, ``volumes``, ``ct``) beside a label folder
       (``labels``, ``labelsTr``, ``label``, ``segmentations``, ``masks``, ``gt``), matched by name; an
       image may carry the nnU-Net channel suffix ``_0000``; when no name matches, a leading
       ``img``/``label`` word is ignored (BTCV style ``img0001`` <-> ``label0001``);
    2. one sub-folder per case holding one image and one label file (``label``/``seg``/``mask``/``gt``
       in its name);
    3. one flat folder with ``CASE.nii.gz`` beside ``CASE_label.nii.gz`` (or ``_seg``, ``_mask``, ``_gt``).

    Raises:
        ConversionError: an image without a label map or the other way round (naming the file).
    """
    img_dir = find_subdir(root, ("images", "imagesTr", "image", "img", "imgs", "volumes", "ct"))
    lab_dir = find_subdir(root, ("labels", "labelsTr", "label", "labelmaps", "segmentations", "segs",
                                 "masks", "gt"))
    if img_dir is not None and lab_dir is not None:
        images = {re.sub(r"_0000$", "", s): f for s, f in index_images(img_dir).items()}
        labels = index_images(lab_dir)
        if images and labels and not set(images) & set(labels):
            # BTCV style: img0001 <-> label0001
            images = _strip_prefix(images, r"(img|image|ct|volume|vol)[_\-]?")
            labels = _strip_prefix(labels, r"(label|labels|seg|segmentation|mask|gt)[_\-]?")
        return _match(images, labels, img_dir, lab_dir)
    subdirs = sorted(c for c in root.iterdir() if c.is_dir() and not c.name.startswith("."))
    pairs: list[tuple[str, Path, Path]] = []
    for d in subdirs:
        files = index_images(d)
        imgs = [f for s, f in files.items() if not _is_label_name(s)]
        labs = [f for s, f in files.items() if _is_label_name(s)]
        if not files:
            continue
        if len(imgs) != 1 or len(labs) != 1:
            raise ConversionError(
                f"{d}: expected one image and one label file (name with 'label', 'seg' or 'mask'), found "
                f"images {[f.name for f in imgs]} and labels {[f.name for f in labs]}"
            )
        pairs.append((d.name, imgs[0], labs[0]))
    if pairs:
        return pairs
    files = index_images(root)
    images, labels = {}, {}
    for s, f in files.items():
        m = re.fullmatch(r"(.+?)[_\-](label|labels|seg|segmentation|mask|gt)", s, flags=re.IGNORECASE)
        if m:
            labels[m.group(1)] = f
        else:
            images[re.sub(r"_0000$", "", s)] = f
    return _match(images, labels, root, root)


def _strip_prefix(files: Mapping[str, Path], prefix: str) -> dict[str, Path]:
    out = {}
    for stem, f in files.items():
        key = re.sub(rf"^{prefix}", "", stem, flags=re.IGNORECASE) or stem
        out[key] = f
    return out


def _match(images: Mapping[str, Path], labels: Mapping[str, Path], img_dir: Path, lab_dir: Path
           ) -> list[tuple[str, Path, Path]]:
    missing = sorted(set(images) - set(labels))
    if missing:
        raise ConversionError(f"{images[missing[0]]}: no label map for this image in {lab_dir} "
                              f"({len(missing)} image(s) without label)")
    orphans = sorted(set(labels) - set(images))
    if orphans:
        raise ConversionError(f"{labels[orphans[0]]}: label map without image in {img_dir}")
    return [(k, images[k], labels[k]) for k in sorted(images)]


def read_label_table(path: str | os.PathLike) -> list[SourceLabel]:
    """Reads a user label JSON into source labels ordered by value.

    Accepted shapes: ``{"1": "liver", ...}`` (value -> name), ``{"liver": 1, ...}`` (name -> value),
    either optionally under a top-level ``"labels"`` key (so a dataset.json works too). Background
    (value 0) is left out.
    """
    p = Path(path)
    try:
        raw = read_json(p)
    except FileNotFoundError:
        raise ConversionError(f"{p}: label table does not exist") from None
    except ValueError as e:
        raise ConversionError(str(e)) from None
    if isinstance(raw, dict) and isinstance(raw.get("labels"), dict):
        raw = raw["labels"]
    if not isinstance(raw, dict) or not raw:
        raise ConversionError(f"{p}: expected a JSON object naming each label value, e.g. {{'1': 'liver'}}")
    table: dict[int, str] = {}
    for k, v in raw.items():
        key, val = str(k).strip(), v
        if key.lstrip("-").isdigit() and isinstance(val, str):
            value, name = int(key), val
        elif isinstance(val, int) and not isinstance(val, bool):
            value, name = int(val), key
        elif isinstance(val, str) and val.strip().isdigit():
            value, name = int(val), key
        else:
            raise ConversionError(f"{p}: cannot read label entry {k!r}: {v!r} (use \"value\": \"name\")")
        if value < 0:
            raise ConversionError(f"{p}: label {name!r} has negative value {value}")
        if value in table:
            raise ConversionError(f"{p}: value {value} is named twice ({table[value]!r} and {name!r})")
        table[value] = name
    return [SourceLabel(name, value) for value, name in sorted(table.items()) if value != 0]


def builtin_labels(table: Mapping[int, str]) -> list[SourceLabel]:
    """Source labels from a built-in ``value -> name`` table (background left out)."""
    return [SourceLabel(name, int(value)) for value, name in sorted(table.items()) if int(value) != 0]


def read_csv_rows(path: str | os.PathLike) -> list[dict[str, str]]:
    """Reads a CSV whose delimiter may be ``;`` or ``,`` and that may start with a UTF-8 byte-order mark.

    Header names are stripped; so are values.
    """
    p = Path(path)
    text = p.read_text(encoding="utf-8-sig")
    first = text.splitlines()[0] if text else ""
    delimiter = ";" if first.count(";") >= first.count(",") and ";" in first else ","
    reader = csv.DictReader(io.StringIO(text), delimiter=delimiter)
    rows = []
    for row in reader:
        rows.append({(k or "").strip().lstrip("\ufeff"): (v or "").strip() for k, v in row.items()})
    return rows


LABEL_TABLE_NAMES = ("labels.json", "dataset.json")


def scan_pairs(
    source: str | os.PathLike,
    default_table: Mapping[int, str] | None,
    labels: str | os.PathLike | None = None,
    prefix: str = "case",
) -> SourceScan:
    """Scan of a tree holding an image and a multi-label map per case (see :func:`find_image_label_pairs`).

    The label table is, in this order: the ``labels`` JSON given by the user, a ``labels.json`` (or
    ``dataset.json``) at the top of ``source``, the format's built-in ``default_table``. Purely numeric
    case names (``0001``) become ``{prefix}_0001``.
    """
    root = require_dir(source)
    label_file: Path | None = None
    if labels is not None:
        label_file = Path(labels)
        table = read_label_table(label_file)
    else:
        found = [root / n for n in LABEL_TABLE_NAMES if (root / n).is_file()]
        if found:
            label_file = found[0]
            table = read_label_table(label_file)
        elif default_table is not None:
            table = builtin_labels(default_table)
        else:
            raise ConversionError(
                f"{root}: no label table; put a labels.json ({{'1': 'liver', ...}}) there or pass --labels"
            )
    pairs = find_image_label_pairs(root)
    cases = tuple(
        SourceCase(f"{prefix}_{ident}" if ident.isdigit() else ident, img, label_map=lab)
        for ident, img, lab in pairs
    )
    return SourceScan(cases, tuple(table), label_file)
