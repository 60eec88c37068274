"""The training loop. It trains; the pieces it is handed do the rest (patches, augmentation, loss,
validation, checkpoints, fine-tune transfer, DDP).

:func:`fit` runs a fully resolved :class:`TrainingJob` (see :func:`torsoseg.training.run.train_model`
for the user-facing entry point that builds one from a dataset id).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from torsoseg.dataset import DatasetJson
from torsoseg.fileio import atomic_write_json
from torsoseg.model_folder import Checkpoint, ModelFolder, save_checkpoint
from torsoseg.network import build_network
from torsoseg.network.precision import autocast, resolve_precision
from torsoseg.organs import lr_swap_table
from torsoseg.plans import Plans
from torsoseg.training import distributed as dist_util
from torsoseg.training.augmentation import initial_patch_size, training_transforms, validation_transforms
from torsoseg.training.dataloading import make_batches
from torsoseg.training.finetune import transfer_weights
from torsoseg.training.losses import DeepSupervisionLoss, DiceCELoss
from torsoseg.training.param_groups import apply_group_rates, group_rates, parameter_groups
from torsoseg.training.patches import PatchBatchLoader, region_margin_voxels
from torsoseg.training.progress import TrainingLog, format_epoch_line
from torsoseg.training.schedule import learning_rate
from torsoseg.training.settings import TrainingSettings
from torsoseg.training.state import TrainState, run_seeds, seed_everything
from torsoseg.training.validation import draw_batches, update_ema, validate

log = logging.getLogger(__name__)

#: The progress plot is redrawn at most this often (and after the last epoch).
PLOT_INTERVAL_S = 20.0


@dataclass
class TrainingJob:
    """Everything one training run needs, resolved.

    Attributes:
        plans, dataset_json: of the (target) dataset.
        cache_folder: the preprocessed configuration folder holding the cases.
        fold_dir: ``<model folder>/fold_K`` (created); checkpoints, log and plot go here.
        trainer: the trainer folder name (``Trainer``, ``FineTuneTrainer_cpu``, ...).
        fold: ``"0"``..``"4"`` or ``"all"``.
        train_ids, val_ids: case identifiers.
        settings: the training settings.
        device: where to train.
        pretrained: the checkpoint to fine-tune from, or ``None``.
        resume_from: the checkpoint to continue from, or ``None``.
    """

    plans: Plans
    dataset_json: DatasetJson
    cache_folder: Path
    fold_dir: Path
    trainer: str
    fold: str
    train_ids: list[str]
    val_ids: list[str]
    settings: TrainingSettings
    device: torch.device
    pretrained: Checkpoint | None = None
    resume_from: Checkpoint | None = None


def deep_supervision_strides(plans: Plans) -> list[tuple[int, int, int]]:
    """Cumulative stride of each deep-supervision output (highest resolution first)."""
    out, cum = [], (1, 1, 1)
    for s in range(plans.num_stages - 1):
        cum = tuple(c * st for c, st in zip(cum, plans.strides[s]))
        out.append(cum)
    return out


def make_optimizer(s: TrainingSettings, groups: list[dict[str, Any]]) -> torch.optim.Optimizer:
    """SGD (Nesterov, the method's optimiser) or AdamW (the short CPU budgets), per ``s.optimizer``."""
    if s.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=s.initial_lr, weight_decay=s.weight_decay)
    return torch.optim.SGD(
        groups, lr=s.initial_lr, momentum=s.momentum, nesterov=s.nesterov, weight_decay=s.weight_decay
    )


def use_channels_last(settings: TrainingSettings, device: torch.device, amp_dtype: Any) -> bool:
    """``settings.channels_last`` or, when ``None``, the measured winner: CPU with bfloat16."""
    if settings.channels_last is not None:
        return bool(settings.channels_last)
    return device.type == "cpu" and amp_dtype is torch.bfloat16


@dataclass
class Run:
    """The parts of a run that are built once and not saved: where and how it computes, its data and loss."""

    info: Any
    device: torch.device
    amp_dtype: Any
    mem_fmt: Any
    ddp_model: torch.nn.Module
    loss: torch.nn.Module
    scaler: Any
    batches: Any
    val_batches: list
    organ_names: list[str]


def build_state(job: TrainingJob, info: Any, device: torch.device, mem_fmt: Any) -> TrainState:
    """The network (seeded, then transferred from the pretrained model or restored from ``resume_from``)
    and its optimiser."""
    s = job.settings
    organ_names = [n for n in job.dataset_json.label_names if n != "background"]
    seed_everything(run_seeds(s.seed).init)  # identical initial weights on every rank
    model = build_network(
        job.plans, num_classes=job.dataset_json.num_classes, deep_supervision=s.deep_supervision
    )
    transfer = None
    if job.pretrained is not None and job.resume_from is None:
        transfer = transfer_weights(
            model, job.pretrained.network_weights, job.pretrained.labels, job.dataset_json.labels,
            s.new_row_init
        )
        transfer["checkpoint"] = str(job.pretrained.source)
    model = model.to(device).to(memory_format=mem_fmt)
    optimizer = make_optimizer(s, parameter_groups(model))
    state = TrainState(model, optimizer, TrainingLog(organ_names), pretrained=transfer)
    if job.resume_from is not None:
        state.restore(job.resume_from, organ_names, restore_rng=info.rank == 0)
    if info.rank or job.resume_from is not None:
        seed_everything(run_seeds(s.seed, info.rank, state.epoch).rank)
    return state


def build_run(job: TrainingJob) -> tuple[Run, TrainState]:
    """Everything :func:`fit` needs: the distributed context, the state, the loss and the batch streams."""
    s = job.settings
    info = dist_util.init_distributed(job.device)
    device = dist_util.rank_device(job.device, info)
    amp_dtype = resolve_precision(s.precision, device)
    channels_last = use_channels_last(s, device, amp_dtype)
    mem_fmt = torch.channels_last_3d if channels_last else torch.contiguous_format
    state = build_state(job, info, device, mem_fmt)
    scaler = torch.amp.GradScaler("cuda") if (device.type == "cuda" and amp_dtype is torch.float16) else None
    ddp_model = dist_util.wrap_model(state.model, device, info)
    loss = (
        DeepSupervisionLoss(DiceCELoss(ce_balance=s.ce_class_balance), deep_supervision_strides(job.plans))
        if s.deep_supervision
        else DiceCELoss(ce_balance=s.ce_class_balance)
    )
    patch = job.plans.patch_size
    batch_size = s.batch_size or job.plans.batch_size
    aug = s.augmentation
    big_patch = initial_patch_size(
        patch, aug.rotation_deg if aug.p_rotation > 0 else 0.0, aug.scale_range[1] if aug.p_scale > 0 else 1.0
    )
    seeds = run_seeds(s.seed, info.rank, state.epoch)
    region = region_margin_voxels(job.plans.region_margin_mm, job.plans.target_spacing)  # fine stage only
    train_loader = PatchBatchLoader(
        job.cache_folder, job.train_ids, batch_size, big_patch, patch, s.oversample_foreground,
        seed=seeds.rank, region_margin=region,
    )
    batches = make_batches(
        train_loader, training_transforms(patch, aug, lr_swap_table(job.dataset_json.labels)), s.num_workers,
        seed=seeds.augmentation,
    )
    val_batches: list = []
    if info.is_main and s.val_iterations > 0:
        vl = PatchBatchLoader(
            job.cache_folder, job.val_ids, batch_size, patch, patch, s.oversample_foreground,
            seed=seeds.validation_patches, region_margin=region,
        )
        val_batches = draw_batches(
            make_batches(vl, validation_transforms(patch), 0, seed=seeds.validation_augmentation),
            s.val_iterations,
        )
    if info.is_main:
        job.fold_dir.mkdir(parents=True, exist_ok=True)
        if state.pretrained is not None and job.resume_from is None:
            atomic_write_json(job.fold_dir / "pretrained_transfer.json", state.pretrained)
        log.info(
            "training %s %s fold %s on %s: %d train / %d val cases, patch %s, batch %d, precision %s%s",
            job.plans.dataset_name, job.plans.configuration, job.fold, device, len(job.train_ids),
            len(job.val_ids), patch, batch_size,
            "fp32" if amp_dtype is None else str(amp_dtype).replace("torch.", ""),
            ", channels-last" if channels_last else "",
        )
    organ_names = [n for n in job.dataset_json.label_names if n != "background"]
    run = Run(info, device, amp_dtype, mem_fmt, ddp_model, loss, scaler, batches, val_batches, organ_names)
    return run, state


def train_step(run: Run, state: TrainState, batch: dict[str, np.ndarray], grad_clip: float) -> float:
    """One optimiser step on one batch; returns its loss."""
    x = torch.from_numpy(batch["data"]).to(run.device, non_blocking=True)
    x = x.contiguous(memory_format=run.mem_fmt)
    y = torch.from_numpy(batch["seg"][:, 0].astype(np.int64)).to(run.device, non_blocking=True)
    optimizer = state.optimizer
    optimizer.zero_grad(set_to_none=True)
    with autocast(run.amp_dtype, run.device):
        out = run.ddp_model(x)
    loss = run.loss(out, y)  # float32 (the loss casts the logits)
    if run.scaler is not None:
        run.scaler.scale(loss).backward()
        run.scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(state.model.parameters(), grad_clip)
        run.scaler.step(optimizer)
        run.scaler.update()
    else:
        loss.backward()
        torch.nn.utils.clip_grad_norm_(state.model.parameters(), grad_clip)
        optimizer.step()
    return float(loss.detach())


def train_epoch(run: Run, state: TrainState, s: TrainingSettings, epoch: int, progress: bool) -> list[float]:
    """``s.iterations_per_epoch`` training steps; returns their losses."""
    run.ddp_model.train()
    steps = range(s.iterations_per_epoch)
    if progress and run.info.is_main:
        from tqdm import tqdm

        steps = tqdm(steps, desc=f"epoch {epoch + 1}/{s.num_epochs}", leave=False, unit="it")
    return [train_step(run, state, next(run.batches), s.grad_clip) for _ in steps]


def end_epoch(
    run: Run, state: TrainState, s: TrainingSettings, epoch: int, losses: list[float], lr: float, t0: float
) -> tuple[dict[str, Any], bool]:
    """Validates, updates the moving average and the log; returns ``(log row, is best)``."""
    val_loss, dice = validate(state.model, run.val_batches, run.loss, run.device, run.amp_dtype, run.mem_fmt)
    finite = [d for d in dice if np.isfinite(d)]
    state.ema = update_ema(state.ema, float(np.mean(finite)) if finite else float("nan"), s.ema_alpha)
    row = state.log.append(
        epoch, float(np.mean(losses)), val_loss, list(dice), state.ema, lr, time.perf_counter() - t0
    )
    is_best = bool(np.isfinite(state.ema) and state.ema > state.best_ema)
    if is_best:
        state.best_ema = state.ema
    return row, is_best


def save_epoch(job: TrainingJob, state: TrainState, epoch: int, is_best: bool, plot: bool) -> None:
    """Writes ``checkpoint_latest`` (and ``checkpoint_best``), the CSV log and, when ``plot``, the plot."""
    c = state.checkpoint(job, epoch + 1)
    if is_best:
        save_checkpoint(job.fold_dir / "checkpoint_best.pt", c)
    save_checkpoint(job.fold_dir / "checkpoint_latest.pt", c)
    state.log.write_csv(job.fold_dir / "training_log.csv")
    if plot:
        title = f"{job.plans.dataset_name}  {job.trainer}  fold {job.fold}"
        state.log.plot(job.fold_dir / "progress.png", title)


def save_final(job: TrainingJob, state: TrainState) -> None:
    """Writes ``checkpoint_final`` (and ``checkpoint_best`` if no epoch was ever best)."""
    final = state.checkpoint(job, job.settings.num_epochs)
    save_checkpoint(job.fold_dir / "checkpoint_final.pt", final)
    if not (job.fold_dir / "checkpoint_best.pt").exists():
        save_checkpoint(job.fold_dir / "checkpoint_best.pt", final)


def fit(
    job: TrainingJob, progress: bool = False, echo: Callable[[str], None] | None = None
) -> dict[str, Any]:
    """Trains ``job`` to ``settings.num_epochs`` and writes checkpoints, log and plot to ``job.fold_dir``.

    Each epoch: set the learning rates, train, then (rank 0) validate, end the epoch and save.

    Returns:
        Summary ``{"fold_dir", "model_folder", "epochs", "best_ema", "final_dice", "model", "rank",
        "world_size"}`` (``model``: the trained network, unwrapped; ``final_dice`` is empty on ranks other
        than 0).
    """
    s = job.settings
    run, state = build_run(job)
    info = run.info
    last_plot = -math.inf
    try:
        for epoch in range(state.epoch, s.num_epochs):
            t0 = time.perf_counter()
            lr = learning_rate(epoch, s.num_epochs, s.initial_lr, s.poly_exponent, s.warmup_epochs)
            apply_group_rates(state.optimizer, group_rates(s, epoch, lr), toggle_grad=not info.active)
            losses = train_epoch(run, state, s, epoch, progress)
            if not info.is_main:
                continue
            row, is_best = end_epoch(run, state, s, epoch, losses, lr, t0)
            plot = epoch == s.num_epochs - 1 or time.perf_counter() - last_plot > PLOT_INTERVAL_S
            save_epoch(job, state, epoch, is_best, plot)
            if plot:
                last_plot = time.perf_counter()
            line = format_epoch_line(
                row, s.num_epochs, run.organ_names, state.log.remaining_seconds(s.num_epochs)
            ) + ("  *best*" if is_best else "")
            log.info(line)
            if echo is not None:
                echo(line)
        if info.is_main:
            save_final(job, state)
        dist_util.barrier(info)
    finally:
        run.batches.close()
    last = state.log.rows[-1] if state.log.rows else {}
    return {
        "fold_dir": job.fold_dir,
        "model_folder": ModelFolder(job.fold_dir.parent),
        "epochs": s.num_epochs,
        "best_ema": state.best_ema,
        "final_dice": {o: last.get(f"dice_{o}") for o in run.organ_names},
        "model": state.model,
        "rank": info.rank,
        "world_size": info.world_size,
    }
