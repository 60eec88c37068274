"""``torsoseg_predict``: nnU-Net spellings, trainer prefixes and the optional per-case outputs."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from tests.inference.model_factory import TINY_LABELS, make_model_dir
from torsoseg.cli.predict import build_parser, find_model_dir, main
from torsoseg.fileio import read_json
from torsoseg.imageio import Volume, read_image, write_image

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    root = tmp_path_factory.mktemp("results")
    model = make_model_dir(root, folds=(0,))
    # a fine-tuned model folder as torsoseg_train names it: trainer + preset suffix
    shutil.copytree(model, model.parent / "FineTuneTrainer_finetune_cpu__torsoseg_plans__3d_fullres")
    return root


@pytest.fixture
def image(tmp_path):
    rng = np.random.default_rng(3)
    arr = np.full((22, 18, 14), -1000, np.int16)
    arr[2:-2, 2:-2, 1:-1] = rng.integers(-150, 250, (18, 14, 12))
    path = tmp_path / "in" / "case_0000.nii.gz"
    write_image(Volume(arr, (3.2, 3.0, 4.5), (-5.0, 7.0, 0.5), ((-1, 0, 0), (0, -1, 0), (0, 0, 1))), path)
    return path


def test_trainer_prefix_matches_folder_with_preset_suffix(results):
    ds = results / "Dataset999_Tiny"
    assert find_model_dir(results, "999", "FineTuneTrainer").name.startswith("FineTuneTrainer_finetune_cpu")
    exact = find_model_dir(results, "999", "Trainer")  # an exact trainer name wins over prefixes
    assert exact == ds / "Trainer__torsoseg_plans__3d_fullres"
    assert find_model_dir(results, "999", "FineTuneTrainer_finetune_cpu", configuration="3d_fullres").is_dir()
    with pytest.raises(ValueError, match="several model folders match"):
        find_model_dir(results, "999")
    with pytest.raises(FileNotFoundError, match="no model folder of trainer Fine "):
        find_model_dir(results, "999", "Fine")  # a prefix must end at a '_' boundary
    with pytest.raises(FileNotFoundError, match="configuration 3d_lowres"):
        find_model_dir(results, "999", "FineTuneTrainer", configuration="3d_lowres")


def test_nnunet_spellings_parse_to_the_same_options():
    p = build_parser()
    nn = p.parse_args(["-i", "x", "-o", "y", "-d", "2", "-tr", "FineTuneTrainer", "-c", "3d_fullres",
                       "-f", "0", "1", "-chk", "checkpoint_best.pth", "--save_probabilities", "--disable_tta",
                       "-device", "cpu"])
    assert (nn.dataset, nn.trainer, nn.configuration, nn.folds, nn.checkpoint) == (
        "2", "FineTuneTrainer", "3d_fullres", ["0", "1"], "best")
    assert nn.save_probabilities is True and nn.tta is False and nn.device == "cpu"
    assert p.parse_args(["-i", "x", "-o", "y", "-m", "z", "--device", "gpu"]).device == "cuda"
    assert p.parse_args(["-i", "x", "-o", "y", "-m", "z", "-device", "cuda:1"]).device == "cuda:1"
    assert p.parse_args(["-i", "x", "-o", "y", "-m", "z", "--tta"]).tta is True
    assert p.parse_args(["-i", "x", "-o", "y", "-m", "z"]).tta is None
    with pytest.raises(SystemExit):
        p.parse_args(["-i", "x", "-o", "y", "-m", "z", "-device", "tpu"])
    with pytest.raises(SystemExit):
        p.parse_args(["-i", "x", "-o", "y", "-m", "z", "-chk", "checkpoint_sometimes.pth"])


def test_predict_with_trainer_prefix_statistics_subset_split_and_probabilities(results, image, tmp_path):
    out = tmp_path / "out"
    rc = main(["-i", str(image.parent), "-o", str(out), "-d", "999", "--results", str(results),
               "-tr", "FineTuneTrainer", "-f", "0", "-device", "cpu", "--threads", "1", "--statistics",
               "--roi-subset", "kidney_left,Liver", "--split-organs", "--save_probabilities",
               "--no-progress"])
    assert rc == 0
    labels = read_json(out / "labels.json")
    assert labels == {"background": 0, "liver": 1, "kidney_left": 3}
    seg = read_image(out / "case.nii.gz")
    assert set(np.unique(seg.array).tolist()) <= {0, 1, 3}
    assert sorted(p.name for p in (out / "case").iterdir()) == ["kidney_left.nii.gz", "liver.nii.gz"]
    liver = read_image(out / "case" / "liver.nii.gz")
    assert liver.geometry.same_grid(seg.geometry)
    np.testing.assert_array_equal(liver.array, (seg.array == 1).astype(np.uint8))

    stats = read_json(out / "case_statistics.json")
    assert sorted(stats) == ["kidney_left", "liver"]
    ct = read_image(image)
    voxel_ml = 3.2 * 3.0 * 4.5 / 1000.0
    for name, value in (("liver", 1), ("kidney_left", 3)):
        mask = seg.array == value
        assert stats[name]["voxels"] == int(mask.sum())
        assert stats[name]["volume_ml"] == pytest.approx(mask.sum() * voxel_ml, rel=1e-3)
        if mask.any():
            assert stats[name]["mean_hu"] == pytest.approx(float(ct.array[mask].mean()), rel=1e-9)
            assert stats[name]["std_hu"] == pytest.approx(float(ct.array[mask].std()), rel=1e-9)
            assert stats[name]["percentiles_hu"]["p50"] == pytest.approx(float(np.median(ct.array[mask])))
    assert any(stats[n]["voxels"] for n in stats)  # the fixture model predicts at least one of them

    side = read_json(out / "case_probabilities.json")
    probs = np.load(out / "case.npz")["probabilities"]
    assert side["axes"] == "K, X, Y, Z" and side["classes"] == list(TINY_LABELS)
    assert tuple(side["geometry"]["shape"]) == probs.shape[1:] == ct.shape
    assert side["geometry"]["spacing"] == pytest.approx([3.2, 3.0, 4.5])

    snap = (out / "labels_itksnap.txt").read_text().splitlines()
    assert any(line.split()[0] == "3" and line.endswith('"kidney_left"') for line in snap)
    slicer = (out / "labels_slicer.ctbl").read_text().splitlines()
    assert "0 background 0 0 0 0" in slicer and any(line.startswith("1 liver ") for line in slicer)


def test_bad_subset_and_conflicting_model_choice_are_usage_errors(results, image, tmp_path, capsys):
    base = ["-i", str(image.parent), "-o", str(tmp_path / "o"), "--no-progress"]
    rc = main([*base, "-d", "999", "--results", str(results), "-tr", "Trainer", "--roi-subset", "lesion"])
    assert rc == 2
    assert "does not predict lesion" in capsys.readouterr().err
    model = find_model_dir(results, "999", "Trainer")
    assert main([*base, "-m", str(model), "-tr", "Trainer"]) == 2
    assert "-m names the folder itself" in capsys.readouterr().err
