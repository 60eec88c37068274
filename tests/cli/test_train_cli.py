"""Tests of torsoseg.cli.train (called through main([...]))."""

from __future__ import annotations

import pytest

from tests.training.conftest import tiny_plans, write_tiny_dataset
from torsoseg.cli.train import build_parser, main


def test_help_has_example(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert "torsoseg_train 2 --fold all --pretrained 1" in out and "--precision" in out


def test_flags_default_to_none():
    ns = build_parser().parse_args(["1"])
    for k in (
        "fold",
        "preset",
        "epochs",
        "iterations_per_epoch",
        "lr",
        "device",
        "precision",
        "resume",
        "workers",
        "preprocessed",
        "results",
        "pretrained",
        "pretrained_checkpoint",
        "head_lr_factor",
        "head_first_epochs",
        "new_row_init",
        "ce_class_balance",
        "seed",
    ):
        assert getattr(ns, k) is None, k


def test_strategy_flags_reach_the_settings(monkeypatch):
    import torsoseg.training.run as run

    seen = {}
    monkeypatch.setattr(run, "train_model", lambda *a, **kw: seen.update(kw) or {"fold_dir": None})
    main(["2", "--pretrained", "1", "--head-lr-factor", "30", "--head-first-epochs", "3",
          "--new-row-init", "random", "--ce-class-balance", "0.25"])
    assert (seen["head_lr_factor"], seen["head_first_epochs"]) == (30.0, 3)
    assert (seen["new_row_init"], seen["ce_class_balance"]) == ("random", 0.25)


def test_train_then_resume_finished(tmp_path, capsys):
    pre, res = tmp_path / "pre", tmp_path / "res"
    write_tiny_dataset(pre, tiny_plans(), 3)
    args = [
        "990",
        "--fold",
        "all",
        "--preset",
        "cpu",
        "--epochs",
        "1",
        "--iterations-per-epoch",
        "2",
        "--device",
        "cpu",
        "--precision",
        "fp32",
        "--workers",
        "0",
        "--no-progress",
        "--preprocessed",
        str(pre),
        "--results",
        str(res),
    ]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "epoch 1/1" in out and "done:" in out
    assert (
        res
        / "Dataset990_Tiny"
        / "Trainer_cpu__torsoseg_plans__3d_fullres"
        / "fold_all"
        / "checkpoint_final.pt"
    ).is_file()
    assert main([*args, "--resume"]) == 0
    assert "nothing to resume" in capsys.readouterr().out
    assert main(args) == 1  # would overwrite
    assert "pass --resume" in capsys.readouterr().err


def test_seed_is_stored_and_changes_the_run(tmp_path):
    """--seed overrides the preset's seed: it is saved in the checkpoint's settings, and two seeds start
    from different weights (so several seeds are several experiments)."""
    import torch

    from torsoseg.model_folder import load_checkpoint

    pre = tmp_path / "pre"
    write_tiny_dataset(pre, tiny_plans(), 3)
    weights = {}
    for seed in (3, 4):
        res = tmp_path / f"res{seed}"
        assert main(["990", "--fold", "all", "--preset", "cpu", "--epochs", "1", "--iterations-per-epoch",
                     "1", "--device", "cpu", "--precision", "fp32", "--workers", "0", "--no-progress",
                     "--seed", str(seed), "--preprocessed", str(pre), "--results", str(res)]) == 0
        fold = res / "Dataset990_Tiny" / "Trainer_cpu__torsoseg_plans__3d_fullres" / "fold_all"
        ckpt = load_checkpoint(fold / "checkpoint_final.pt")
        assert ckpt.settings["seed"] == seed
        weights[seed] = ckpt.network_weights
    floats = [k for k in weights[3] if weights[3][k].is_floating_point()]
    assert any(not torch.equal(weights[3][k], weights[4][k]) for k in floats)


def test_bad_inputs(tmp_path, capsys):
    assert main(["7", "--preprocessed", str(tmp_path), "--results", str(tmp_path)]) == 1
    assert "no folder Dataset007_*" in capsys.readouterr().err
    write_tiny_dataset(tmp_path / "pre", tiny_plans(), 2)
    assert main(["990", "--preset", "turbo", "--preprocessed", str(tmp_path / "pre")]) == 1
    assert "unknown training preset 'turbo'; valid:" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["990", "--pretrained", "1", "--pretrained-checkpoint", "x.pt"])
