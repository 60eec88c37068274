"""Evaluating a folder of predicted label maps against reference label maps, organ by organ.

The reference is either a raw dataset folder (``dataset.json`` + ``labelsTr/``) or a folder of label maps
with a label JSON (``labels.json`` inside, or given explicitly). The prediction is a folder of label maps
written by ``torsoseg_predict``, with its ``labels.json`` (name -> value). Cases pair by file name
(``CASE.nii.gz`` in both). Organs pair by name through :func:`~torsoseg.evaluation.matching.match_labels`.

Reference and prediction of a case are compared in physical space: a reference stored on another grid of
the same voxels (axes flipped or permuted, e.g. y stored anterior-to-posterior with another origin, as
TotalSegmentator writes its output) is reoriented onto the prediction's grid exactly, without
interpolation. Grids that truly differ (spacing, extent, an oblique rotation) are refused: evaluation
never interpolates, because that would change the numbers it reports. Predictions of ``torsoseg_predict``
are exported on the grid of their input image.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from scipy import ndimage

from torsoseg import imageio
from torsoseg.evaluation.inputs import prediction_inputs, reference_inputs
from torsoseg.evaluation.matching import LabelMatching, OrganMatch, match_labels
from torsoseg.evaluation.metrics import OrganScore, image_diagonal_mm, organ_metrics
from torsoseg.evaluation.results import CaseResult, EvaluationResult
from torsoseg.preprocessing.workers import run_jobs

logger = logging.getLogger(__name__)

DEFAULT_TOLERANCE_MM = 2.0

# ---------------------------------------------------------------------------------------------------
# one case
# ---------------------------------------------------------------------------------------------------


def _boxes(label_map: np.ndarray) -> list[tuple[slice, ...] | None]:
    """``ndimage.find_objects`` for non-negative integer label maps (index v-1 = value v)."""
    arr = label_map
    if arr.dtype.kind not in "iu":
        raise ValueError(f"label map has dtype {arr.dtype}; expected integers")
    if arr.size and arr.min() < 0:
        raise ValueError(f"label map has negative values (min {arr.min()})")
    return ndimage.find_objects(arr)


def _union_box(boxes: list, values: Sequence[int], shape: tuple[int, ...]) -> list[list[int]] | None:
    lo = [None] * 3
    hi = [None] * 3
    for v in values:
        if v < 1 or v > len(boxes) or boxes[v - 1] is None:
            continue
        for a, s in enumerate(boxes[v - 1]):
            lo[a] = s.start if lo[a] is None else min(lo[a], s.start)
            hi[a] = s.stop if hi[a] is None else max(hi[a], s.stop)
    if lo[0] is None:
        return None
    return [[lo[a], hi[a]] for a in range(3)]


def _read_labels(path: Path, what: str) -> imageio.Volume:
    vol = imageio.read_image(path)
    arr = imageio.integer_labels(vol.array, f"{path}: {what}")
    if arr.size and arr.min() < 0:
        raise ValueError(f"{path}: {what} label map has negative values (min {int(arr.min())})")
    return vol.with_array(arr)


def on_grid(reference: imageio.Volume, grid: imageio.Geometry, ref_path: Path, pred_path: Path
            ) -> np.ndarray:
    """The reference's array indexed like ``grid`` (the prediction's), when both hold the same voxels.

    The same grid returns the array as it is. Otherwise both are reoriented to the canonical orientation;
    when the grids then coincide (the storage differed only by flips and axis permutations), the
    reference is restored into the prediction's orientation: an exact reindexing, no interpolation.

    Raises:
        ValueError: the grids describe different voxels, naming both files and both geometries.
    """
    if reference.geometry.same_grid(grid):
        return reference.array
    canon_ref, _ = imageio.reorient_to_canonical(reference)
    dummy = imageio.Volume.from_geometry(np.zeros(grid.shape, dtype=np.uint8), grid)
    canon_grid, reo = imageio.reorient_to_canonical(dummy)
    if canon_ref.geometry.same_grid(canon_grid.geometry):
        logger.info("%s: stored in another orientation than %s; reoriented onto the prediction grid",
                    ref_path, pred_path)
        return imageio.restore_orientation(canon_ref.array, reo).array
    raise ValueError(
        f"{pred_path} and {ref_path} describe different voxels (prediction {grid.describe()}; "
        f"reference {reference.geometry.describe()}): not the same physical grid even after reorienting; "
        "evaluation does not interpolate: predict on the reference's image (torsoseg_predict exports on "
        "the input image's grid)"
    )


def evaluate_case(
    reference_file: str | os.PathLike,
    prediction_file: str | os.PathLike,
    matching: LabelMatching,
    tolerance_mm: float = DEFAULT_TOLERANCE_MM,
    annotated: Sequence[str] | None = None,
    case: str | None = None,
) -> CaseResult:
    """Scores every matched organ of one case.

    Args:
        reference_file: reference label map.
        prediction_file: predicted label map on the same grid.
        matching: from :func:`match_labels` (which label values form each organ on each side).
        tolerance_mm: surface Dice tolerance.
        annotated: canonical organs annotated in this reference case (partial annotation, as in
            ``dataset.json``'s ``annotated``); other organs get status ``not_annotated``. None = all.
        case: identifier (default: the reference file name without suffix).

    Returns:
        A :class:`CaseResult`.

    Raises:
        FileNotFoundError: a missing file.
        ValueError: different grids (naming both files and both geometries), non-integer label maps.
    """
    ref_path, pred_path = Path(reference_file), Path(prediction_file)
    pred_geo = imageio.read_geometry(pred_path)
    ref_vol = _read_labels(ref_path, "reference")
    ref = on_grid(ref_vol, pred_geo, ref_path, pred_path)
    pred = _read_labels(pred_path, "prediction").array
    spacing = pred_geo.spacing
    diag = image_diagonal_mm(ref.shape, spacing)
    ref_boxes, pred_boxes = _boxes(ref), _boxes(pred)
    annotated_set = set(annotated) if annotated is not None else None
    scores: dict[str, OrganScore] = {}
    for m in matching.matched:
        if annotated_set is not None and not _is_annotated(m, annotated_set):
            scores[m.organ] = OrganScore.not_annotated()
            continue
        boxes = [
            b for b in (_union_box(ref_boxes, m.reference_values, ref.shape),
                        _union_box(pred_boxes, m.prediction_values, pred.shape)) if b is not None
        ]
        if not boxes:
            crop: tuple[slice, ...] = (slice(0, 1),) * 3
        else:
            lo = [max(min(b[a][0] for b in boxes) - 1, 0) for a in range(3)]
            hi = [min(max(b[a][1] for b in boxes) + 1, ref.shape[a]) for a in range(3)]
            crop = tuple(slice(lo[a], hi[a]) for a in range(3))
        r = np.isin(ref[crop], m.reference_values)
        p = np.isin(pred[crop], m.prediction_values)
        scores[m.organ] = organ_metrics(r, p, spacing, tolerance_mm, empty_distance_mm=diag)
    name = case if case is not None else imageio.strip_suffix(ref_path.name)
    return CaseResult(name, str(ref_path), str(pred_path), scores)


def _is_annotated(m: OrganMatch, annotated: set[str]) -> bool:
    from torsoseg import organs as vocab

    names = {m.organ, *m.reference_names}
    canon = {vocab.key(n) for n in names}
    return bool(canon & annotated)


def _case_job(args: tuple) -> tuple[str, CaseResult | None, str | None]:
    case, ref, pred, matching, tol, annotated, skip = args
    try:
        return case, evaluate_case(ref, pred, matching, tol, annotated, case=case), None
    except (OSError, ValueError) as e:
        if not skip:
            raise
        return case, None, str(e)


def evaluate_folders(
    ref_dir: str | os.PathLike,
    pred_dir: str | os.PathLike,
    ref_labels: str | os.PathLike | Mapping | None = None,
    pred_labels: str | os.PathLike | Mapping | None = None,
    organs: Sequence[str] | None = None,
    tolerance_mm: float = DEFAULT_TOLERANCE_MM,
    workers: int = 1,
    progress: bool = False,
    skip_failed: bool = False,
) -> EvaluationResult:
    """Evaluates every predicted case against its reference, organ by organ, matched by name.

    Args:
        ref_dir: a raw dataset folder (``dataset.json`` + ``labelsTr/``), its ``labelsTr`` folder, or a
            folder of label maps with a ``labels.json`` (or give ``ref_labels``).
        pred_dir: a ``torsoseg_predict`` output folder (label maps + ``labels.json``).
        ref_labels: reference label set (JSON file or mapping) overriding what the folder says.
        pred_labels: prediction label set overriding ``pred_dir/labels.json``.
        organs: evaluate only these organs (any spelling); default every reference organ that the
            prediction also has.
        tolerance_mm: surface Dice tolerance in mm.
        workers: processes evaluating cases in parallel (1 = in this process).
        progress: show a progress bar.
        skip_failed: record failing cases in ``result.failed`` and go on; by default the first error
            (missing file, grid mismatch) is raised.

    Returns:
        An :class:`EvaluationResult` (``.table()``, ``.summary()``, ``.save(path)``).

    Raises:
        FileNotFoundError: a missing folder or label JSON; no prediction for any reference case; a
            missing prediction when not ``skip_failed``.
        ValueError: bad label JSON, grid mismatch (naming both files), an unknown organ name.

    Example:
        >>> res = evaluate_folders("raw/Dataset003_Torso", "predictions/torso")  # doctest: +SKIP
        >>> print(res.table("dice"))  # doctest: +SKIP
    """
    _check_arguments(workers, tolerance_mm)
    ref = reference_inputs(ref_dir, ref_labels)
    pred = prediction_inputs(pred_dir, pred_labels)
    matching = match_labels(ref.labels, pred.labels, organs)
    if not matching.matched:
        raise ValueError(
            f"no organ in common between the reference ({ref.label_source}: {sorted(ref.labels)}) and the "
            f"prediction ({pred.label_source}: {sorted(pred.labels)})"
        )
    common, missing, extra = _pair_cases(ref.files, pred.files, ref_dir, pred_dir, skip_failed)
    jobs = [
        (
            c,
            ref.files[c],
            pred.files[c],
            matching,
            float(tolerance_mm),
            ref.annotated.get(c) if ref.annotated is not None else None,
            skip_failed,
        )
        for c in common
    ]
    done = run_jobs(_case_job, jobs, int(workers), progress, desc="evaluate")
    results, failed = _collect(jobs, done, skip_failed)
    return EvaluationResult(
        cases=tuple(results),
        matching=matching,
        tolerance_mm=float(tolerance_mm),
        reference_dir=str(ref_dir),
        prediction_dir=str(pred_dir),
        missing_predictions=tuple(missing),
        extra_predictions=tuple(extra),
        failed=failed,
    )


def _check_arguments(workers: int, tolerance_mm: float) -> None:
    if isinstance(workers, bool) or int(workers) < 1:
        raise ValueError(f"workers must be >= 1, got {workers!r}")
    if not math.isfinite(float(tolerance_mm)) or float(tolerance_mm) < 0:
        raise ValueError(f"tolerance_mm must be a finite number >= 0, got {tolerance_mm!r}")


def _pair_cases(
    ref_files: Mapping[str, Path],
    pred_files: Mapping[str, Path],
    ref_dir: str | os.PathLike,
    pred_dir: str | os.PathLike,
    skip_failed: bool,
) -> tuple[list[str], list[str], list[str]]:
    """The cases with both files, the reference cases without prediction, and the predictions without
    reference (logged), each sorted.

    Raises:
        FileNotFoundError: no reference case at all, no prediction for any of them, or (unless
            ``skip_failed``) a reference case without prediction.
    """
    if not ref_files:
        raise FileNotFoundError(f"{ref_dir}: no reference label maps found")
    common = sorted(set(ref_files) & set(pred_files))
    missing = sorted(set(ref_files) - set(pred_files))
    extra = sorted(set(pred_files) - set(ref_files))
    if not common:
        raise FileNotFoundError(
            f"{pred_dir}: no prediction for any reference case of {ref_dir} (reference cases: "
            f"{_short(sorted(ref_files))}; prediction files: {_short(sorted(pred_files)) or 'none'})"
        )
    if missing and not skip_failed:
        first = missing[0]
        raise FileNotFoundError(
            f"{Path(pred_dir) / (first + '.nii.gz')}: no prediction for reference case {first} "
            f"({len(missing)} reference case(s) without prediction: {_short(missing)})"
        )
    if extra:
        logger.warning(
            "%s: %d prediction(s) without reference ignored: %s", pred_dir, len(extra), _short(extra)
        )
    return common, missing, extra


def _collect(
    jobs: Sequence[tuple], done: Sequence, skip_failed: bool
) -> tuple[list[CaseResult], dict[str, str]]:
    """The case results in case order and the failed cases with their errors (logged).

    Raises:
        Exception: the first failing case's error (or a dead worker's), unless ``skip_failed``.
    """
    errors = [o for o in done if isinstance(o, BaseException)]  # raised by a case, or a dead worker
    if errors and not skip_failed:
        raise errors[0]
    outcomes = [o if isinstance(o, tuple) else (job[0], None, str(o)) for job, o in zip(jobs, done)]
    results, failed = [], {}
    for case, res, err in sorted(outcomes, key=lambda t: t[0]):
        if res is not None:
            results.append(res)
        else:
            failed[case] = err or "failed"
            logger.error("case %s failed: %s", case, err)
    return results, failed


def _short(names: Sequence[str], n: int = 6) -> str:
    return ", ".join(names[:n]) + (f" and {len(names) - n} more" if len(names) > n else "")
