"""Nothing silently wrong, through the CLIs: truncated files, unpaired cases, bad names, stale temporaries.

Each test here failed on the main branch before issue 16 (the tool accepted the input, or left a file).
"""

from __future__ import annotations

import json
import os
import re

import numpy as np
import pytest

from tests.checks_table import CHECKS
from tests.preprocessing.rawdata import write_raw_dataset
from tests.test_dataset import make_dataset
from tests.test_imagecheck import truncate


def test_verify_refuses_a_truncated_image(tmp_path, rng, capsys):
    from torsoseg.cli.verify import main

    d = make_dataset(tmp_path, rng, n=3, dataset_id=3)
    truncate(d / "imagesTr" / "case_001_0000.nii.gz")
    for headers_only in ([], ["--headers-only"]):
        assert main(["--folder", str(d), "--no-progress", *headers_only]) == 1
        out = capsys.readouterr().out
        assert "case_001_0000.nii.gz: truncated" in out, out
        assert "OK" not in out


def test_verify_lists_a_zero_spacing_mha_and_keeps_going(tmp_path, rng, capsys):
    from tests.test_dataset import LABELS, make_case
    from torsoseg import imageio
    from torsoseg.cli.verify import main
    from torsoseg.dataset import write_dataset_json

    d = tmp_path / "Dataset004_Mha"
    for i in range(3):
        img, lab = make_case(rng)
        imageio.write_image(img, d / "imagesTr" / f"c{i}_0000.mha")
        imageio.write_image(lab, d / "labelsTr" / f"c{i}.mha")
    write_dataset_json(d, LABELS, 3, file_ending=".mha")
    f = d / "imagesTr" / "c0_0000.mha"
    f.write_bytes(re.sub(rb"ElementSpacing = [^\n]*", b"ElementSpacing = 0 0 0", f.read_bytes(), count=1))
    truncate(d / "labelsTr" / "c2.mha")
    assert main(["--folder", str(d), "--no-progress"]) == 1
    out = capsys.readouterr().out
    assert "c0_0000.mha: spacing must be positive" in out
    assert re.search(r"c2\.mha: (cannot be read|the header reads but the voxel data does not)", out)


def test_verify_names_a_missing_channel_suffix(tmp_path, rng, capsys):
    from torsoseg.cli.verify import main

    d = make_dataset(tmp_path, rng, n=3, dataset_id=3)
    (d / "imagesTr" / "case_001_0000.nii.gz").rename(d / "imagesTr" / "case_001.nii.gz")
    assert main(["--folder", str(d), "--no-progress"]) == 1
    out = capsys.readouterr().out
    assert "case_001.nii.gz: missing channel suffix _0000" in out
    assert "label missing" not in out and "label without image" not in out


def test_verify_warns_about_all_background_labels(tmp_path, rng, capsys):
    from torsoseg import imageio
    from torsoseg.cli.verify import main

    d = make_dataset(tmp_path, rng, n=2, dataset_id=3)
    lab = imageio.read_image(d / "labelsTr" / "case_000.nii.gz")
    imageio.write_image(lab.with_array(np.zeros_like(lab.array)), d / "labelsTr" / "case_000.nii.gz")
    assert main(["--folder", str(d), "--no-progress"]) == 0
    assert "case_000.nii.gz: warning: label map is all background" in capsys.readouterr().out


@pytest.fixture
def raw_root(tmp_path):
    root = tmp_path / "raw"
    write_raw_dataset(root, 1, "Synth", n=3, synthetic=True)
    return root


def _plan(raw_root, tmp_path, *extra):
    from torsoseg.cli.plan_and_preprocess import main

    return main(["-d", "1", "--raw", str(raw_root), "--preprocessed", str(tmp_path / "pre"), "-np", "1",
                 "--no-progress", *extra])


def test_plan_refuses_a_truncated_image(raw_root, tmp_path, capsys):
    truncate(raw_root / "Dataset001_Synth" / "imagesTr" / "case_001_0000.nii.gz")
    assert _plan(raw_root, tmp_path) == 1
    err = capsys.readouterr().err
    assert "case_001_0000.nii.gz: truncated gzip stream" in err


@pytest.mark.parametrize("bad_name", ["case_001.nii.gz", "..case_001_0000.nii.gz"])
def test_plan_refuses_unpaired_cases_unless_skipped(raw_root, tmp_path, capsys, bad_name):
    imgs = raw_root / "Dataset001_Synth" / "imagesTr"
    (imgs / "case_001_0000.nii.gz").rename(imgs / bad_name)
    assert _plan(raw_root, tmp_path) == 1
    err = capsys.readouterr().err
    assert "do not pair up" in err and "case_001.nii.gz" in err
    assert bad_name in err
    assert _plan(raw_root, tmp_path, "--skip-bad-cases") == 0
    assert "preprocessed 2 case(s)" in capsys.readouterr().out


def test_plan_warns_naming_implausible_spacing(tmp_path, caplog):
    from torsoseg import imageio
    from torsoseg.planning.fingerprint import warn_implausible

    vol = imageio.Volume(np.array([[[0.0, np.nan]]]).repeat(2, 0).repeat(2, 1), spacing=(0.8, 0.8, 50.0))
    found = warn_implausible("case_007", [vol])
    assert any("case case_007: implausible spacing" in w and "50" in w for w in found)
    assert any("case case_007: 4 NaN/inf" in w for w in found)  # 2 x 2 x 2 voxels, half NaN


def test_plans_name_with_dotdot_is_refused(tmp_path):
    from tests.inference.model_factory import tiny_plans
    from torsoseg.plans import Plans

    d = tiny_plans().to_json()
    d["plans_name"] = "../../../../ESCAPE_plans"
    (tmp_path / "plans.json").write_text(json.dumps(d))
    with pytest.raises(ValueError, match=CHECKS["bad_name"].pattern):
        Plans.load(tmp_path / "plans.json")
    for key, value in (("configuration", "a/b"), ("plans_name", ".hidden")):
        d = tiny_plans().to_json()
        d[key] = value
        with pytest.raises(ValueError, match=f"{key} '"):
            Plans.from_json(d)


# --- predict -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def results(tmp_path_factory, one_torch_thread):
    from tests.inference.model_factory import make_model_dir

    root = tmp_path_factory.mktemp("results")
    make_model_dir(root, folds=(0,))
    return root


def _ct(seed: int):
    from torsoseg.imageio import Volume

    rng = np.random.default_rng(seed)
    arr = np.full((22, 18, 14), -1000, np.int16)
    arr[2:-2, 2:-2, 1:-1] = rng.integers(-150, 250, (18, 14, 12))
    return Volume(arr, (3.2, 3.0, 4.5), (-5.0, 7.0, 0.5))


def test_batch_predict_finishes_the_others_then_fails_naming_the_truncated_case(results, tmp_path, capsys):
    from torsoseg.cli.predict import main
    from torsoseg.imageio import write_image

    inp, out = tmp_path / "in", tmp_path / "out"
    for k in range(3):
        write_image(_ct(k), inp / f"case{k}_0000.nii.gz")
    truncate(inp / "case1_0000.nii.gz")
    out.mkdir()
    (out / ".case1.nii.gz.abcd.tmp").write_bytes(b"left by a killed run")
    (out / ".case0.npz.wxyz.tmp").write_bytes(b"left by a killed run")
    rc = main(["-i", str(inp), "-o", str(out), "-d", "999", "--results", str(results), "--folds", "0",
               "--device", "cpu", "--precision", "fp32", "--no-progress", "--continue"])
    assert rc == 1
    err = capsys.readouterr().err
    assert "case1: FAILED" in err and "truncated gzip stream" in err
    assert sorted(p.name for p in out.iterdir()) == [
        "case0.nii.gz", "case2.nii.gz", "labels.json", "labels_itksnap.txt", "labels_slicer.ctbl",
        "prediction.json",
    ]


def test_predict_output_errors_are_one_line_exit_2(results, tmp_path, capsys):
    from torsoseg.cli.predict import main
    from torsoseg.imageio import write_image

    write_image(_ct(0), tmp_path / "in" / "c_0000.nii.gz")
    (tmp_path / "file").write_text("x")
    common = ["-i", str(tmp_path / "in"), "-d", "999", "--results", str(results), "--no-progress"]
    assert main([*common, "-o", str(tmp_path / "file")]) == 2
    assert "-o must be a folder" in capsys.readouterr().err
    assert main([*common, "-o", str(tmp_path / "file" / "sub")]) == 2
    assert "cannot create the output folder" in capsys.readouterr().err
    if os.geteuid() != 0:  # root writes anywhere
        ro = tmp_path / "ro"
        ro.mkdir(mode=0o500)
        assert main([*common, "-o", str(ro / "x")]) == 2


# --- convert -----------------------------------------------------------------------------------------


def _convert_src(root):
    from tests.dataset_conversion.trees import make_case, write, write_json

    names = ["liver", "kidney_right", "kidney_left", "aorta"]
    for i in range(2):
        c = make_case(names, seed=i)
        write(c.image, root / "images" / f"c{i}.nii.gz")
        write(c.label_map, root / "labels" / f"c{i}.nii.gz")
    write_json({str(v): n for n, v in c.labels.items()}, root / "mylabels.json")


def test_convert_refuses_a_truncated_label_map(tmp_path, capsys):
    from torsoseg.cli.convert import main

    _convert_src(tmp_path / "src")
    truncate(tmp_path / "src" / "labels" / "c1.nii.gz")
    rc = main(["labelmap", "-i", str(tmp_path / "src"), "-d", "4", "--name", "Mini", "--raw",
               str(tmp_path / "raw"), "--labels", str(tmp_path / "src" / "mylabels.json"), "--no-progress"])
    assert rc == 1
    captured = capsys.readouterr()
    assert "c1.nii.gz: truncated gzip stream" in captured.err
    assert "verification: OK" not in captured.out
    assert not (tmp_path / "raw" / "Dataset004_Mini").exists()


def test_convert_rerun_removes_the_temporary_folder_of_a_killed_run(tmp_path, capsys):
    from torsoseg.cli.convert import main

    _convert_src(tmp_path / "src")
    stale = tmp_path / "raw" / ".Dataset004_Mini.k1ll3d.tmp"
    (stale / "imagesTr").mkdir(parents=True)
    (stale / "imagesTr" / "c0_0000.nii.gz").write_bytes(b"\0" * 1000)
    rc = main(["labelmap", "-i", str(tmp_path / "src"), "-d", "4", "--name", "Mini", "--raw",
               str(tmp_path / "raw"), "--labels", str(tmp_path / "src" / "mylabels.json"), "--no-progress"])
    assert rc == 0, capsys.readouterr()
    assert sorted(p.name for p in (tmp_path / "raw").iterdir()) == ["Dataset004_Mini"]
