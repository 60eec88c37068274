"""User-facing entry point: ``train_model(dataset_id, fold, ...)`` resolves folders, splits, settings,
resume and fine-tuning source, then runs :func:`torsoseg.training.trainer.fit`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from torsoseg.dataset import DatasetJson, find_dataset
from torsoseg.fileio import remove_stale_temporaries
from torsoseg.paths import check_name, inside_root
from torsoseg.planning.plans import Plans
from torsoseg.training import checkpoint as ckpt_io
from torsoseg.training.finetune import check_compatible, find_pretrained_checkpoint
from torsoseg.training.settings import TrainingSettings, get_settings, trainer_name
from torsoseg.training.splits import FOLDS, fold_cases, load_or_create_splits

log = logging.getLogger(__name__)

#: Settings that may differ when resuming (they change how, not what, is trained).
RESUME_MUTABLE = ("num_epochs", "num_workers", "precision", "channels_last")


def model_dir(results_root: str | os.PathLike, dataset_folder: str, trainer: str, plans: Plans) -> Path:
    """``<results>/<DatasetXXX_Name>/<trainer>__<plans_name>__<configuration>``.

    Every part is checked to be a plain name and the folder to stay inside ``results_root``.

    Raises:
        ValueError: a part that is not a plain name, or a folder outside the root, named.
    """
    for what, value in (("dataset folder", dataset_folder), ("trainer", trainer),
                        ("plans_name", plans.plans_name), ("configuration", plans.configuration)):
        check_name(value, what)
    folder = Path(results_root) / dataset_folder / f"{trainer}__{plans.plans_name}__{plans.configuration}"
    inside_root(folder, results_root, "model folder")
    return folder


def _resume_settings(
    stored: TrainingSettings, requested: TrainingSettings, overrides: dict[str, Any], path: Path
) -> TrainingSettings:
    changed = {
        k: v
        for k, v in overrides.items()
        if v is not None and k not in RESUME_MUTABLE and getattr(stored, k) != v
    }
    if changed:
        raise ValueError(
            f"{path}: cannot change {', '.join(f'{k}={v!r}' for k, v in changed.items())} when "
            f"resuming (the run was started with "
            f"{', '.join(f'{k}={getattr(stored, k)!r}' for k in changed)})"
        )
    keep = {k: overrides[k] for k in RESUME_MUTABLE if overrides.get(k) is not None}
    return stored.__class__(**{**{f: getattr(stored, f) for f in stored.__dataclass_fields__}, **keep})


def prepare_job(
    dataset_id: int | str,
    fold: str | int = 0,
    preset: str | None = None,
    pretrained: int | str | None = None,
    pretrained_checkpoint: str | os.PathLike | None = None,
    device: Any = None,
    resume: bool = False,
    preprocessed_root: str | os.PathLike | None = None,
    results_root: str | os.PathLike | None = None,
    **overrides: Any,
):
    """Builds the :class:`~torsoseg.training.trainer.TrainingJob` (see :func:`train_model` for arguments).

    Returns:
        ``(job, message)``: ``job`` is ``None`` when there is nothing to do (a finished run resumed
        without more epochs); ``message`` says why.
    """
    import torch

    from torsoseg.network.precision import resolve_device
    from torsoseg.paths import default_roots
    from torsoseg.preprocessing.cache import cache_folder, list_cached_cases
    from torsoseg.training.trainer import TrainingJob

    fold = str(fold)
    if fold not in FOLDS:
        raise ValueError(f"unknown fold {fold!r}; valid: {', '.join(FOLDS)}")
    if pretrained is not None and pretrained_checkpoint is not None:
        raise ValueError("give either pretrained (a dataset id) or pretrained_checkpoint (a path), not both")
    roots = default_roots(preprocessed=preprocessed_root, results=results_root)
    pre_dir = find_dataset(roots.preprocessed, dataset_id)
    plans = Plans.load(pre_dir / "plans.json")
    ds = DatasetJson.load(pre_dir / "dataset.json")
    if dict(plans.labels) != dict(ds.labels):
        log.warning("%s: plans.json labels differ from dataset.json; using dataset.json", pre_dir)
    cache = cache_folder(pre_dir, plans)
    cases = list_cached_cases(cache)
    if len(cases) < 2 and fold != "all":
        raise FileNotFoundError(
            f"{cache}: {len(cases)} complete preprocessed case(s); need >= 2 (run "
            f"torsoseg_plan_and_preprocess {dataset_id} first)"
        )
    if not cases:
        raise FileNotFoundError(
            f"{cache}: no preprocessed cases (run torsoseg_plan_and_preprocess {dataset_id})"
        )
    is_ft = pretrained is not None or pretrained_checkpoint is not None
    preset_name = preset if preset is not None else ("finetune" if is_ft else "default")
    settings = get_settings(preset_name, **overrides)
    trainer = trainer_name(is_ft, preset_name)
    fold_dir = model_dir(roots.results, pre_dir.name, trainer, plans) / f"fold_{fold}"
    dev = resolve_device(device)

    resume_from = None
    latest = fold_dir / "checkpoint_latest.pt"
    if resume:
        if not latest.is_file():
            log.info("%s: nothing to resume; starting a new run", latest)
        else:
            resume_from = ckpt_io.load_checkpoint(latest)
            if "trainer" in resume_from:  # read from a file: data, and only ever a plain name
                check_name(resume_from["trainer"], "trainer", latest)
            stored = TrainingSettings.from_json(resume_from["settings"], source=str(latest))
            settings = _resume_settings(stored, settings, overrides, latest)
            done, planned = int(resume_from["epoch"]), int(resume_from.get("num_epochs", stored.num_epochs))
            if settings.num_epochs < done:
                raise ValueError(
                    f"{latest}: --epochs {settings.num_epochs} is below the {done} epochs already trained"
                )
            if done >= settings.num_epochs:
                return None, (
                    f"{fold_dir}: already trained {done}/{planned} epochs; nothing to resume "
                    f"(pass --epochs N > {done} together with --resume to extend the run)"
                )
            if settings.num_epochs != planned:
                log.warning(
                    "extending %s from %d to %d epochs: the learning-rate schedule is recomputed for "
                    "%d epochs from epoch %d on",
                    fold_dir,
                    planned,
                    settings.num_epochs,
                    settings.num_epochs,
                    done + 1,
                )
    elif latest.is_file() or (fold_dir / "checkpoint_final.pt").is_file():
        raise FileExistsError(
            f"{fold_dir}: holds a training run already; pass --resume to continue or extend "
            "it, or remove the folder to start over"
        )

    pre = None
    if is_ft and resume_from is None:  # a resumed fine-tuning run already holds the transferred weights
        src_path = (
            Path(pretrained_checkpoint)
            if pretrained_checkpoint is not None
            else find_pretrained_checkpoint(
                roots.results, pretrained, fold, plans.plans_name, plans.configuration
            )
        )
        src = ckpt_io.load_checkpoint(src_path)
        src_plans = Plans.from_json(src["plans"], source=f"{src_path} (plans)")
        for line in check_compatible(src_plans, plans, str(src_path)):
            log.warning("fine-tuning from %s: plans differ (allowed):%s", src_path, line)
        pre = {"checkpoint": src_path, "state": src["network_weights"], "labels": src["labels"]}

    splits = load_or_create_splits(pre_dir / "splits.json", cases, seed=12345)
    train_ids, val_ids = fold_cases(splits, fold, cases)
    fold_dir.mkdir(parents=True, exist_ok=True)
    # temporaries of a killed earlier run (checkpoints, log, plot); every rank of a torchrun job gets here
    # before any rank writes, as rank 0 writes only after the process group has formed
    stale = remove_stale_temporaries(fold_dir)
    if stale:
        log.info("%s: removed %d temporary file(s) of an interrupted run", fold_dir, stale)
    plans.save(fold_dir.parent / "plans.json")
    ds.save(fold_dir.parent / "dataset.json")
    job = TrainingJob(
        plans=plans,
        dataset_json=ds,
        cache_folder=cache,
        fold_dir=fold_dir,
        trainer=trainer,
        fold=fold,
        train_ids=train_ids,
        val_ids=val_ids,
        settings=settings,
        device=torch.device(dev),
        pretrained=pre,
        resume_from=resume_from,
    )
    return job, ""


def train_model(
    dataset_id: int | str,
    fold: str | int = 0,
    preset: str | None = None,
    pretrained: int | str | None = None,
    pretrained_checkpoint: str | os.PathLike | None = None,
    device: Any = None,
    resume: bool = False,
    preprocessed_root: str | os.PathLike | None = None,
    results_root: str | os.PathLike | None = None,
    progress: bool = False,
    echo: Callable[[str], None] | None = None,
    **overrides: Any,
) -> dict[str, Any]:
    """Trains (or fine-tunes, or resumes) one fold of a dataset.

    Args:
        dataset_id: the preprocessed dataset (``1``, ``"Dataset001_Abdomen"``).
        fold: ``0``..``4`` or ``"all"``.
        preset: settings preset (``None``: ``default``, or ``finetune`` when fine-tuning).
        pretrained: dataset id of the model to fine-tune from (its model under ``results_root``).
        pretrained_checkpoint: explicit checkpoint to fine-tune from.
        device: ``"cpu"``, ``"cuda"``, ``"auto"``/``None`` (CUDA when present).
        resume: continue the fold's ``checkpoint_latest.pt``; with a larger ``num_epochs`` extends a
            finished run.
        preprocessed_root, results_root: roots (``None``: :func:`torsoseg.paths.default_roots`).
        progress: show a progress bar per epoch.
        echo: called with one line per epoch (the CLI prints it).
        **overrides: :class:`~torsoseg.training.settings.TrainingSettings` fields (``num_epochs``,
            ``iterations_per_epoch``, ``initial_lr``, ``num_workers``, ``precision``, ...).

    Returns:
        Summary dict (``fold_dir``, ``epochs``, ``best_ema``, ``final_dice``, ``message``).

    Example:
        >>> train_model(1, fold="all", preset="cpu")  # doctest: +SKIP
        >>> train_model(2, fold="all", pretrained=1, preset="finetune_cpu")  # doctest: +SKIP
    """
    from torsoseg.training.trainer import fit

    job, message = prepare_job(
        dataset_id,
        fold,
        preset,
        pretrained,
        pretrained_checkpoint,
        device,
        resume,
        preprocessed_root,
        results_root,
        **overrides,
    )
    if job is None:
        return {"fold_dir": None, "epochs": 0, "best_ema": None, "final_dice": {}, "message": message}
    summary = fit(job, progress=progress, echo=echo)
    summary["message"] = message
    return summary
