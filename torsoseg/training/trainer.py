"""The training loop. It trains; the pieces it is handed do the rest (patches, augmentation, loss,
validation, checkpoints, fine-tune transfer, DDP).

:func:`fit` runs a fully resolved :class:`TrainingJob` (see :func:`torsoseg.training.run.train_model`
for the user-facing entry point that builds one from a dataset id).
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from torsoseg.dataset import DatasetJson
from torsoseg.fileio import atomic_write_json
from torsoseg.network import build_network
from torsoseg.network.precision import autocast, resolve_precision
from torsoseg.organs import lr_swap_table
from torsoseg.planning.plans import Plans
from torsoseg.training import checkpoint as ckpt_io
from torsoseg.training import distributed as dist_util
from torsoseg.training.augmentation import initial_patch_size, training_transforms, validation_transforms
from torsoseg.training.dataloading import make_batches
from torsoseg.training.finetune import transfer_weights
from torsoseg.training.losses import DeepSupervisionLoss, DiceCELoss
from torsoseg.training.param_groups import apply_group_rates, group_rates, parameter_groups
from torsoseg.training.patches import PatchBatchLoader
from torsoseg.training.progress import TrainingLog, format_epoch_line
from torsoseg.training.schedule import learning_rate
from torsoseg.training.settings import TrainingSettings
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
        pretrained: ``{"checkpoint": path, "state": weights, "labels": name->value}`` or ``None``.
        resume_from: a checkpoint dict to continue from, or ``None``.
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
    pretrained: dict[str, Any] | None = None
    resume_from: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


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


def _seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)


def fit(
    job: TrainingJob, progress: bool = False, echo: Callable[[str], None] | None = None
) -> dict[str, Any]:
    """Trains ``job`` to ``settings.num_epochs`` and writes checkpoints, log and plot to ``job.fold_dir``.

    Returns:
        Summary ``{"fold_dir", "epochs", "best_ema", "final_dice", "model", "rank", "world_size"}``
        (``model``: the trained network, unwrapped; ``final_dice`` is empty on ranks other than 0).
    """
    s = job.settings
    info = dist_util.init_distributed(job.device)
    device = dist_util.rank_device(job.device, info)
    amp_dtype = resolve_precision(s.precision, device)
    channels_last = use_channels_last(s, device, amp_dtype)
    mem_fmt = torch.channels_last_3d if channels_last else torch.contiguous_format
    labels = job.dataset_json.labels
    organ_names = [n for n in job.dataset_json.label_names if n != "background"]
    _seed_everything(s.seed)  # identical initial weights on every rank

    model = build_network(
        job.plans, num_classes=job.dataset_json.num_classes, deep_supervision=s.deep_supervision
    )
    transfer = None
    if job.pretrained is not None and job.resume_from is None:
        transfer = transfer_weights(
            model, job.pretrained["state"], job.pretrained["labels"], labels, s.new_row_init
        )
        transfer["checkpoint"] = str(job.pretrained["checkpoint"])
    model = model.to(device).to(memory_format=mem_fmt)
    optimizer = make_optimizer(s, parameter_groups(model))
    scaler = torch.amp.GradScaler("cuda") if (device.type == "cuda" and amp_dtype is torch.float16) else None

    start_epoch, best_ema, ema = 0, -math.inf, None
    tlog = TrainingLog(organ_names)
    if job.resume_from is not None:
        c = job.resume_from
        model.load_state_dict(c["network_weights"])
        optimizer.load_state_dict(c["optimizer"])
        start_epoch = int(c["epoch"])
        best_ema = float(c.get("best_ema", -math.inf))
        tlog = TrainingLog(organ_names, c.get("logging", []))
        tlog.truncate(start_epoch)
        ema = tlog.rows[-1]["ema_dice"] if tlog.rows else None
        if info.rank == 0 and "rng" in c:
            ckpt_io.set_rng_state(c["rng"])
    if info.rank or job.resume_from is not None:
        _seed_everything(s.seed + 1000 * info.rank + 7919 * start_epoch)

    ddp_model = dist_util.wrap_model(model, device, info)
    ds_loss = (
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
    rank_seed = s.seed + 1000 * info.rank + 7919 * start_epoch
    train_loader = PatchBatchLoader(
        job.cache_folder, job.train_ids, batch_size, big_patch, patch, s.oversample_foreground, seed=rank_seed
    )
    batches = make_batches(
        train_loader,
        training_transforms(patch, aug, lr_swap_table(labels)),
        s.num_workers,
        seed=rank_seed + 1,
    )
    val_batches: list = []
    if info.is_main and s.val_iterations > 0:
        vl = PatchBatchLoader(
            job.cache_folder,
            job.val_ids,
            batch_size,
            patch,
            patch,
            s.oversample_foreground,
            seed=s.seed + 424242,
        )
        val_batches = draw_batches(
            make_batches(vl, validation_transforms(patch), 0, seed=s.seed), s.val_iterations
        )

    if info.is_main:
        job.fold_dir.mkdir(parents=True, exist_ok=True)
        if transfer is not None:
            atomic_write_json(job.fold_dir / "pretrained_transfer.json", transfer)
        log.info(
            "training %s fold %s on %s: %d train / %d val cases, patch %s, batch %d, precision %s%s",
            job.plans.dataset_name,
            job.fold,
            device,
            len(job.train_ids),
            len(job.val_ids),
            patch,
            batch_size,
            "fp32" if amp_dtype is None else str(amp_dtype).replace("torch.", ""),
            ", channels-last" if channels_last else "",
        )

    def checkpoint(epoch: int) -> dict[str, Any]:
        return {
            "format_version": ckpt_io.CHECKPOINT_FORMAT_VERSION,
            "network_weights": {k: v.detach().cpu() for k, v in model.state_dict().items()},
            "plans": job.plans.to_json(),
            "dataset_json": job.dataset_json.to_json(),
            "labels": dict(labels),
            "settings": s.to_json(),
            "epoch": epoch,
            "num_epochs": s.num_epochs,
            "trainer": job.trainer,
            "fold": job.fold,
            "optimizer": optimizer.state_dict(),
            "scheduler": {
                "epoch": epoch,
                "num_epochs": s.num_epochs,
                "lr": tlog.rows[-1]["lr"] if tlog.rows else s.initial_lr,
            },
            "rng": ckpt_io.rng_state(),
            "logging": tlog.to_state(),
            "best_ema": best_ema,
            "pretrained": transfer if transfer is not None else (job.resume_from or {}).get("pretrained"),
        }

    last_plot = -math.inf
    try:
        for epoch in range(start_epoch, s.num_epochs):
            t0 = time.perf_counter()
            lr = learning_rate(epoch, s.num_epochs, s.initial_lr, s.poly_exponent, s.warmup_epochs)
            apply_group_rates(optimizer, group_rates(s, epoch, lr), toggle_grad=not info.active)
            ddp_model.train()
            losses = []
            steps = range(s.iterations_per_epoch)
            if progress and info.is_main:
                from tqdm import tqdm

                steps = tqdm(steps, desc=f"epoch {epoch + 1}/{s.num_epochs}", leave=False, unit="it")
            for _ in steps:
                b = next(batches)
                x = (
                    torch.from_numpy(b["data"])
                    .to(device, non_blocking=True)
                    .contiguous(memory_format=mem_fmt)
                )
                y = torch.from_numpy(b["seg"][:, 0].astype(np.int64)).to(device, non_blocking=True)
                optimizer.zero_grad(set_to_none=True)
                with autocast(amp_dtype, device):
                    out = ddp_model(x)
                loss = ds_loss(out, y)  # float32 (the loss casts the logits)
                if scaler is not None:
                    scaler.scale(loss).backward()
                    scaler.unscale_(optimizer)
                    torch.nn.utils.clip_grad_norm_(model.parameters(), s.grad_clip)
                    scaler.step(optimizer)
                    scaler.update()
                else:
                    loss.backward()
                    torch.nn.utils.clip_grad_norm_(model.parameters(), s.grad_clip)
                    optimizer.step()
                losses.append(float(loss.detach()))
            if not info.is_main:
                continue
            val_loss, dice = validate(model, val_batches, ds_loss, device, amp_dtype, mem_fmt)
            finite = [d for d in dice if np.isfinite(d)]
            ema = update_ema(ema, float(np.mean(finite)) if finite else float("nan"), s.ema_alpha)
            row = tlog.append(
                epoch, float(np.mean(losses)), val_loss, list(dice), ema, lr, time.perf_counter() - t0
            )
            is_best = np.isfinite(ema) and ema > best_ema
            if is_best:
                best_ema = ema
            c = checkpoint(epoch + 1)
            if is_best:
                ckpt_io.save_checkpoint(job.fold_dir / "checkpoint_best.pt", c)
            ckpt_io.save_checkpoint(job.fold_dir / "checkpoint_latest.pt", c)
            tlog.write_csv(job.fold_dir / "training_log.csv")
            if epoch == s.num_epochs - 1 or time.perf_counter() - last_plot > PLOT_INTERVAL_S:
                tlog.plot(
                    job.fold_dir / "progress.png", f"{job.plans.dataset_name}  {job.trainer}  fold {job.fold}"
                )
                last_plot = time.perf_counter()
            line = format_epoch_line(row, s.num_epochs, organ_names) + ("  *best*" if is_best else "")
            log.info(line)
            if echo is not None:
                echo(line)
        if info.is_main:
            final = checkpoint(s.num_epochs)
            ckpt_io.save_checkpoint(job.fold_dir / "checkpoint_final.pt", final)
            if not (job.fold_dir / "checkpoint_best.pt").exists():
                ckpt_io.save_checkpoint(job.fold_dir / "checkpoint_best.pt", final)
        dist_util.barrier(info)
    finally:
        batches.close()
    last = tlog.rows[-1] if tlog.rows else {}
    return {
        "fold_dir": job.fold_dir,
        "epochs": s.num_epochs,
        "best_ema": best_ema,
        "final_dice": {o: last.get(f"dice_{o}") for o in organ_names},
        "model": model,
        "rank": info.rank,
        "world_size": info.world_size,
    }
