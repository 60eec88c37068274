"""``plan_dataset``: fingerprint a raw dataset and write its plans (the planning half of the CLI)."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

from torsoseg.dataset import DatasetJson, find_dataset, parse_dataset_id
from torsoseg.planning import planner
from torsoseg.planning.fingerprint import Fingerprint, compute_fingerprint
from torsoseg.plans import Plans

log = logging.getLogger(__name__)

__all__ = ["plan_dataset", "resolve_plans_source"]


def resolve_plans_source(
    source: Plans | str | int | os.PathLike, preprocessed_root: str | os.PathLike
) -> Plans:
    """The plans ``--plans-from`` refers to: a :class:`Plans`, a plans.json path / folder, or a dataset id.

    A dataset id (``2``, ``"002"``, ``"Dataset002_VISCERAL"``) is looked up under ``preprocessed_root``.

    Raises:
        FileNotFoundError: no such dataset or no plans.json in it (names the folder).
    """
    if isinstance(source, Plans):
        return source
    p = Path(str(source))
    if p.is_file() or (p.is_dir() and (p / "plans.json").is_file()):
        return Plans.load(p)
    try:
        did = parse_dataset_id(source)
    except ValueError:
        raise FileNotFoundError(f"--plans-from {source!r}: neither a plans.json nor a dataset id") from None
    folder = find_dataset(preprocessed_root, did)
    if not (folder / "plans.json").is_file():
        raise FileNotFoundError(f"{folder}: no plans.json (plan dataset {did} first)")
    return Plans.load(folder / "plans.json")


def plan_dataset(
    raw_dir: str | os.PathLike,
    preprocessed_root: str | os.PathLike,
    budget: str | None = "cpu",
    budget_gb: float | None = None,
    plans_from: Plans | str | int | os.PathLike | None = None,
    workers: int = 2,
    progress: bool = False,
    skip_bad_cases: bool = False,
    lowres_factor: float | None = None,
) -> Plans:
    """Fingerprints ``raw_dir`` and plans it; writes ``dataset.json``, ``fingerprint.json``, ``plans.json``.

    The files go to ``<preprocessed_root>/<raw_dir.name>/``.

    Args:
        raw_dir: the raw ``DatasetXXX_Name`` folder.
        preprocessed_root: root of the preprocessed datasets.
        budget: budget preset (``cpu``, ``8gb``, ``24gb``, ``40gb``).
        budget_gb: a budget in GiB instead of a preset.
        plans_from: plan with this dataset's spacing, patch, topology and normalisation (id, plans.json
            path or :class:`Plans`); the label set stays this dataset's.
        workers: processes for the fingerprint.
        progress: show progress bars.
        skip_bad_cases: plan without unpaired files (logged) instead of refusing the dataset.
        lowres_factor: force the cascade's low-resolution stage at this multiple of the target spacing
            (:func:`~torsoseg.planning.cascade.forced_cascade`; not with ``plans_from``, which copies
            the source's cascade).

    Returns:
        The written :class:`Plans`.

    Example:
        >>> plans = plan_dataset("raw/Dataset001_Abdomen", "preprocessed", budget="cpu")  # doctest: +SKIP
        >>> plans.patch_size  # doctest: +SKIP
    """
    raw = Path(raw_dir)
    if not (raw / "dataset.json").is_file():
        raise FileNotFoundError(f"{raw}: not a raw dataset (no dataset.json)")
    planner.get_budget(budget, budget_gb)  # fail early on a bad budget
    if lowres_factor is not None and plans_from is not None:
        raise ValueError("lowres_factor and plans_from exclude each other (plans_from copies the cascade)")
    source = resolve_plans_source(plans_from, preprocessed_root) if plans_from is not None else None
    out = Path(preprocessed_root) / raw.name
    out.mkdir(parents=True, exist_ok=True)
    ds = DatasetJson.load(raw)
    fp = compute_fingerprint(raw, workers=workers, progress=progress, skip_bad_cases=skip_bad_cases)
    fp.save(out / "fingerprint.json")
    if source is not None:
        plans = planner.plans_from(source, fp)
        log.info(
            "%s: planned from %s (spacing %s, patch %s, normalisation copied; labels are this dataset's)",
            raw.name,
            source.dataset_name,
            plans.target_spacing,
            plans.patch_size,
        )
    else:
        plans = planner.plan_experiment(fp, budget, budget_gb, lowres_factor=lowres_factor)
    tmp = out / ".dataset.json.copy"
    shutil.copyfile(raw / "dataset.json", tmp)
    os.replace(tmp, out / "dataset.json")
    plans.save(out / "plans.json")
    log.info("%s: %d cases, plans written to %s", ds.name, len(fp.cases), out / "plans.json")
    return plans


def load_fingerprint(preprocessed_dataset_dir: str | os.PathLike) -> Fingerprint:
    """Reads ``fingerprint.json`` of a preprocessed dataset folder."""
    return Fingerprint.load(Path(preprocessed_dataset_dir) / "fingerprint.json")
