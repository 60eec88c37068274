"""``preprocess_dataset``: the raw training cases of a dataset -> the preprocessed cache, in parallel.

Resumable: a case whose complete file set (written for the same plans) exists is skipped; anything
half-written by a killed run (temporary files, a case without its json) is redone.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from torsoseg.plans import Plans
from torsoseg.preprocessing import cache

log = logging.getLogger(__name__)

__all__ = [
    "PreprocessingError",
    "PreprocessReport",
    "plans_key",
    "preprocess_dataset",
    "preprocess_training_case",
]


class PreprocessingError(RuntimeError):
    """Some cases failed; the others were written. ``failed`` maps case -> message."""

    def __init__(self, message: str, failed: dict[str, str]):
        super().__init__(message)
        self.failed = failed


@dataclass(frozen=True)
class PreprocessReport:
    """What :func:`preprocess_dataset` did.

    Attributes:
        folder: the configuration folder holding the cases.
        processed: cases written by this run.
        skipped: cases already complete.
    """

    folder: Path
    processed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def plans_key(plans: Plans) -> str:
    """A short hash of everything in the plans that changes the preprocessed arrays."""
    d = plans.to_json()
    keep = {k: d[k] for k in ("target_spacing", "normalization", "labels", "channel_names")}
    return hashlib.sha1(json.dumps(keep, sort_keys=True).encode()).hexdigest()[:16]


def preprocess_training_case(
    image_files: list[str], label_file: str | None, identifier: str, plans_json: dict, folder: str
) -> str:
    """Reads, preprocesses and caches one training case (runs in a worker). Returns the identifier."""
    from torsoseg import imageio
    from torsoseg.preprocessing.case import preprocess_case

    plans = Plans.from_json(plans_json)
    if not label_file:
        raise RuntimeError(f"case {identifier}: no label file in labelsTr for {Path(image_files[0]).name}")
    try:
        images = [imageio.read_image(f) for f in image_files]
        label = imageio.read_image(label_file) if label_file else None
        data, seg, props = preprocess_case(images, plans, label)
    except (ValueError, OSError) as e:
        raise RuntimeError(f"case {identifier} ({label_file or image_files[0]}): {e}") from None
    if seg is None:
        import numpy as np

        seg = np.zeros(data.shape[1:], dtype=np.int16)
    locs = cache.class_locations(seg, seed=int(hashlib.sha1(identifier.encode()).hexdigest()[:8], 16))
    extra = {"plans_key": plans_key(plans), "image_files": [Path(f).name for f in image_files]}
    cache.write_case(folder, identifier, data, seg, {**props.to_json(), **extra}, locs)
    return identifier


def _job(args: tuple) -> str:
    return preprocess_training_case(*args)


def preprocess_dataset(
    raw_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    plans: Plans,
    workers: int = 2,
    progress: bool = False,
    skip_bad_cases: bool = False,
) -> PreprocessReport:
    """Preprocesses every training case of ``raw_dir`` into ``out_dir/<plans_name>_<configuration>/``.

    ``plans`` is one configuration of the dataset's plans (:meth:`Plans.for_configuration`); its
    ``data_configuration`` names the cache (``3d_cascade`` writes, and reads, the ``3d_fullres`` one).

    Args:
        raw_dir: the raw ``DatasetXXX_Name`` folder.
        out_dir: the dataset's preprocessed folder (``<preprocessed_root>/DatasetXXX_Name``); plans.json
            and dataset.json are written there when absent.
        plans: the plans to preprocess with.
        workers: worker processes (each holds one case at a time).
        progress: show a progress bar.
        skip_bad_cases: go on without unpaired files (logged) instead of refusing the dataset.

    Returns:
        A :class:`PreprocessReport`.

    Raises:
        PreprocessingError: after all other cases were written, listing the cases that failed.

    Example:
        >>> plans = Plans.load("preprocessed/Dataset001_Abdomen/plans.json")  # doctest: +SKIP
        >>> out = "preprocessed/Dataset001_Abdomen"
        >>> preprocess_dataset("raw/Dataset001_Abdomen", out, plans)  # doctest: +SKIP
    """
    from torsoseg.dataset import DatasetJson, training_cases
    from torsoseg.preprocessing.workers import run_jobs

    raw, out = Path(raw_dir), Path(out_dir)
    ds = DatasetJson.load(raw)
    if dict(ds.labels) != dict(plans.labels):
        raise ValueError(
            f"{raw / 'dataset.json'}: labels {ds.labels} differ from the plans' labels {plans.labels}"
        )
    cases = training_cases(raw, ds, skip_bad_cases)
    if not cases:
        raise FileNotFoundError(f"{raw / 'imagesTr'}: no training case")
    out.mkdir(parents=True, exist_ok=True)
    if not (out / "plans.json").is_file() and plans.configuration != "3d_lowres":
        plans.save(out / "plans.json")  # the dataset's plans (never a derived low-resolution view)
    if not (out / "dataset.json").is_file():
        tmp = out / ".dataset.json.copy"
        shutil.copyfile(raw / "dataset.json", tmp)
        os.replace(tmp, out / "dataset.json")
    folder = cache.cache_folder(out, plans)
    folder.mkdir(parents=True, exist_ok=True)
    removed = cache.remove_leftovers(folder)
    if removed:
        log.info("%s: removed %d temporary file(s) of an interrupted run", folder, removed)
    key = plans_key(plans)
    todo, skipped = [], []
    for c in cases:
        if cache.is_complete(folder, c.identifier, key):
            skipped.append(c.identifier)
        else:
            (folder / f"{c.identifier}.json").unlink(missing_ok=True)
            todo.append(c)
    if skipped:
        log.info("%s: %d case(s) already preprocessed, skipped", folder, len(skipped))
    pj = plans.to_json()
    jobs = [
        ([str(f) for f in c.images], str(c.label) if c.label else None, c.identifier, pj, str(folder))
        for c in todo
    ]
    results = run_jobs(_job, jobs, workers, progress, desc="preprocess")
    failed = {c.identifier: str(r) for c, r in zip(todo, results) if isinstance(r, BaseException)}
    done = [c.identifier for c, r in zip(todo, results) if not isinstance(r, BaseException)]
    if failed:
        msg = "; ".join(failed.values())
        raise PreprocessingError(f"{raw}: {len(failed)} of {len(cases)} case(s) failed: {msg}", failed)
    return PreprocessReport(folder, done, skipped)
