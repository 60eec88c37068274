"""User-facing entry point: ``train_model(dataset_id, fold, ...)`` resolves folders, splits, settings,
resume and fine-tuning source, then runs :func:`torsoseg.training.trainer.fit`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from torsoseg.dataset import DatasetJson, find_dataset
from torsoseg.fileio import remove_stale_temporaries
from torsoseg.model_folder import Checkpoint, ModelFolder, find_trained_checkpoint, load_checkpoint
from torsoseg.plans import Plans
from torsoseg.training.finetune import check_compatible
from torsoseg.training.settings import TrainingSettings, get_settings, trainer_name
from torsoseg.training.splits import FOLDS, fold_cases, load_or_create_splits

if TYPE_CHECKING:
    from torsoseg.training.trainer import TrainingJob

log = logging.getLogger(__name__)

#: Settings that may differ when resuming (they change how, not what, is trained).
RESUME_MUTABLE = ("num_epochs", "num_workers", "precision", "channels_last")


def model_dir(results_root: str | os.PathLike, dataset_folder: str, trainer: str, plans: Plans) -> Path:
    """Kept for older callers: :meth:`ModelFolder.for_training` (``train_model`` returns the folder).

    Raises:
        ValueError: a part that is not a plain name, or a folder outside ``results_root``, named.
    """
    return ModelFolder.for_training(results_root, dataset_folder, trainer, plans).path


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


class NothingToResume(Exception):
    """A finished run was resumed without more epochs; the message says so and ``folder`` is the model."""

    def __init__(self, message: str, folder: ModelFolder):
        super().__init__(message)
        self.folder = folder


def _check_cases(cache: Path, cases: list[str], fold: str, dataset_id: int | str, config: str) -> None:
    run = f"torsoseg_plan_and_preprocess -d {dataset_id} -c {config}"
    if len(cases) < 2 and fold != "all":
        raise FileNotFoundError(
            f"{cache}: {len(cases)} complete preprocessed case(s); need >= 2 (run {run} first)"
        )
    if not cases:
        raise FileNotFoundError(f"{cache}: no preprocessed cases (run {run})")


def _resume(
    folder: ModelFolder, fold: str, settings: TrainingSettings, overrides: dict[str, Any], resume: bool
) -> tuple[Checkpoint | None, TrainingSettings]:
    """The checkpoint to resume (or ``None`` for a new run) and the settings to train with.

    Raises:
        FileExistsError: a run exists and ``resume`` is off.
        NothingToResume: the run already trained ``settings.num_epochs`` epochs.
    """
    fold_dir, latest = folder.fold_dir(fold), folder.checkpoint_path(fold, "latest")
    if not resume:
        if folder.has_run(fold):
            raise FileExistsError(
                f"{fold_dir}: holds a training run already; pass --resume to continue or extend "
                "it, or remove the folder to start over"
            )
        return None, settings
    if not latest.is_file():
        log.info("%s: nothing to resume; starting a new run", latest)
        return None, settings
    ckpt = load_checkpoint(latest)
    stored = TrainingSettings.from_json(ckpt.settings, source=str(latest))
    settings = _resume_settings(stored, settings, overrides, latest)
    done = int(ckpt.epoch)
    planned = int(ckpt.num_epochs if ckpt.num_epochs is not None else stored.num_epochs)
    if settings.num_epochs < done:
        raise ValueError(
            f"{latest}: --epochs {settings.num_epochs} is below the {done} epochs already trained"
        )
    if done >= settings.num_epochs:
        raise NothingToResume(
            f"{fold_dir}: already trained {done}/{planned} epochs; nothing to resume "
            f"(pass --epochs N > {done} together with --resume to extend the run)",
            folder,
        )
    if settings.num_epochs != planned:
        log.warning(
            "extending %s from %d to %d epochs: the learning-rate schedule is recomputed for "
            "%d epochs from epoch %d on",
            fold_dir, planned, settings.num_epochs, settings.num_epochs, done + 1,
        )
    return ckpt, settings


def _pretrained(
    results: Path, pretrained: int | str | None, checkpoint: str | os.PathLike | None, fold: str, plans: Plans
) -> Checkpoint:
    """The checkpoint to fine-tune from, checked against the target plans."""
    path = (
        Path(checkpoint)
        if checkpoint is not None
        else find_trained_checkpoint(results, pretrained, fold, plans.plans_name, plans.configuration)
    )
    ckpt = load_checkpoint(path)
    for line in check_compatible(ckpt.plans, plans, str(path)):
        log.warning("fine-tuning from %s: plans differ (allowed):%s", path, line)
    return ckpt


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
    configuration: str | None = None,
    **overrides: Any,
) -> TrainingJob:
    """Builds the :class:`~torsoseg.training.trainer.TrainingJob` (see :func:`train_model` for arguments).

    Raises:
        NothingToResume: a finished run resumed without more epochs.
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
    plans = Plans.load(pre_dir / "plans.json").for_configuration(configuration)
    ds = DatasetJson.load(pre_dir / "dataset.json")
    if dict(plans.labels) != dict(ds.labels):
        log.warning("%s: plans.json labels differ from dataset.json; using dataset.json", pre_dir)
    cache = cache_folder(pre_dir, plans)
    cases = list_cached_cases(cache)
    _check_cases(cache, cases, fold, dataset_id, plans.data_configuration)
    is_ft = pretrained is not None or pretrained_checkpoint is not None
    preset_name = preset if preset is not None else ("finetune" if is_ft else "default")
    trainer = trainer_name(is_ft, preset_name)
    folder = ModelFolder.for_training(roots.results, pre_dir.name, trainer, plans)
    dev = resolve_device(device)
    resume_from, settings = _resume(folder, fold, get_settings(preset_name, **overrides), overrides, resume)
    pre = None
    if is_ft and resume_from is None:  # a resumed fine-tuning run already holds the transferred weights
        pre = _pretrained(roots.results, pretrained, pretrained_checkpoint, fold, plans)
    splits = load_or_create_splits(pre_dir / "splits.json", cases, seed=12345)
    train_ids, val_ids = fold_cases(splits, fold, cases)
    fold_dir = folder.fold_dir(fold)
    fold_dir.mkdir(parents=True, exist_ok=True)
    # temporaries of a killed earlier run (checkpoints, log, plot); every rank of a torchrun job gets here
    # before any rank writes, as rank 0 writes only after the process group has formed
    stale = remove_stale_temporaries(fold_dir)
    if stale:
        log.info("%s: removed %d temporary file(s) of an interrupted run", fold_dir, stale)
    plans.save(folder.path / "plans.json")
    ds.save(folder.path / "dataset.json")
    return TrainingJob(
        plans=plans, dataset_json=ds, cache_folder=cache, fold_dir=fold_dir, trainer=trainer,
        fold=fold, train_ids=train_ids, val_ids=val_ids, settings=settings, device=torch.device(dev),
        pretrained=pre, resume_from=resume_from,
    )


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
    configuration: str | None = None,
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
        configuration: ``3d_fullres`` (``None``), or a stage of the cascade: ``3d_lowres`` (coarse, on its
            own cache) or ``3d_cascade`` (fine: the full-resolution cache, patches drawn around the
            organs). Fine-tuning (``pretrained``) takes the source dataset's model of the same configuration.
        **overrides: :class:`~torsoseg.training.settings.TrainingSettings` fields (``num_epochs``,
            ``iterations_per_epoch``, ``initial_lr``, ``num_workers``, ``precision``, ...).

    Returns:
        Summary dict: ``model_folder`` (the :class:`~torsoseg.model_folder.ModelFolder`, also when a
        finished run had nothing to resume), ``fold_dir``, ``epochs``, ``best_ema``, ``final_dice``,
        ``message`` (why nothing was trained, else empty).

    Example:
        >>> train_model(1, fold="all", preset="cpu")  # doctest: +SKIP
        >>> train_model(2, fold="all", pretrained=1, preset="finetune_cpu")  # doctest: +SKIP
        >>> train_model(1, fold="all", preset="cpu", configuration="3d_lowres")  # doctest: +SKIP
    """
    from torsoseg.training.trainer import fit

    try:
        job = prepare_job(dataset_id, fold, preset, pretrained, pretrained_checkpoint, device, resume,
                          preprocessed_root, results_root, configuration, **overrides)
    except NothingToResume as done:
        return {"fold_dir": done.folder.fold_dir(fold), "model_folder": done.folder, "epochs": 0,
                "best_ema": None, "final_dice": {}, "message": str(done)}
    summary = fit(job, progress=progress, echo=echo)
    summary["message"] = ""
    return summary
