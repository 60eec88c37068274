"""``torsoseg_predict`` with several models (-d and -m repeated): one label map over their organs."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from tests.cli.test_predict_cli import _ct
from tests.inference.model_factory import TINY_LABELS, make_model_dir, tiny_plans
from torsoseg.cli.predict import main
from torsoseg.fileio import read_json
from torsoseg.imageio import read_image, write_image

OTHER_LABELS = {"background": 0, "Liver": 1, "stomach": 2, "spleen": 3}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    root = tmp_path_factory.mktemp("results")
    make_model_dir(root)                                                  # Dataset999_Tiny, 4 classes
    other = replace(tiny_plans(OTHER_LABELS, patch_size=(16, 16, 16), target_spacing=(6.0, 6.0, 6.0)),
                    dataset_name="Dataset998_Other")
    return root, make_model_dir(root, plans=other, seed=5)


def test_two_models_one_label_map_with_probabilities_and_preview(results, tmp_path, capsys):
    root, other = results
    inp = tmp_path / "in"
    inp.mkdir()
    write_image(_ct(1), inp / "case1_0000.nii.gz")
    out = tmp_path / "out"
    rc = main(["-i", str(inp), "-o", str(out), "-d", "999", "-m", str(other), "--results", str(root),
               "--weights", "1", "2", "--save-probabilities", "--preview", "--precision", "fp32",
               "--device", "cpu", "--no-progress"])
    assert rc == 0, capsys.readouterr().err
    merged = {"background": 0, "liver": 1, "kidney_right": 2, "kidney_left": 3, "stomach": 4, "spleen": 5}
    assert read_json(out / "labels.json") == merged
    assert sorted(p.name for p in out.iterdir()) == [
        "case1.nii.gz", "case1.npz", "case1.png", "case1_probabilities.json", "labels.json",
        "labels_itksnap.txt", "labels_slicer.ctbl", "prediction.json"]
    seg = read_image(out / "case1.nii.gz")
    assert seg.geometry.same_grid(read_image(inp / "case1_0000.nii.gz").geometry)
    probs = np.load(out / "case1.npz")["probabilities"]
    assert probs.shape == (6, *seg.shape)
    assert read_json(out / "case1_probabilities.json")["classes"] == list(merged)
    assert set(np.unique(seg.array)) <= set(range(6))
    assert "MultiModelPredictor(" in capsys.readouterr().out


def test_merge_usage_errors_exit_2(results, tmp_path, capsys):
    root, other = results
    inp = tmp_path / "ct.nii.gz"
    write_image(_ct(0), inp)
    base = ["-i", str(inp), "-o", str(tmp_path / "o"), "--results", str(root)]
    assert main(base) == 2
    assert "no model" in capsys.readouterr().err
    assert main([*base, "-d", "999", "-m", str(other), "--weights", "1"]) == 2
    assert "one per model expected (2)" in capsys.readouterr().err
    assert main([*base, "-d", "999", "--weights", "1"]) == 2
    assert "--weights/--weights-from need several models" in capsys.readouterr().err
    assert main([*base, "-d", "999", "--device", "cpu", "--no-progress"]) == 0
    assert read_json(tmp_path / "o" / "labels.json") == TINY_LABELS


def test_weights_from_validation_evaluations(results, tmp_path, capsys):
    """Each model predicts a validation case; the reference is model 2's own prediction, so model 2 is
    clearly better on the shared liver: --weights-from leaves liver to model 2 alone."""
    from torsoseg.cli.evaluate import main as evaluate

    root, other = results
    val = tmp_path / "val"
    val.mkdir()
    write_image(_ct(2), val / "v1_0000.nii.gz")
    common = ["--results", str(root), "--precision", "fp32", "--device", "cpu", "--no-progress"]
    assert main(["-i", str(val), "-o", str(tmp_path / "p1"), "-d", "999", *common]) == 0
    assert main(["-i", str(val), "-o", str(tmp_path / "p2"), "-m", str(other), *common]) == 0
    evals = []
    for name in ("p1", "p2"):
        evals.append(str(tmp_path / f"{name}.json"))
        assert evaluate(["--ref", str(tmp_path / "p2"), "--pred", str(tmp_path / name), "-o", evals[-1],
                         "--no-progress"]) == 0
    capsys.readouterr()
    out = tmp_path / "merged"
    rc = main(["-i", str(val), "-o", str(out), "-d", "999", "-m", str(other), "--weights-from", *evals,
               *common])
    assert rc == 0, capsys.readouterr().err
    printed = capsys.readouterr().out
    assert "organ_weights={'liver': [0.0, 1.0]}" in printed
    from torsoseg.inference import MultiModelPredictor

    first = root / "Dataset999_Tiny" / "Trainer__torsoseg_plans__3d_fullres"
    api = MultiModelPredictor.from_model_dirs([first, other], organ_weights={"liver": [0, 1]},
                                              precision="fp32", device="cpu", progress=False)
    expected = api.predict_file(val / "v1_0000.nii.gz").array
    np.testing.assert_array_equal(read_image(out / "v1.nii.gz").array, expected)
    equal = MultiModelPredictor.from_model_dirs([first, other], precision="fp32", device="cpu",
                                                progress=False).predict_file(val / "v1_0000.nii.gz").array
    assert (equal != expected).any()  # the per-organ weights changed the result
    assert main(["-i", str(val), "-o", str(tmp_path / "m2"), "-d", "999", "-m", str(other),
                 "--weights-from", evals[0], *common]) == 2
    assert "one evaluation file per model expected (2)" in capsys.readouterr().err
    assert main(["-i", str(val), "-o", str(tmp_path / "m3"), "-d", "999", "-m", str(other),
                 "--weights-from", evals[0], str(tmp_path / "nope.json"), *common]) == 2
    assert "nope.json" in capsys.readouterr().err
