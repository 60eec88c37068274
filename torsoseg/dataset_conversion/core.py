"""The shared conversion step: scan (per format) -> remap -> read, check, merge -> write atomically."""

from __future__ import annotations

import inspect
import logging
import os
import shutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from torsoseg import imageio
from torsoseg.dataset import dataset_dir_name, write_dataset_json
from torsoseg.dataset_conversion.checks import (
    align_to_image,
    check_binary,
    check_label_values,
    check_laterality,
)
from torsoseg.dataset_conversion.merge import merge_masks
from torsoseg.dataset_conversion.registry import Format, get_format
from torsoseg.dataset_conversion.remap import LabelPlan, build_label_plan
from torsoseg.dataset_conversion.sources import ConversionError, SourceCase, SourceScan, require_dir
from torsoseg.fileio import atomic_directory, remove_stale_temporaries

logger = logging.getLogger(__name__)


@dataclass
class CaseResult:
    """What converting one case found."""

    identifier: str
    subset: str
    annotated: list[str] = field(default_factory=list)
    contested: int = 0
    voxels: dict[str, int] = field(default_factory=dict)


def _read(path: Path) -> imageio.Volume:
    try:
        return imageio.read_image(path)
    except (ValueError, FileNotFoundError) as e:
        raise ConversionError(str(e)) from None


def _image_geometry(path: Path) -> imageio.Geometry:
    try:
        geo = imageio.read_geometry(path)
    except (ValueError, FileNotFoundError) as e:
        raise ConversionError(str(e)) from None
    if min(geo.shape) < 2:
        raise ConversionError(f"{path}: image is not 3D (shape {geo.shape})")
    return geo


def _stored_dimension(path: Path) -> int:
    import SimpleITK as sitk

    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    reader.ReadImageInformation()
    return int(reader.GetDimension())


def _copy_image(src: Path, dst: Path) -> None:
    """Copies the CT unchanged: the file itself when it is a 3D ``.nii.gz``, else re-written (same voxels
    and geometry; a 4D file with one volume becomes 3D)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        copy = src.is_file() and src.name.lower().endswith(".nii.gz") and _stored_dimension(src) == 3
    except RuntimeError:
        copy = False  # let the full read below report the problem with the file's name
    if copy:
        shutil.copyfile(src, dst)
    else:
        imageio.write_image(_read(src), dst)


def _label_dtype(n_labels: int) -> type:
    return np.uint8 if n_labels <= 256 else np.uint16


def convert_case(case: SourceCase, scan: SourceScan, plan: LabelPlan, out_dir: Path,
                 check_lr: bool = True) -> CaseResult:
    """Converts one case into ``out_dir`` (images{Tr,Ts}/CASE_0000.nii.gz, labels{Tr,Ts}/CASE.nii.gz).

    Raises:
        ConversionError: unreadable file, label not on the image grid, non-binary mask, undeclared label
            value, or a failed laterality check.
    """
    geo = _image_geometry(case.image)
    result = CaseResult(case.identifier, case.subset)
    label: np.ndarray | None = None
    dtype = _label_dtype(len(plan.labels))
    if case.label_map is not None:
        vol = _read(case.label_map)
        arr = align_to_image(vol, geo, case.label_map, case.image)
        declared = {s.value for s in scan.labels if s.value is not None}
        arr = check_label_values(arr, declared, case.label_map, scan.label_file)
        label = plan.lookup_table(scan.labels).astype(dtype)[arr]
    elif case.masks:
        per_output: dict[int, np.ndarray] = {}
        annotated: list[str] = []
        for source_name, path in case.masks:
            value = plan.value_of(source_name)
            if value == 0:  # dropped (--organs, --map X=background, unknown structure): not read
                continue
            mask = check_binary(align_to_image(_read(path), geo, path, case.image), path)
            target = plan.targets[source_name]
            if target not in annotated:
                annotated.append(target)
            if value in per_output:
                per_output[value] |= mask
            else:
                per_output[value] = mask.copy()
        label, result.contested = merge_masks(per_output, geo.shape)
        label = label.astype(dtype, copy=False)
        result.annotated = sorted(annotated, key=lambda n: plan.labels[n])
        if result.contested:
            logger.info("%s: %d voxels claimed by several structures (smallest structure wins)",
                        case.identifier, result.contested)
    elif case.subset == "Tr":
        raise ConversionError(f"{case.image}: training case {case.identifier} has no labels")
    img_dir = out_dir / f"images{case.subset}"
    _copy_image(case.image, img_dir / f"{case.identifier}_0000.nii.gz")
    if label is not None:
        if check_lr:
            check_laterality(label, geo, plan.labels, case.identifier)
        counts = np.bincount(label.ravel(), minlength=len(plan.labels))
        result.voxels = {n: int(counts[v]) for n, v in plan.labels.items() if v and counts[v]}
        imageio.write_image(imageio.Volume.from_geometry(label, geo),
                            out_dir / f"labels{case.subset}" / f"{case.identifier}.nii.gz")
    return result


def _check_identifiers(cases: Iterable[SourceCase]) -> None:
    seen: dict[str, SourceCase] = {}
    for c in cases:
        if c.identifier in seen:
            raise ConversionError(
                f"{c.image}: case name {c.identifier!r} is also used by {seen[c.identifier].image}"
            )
        if not c.identifier or "/" in c.identifier or c.identifier.startswith("."):
            raise ConversionError(f"{c.image}: unusable case name {c.identifier!r}")
        seen[c.identifier] = c


def _target_folder(raw_root: Path, dataset_id: int, name: str, overwrite: bool) -> Path:
    target = raw_root / dataset_dir_name(dataset_id, name)
    others = sorted(p.name for p in raw_root.glob(f"Dataset{int(dataset_id):03d}_*")
                    if p.is_dir() and p != target) if raw_root.is_dir() else []
    if others:
        raise ConversionError(f"{raw_root}: dataset id {dataset_id} is already used by {', '.join(others)}")
    if target.exists() and not overwrite:
        raise ConversionError(f"{target}: already exists (pass overwrite=True / --overwrite to replace it)")
    return target


def convert(
    format: str,
    source: str | os.PathLike,
    raw_root: str | os.PathLike,
    dataset_id: int,
    name: str | None = None,
    organs: str | Iterable[str] | None = None,
    mapping: Iterable[str] | Mapping[str, str] | None = None,
    progress: bool = False,
    *,
    overwrite: bool = False,
    check_laterality: bool = True,
    **format_options,
) -> Path:
    """Converts a source dataset into ``<raw_root>/DatasetXXX_Name/`` (nnU-Net v2 raw layout).

    Every source label is resolved to a canonical organ (see :mod:`.remap` for the rules and the
    output label order), per-structure masks are merged (smallest structure wins, see :mod:`.merge`),
    every case is checked (label grid, values, laterality in world coordinates) and the CT is copied
    unchanged. The result appears only when every case converted: it is written to a temporary folder
    that is renamed at the end, so a failure leaves nothing behind.

    Args:
        format: a registered format (``abdomen``, ``visceral``, ``torso``, ``btcv``, ...).
        source: the source tree as its users have it.
        raw_root: the raw data root (``$TORSOSEG_RAW``).
        dataset_id: 0..999.
        name: dataset name; default the source's own (MSD task, nnU-Net dataset) or the format's
            (``Abdomen``, ``VISCERAL``, ``Torso``, ...).
        organs: organs to keep, in output order; the rest becomes background.
        mapping: ``SRC=DST`` renames/merges (``{"aorta": "artery"}``); DST ``background`` drops.
        progress: show a progress bar over cases.
        overwrite: replace an existing folder of the same name.
        check_laterality: run the left/right self-check (on by default; turn off only knowingly).
        **format_options: options of the format (e.g. ``region="CTce_ThAb"`` for VISCERAL,
            ``labels="labels.json"`` for ``labelmap``).

    Returns:
        The dataset folder.

    Raises:
        ConversionError: with the file and the problem; every failing case is listed.

    Example:
        >>> convert("visceral", "/data/Anatomy3", "/data/raw", 2)  # doctest: +SKIP
        PosixPath('/data/raw/Dataset002_VISCERAL')
    """
    fmt = get_format(format)
    src = require_dir(source)
    scan = _scan(fmt, src, format_options)
    plan = build_label_plan(scan.labels, organs, mapping, scan.label_file, scan.drop_unknown)
    if len(plan.labels) < 2:
        raise ConversionError(f"{src}: no foreground label left after remapping")
    raw = Path(raw_root)
    name = _dataset_name(name, scan, fmt, dataset_id, src)
    target = _target_folder(raw, dataset_id, name, overwrite)
    stale = remove_stale_temporaries(target.parent, target.name + ".")  # of a killed earlier convert
    if stale:
        logger.info("%s: removed %d temporary folder(s) of an interrupted run", target.parent, stale)
    with atomic_directory(target, overwrite=overwrite) as tmp:
        results = _convert_cases(scan, plan, tmp, raw, check_laterality, progress, fmt.name)
        train = [r for r in results if r.subset == "Tr"]
        extra = _dataset_json_extra(fmt.name, src, plan, scan, results)
        write_dataset_json(tmp, plan.labels, len(train), name=name, **extra)
    logger.info("wrote %s (%d training cases, %d labels)", target, len(train), len(plan.labels) - 1)
    return target


def _scan(fmt: Format, src: Path, format_options: Mapping[str, Any]) -> SourceScan:
    """The format's scan of ``src`` with ``format_options`` (checked against the scan's parameters).

    Raises:
        ConversionError: an unknown option, no labelled case, a duplicate or unusable case name.
    """
    params = inspect.signature(fmt.scan).parameters
    unknown = sorted(set(format_options) - set(list(params)[1:]))
    if unknown:
        valid = ", ".join(list(params)[1:]) or "none"
        raise ConversionError(f"format {fmt.name!r}: unknown option(s) {unknown} (valid: {valid})")
    scan = fmt.scan(src, **format_options)
    for what, why in scan.skipped:
        logger.info("skipped %s: %s", what, why)
    if not any(c.subset == "Tr" for c in scan.cases):
        raise ConversionError(f"{src}: no labelled cases found for format {fmt.name!r} ({fmt.layout})")
    _check_identifiers(scan.cases)
    return scan


def _dataset_name(name: str | None, scan: SourceScan, fmt: Format, dataset_id: int, src: Path) -> str:
    """The dataset name: ``name``, else the source's own (checked: it is data, not a path), else the
    format's."""
    if not name and scan.suggested_name:  # read from the source (dataset.json's "name"): data, not a path
        try:
            dataset_dir_name(dataset_id, scan.suggested_name)
        except ValueError as e:
            where = scan.label_file or src
            raise ConversionError(f"{where}: the source's dataset name: {e}; choose one with --name") \
                from None
    return name or scan.suggested_name or fmt.default_name


def _convert_cases(
    scan: SourceScan, plan: LabelPlan, out_dir: Path, raw: Path, check_lr: bool, progress: bool, fmt_name: str
) -> list[CaseResult]:
    """Converts every case into ``out_dir``; a failing case is logged and the others go on.

    Raises:
        ConversionError: listing every failed case, after all cases were tried.
    """
    cases = list(scan.cases)
    iterator = cases
    if progress:
        from tqdm import tqdm

        iterator = tqdm(cases, desc=f"convert {fmt_name}", unit="case")
    results: list[CaseResult] = []
    failures: list[str] = []
    for case in iterator:
        try:
            results.append(convert_case(case, scan, plan, out_dir, check_lr))
        except ConversionError as e:
            logger.error("%s", e)
            failures.append(str(e))
    if failures:
        head = f"{len(failures)} of {len(cases)} case(s) failed; nothing was written to {raw}:\n  "
        raise ConversionError(head + "\n  ".join(failures))
    return results


def _dataset_json_extra(
    fmt_name: str, src: Path, plan: LabelPlan, scan: SourceScan, results: list[CaseResult]
) -> dict[str, Any]:
    """torsoseg's own keys of ``dataset.json``: the source, its labels, what each case holds."""
    train = [r for r in results if r.subset == "Tr"]
    extra: dict[str, Any] = {
        "source_format": fmt_name,
        "source": str(src.resolve()),
        "source_labels": plan.source_labels,
    }
    if plan.dropped:
        extra["dropped_source_labels"] = list(plan.dropped)
    if scan.per_structure:
        extra["annotated"] = {r.identifier: r.annotated for r in train}
        extra["contested_voxels"] = {r.identifier: r.contested for r in results}
    extra["voxel_counts"] = {r.identifier: r.voxels for r in results}
    return extra
