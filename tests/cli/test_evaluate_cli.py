"""``torsoseg_evaluate``: output, files written, exit codes."""

from __future__ import annotations

import json

import numpy as np

from tests.evaluation.test_evaluate import make_folders, pred_map, write
from torsoseg.cli.evaluate import main


def test_prints_table_and_writes_json(tmp_path, capsys):
    raw, pred = make_folders(tmp_path)
    out = tmp_path / "res" / "results.json"
    assert main(["--ref", str(raw), "--pred", str(pred), "-o", str(out), "--no-progress"]) == 0
    captured = capsys.readouterr()
    assert "spleen: reference 'spleen' (2) <-> prediction 'Spleen' (2)" in captured.out
    assert "| case_000 | 1.000 | 0.667 | 0.000 | n/a |" in captured.out
    assert "predicted organs the reference lacks (not scored): aorta" in captured.err
    data = json.loads(out.read_text())
    assert data["organs"] == ["liver", "spleen", "kidney_right", "gallbladder"]


def test_csv_organs_metric_and_tolerance(tmp_path, capsys):
    raw, pred = make_folders(tmp_path)
    argv = ["--ref", str(raw / "labelsTr"), "--pred", str(pred), "--organs", "spleen,liver", "--table", "csv",
            "--metric", "surface_dice", "--tolerance", "0.5", "--no-progress"]
    assert main(argv) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == "case,spleen,liver"
    assert lines[1] == f"case_000,{200 / 304:.6f},1.000000"


def test_dataset_id_with_raw_root(tmp_path, capsys):
    raw, pred = make_folders(tmp_path)
    assert main(["--ref", "3", "--raw", str(raw.parent), "--pred", str(pred), "--metric", "all",
                 "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "### hd95 (mm)" in out and "### surface_dice (tolerance 2 mm)" in out


def test_failed_case_exit_one_and_bad_input_exit_two(tmp_path, capsys):
    raw, pred = make_folders(tmp_path, n=3)
    write(pred / "case_002.nii.gz", pred_map(), spacing=(1.0, 1.0, 1.0))
    assert main(["--ref", str(raw), "--pred", str(pred), "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "case case_002 failed:" in err and "describe different voxels" in err
    assert main(["--ref", str(raw), "--pred", str(pred), "--organs", "livr", "--no-progress"]) == 2
    assert "unknown organ name 'livr'" in capsys.readouterr().err
    assert main(["--ref", str(tmp_path / "nope"), "--pred", str(pred)]) == 2
    assert "reference folder does not exist" in capsys.readouterr().err
    assert main(["--ref", "9", "--raw", str(raw.parent), "--pred", str(pred)]) == 2
    assert "no folder Dataset009_*" in capsys.readouterr().err


def test_start_removes_stale_temporaries_of_its_output(tmp_path, capsys):
    raw, pred = make_folders(tmp_path)
    res = tmp_path / "res"
    res.mkdir()
    (res / ".results.json.k1ll.tmp").write_text("{ half written")
    (res / ".other.json.abcd.tmp").write_text("another command's; not ours to remove")
    argv = ["--ref", str(raw), "--pred", str(pred), "-o", str(res / "results.json"), "--no-progress"]
    assert main(argv) == 0
    assert sorted(p.name for p in res.iterdir()) == [".other.json.abcd.tmp", "results.json"]


def test_choose_postprocessing_writes_the_organs_it_helps_into_the_model_folder(tmp_path, capsys):
    from tests.evaluation.test_evaluate import SHAPE, ref_map
    from torsoseg.inference.postprocessing import Postprocessing

    raw, pred = make_folders(tmp_path)
    ref = ref_map()
    ref[2:4, 9:11, 4:6] = 3  # a kidney_right in two pieces (16 and 8 voxels), both real
    for i in range(2):
        write(raw / "labelsTr" / f"case_{i:03d}.nii.gz", ref)
        p = np.zeros(SHAPE, np.uint8)
        p[2:8, 2:8, 2:8] = 5  # liver exact ...
        p[20:22, 0:2, 10:12] = 5  # ... plus a false island
        p[2:6, 9:11, 9:11] = 3  # kidney_right: both pieces found
        p[2:4, 9:11, 4:6] = 3
        write(pred / f"case_{i:03d}.nii.gz", p)
    before = {f.name: f.read_bytes() for f in pred.iterdir()}
    model = tmp_path / "results" / "Dataset002_X" / "Trainer__torsoseg_plans__3d_fullres"
    (model / "fold_0").mkdir(parents=True)
    argv = ["--ref", str(raw), "--pred", str(pred), "--choose-postprocessing", str(model), "--no-progress"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "- Liver: 0.982 -> 1.000: kept" in out  # under the prediction's label names
    assert "- right kidney: 1.000 -> 0.800: not used" in out  # the 8-voxel piece lost
    pp = Postprocessing.load(model)
    assert "Liver" in pp.keep_largest and "right kidney" not in pp.keep_largest
    assert pp.dice["Liver"] == [0.9818, 1.0] and str(raw) in pp.chosen_on
    values = pp.values(json.loads((pred / "labels.json").read_text()))
    assert 5 in values and 3 not in values  # applied by the model's own label values
    assert {f.name: f.read_bytes() for f in pred.iterdir()} == before  # the predictions are not modified
    assert main(argv[:4] + ["--choose-postprocessing", str(tmp_path / "nowhere"), "--no-progress"]) == 2
    assert "not a model folder" in capsys.readouterr().err
    (pred / "case_001.nii.gz").unlink()  # a choice on part of the cases is refused, the old one kept
    assert main(argv) == 2
    assert "have no prediction" in capsys.readouterr().err and Postprocessing.load(model) == pp


def test_prints_cases_with_and_without_an_organ_in_markdown_only(tmp_path, capsys):
    from tests.evaluation.test_results import presence_folders

    raw, pred = presence_folders(tmp_path)
    assert main(["--ref", str(raw), "--pred", str(pred), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "### cases with and without each organ" in out
    assert "| gallbladder | 1 | 1.000 | 0 | 2 | 1 | 0.0 |" in out
    assert main(["--ref", str(raw), "--pred", str(pred), "--table", "csv", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "cases with" not in out and out.splitlines()[0] == "case,liver,spleen,kidney_right,gallbladder"
