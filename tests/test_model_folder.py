"""Tests of torsoseg.model_folder: the checkpoint record, its weights-only load, fold discovery."""

from __future__ import annotations

import pytest
import torch

from tests.checks_table import CHECKS
from tests.inference.model_factory import tiny_plans
from torsoseg.model_folder import (
    Checkpoint,
    ModelFolder,
    find_trained_checkpoint,
    load_checkpoint,
    save_checkpoint,
)


class _Arbitrary:
    """An object a weights-only load must refuse."""


def _checkpoint(**kw) -> Checkpoint:
    plans = tiny_plans()
    return Checkpoint(network_weights={"w": torch.arange(3.0)}, plans=plans, dataset_json={},
                      labels=dict(plans.labels), settings={"seed": 1}, epoch=2, **kw)


def test_round_trip_is_weights_only_and_atomic(tmp_path):
    c = _checkpoint(optimizer={"state": {}, "param_groups": [{"lr": 0.1, "params": [0]}]}, best_ema=0.5)
    p = save_checkpoint(tmp_path / "checkpoint_latest.pt", c)
    raw = torch.load(p, weights_only=True)  # plain types only
    assert raw["epoch"] == 2 and raw["format_version"] == 1 and raw["plans"] == c.plans.to_json()
    back = load_checkpoint(p)
    assert back.source == p and (back.plans, back.labels, back.best_ema) == (c.plans, c.labels, 0.5)
    assert back.optimizer == c.optimizer and back.settings == c.settings
    torch.testing.assert_close(back.network_weights["w"], torch.arange(3.0))
    assert [q.name for q in tmp_path.iterdir()] == ["checkpoint_latest.pt"]  # no temporary left


def test_bad_checkpoints_name_the_file_and_the_problem(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.pt: no such checkpoint"):
        load_checkpoint(tmp_path / "missing.pt")
    torch.save([1, 2], tmp_path / "list.pt")
    with pytest.raises(ValueError, match="list.pt: not a torsoseg checkpoint .a list"):
        load_checkpoint(tmp_path / "list.pt")
    good = _checkpoint().to_dict()
    torch.save({**good, "format_version": 7}, tmp_path / "v7.pt")
    with pytest.raises(ValueError, match="v7.pt: checkpoint format_version 7 is not supported"):
        load_checkpoint(tmp_path / "v7.pt")
    torch.save({k: v for k, v in good.items() if k != "settings"}, tmp_path / "nosettings.pt")
    with pytest.raises(ValueError, match="lacks key.s. settings"):
        load_checkpoint(tmp_path / "nosettings.pt")
    torch.save({**good, "labels": {"background": 0, "liver": 2}}, tmp_path / "gap.pt")
    with pytest.raises(ValueError, match="gap.pt: labels must be consecutive"):
        load_checkpoint(tmp_path / "gap.pt")
    torch.save({**good, "plans": {**good["plans"], "patch_size": [0, 1, 1]}}, tmp_path / "plans.pt")
    with pytest.raises(ValueError, match=r"plans.pt \[plans\].*patch_size"):
        load_checkpoint(tmp_path / "plans.pt")
    torch.save({**good, "trainer": "../../x"}, tmp_path / "trainer.pt")
    with pytest.raises(ValueError, match=CHECKS["name_from_json"].pattern):
        load_checkpoint(tmp_path / "trainer.pt")


def test_refusal_of_pickled_objects_does_not_advise_an_unsafe_load(tmp_path):
    torch.save({**_checkpoint().to_dict(), "obj": _Arbitrary()}, tmp_path / "pickle.pt")
    with pytest.raises(ValueError, match="pickle.pt: cannot be loaded") as err:
        load_checkpoint(tmp_path / "pickle.pt")
    assert "weights_only" not in str(err.value) and "False" not in str(err.value)
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="junk.pt: cannot be loaded as a torsoseg checkpoint"):
        load_checkpoint(tmp_path / "junk.pt")


def test_fold_discovery_orders_numbers_then_names(tmp_path):
    folder = ModelFolder.for_training(tmp_path, "Dataset999_Tiny", "Trainer", tiny_plans())
    assert folder.path == tmp_path / "Dataset999_Tiny" / "Trainer__torsoseg_plans__3d_fullres"
    for ds_folder, trainer in (("..", "Trainer"), ("Dataset999_Tiny", "../x"), ("Dataset999_Tiny", "a/b")):
        with pytest.raises(ValueError, match=CHECKS["name_from_json"].pattern):
            ModelFolder.for_training(tmp_path, ds_folder, trainer, tiny_plans())
    for fold in ("10", "2", "all"):
        folder.fold_dir(fold).mkdir(parents=True)
        save_checkpoint(folder.checkpoint_path(fold, "final"), _checkpoint())
    folder.fold_dir("3").mkdir()  # no checkpoint: not a trained fold
    assert folder.available_folds() == ["2", "10", "all"]
    assert folder.resolve_folds([10]) == [folder.checkpoint_path("10")]
    assert folder.has_run("2") and not folder.has_run("3")
    with pytest.raises(FileNotFoundError, match=r"fold_3.*folds with checkpoint_final.pt: 2, 10, all"):
        folder.resolve_folds(["3"])
    with pytest.raises(FileNotFoundError, match="checkpoints found: fold_10/checkpoint_final.pt"):
        folder.resolve_folds(None, "best")
    with pytest.raises(ValueError, match="unknown checkpoint 'last'; valid: final, best, latest"):
        folder.checkpoint_path("2", "last")
    with pytest.raises(FileNotFoundError, match="model folder not found"):
        ModelFolder(tmp_path / "nope").available_folds()


def test_find_trained_checkpoint(tmp_path):
    with pytest.raises(FileNotFoundError, match="no folder Dataset001"):
        find_trained_checkpoint(tmp_path, 1)
    m = tmp_path / "Dataset001_Abdomen" / "Trainer_cpu__torsoseg_plans__3d_fullres"
    (m / "fold_0").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match="no trained model"):
        find_trained_checkpoint(tmp_path, 1)
    (m / "fold_0" / "checkpoint_best.pt").write_bytes(b"x")
    (m / "fold_all").mkdir()
    (m / "fold_all" / "checkpoint_final.pt").write_bytes(b"x")
    assert find_trained_checkpoint(tmp_path, 1, fold="0") == m / "fold_all" / "checkpoint_final.pt"
    m2 = tmp_path / "Dataset001_Abdomen" / "Trainer__torsoseg_plans__3d_fullres" / "fold_all"
    m2.mkdir(parents=True)
    (m2 / "checkpoint_final.pt").write_bytes(b"x")
    with pytest.raises(ValueError, match="several trained models qualify"):
        find_trained_checkpoint(tmp_path, 1)


