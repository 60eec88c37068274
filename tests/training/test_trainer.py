"""Tests of torsoseg.training.trainer: a tiny network trains; its checkpoint reloads to the same outputs."""

from __future__ import annotations

import csv
import math
from dataclasses import replace

import pytest
import torch

from torsoseg.dataset import DatasetJson
from torsoseg.network import build_network
from torsoseg.plans import Plans
from torsoseg.training.augmentation import validation_transforms
from torsoseg.training.dataloading import make_batches
from torsoseg.training.losses import DeepSupervisionLoss, DiceCELoss
from torsoseg.training.patches import PatchBatchLoader
from torsoseg.training.run import train_model
from torsoseg.training.settings import PRESETS, TrainingSettings
from torsoseg.training.state import run_seeds
from torsoseg.training.trainer import deep_supervision_strides, use_channels_last
from torsoseg.training.validation import draw_batches, validate


def _rows(fold_dir):
    return list(csv.DictReader(open(fold_dir / "training_log.csv")))


# SGD (lr 1e-2, momentum 0.99) first drops the cross-entropy fast by predicting background; AdamW
# (lr 1e-3, the cpu preset) falls more slowly in 24 steps (measured 0.92x) but learns organs sooner.
@pytest.mark.parametrize("optimizer, lr, factor", [("sgd", 1e-2, 0.8), ("adamw", 1e-3, 0.95)])
def test_loss_falls_and_checkpoint_reloads_to_same_outputs(tiny_roots, optimizer, lr, factor):
    out = train_model(
        990,
        fold=0,
        preset="cpu",
        device="cpu",
        precision="fp32",
        num_epochs=4,
        iterations_per_epoch=6,
        val_iterations=2,
        optimizer=optimizer,
        initial_lr=lr,
        # no partial-coverage cuts: in 24 steps, samples cut to a slab (mostly background) blur the loss curve
        augmentation=replace(PRESETS["cpu"].augmentation, p_partial_coverage=0.0),
        results_root=tiny_roots["results_root"] / optimizer,
        preprocessed_root=tiny_roots["preprocessed_root"],
    )
    fold = out["fold_dir"]
    rows = _rows(fold)
    assert len(rows) == 4
    assert float(rows[-1]["train_loss"]) < factor * float(rows[0]["train_loss"])
    for name in ("checkpoint_latest.pt", "checkpoint_best.pt", "checkpoint_final.pt", "progress.png"):
        assert (fold / name).is_file()
    assert (fold.parent / "plans.json").is_file() and (fold.parent / "dataset.json").is_file()

    ckpt = torch.load(fold / "checkpoint_final.pt", weights_only=True)
    assert ckpt["epoch"] == 4 and ckpt["format_version"] == 1
    plans = Plans.from_json(ckpt["plans"])
    assert DatasetJson.from_json(ckpt["dataset_json"]).labels == ckpt["labels"]
    net = build_network(plans, num_classes=len(ckpt["labels"]))
    net.load_state_dict(ckpt["network_weights"])
    # recompute the last validation from the reloaded weights: same patches (fixed seed) -> same loss
    s = TrainingSettings.from_json(ckpt["settings"])
    val_ids = __import__("json").loads(
        (tiny_roots["preprocessed_root"] / "Dataset990_Tiny" / "splits.json").read_text()
    )[0]["val"]
    cache = tiny_roots["preprocessed_root"] / "Dataset990_Tiny" / "torsoseg_plans_3d_fullres"
    loader = PatchBatchLoader(
        cache,
        val_ids,
        plans.batch_size,
        plans.patch_size,
        plans.patch_size,
        s.oversample_foreground,
        seed=run_seeds(s.seed).validation_patches,
    )
    seeds = run_seeds(s.seed)
    batches = draw_batches(
        make_batches(loader, validation_transforms(plans.patch_size), 0, seeds.validation_augmentation), 2
    )
    loss_fn = DeepSupervisionLoss(DiceCELoss(ce_balance=s.ce_class_balance), deep_supervision_strides(plans))
    val_loss, dice = validate(net, batches, loss_fn, torch.device("cpu"))
    assert val_loss == pytest.approx(float(rows[-1]["val_loss"]), rel=1e-4)
    assert float(rows[-1]["dice_liver"]) == pytest.approx(float(dice[0]), abs=1e-4)


def test_training_with_every_sample_cut_to_a_slab_runs_and_records_the_cut(tiny_roots):
    """The partial-coverage cut inside a real training step (deep supervision targets, loss, checkpoint):
    every sample cut (p 1) trains to finite losses, and the checkpoint's settings keep the probability."""
    out = train_model(
        990, fold=0, preset="cpu", device="cpu", precision="fp32", num_epochs=2, iterations_per_epoch=2,
        val_iterations=1, augmentation=replace(PRESETS["cpu"].augmentation, p_partial_coverage=1.0),
        results_root=tiny_roots["results_root"] / "cut", preprocessed_root=tiny_roots["preprocessed_root"],
    )
    rows = _rows(out["fold_dir"])
    assert len(rows) == 2 and all(math.isfinite(float(r["train_loss"])) for r in rows)
    ckpt = torch.load(out["fold_dir"] / "checkpoint_final.pt", weights_only=True)
    assert TrainingSettings.from_json(ckpt["settings"]).augmentation.p_partial_coverage == 1.0


def test_channels_last_rule():
    s = TrainingSettings()
    assert use_channels_last(s, torch.device("cpu"), torch.bfloat16)
    assert not use_channels_last(s, torch.device("cpu"), None)
    assert use_channels_last(TrainingSettings(channels_last=True), torch.device("cpu"), None)
    assert deep_supervision_strides(
        Plans.from_json({**_plans_json(), "strides": [[1, 1, 1], [2, 2, 1], [2, 2, 2]]})
    ) == [(1, 1, 1), (2, 2, 1)]


def _plans_json():
    from tests.training.conftest import tiny_plans

    return tiny_plans().to_json()


def test_existing_run_is_not_overwritten(tiny_roots):
    kw = dict(
        preset="cpu", device="cpu", num_epochs=1, iterations_per_epoch=1, val_iterations=1, **tiny_roots
    )
    train_model(990, fold=1, **kw)
    with pytest.raises(FileExistsError, match="pass --resume"):
        train_model(990, fold=1, **kw)
    done = train_model(990, fold=1, resume=True, **kw)
    assert done["epochs"] == 0 and "already trained 1/1 epochs" in done["message"]
    assert done["model_folder"].fold_dir(1) == done["fold_dir"] and done["fold_dir"].is_dir()
    with pytest.raises(ValueError, match="cannot change initial_lr"):
        train_model(990, fold=1, resume=True, initial_lr=0.5, **{k: v for k, v in kw.items()})
    with pytest.raises(ValueError, match="unknown fold '9'"):
        train_model(990, fold=9, **kw)


def test_bf16_requested_without_support_trains_in_fp32(tiny_roots, monkeypatch):
    from torsoseg.network import precision

    monkeypatch.setattr(precision, "cpu_supports_bf16", lambda: False)
    kw = dict(preset="cpu", device="cpu", num_epochs=1, iterations_per_epoch=2, val_iterations=1,
              preprocessed_root=tiny_roots["preprocessed_root"])
    with pytest.warns(UserWarning, match="using float32"):
        out = train_model(990, fold=2, precision="bf16", results_root=tiny_roots["results_root"], **kw)
    assert all(p.dtype == torch.float32 for p in out["model"].parameters())
    assert out["model"].encoder[0][0].conv.weight.is_contiguous()  # no channels-last without bf16
    # the fallback is exactly a float32 run: the same seed gives the same weights, bit for bit
    ref = train_model(990, fold=2, precision="fp32", results_root=tiny_roots["results_root"] / "fp32", **kw)
    for (name, a), b in zip(out["model"].state_dict().items(), ref["model"].state_dict().values()):
        assert torch.equal(a, b), name
