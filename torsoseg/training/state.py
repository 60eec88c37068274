"""What a training run carries from epoch to epoch and saves: :class:`TrainState`, its seeds
(:func:`run_seeds`, the one place that derives them) and the random-number states.

A checkpoint is written and read through :mod:`torsoseg.model_folder`; this module only turns the state
of a run into a :class:`~torsoseg.model_folder.Checkpoint` and back.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from torsoseg.model_folder import Checkpoint
from torsoseg.training.progress import TrainingLog

if TYPE_CHECKING:
    from torsoseg.training.trainer import TrainingJob


@dataclass(frozen=True)
class Seeds:
    """The seeds of one rank of a run that starts (or resumes) at ``start_epoch``.

    Attributes:
        init: initial weights (the same on every rank).
        rank: the global generators after initialisation on other ranks or after a resume; also the
            training patch sampler.
        augmentation: the augmentation pipeline (``rank + 1``).
        validation_patches, validation_augmentation: the fixed validation batches (rank 0 only).
    """

    init: int
    rank: int
    augmentation: int
    validation_patches: int
    validation_augmentation: int


def run_seeds(seed: int, rank: int = 0, start_epoch: int = 0) -> Seeds:
    """All seeds of a run from its base ``seed`` (``TrainingSettings.seed``)."""
    rank_seed = seed + 1000 * rank + 7919 * start_epoch
    return Seeds(init=seed, rank=rank_seed, augmentation=rank_seed + 1, validation_patches=seed + 424242,
                 validation_augmentation=seed)


def seed_everything(seed: int) -> None:
    """Seeds torch, numpy and python ``random``."""
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)


def rng_state() -> dict[str, Any]:
    """torch / numpy / python random states as tensors and plain lists (weights_only-safe)."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    py_version, py_state, py_gauss = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "numpy": {
            "kind": str(kind),
            "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached),
        },
        "python": {
            "version": int(py_version),
            "state": list(py_state),
            "gauss": None if py_gauss is None else float(py_gauss),
        },
    }


def set_rng_state(state: dict[str, Any]) -> None:
    """Restores what :func:`rng_state` returned."""
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state(
        (
            n["kind"],
            np.asarray(n["keys"].numpy(), dtype=np.uint32),
            n["pos"],
            n["has_gauss"],
            n["cached_gaussian"],
        )
    )
    p = state["python"]
    random.setstate((p["version"], tuple(p["state"]), p["gauss"]))


@dataclass
class TrainState:
    """What changes while training and what a checkpoint saves.

    Attributes:
        model: the network (unwrapped; its weights are the checkpoint's ``network_weights``).
        optimizer: its optimiser.
        log: the per-epoch training log.
        epoch: completed epochs.
        best_ema: best exponential moving average of the validation Dice so far.
        ema: the current moving average (``None`` before the first validation).
        pretrained: the fine-tuning transfer record, if the run started from a pretrained model.
    """

    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    log: TrainingLog
    epoch: int = 0
    best_ema: float = -math.inf
    ema: float | None = None
    pretrained: dict[str, Any] | None = None

    def restore(self, ckpt: Checkpoint, organ_names: list[str], restore_rng: bool) -> None:
        """Continues from ``ckpt``: weights, optimiser, epoch, log and best; the RNG states if asked."""
        self.model.load_state_dict(ckpt.network_weights)
        self.optimizer.load_state_dict(ckpt.optimizer)
        self.epoch = int(ckpt.epoch)
        self.best_ema = float(ckpt.best_ema if ckpt.best_ema is not None else -math.inf)
        self.log = TrainingLog(organ_names, ckpt.logging or [])
        self.log.truncate(self.epoch)
        self.ema = self.log.rows[-1]["ema_dice"] if self.log.rows else None
        self.pretrained = ckpt.pretrained
        if restore_rng and ckpt.rng is not None:
            set_rng_state(ckpt.rng)

    def checkpoint(self, job: TrainingJob, epoch: int) -> Checkpoint:
        """The checkpoint of this state after ``epoch`` completed epochs."""
        s = job.settings
        return Checkpoint(
            network_weights={k: v.detach().cpu() for k, v in self.model.state_dict().items()},
            plans=job.plans,
            dataset_json=job.dataset_json.to_json(),
            labels=dict(job.dataset_json.labels),
            settings=s.to_json(),
            epoch=epoch,
            num_epochs=s.num_epochs,
            trainer=job.trainer,
            fold=job.fold,
            optimizer=self.optimizer.state_dict(),
            scheduler={
                "epoch": epoch,
                "num_epochs": s.num_epochs,
                "lr": self.log.rows[-1]["lr"] if self.log.rows else s.initial_lr,
            },
            rng=rng_state(),
            logging=self.log.to_state(),
            best_ema=self.best_ema,
            pretrained=self.pretrained,
        )
