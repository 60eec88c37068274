"""The cascade through the CLIs: -c in plan_and_preprocess, train (and fine-tune) and predict; kill -9."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.inference.model_factory import make_model_dir
from tests.inference.model_factory import tiny_plans as tiny_inference_plans
from tests.preprocessing.rawdata import write_raw_dataset
from tests.training.conftest import synthetic_case, tiny_plans, write_tiny_dataset
from torsoseg.imageio import Volume, read_image, write_image
from torsoseg.plans import Plans, StageConfiguration
from torsoseg.preprocessing.cache import cache_folder, list_cached_cases, write_case

REPO = Path(__file__).resolve().parents[2]
LOWRES = StageConfiguration((4.0, 4.0, 6.0), (16, 16, 16), ((1, 1, 1), (2, 2, 2), (2, 2, 2)),
                            ((3, 3, 3),) * 3, (4, 8, 16), 2, (18, 16, 10))

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _ct(seed: int, shape=(60, 52, 30)) -> Volume:
    rng = np.random.default_rng(seed)
    arr = np.full(shape, -1000, np.int16)
    arr[4:-4, 4:-4, 2:-2] = rng.integers(-150, 250, (shape[0] - 8, shape[1] - 8, shape[2] - 4))
    return Volume(arr, (3.2, 3.0, 4.5), (-5.0, 7.0, 0.5), ((-1, 0, 0), (0, -1, 0), (0, 0, 1)))


def _cascade_dataset(root: Path, name: str = "Dataset990_Tiny") -> Plans:
    """A preprocessed tiny dataset whose plans hold a cascade, with its 3d_fullres and 3d_lowres caches."""
    plans = tiny_plans(name).replace(cascade=LOWRES)
    d = write_tiny_dataset(root, plans, 3)
    low = cache_folder(d, plans.for_configuration("3d_lowres"))
    for i in range(3):
        data, seg = synthetic_case(i, shape=(18, 16, 10), labels=plans.labels)
        write_case(low, f"case_{i:03d}", data, seg, {"spacing": list(LOWRES.target_spacing)})
    return plans


def _train(configuration: str, pre: Path, res: Path, dataset: str = "990", *extra: str) -> int:
    from torsoseg.cli.train import main

    return main([dataset, "--fold", "all", "-c", configuration, "--preset", "cpu", "--epochs", "1",
                 "--iterations-per-epoch", "2", "--device", "cpu", "--precision", "fp32", "--workers", "0",
                 "--no-progress", "--preprocessed", str(pre), "--results", str(res), *extra])


def test_train_both_stages_fine_tune_the_fine_stage_and_predict_with_the_cascade(tmp_path, capsys):
    from torsoseg.cli.predict import main as predict

    pre, res = tmp_path / "pre", tmp_path / "res"
    _cascade_dataset(pre)
    _cascade_dataset(pre, "Dataset991_Other")
    assert _train("3d_lowres", pre, res) == 0
    assert _train("3d_cascade", pre, res) == 0
    assert _train("3d_cascade", pre, res, "991", "--pretrained", "990") == 0
    capsys.readouterr()
    for ds, trainer in (("Dataset990_Tiny", "Trainer_cpu"), ("Dataset991_Other", "FineTuneTrainer_cpu")):
        folder = res / ds / f"{trainer}__torsoseg_plans__3d_cascade"
        assert (folder / "fold_all" / "checkpoint_final.pt").is_file()
        assert Plans.load(folder).configuration == "3d_cascade"
    low = Plans.load(res / "Dataset990_Tiny" / "Trainer_cpu__torsoseg_plans__3d_lowres")
    assert low.target_spacing == LOWRES.target_spacing and low.patch_size == LOWRES.patch_size
    inp, out = tmp_path / "in", tmp_path / "out"
    inp.mkdir()
    write_image(_ct(0), inp / "case0_0000.nii.gz")
    assert predict(["-i", str(inp), "-o", str(out), "-d", "990", "-c", "3d_cascade", "--results", str(res),
                    "--no-progress", "--on-empty", "fine"]) == 0
    assert "CascadePredictor" in capsys.readouterr().out
    seg = read_image(out / "case0.nii.gz")
    assert seg.geometry.same_grid(_ct(0).geometry)
    # the fine stage without its coarse stage: a clear error, exit 2
    import shutil

    shutil.rmtree(res / "Dataset990_Tiny" / "Trainer_cpu__torsoseg_plans__3d_lowres")
    assert predict(["-i", str(inp), "-o", str(tmp_path / "o2"), "-d", "990", "-c", "3d_cascade",
                    "--results", str(res), "--no-progress"]) == 2
    assert "-c 3d_lowres" in capsys.readouterr().err


def test_train_refuses_a_stage_the_plans_lack(tmp_path, capsys):
    pre, res = tmp_path / "pre", tmp_path / "res"
    write_tiny_dataset(pre, tiny_plans(), 3)
    assert _train("3d_lowres", pre, res) != 0
    assert "configuration 3d_lowres is not planned" in capsys.readouterr().err


def test_plan_and_preprocess_configurations(tmp_path, capsys):
    from torsoseg.cli.plan_and_preprocess import build_parser, main
    from torsoseg.preprocessing import preprocess_dataset

    raw = tmp_path / "raw"
    write_raw_dataset(raw, 1, "Synth", n=2, synthetic=True)
    pre = tmp_path / "pre"
    common = ["-d", "1", "--raw", str(raw), "--preprocessed", str(pre), "-np", "1", "--no-progress"]
    assert build_parser().parse_args(common).configuration is None
    assert main([*common, "-c", "3d_fullres"]) == 0
    out = capsys.readouterr().out
    # small images: the patch covers most of them, and the planner says so in words
    assert "no cascade: the full-resolution patch" in out and "configurations: 3d_fullres" in out
    assert main([*common, "-c", "3d_lowres"]) == 2
    assert "configuration 3d_lowres is not planned (no cascade:" in capsys.readouterr().err
    # with a cascade, 3d_cascade reuses the 3d_fullres cache and 3d_lowres gets its own
    plans = Plans.load(pre / "Dataset001_Synth").replace(cascade=LOWRES)
    d = pre / "Dataset001_Synth"
    assert preprocess_dataset(raw / "Dataset001_Synth", d, plans.for_configuration("3d_cascade"),
                              workers=1).skipped == ["case_000", "case_001"]
    low = preprocess_dataset(raw / "Dataset001_Synth", d, plans.for_configuration("3d_lowres"), workers=1)
    assert low.folder.name == "torsoseg_plans_3d_lowres" and len(list_cached_cases(low.folder)) == 2
    assert Plans.load(d).cascade is None  # the dataset's plans.json is never replaced by a stage's view


def test_kill_9_during_cascade_batch_prediction_then_continue(tmp_path, capsys):
    from torsoseg.cli.predict import main as predict

    res = tmp_path / "res"
    plans = tiny_inference_plans().replace(cascade=LOWRES)
    make_model_dir(res, plans=plans.for_configuration("3d_lowres"))
    make_model_dir(res, plans=plans.for_configuration("3d_cascade"), seed=1)
    inp, out = tmp_path / "in", tmp_path / "out"
    inp.mkdir()
    for k in range(5):
        write_image(_ct(k, (96, 90, 48)), inp / f"case{k}_0000.nii.gz")
    args = ["-i", str(inp), "-o", str(out), "-d", "999", "-c", "3d_cascade", "--results", str(res),
            "--no-progress", "--threads", "1"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-m", "torsoseg.cli.predict", *args], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 180
        while not list(out.glob("case*.nii.gz")):
            assert proc.poll() is None, "the prediction ended before it was killed"
            assert time.monotonic() < deadline, "no case was written in time"
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    written = sorted(p.name for p in out.glob("case*.nii.gz"))
    assert 1 <= len(written) < 5
    for name in written:  # every output under its final name is complete
        assert read_image(out / name).shape == (96, 90, 48)
    assert predict([*args, "--continue"]) == 0
    text = capsys.readouterr().out
    assert f"skipped {len(written)} finished case(s)" in text
    assert sorted(p.name for p in out.glob("case*.nii.gz")) == [f"case{k}.nii.gz" for k in range(5)]
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporaries left


def test_predict_a_fullres_model_only_around_the_organs_of_a_coarse_model(tmp_path, capsys):
    from torsoseg.cli.predict import main as predict

    plans = tiny_inference_plans().replace(cascade=LOWRES)
    low = make_model_dir(tmp_path / "res", plans=plans.for_configuration("3d_lowres"))
    full = make_model_dir(tmp_path / "res", plans=plans.for_configuration("3d_fullres"), seed=2)
    inp = tmp_path / "in"
    inp.mkdir()
    write_image(_ct(0), inp / "case0_0000.nii.gz")
    assert predict(["-i", str(inp), "-o", str(tmp_path / "out"), "-m", str(full), "--coarse-model", str(low),
                    "--no-progress"]) == 0
    assert "CascadePredictor" in capsys.readouterr().out
    assert read_image(tmp_path / "out" / "case0.nii.gz").geometry.same_grid(_ct(0).geometry)
    # --roi-subset: only the organs named, in any known spelling
    assert predict(["-i", str(inp), "-o", str(tmp_path / "liver"), "-m", str(full), "--coarse-model",
                    str(low), "--roi-subset", "Liver", "--no-progress"]) == 0
    liver, every = (read_image(tmp_path / d / "case0.nii.gz").array for d in ("liver", "out"))
    assert set(np.unique(liver)) <= {0, 1} and set(np.unique(every)) - {0, 1}
    record = json.loads((tmp_path / "liver" / "prediction.json").read_text())
    assert record["models"]["cascade"]["roi_subset"] == ["liver"]  # the fine stage ran only around it
    assert record["models"]["cascade"]["tiles"] == "exact"
    # --cascade-tiles nearest: recorded, and the same grid
    assert predict(["-i", str(inp), "-o", str(tmp_path / "near"), "-m", str(full), "--coarse-model",
                    str(low), "--cascade-tiles", "nearest", "--no-progress"]) == 0
    near = json.loads((tmp_path / "near" / "prediction.json").read_text())["models"]["cascade"]
    assert near["tiles"] == "nearest"
    assert read_image(tmp_path / "near" / "case0.nii.gz").geometry.same_grid(_ct(0).geometry)
    assert predict(["-i", str(inp), "-o", str(tmp_path / "o3"), "-m", str(full), "--coarse-model", str(low),
                    "--roi-subset", "pancreas", "--no-progress"]) == 2
    assert "the model does not predict pancreas" in capsys.readouterr().err
    assert not (tmp_path / "o3" / "case0.nii.gz").exists()
    # a margin without a coarse model: no cascade to apply it to
    assert predict(["-i", str(inp), "-o", str(tmp_path / "o2"), "-m", str(full), "--cascade-margin", "5",
                    "--cascade-tiles", "nearest", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "--cascade-margin, --cascade-tiles apply to a cascade" in err and "--coarse-model" in err
