"""Tests of torsoseg.training.settings."""

from __future__ import annotations

import dataclasses

import pytest

from torsoseg.training.settings import PRESETS, TrainingSettings, get_settings, trainer_name


def test_presets_hand_values():
    assert (PRESETS["default"].num_epochs, PRESETS["default"].iterations_per_epoch) == (1000, 250)
    assert PRESETS["default"].initial_lr == 1e-2
    assert PRESETS["finetune"].initial_lr == pytest.approx(PRESETS["default"].initial_lr / 10)
    assert PRESETS["finetune"].warmup_epochs > 0
    # the paper's 10x smaller rate by name; the demo's default body rate is 3x smaller (measured)
    for name in ("finetune_cpu_plain", "finetune_cpu_10x"):
        assert PRESETS[name].initial_lr == pytest.approx(PRESETS["cpu"].initial_lr / 10)
    assert PRESETS["finetune_cpu"].initial_lr == pytest.approx(3e-4)
    heads = [PRESETS[n].initial_lr * PRESETS[n].head_lr_factor for n in ("finetune_cpu", "finetune_cpu_10x")]
    assert heads == pytest.approx([1e-2, 1e-2])
    assert PRESETS["default"].optimizer == "sgd" and PRESETS["finetune"].optimizer == "sgd"
    assert PRESETS["cpu"].optimizer == PRESETS["finetune_cpu"].optimizer == "adamw"


def test_overrides_and_none_ignored():
    before = PRESETS["cpu"]
    s = get_settings("cpu", num_epochs=before.num_epochs + 3, initial_lr=None)
    assert s.num_epochs == before.num_epochs + 3 and s.initial_lr == before.initial_lr
    # presets are not mutated, and cannot be
    assert PRESETS["cpu"] is before and PRESETS["cpu"].num_epochs == s.num_epochs - 3
    with pytest.raises(dataclasses.FrozenInstanceError):
        before.num_epochs = 1  # type: ignore[misc]


def test_json_round_trip():
    for s in PRESETS.values():
        assert TrainingSettings.from_json(s.to_json()) == s


def test_settings_saved_before_partial_coverage_existed_resume_without_it():
    """A checkpoint written before the partial-coverage augmentation trained without it; resuming it must not
    switch the cut on halfway."""
    old = PRESETS["cpu"].to_json()
    del old["augmentation"]["p_partial_coverage"], old["augmentation"]["partial_coverage_range"]
    assert TrainingSettings.from_json(old).augmentation.p_partial_coverage == 0.0
    assert PRESETS["cpu"].augmentation.p_partial_coverage == 0.1


def test_trainer_names():
    assert trainer_name(False, None) == "Trainer"
    assert trainer_name(False, "default") == "Trainer"
    assert trainer_name(False, "cpu") == "Trainer_cpu"
    assert trainer_name(True, None) == "FineTuneTrainer"
    assert trainer_name(True, "finetune_cpu") == "FineTuneTrainer_finetune_cpu"


def test_bad_values_messages():
    with pytest.raises(ValueError, match="unknown training preset 'fast'; valid: cpu, default"):
        get_settings("fast")
    with pytest.raises(ValueError, match="optimizer must be one of sgd, adamw, got 'adam'"):
        get_settings("cpu", optimizer="adam")
    with pytest.raises(ValueError, match="num_epochs must be >= 1"):
        get_settings("default", num_epochs=0)
    with pytest.raises(ValueError, match="precision must be one of fp32, bf16, auto"):
        get_settings(precision="fp16")
    with pytest.raises(ValueError, match="unknown training setting"):
        get_settings(epochs=3)
    with pytest.raises(ValueError, match="unknown augmentation setting"):
        TrainingSettings.from_json({"augmentation": {"p_flip": 0.5}})
