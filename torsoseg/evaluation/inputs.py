"""Finding the label maps and label sets of a reference folder and of a prediction folder.

Reference: a raw dataset (``dataset.json`` + ``labelsTr/``), its ``labelsTr/`` folder, or a folder of
label maps with ``labels.json`` (or an explicit label set). Prediction: a folder of label maps with
``labels.json`` (what ``torsoseg_predict`` writes) or an explicit label set.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from torsoseg import imageio
from torsoseg import organs as vocab
from torsoseg.dataset import DatasetJson
from torsoseg.evaluation.matching import load_label_set

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Inputs:
    """Label set (name -> value), label files (case -> path) and per-case annotated organs of a folder."""

    labels: dict[str, int]
    files: dict[str, Path]
    annotated: dict[str, list[str]] | None
    label_source: str


def _label_files(folder: Path, ending: str | None = None) -> dict[str, Path]:
    files = imageio.list_images(folder)
    if ending is not None:
        files = [f for f in files if f.name.endswith(ending)]
    out: dict[str, Path] = {}
    for f in files:
        out[imageio.strip_suffix(f.name)] = f
    return out


def reference_inputs(
    ref_dir: str | os.PathLike, ref_labels: str | os.PathLike | Mapping | None = None
) -> Inputs:
    """Label set, label files and per-case annotated organs of a reference folder (see module doc)."""
    d = Path(ref_dir)
    if not d.is_dir():
        raise FileNotFoundError(f"{d}: reference folder does not exist")
    ds_dir = None
    if (d / "dataset.json").is_file() and (d / "labelsTr").is_dir():
        ds_dir = d
    elif d.name == "labelsTr" and (d.parent / "dataset.json").is_file():
        ds_dir = d.parent
    if ds_dir is not None:
        ds = DatasetJson.load(ds_dir / "dataset.json")
        folder = ds_dir / "labelsTr"
        labels = load_label_set(ref_labels) if ref_labels is not None else dict(ds.labels)
        source = str(ref_labels) if ref_labels is not None and not isinstance(ref_labels, Mapping) else str(
            ds_dir / "dataset.json"
        )
        annotated = ds.extra.get("annotated")
        if annotated is not None and not isinstance(annotated, Mapping):
            logger.warning("%s: 'annotated' is not a mapping; ignored", ds_dir / "dataset.json")
            annotated = None
        files = _label_files(folder, ds.file_ending)
        ann = _canonical_annotated(annotated) if annotated else None
        return Inputs(labels, files, ann, source)
    if ref_labels is None:
        if (d / "labels.json").is_file():
            ref_labels = d / "labels.json"
        else:
            raise FileNotFoundError(
                f"{d}: no dataset.json with labelsTr/ and no labels.json; pass the reference label set "
                "(--ref-labels JSON, name -> value)"
            )
    labels = load_label_set(ref_labels)
    source = "given mapping" if isinstance(ref_labels, Mapping) else str(ref_labels)
    return Inputs(labels, _label_files(d), None, source)


def _canonical_annotated(annotated: Mapping) -> dict[str, list[str]]:
    out = {}
    for case, names in annotated.items():
        out[str(case)] = [vocab.key(n) for n in names]
    return out


def prediction_inputs(
    pred_dir: str | os.PathLike, pred_labels: str | os.PathLike | Mapping | None = None
) -> Inputs:
    """Label set and label files of a prediction folder (``labels.json`` unless ``pred_labels`` is given)."""
    d = Path(pred_dir)
    if not d.is_dir():
        raise FileNotFoundError(f"{d}: prediction folder does not exist")
    if pred_labels is None:
        for name in ("labels.json", "dataset.json"):
            if (d / name).is_file():
                pred_labels = d / name
                break
        else:
            raise FileNotFoundError(
                f"{d}: no labels.json (torsoseg_predict writes one); pass the prediction label set "
                "(--pred-labels JSON, name -> value)"
            )
    labels = load_label_set(pred_labels)
    source = "given mapping" if isinstance(pred_labels, Mapping) else str(pred_labels)
    return Inputs(labels, _label_files(d), None, source)
