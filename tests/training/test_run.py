"""Tests of torsoseg.training.run: kill-and-resume, explicit extension."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from torsoseg.training.run import train_model

REPO = Path(__file__).resolve().parents[2]


def _rows(fold_dir):
    return list(csv.DictReader(open(fold_dir / "training_log.csv")))


@pytest.mark.slow
def test_sigkill_then_resume_matches_uninterrupted_schedule(tiny_roots, tmp_path):
    args = [
        "990",
        "--fold",
        "0",
        "--preset",
        "cpu",
        "--epochs",
        "4",
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
        str(tiny_roots["preprocessed_root"]),
        "--results",
        str(tiny_roots["results_root"]),
    ]
    proc = subprocess.Popen(
        [sys.executable, "-u", "-m", "torsoseg.cli.train", *args],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    killed_after = None
    for line in proc.stdout:
        if line.startswith("epoch 2/4"):
            proc.send_signal(signal.SIGKILL)  # a signal, not a clean exit
            killed_after = 2
            break
    proc.wait(timeout=120)
    assert killed_after == 2 and proc.returncode == -signal.SIGKILL
    fold = (
        tiny_roots["results_root"] / "Dataset990_Tiny" / "Trainer_cpu__torsoseg_plans__3d_fullres" / "fold_0"
    )
    done = torch.load(fold / "checkpoint_latest.pt", weights_only=True)["epoch"]
    assert 2 <= done < 4 and not (fold / "checkpoint_final.pt").exists()

    from torsoseg.cli.train import main

    assert main([*args, "--resume"]) == 0
    resumed = _rows(fold)
    assert [int(r["epoch"]) for r in resumed] == list(range(4))
    # uninterrupted reference run elsewhere
    ref = train_model(
        990,
        fold=0,
        preset="cpu",
        device="cpu",
        precision="fp32",
        num_epochs=4,
        iterations_per_epoch=2,
        num_workers=0,
        preprocessed_root=tiny_roots["preprocessed_root"],
        results_root=tmp_path / "ref",
    )
    expected = _rows(ref["fold_dir"])
    assert [float(r["lr"]) for r in resumed] == pytest.approx([float(r["lr"]) for r in expected])
    assert float(resumed[done]["lr"]) == pytest.approx(float(expected[done]["lr"]))  # epoch k+1
    assert torch.load(fold / "checkpoint_final.pt", weights_only=True)["epoch"] == 4


def test_extend_finished_run_explicitly(tiny_roots):
    kw = dict(
        preset="cpu",
        device="cpu",
        precision="fp32",
        iterations_per_epoch=1,
        val_iterations=1,
        num_workers=0,
        **tiny_roots,
    )
    first = train_model(990, fold="all", num_epochs=2, **kw)
    lr_before = [float(r["lr"]) for r in _rows(first["fold_dir"])]
    more = train_model(990, fold="all", num_epochs=4, resume=True, **kw)
    rows = _rows(more["fold_dir"])
    assert [int(r["epoch"]) for r in rows] == [0, 1, 2, 3]
    assert [float(r["lr"]) for r in rows[:2]] == pytest.approx(lr_before)  # history kept
    ckpt = torch.load(more["fold_dir"] / "checkpoint_final.pt", weights_only=True)
    assert ckpt["epoch"] == 4 and ckpt["num_epochs"] == 4
    with pytest.raises(ValueError, match="below the 4 epochs already trained"):
        train_model(990, fold="all", num_epochs=3, resume=True, **kw)
    assert os.path.isfile(more["fold_dir"] / "progress.png")


_MODEL = "Trainer_cpu__torsoseg_plans__3d_fullres"


def test_model_dir_refuses_names_that_are_not_plain(tmp_path):
    from tests.checks_table import CHECKS
    from tests.training.conftest import tiny_plans
    from torsoseg.training.run import model_dir

    plans = tiny_plans()
    assert model_dir(tmp_path, "Dataset990_Tiny", "Trainer_cpu", plans) == (
        tmp_path / "Dataset990_Tiny" / "Trainer_cpu__torsoseg_plans__3d_fullres")
    for folder, trainer in (("Dataset990_Tiny", "../../x"), ("..", "Trainer"), ("Dataset990_Tiny", "a/b")):
        with pytest.raises(ValueError, match=CHECKS["name_from_json"].pattern):
            model_dir(tmp_path, folder, trainer, plans)


def test_resume_refuses_a_checkpoint_whose_trainer_is_a_path(tiny_roots):
    from tests.checks_table import CHECKS
    from torsoseg.model_folder import CHECKPOINT_FORMAT_VERSION, REQUIRED_KEYS

    fold = tiny_roots["results_root"] / "Dataset990_Tiny" / _MODEL / "fold_all"
    fold.mkdir(parents=True)
    crafted = {k: 0 for k in REQUIRED_KEYS}
    crafted.update(format_version=CHECKPOINT_FORMAT_VERSION, trainer="../../x")
    torch.save(crafted, fold / "checkpoint_latest.pt")
    with pytest.raises(ValueError, match=CHECKS["name_from_json"].pattern) as e:
        train_model(990, fold="all", preset="cpu", resume=True, device="cpu", **tiny_roots)
    assert "checkpoint_latest.pt: trainer '../../x' is not a valid name" in str(e.value)


def test_start_removes_stale_temporaries_of_the_fold_folder(tiny_roots):
    from torsoseg.training.run import prepare_job

    fold = tiny_roots["results_root"] / "Dataset990_Tiny" / _MODEL / "fold_all"
    fold.mkdir(parents=True)
    for name in (".checkpoint_latest.pt.k1ll.tmp", ".training_log.csv.x2y3.tmp"):
        (fold / name).write_bytes(b"left by a killed run")
    (fold / "notes.txt").write_text("the user's")
    job = prepare_job(990, fold="all", preset="cpu", device="cpu", **tiny_roots)
    assert job.fold_dir == fold
    assert sorted(p.name for p in fold.iterdir()) == ["notes.txt"]
