"""Batch prediction: finding the cases of an input, running them, writing outputs atomically.

An input is a single image file, a DICOM series folder, or a folder of images (NIfTI, NRRD, MHA) and/or
DICOM series sub-folders. nnU-Net style channel suffixes are understood: ``case_0000.nii.gz`` (and
``case_0001.nii.gz`` ...) form the case ``case``; a file without such a suffix is a one-channel case named
after the file.

Outputs in ``OUT``: ``<case>.nii.gz`` (label map on the input's grid), ``labels.json`` (name -> value),
``labels_itksnap.txt`` and ``labels_slicer.ctbl`` (names and colours for ITK-SNAP and 3D Slicer), and
with :class:`~torsoseg.inference.outputs.PredictionOptions`: ``<case>.npz`` (``probabilities`` float16
``(K, X, Y, Z)`` in the input's axis order) with its geometry ``<case>_probabilities.json``,
``<case>.png`` (preview), ``<case>_statistics.json``, ``<case>/<organ>.nii.gz`` and ``<case>.dcm``
(DICOM-SEG). A failing case is reported with its reason and the others still run.

``prediction.json`` records the label set written, the postprocessing and the models (folders,
checkpoint, folds, mirror axes, step, precision; a merge's weights; a cascade's stages). ``--continue``
(``resume``) refuses a folder whose record differs (precision aside), so one folder never holds label
maps made two ways (e.g. some postprocessed and some not, or by two models).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from torsoseg import imageio
from torsoseg.dataset import split_channel_name
from torsoseg.fileio import atomic_write_json, read_json, remove_stale_temporaries
from torsoseg.inference import outputs
from torsoseg.inference.outputs import PredictionOptions

logger = logging.getLogger(__name__)

OUTPUT_SUFFIX = ".nii.gz"
RUN_RECORD = "prediction.json"


@dataclass(frozen=True)
class InputCase:
    """One case of the input: its name and one path per channel (a file or a DICOM folder)."""

    name: str
    channels: tuple[Path, ...]


@dataclass
class BatchReport:
    """What a batch run did: cases written, skipped (``--continue``) and failed (name -> reason)."""

    done: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failed


def _image_case(path: Path) -> tuple[str, int]:
    stem = imageio.strip_suffix(path.name)
    return split_channel_name(stem) or (stem, 0)


def find_cases(path: str | os.PathLike) -> list[InputCase]:
    """The cases of ``path`` (file, DICOM series folder or folder of images), sorted by name.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: ``path`` holds no image and no DICOM series (the message names it).
    """
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"{p}: input not found")
    if p.is_file():
        name, _ = _image_case(p)
        return [InputCase(name, (p,))]
    files = imageio.list_images(p)
    subdirs = sorted(d for d in p.iterdir() if d.is_dir() and not d.name.startswith("."))
    if not files and imageio.is_dicom_dir(p):
        return [InputCase(p.name, (p,))]
    groups: dict[str, dict[int, Path]] = {}
    for f in files:
        name, ch = _image_case(f)
        if ch in groups.setdefault(name, {}):
            raise ValueError(f"{f}: case {name!r} channel {ch} appears twice ({groups[name][ch].name})")
        groups[name][ch] = f
    for d in subdirs:
        if imageio.is_dicom_dir(d):
            if d.name in groups:
                raise ValueError(f"{d}: DICOM folder name clashes with image case {d.name!r}")
            groups[d.name] = {0: d}
    if not groups:
        raise ValueError(f"{p}: no images (.nii.gz, .nii, .nrrd, .mha, .mhd) and no DICOM series found")
    return [InputCase(n, tuple(ch[k] for k in sorted(ch))) for n, ch in sorted(groups.items())]


def split_parts(cases: Sequence[InputCase], num_parts: int, part_id: int) -> list[InputCase]:
    """Cases of part ``part_id`` (0-based) of ``num_parts``: every ``num_parts``-th case from ``part_id``."""
    if num_parts < 1:
        raise ValueError(f"num_parts must be >= 1, got {num_parts}")
    if not 0 <= part_id < num_parts:
        raise ValueError(f"part_id must be in 0..{num_parts - 1}, got {part_id}")
    return list(cases[part_id::num_parts])


def read_case(case: InputCase, num_channels: int, dicom_series: str | None = None) -> imageio.Volume:
    """Reads a case's single CT channel, with clear errors for a wrong channel count, 2D or 4D input."""
    if len(case.channels) != num_channels:
        names = ", ".join(c.name for c in case.channels)
        raise ValueError(
            f"case {case.name!r}: the model expects {num_channels} channel(s), "
            f"got {len(case.channels)} ({names})"
        )
    if num_channels != 1:
        raise ValueError(f"case {case.name!r}: models with {num_channels} input channels are not supported")
    return imageio.read_image(case.channels[0], series=dicom_series)


def output_path(out_dir: str | os.PathLike, case: InputCase) -> Path:
    return Path(out_dir) / f"{case.name}{OUTPUT_SUFFIX}"


def _write_extras(case: InputCase, volume: imageio.Volume, label_map: imageio.Volume,
                  labels: dict[str, int], out: Path, opts: PredictionOptions, preview: bool,
                  dicom_series: str | None) -> None:
    """One case's optional outputs besides probabilities: preview, statistics, split organs, DICOM-SEG."""
    if preview:
        from torsoseg.inference.preview import save_preview

        save_preview(volume, label_map, labels, out / f"{case.name}.png", title=case.name)
    if opts.statistics:
        atomic_write_json(out / f"{case.name}_statistics.json",
                          outputs.organ_statistics(volume, label_map, labels))
    if opts.split_organs:
        outputs.write_split_organs(label_map, labels, out / case.name)
    if opts.output_type == "dicom-seg":
        from torsoseg.inference.dicom_seg import write_dicom_seg

        write_dicom_seg(case.channels[0], label_map, labels, out / f"{case.name}.dcm", series=dicom_series)


def run_record(predictor: Any, labels: dict[str, int]) -> dict[str, Any]:
    """``OUT/prediction.json``: the label set a batch run writes, the organs that keep only their largest
    component, and how the label maps are made (``models``: the predictor's ``record()``: model folders,
    checkpoint, folds, mirror axes, step, precision; a merge's weights; a cascade's stages and margin)."""
    pp = getattr(predictor, "postprocessing", None)
    record = getattr(predictor, "record", None)
    return {
        "format_version": 1,
        "labels": {str(k): int(v) for k, v in labels.items()},
        "keep_largest_component": sorted(pp.keep_largest) if pp is not None else [],
        "models": record() if callable(record) else None,
    }


def _comparable(models: Any) -> Any:
    """What ``--continue`` compares of a models record: no ``precision`` (bfloat16 and float32 agree on
    over 99 % of the voxels, so a folder may be continued on a machine of the other kind), and of each
    model folder only ``<dataset>/<trainer>__<plans>__<configuration>`` (the parts of one run, on nodes
    that mount the results elsewhere, name one model by different paths)."""
    if isinstance(models, dict):
        return {k: (str(Path(*Path(v).parts[-2:])) if k == "model" and isinstance(v, str) else _comparable(v))
                for k, v in models.items() if k != "precision"}
    if isinstance(models, list):
        return [_comparable(v) for v in models]
    return models


def check_resume(out: Path, record: dict[str, Any]) -> None:
    """Refuses ``--continue`` into ``out`` when its finished label maps were made another way.

    Raises:
        ValueError: ``out/prediction.json`` records another label set, postprocessing or models (naming
            both).
    """
    # every label map in the folder, not only this run's cases: parts (--num-parts) share one folder
    finished = len(list(out.glob(f"*{OUTPUT_SUFFIX}")))
    if not finished:  # nothing to mix with: the run writes its own record
        return
    path = out / RUN_RECORD
    if not path.is_file():
        logger.warning(
            "%s: %d finished case(s) but no %s (written by an earlier torsoseg): they are kept as they are "
            "and cannot be checked against this run's labels and postprocessing", out, finished,
            RUN_RECORD,
        )
        return
    try:
        old = read_json(path)
    except (OSError, ValueError) as e:
        raise ValueError(f"{path}: unreadable ({e}); delete it, or predict into a new folder") from e
    if not isinstance(old, dict):
        raise ValueError(f"{path}: unreadable (not a JSON object); delete it, or predict into a new folder")
    diffs = [
        f"{key} {old.get(key)!r} there, {record[key]!r} now"
        for key in ("labels", "keep_largest_component")
        if old.get(key) != record[key]
    ]
    # records written before the models were recorded (or by a predictor without a record) are not compared
    if old.get("models") is not None and record.get("models") is not None:
        if _comparable(old["models"]) != _comparable(record["models"]):
            diffs.append(f"models {old['models']!r} there, {record['models']!r} now")
    if diffs:
        raise ValueError(
            f"{path}: --continue would mix label maps made two ways ({'; '.join(diffs)}). Predict into a new "
            "folder, or run without --continue to redo every case"
        )


def _prepare_folder(out: Path, record: dict[str, Any], resume: bool) -> None:
    """Creates ``out``, removes an interrupted run's temporaries, checks ``--continue`` against the
    folder's record, then writes the run's record, ``labels.json`` and the colour tables."""
    out.mkdir(parents=True, exist_ok=True)
    if remove_stale_temporaries(out):
        logger.info("%s: removed temporary files of an interrupted run", out)
    if resume:
        check_resume(out, record)
    atomic_write_json(out / RUN_RECORD, record)
    atomic_write_json(out / "labels.json", record["labels"])
    outputs.write_colour_tables(record["labels"], out)


def predict_cases(
    predictor: Any,
    cases: Sequence[InputCase],
    out_dir: str | os.PathLike,
    save_probabilities: bool = False,
    preview: bool = False,
    resume: bool = False,
    progress: bool = False,
    options: PredictionOptions | None = None,
    dicom_series: str | None = None,
) -> BatchReport:
    """Predicts every case and writes its outputs; a failing case is recorded and the rest go on.

    Args:
        predictor: a :class:`~torsoseg.inference.predictor.Predictor` or a
            :class:`~torsoseg.inference.ensemble.MultiModelPredictor` (several models merged by organ name).
        cases: from :func:`find_cases` (possibly split with :func:`split_parts`).
        out_dir: output folder (created); ``labels.json`` and the colour tables are written there first.
        save_probabilities: also write ``<case>.npz`` with float16 probabilities (and its geometry).
        preview: also write ``<case>.png`` (see :mod:`torsoseg.inference.preview`).
        resume: skip cases whose label map already exists in ``out_dir`` (refused when the folder's
            ``prediction.json`` records another label set, postprocessing or models, see
            :func:`check_resume`).
        progress: tqdm bar over cases.
        options: every optional output at once (its flags are or-ed with the two above).
        dicom_series: series instance UID to read from DICOM folders holding several series (also the
            series a DICOM-SEG references).

    Returns:
        A :class:`BatchReport`.
    """
    opts = options or PredictionOptions()
    cascade_subset = getattr(predictor, "roi_subset", None)  # a cascade made for some organs writes only them
    if opts.roi_subset is None and cascade_subset is not None:
        opts = replace(opts, roi_subset=tuple(n for n in cascade_subset if n != "background"))
    want_probs = save_probabilities or opts.save_probabilities
    want_preview = preview or opts.preview
    labels = dict(predictor.labels)
    if opts.roi_subset is not None:
        labels = outputs.subset_labels(labels, opts.roi_subset)
    opts.validate(labels)
    out = Path(out_dir)
    _prepare_folder(out, run_record(predictor, labels), resume)
    report = BatchReport()
    iterator: Any = cases
    if progress:
        from tqdm import tqdm

        iterator = tqdm(cases, desc="cases", unit="case")
    for case in iterator:
        target = output_path(out, case)
        if resume and target.is_file():
            report.skipped.append(case.name)
            continue
        if progress:
            iterator.set_postfix_str(case.name)
        try:
            volume = read_case(case, predictor.num_input_channels, dicom_series)
            result = predictor.predict_case(volume, probabilities=want_probs)
            label_map = result.label_map
            if opts.roi_subset is not None:
                label_map = outputs.restrict_to(label_map, labels)
            if result.probabilities is not None:
                outputs.write_probabilities(result.probabilities, volume.geometry, predictor.labels,
                                            out / f"{case.name}.npz")
            _write_extras(case, volume, label_map, labels, out, opts, want_preview, dicom_series)
            # the label map last: its presence marks the case finished for --continue
            imageio.write_image(label_map, target)
        except MemoryError:
            report.failed[case.name] = "out of memory"
            logger.error("case %s failed: out of memory", case.name)
        except (OSError, ValueError, RuntimeError) as e:
            report.failed[case.name] = str(e)
            logger.error("case %s failed: %s", case.name, e)
        else:
            report.done.append(case.name)
            report.seconds[case.name] = result.seconds
    return report
