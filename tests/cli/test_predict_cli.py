"""``torsoseg_predict`` end to end through ``main([...])``."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.inference.model_factory import TINY_LABELS, make_model_dir
from torsoseg.cli.predict import build_parser, find_model_dir, main
from torsoseg.fileio import read_json
from torsoseg.imageio import Volume, read_image, write_image


def _ct(seed: int, shape=(22, 18, 14)) -> Volume:
    rng = np.random.default_rng(seed)
    arr = np.full(shape, -1000, np.int16)
    arr[2:-2, 2:-2, 1:-1] = rng.integers(-150, 250, (shape[0] - 4, shape[1] - 4, shape[2] - 2))
    return Volume(arr, (3.2, 3.0, 4.5), (-5.0, 7.0, 0.5), ((-1, 0, 0), (0, -1, 0), (0, 0, 1)))


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    root = tmp_path_factory.mktemp("results")
    make_model_dir(root, folds=(0, 1))
    return root


@pytest.fixture
def inputs(tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    for k in range(3):
        write_image(_ct(k), d / f"case{k}_0000.nii.gz")
    return d


def test_predict_folder_with_dataset_id_and_results_root(results, inputs, tmp_path, capsys):
    out = tmp_path / "out"
    rc = main(["-i", str(inputs), "-o", str(out), "-d", "999", "--results", str(results), "--folds", "0",
               "--precision", "fp32", "--device", "cpu", "--no-progress"])
    assert rc == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == ["case0.nii.gz", "case1.nii.gz", "case2.nii.gz", "labels.json", "labels_itksnap.txt",
                     "labels_slicer.ctbl", "prediction.json"]
    assert read_json(out / "labels.json") == TINY_LABELS
    for k in range(3):
        seg = read_image(out / f"case{k}.nii.gz")
        assert seg.geometry.same_grid(read_image(inputs / f"case{k}_0000.nii.gz").geometry)
    assert "3 written, 0 skipped, 0 failed" in capsys.readouterr().out


def test_predict_single_file_with_model_folder_and_extras(results, inputs, tmp_path):
    model = find_model_dir(results, "999")
    out = tmp_path / "out"
    rc = main(["-i", str(inputs / "case1_0000.nii.gz"), "-o", str(out), "-m", str(model), "--folds", "all",
               "--checkpoint", "final", "--step", "0.75", "--tta", "--save-probabilities", "--preview",
               "--no-progress"])
    assert rc == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "case1.nii.gz", "case1.npz", "case1.png", "case1_probabilities.json", "labels.json",
        "labels_itksnap.txt", "labels_slicer.ctbl", "prediction.json"]


def test_parts_continue_and_a_failing_case(results, inputs, tmp_path, capsys):
    (inputs / "broken_0000.nii.gz").write_bytes(b"garbage")
    out = tmp_path / "out"
    common = ["-o", str(out), "-d", "Dataset999_Tiny", "--results", str(results), "--folds", "0",
              "--no-progress"]
    # 4 cases (broken, case0, case1, case2) in two parts: part 0 = broken, case1
    rc = main(["-i", str(inputs), *common, "--num-parts", "2", "--part-id", "0"])
    assert rc == 1
    err = capsys.readouterr().err
    assert "broken: FAILED" in err and "cannot be read" in err
    assert sorted(p.name for p in out.glob("*.nii.gz")) == ["case1.nii.gz"]
    rc = main(["-i", str(inputs), *common, "--continue"])
    assert rc == 1  # the broken case still fails; the others are done
    text = capsys.readouterr().out
    assert "2 written, 1 skipped, 1 failed" in text
    assert sorted(p.name for p in out.glob("*.nii.gz")) == ["case0.nii.gz", "case1.nii.gz", "case2.nii.gz"]


def test_continue_with_a_changed_postprocessing_is_refused(results, inputs, tmp_path, capsys):
    out = tmp_path / "out"
    common = ["-o", str(out), "-d", "Dataset999_Tiny", "--results", str(results), "--folds", "0",
              "--no-progress"]
    assert main(["-i", str(inputs / "case0_0000.nii.gz"), *common]) == 0
    rec = read_json(out / "prediction.json")
    assert rec["keep_largest_component"] == [] and rec["labels"] == TINY_LABELS
    # as if case0 had been written with a postprocessing this model folder does not have
    rec["keep_largest_component"] = ["liver"]
    (out / "prediction.json").write_text(json.dumps(rec))
    capsys.readouterr()
    assert main(["-i", str(inputs), *common, "--continue"]) == 1
    err = capsys.readouterr().err
    assert "prediction.json: --continue would mix label maps made two ways" in err
    assert "Predict into a new folder" in err


def test_usage_errors_exit_2(results, inputs, tmp_path, capsys):
    assert main(["-i", str(inputs), "-o", str(tmp_path / "o"), "-m", str(tmp_path / "nomodel")]) == 2
    assert "model folder not found" in capsys.readouterr().err
    assert main(["-i", str(tmp_path / "missing"), "-o", str(tmp_path / "o"), "-d", "999",
                 "--results", str(results)]) == 2
    assert "input not found" in capsys.readouterr().err
    assert main(["-i", str(inputs), "-o", str(inputs), "-d", "999", "--results", str(results)]) == 2
    assert "must differ from the input" in capsys.readouterr().err
    assert main(["-i", str(inputs), "-o", str(tmp_path / "o"), "-d", "5", "--results", str(results)]) == 2
    assert "no folder Dataset005_*" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["-i", str(inputs), "-o", str(tmp_path / "o"), "-d", "999", "--precision", "fp8"])


def test_every_flag_has_help_and_defaults_are_none():
    parser = build_parser()
    for action in parser._actions:
        if action.dest in ("help", "input", "output", "no_progress"):
            continue
        assert action.help, action.dest
        assert action.default is None, action.dest
    assert "example" in parser.epilog


def test_the_model_folder_postprocessing_is_applied_unless_turned_off(tmp_path, capsys):
    from scipy import ndimage

    from torsoseg.inference.postprocessing import Postprocessing

    model = make_model_dir(tmp_path / "results")
    Postprocessing(("liver",), chosen_on="Dataset004_Val").save(model)
    src = tmp_path / "in"
    write_image(_ct(5, shape=(40, 36, 28)), src / "case_0000.nii.gz")
    base = ["-i", str(src), "-m", str(model), "--precision", "fp32", "--device", "cpu", "--no-progress"]
    assert main(base + ["-o", str(tmp_path / "pp")]) == 0
    assert "postprocessing: keep the largest component of liver (chosen on Dataset004_Val)" in (
        capsys.readouterr().out)
    assert main(base + ["-o", str(tmp_path / "raw"), "--no-postprocessing"]) == 0
    assert "postprocessing" not in capsys.readouterr().out
    full = ndimage.generate_binary_structure(3, 3)
    raw = read_image(tmp_path / "raw" / "case.nii.gz").array
    pp = read_image(tmp_path / "pp" / "case.nii.gz").array
    assert ndimage.label(raw == 1, structure=full)[1] > 1
    assert ndimage.label(pp == 1, structure=full)[1] == 1
    assert np.all(raw[pp == 1] == 1)  # liver voxels are only removed, never added
    np.testing.assert_array_equal(pp[raw != 1], raw[raw != 1])
