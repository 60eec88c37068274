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
        "labels_itksnap.txt", "labels_slicer.ctbl"]
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
    assert "--weights needs several models" in capsys.readouterr().err
    assert main([*base, "-d", "999", "--device", "cpu", "--no-progress"]) == 0
    assert read_json(tmp_path / "o" / "labels.json") == TINY_LABELS
