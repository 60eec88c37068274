"""torsoseg_plan_and_preprocess: called through main([...])."""

from __future__ import annotations

import pytest

from tests.preprocessing.rawdata import write_raw_dataset
from torsoseg.cli.plan_and_preprocess import main
from torsoseg.plans import Plans
from torsoseg.preprocessing import list_cached_cases


@pytest.fixture(scope="module")
def raw_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("raw")
    write_raw_dataset(root, 1, "Synth", n=3, synthetic=True)
    write_raw_dataset(root, 2, "Other", n=2, seed=4, synthetic=True)
    return root


def test_plan_and_preprocess(raw_root, tmp_path, capsys):
    pre = tmp_path / "pre"
    args = [
        "-d",
        "1",
        "--raw",
        str(raw_root),
        "--preprocessed",
        str(pre),
        "-np",
        "1",
        "--no-progress",
        "--verify",
    ]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "verified" in out and "planned with the 'cpu' budget" in out and "preprocessed 3 case(s)" in out
    plans = Plans.load(pre / "Dataset001_Synth" / "plans.json")
    assert f"patch {tuple(plans.patch_size)}" in out
    assert list_cached_cases(pre / "Dataset001_Synth" / "torsoseg_plans_3d_fullres") == [
        "case_000",
        "case_001",
        "case_002",
    ]
    assert main(args) == 0
    assert "preprocessed 0 case(s), 3 already done" in capsys.readouterr().out


def test_budget_number_no_preprocess_and_plans_from(raw_root, tmp_path, capsys):
    pre = str(tmp_path / "pre")
    base = ["--raw", str(raw_root), "--preprocessed", pre, "--no-progress", "--no-preprocess"]
    assert main(["-d", "1", "--budget-gb", "6", *base]) == 0
    source = Plans.load(tmp_path / "pre" / "Dataset001_Synth" / "plans.json")
    assert source.budget == "6gb"
    assert not (tmp_path / "pre" / "Dataset001_Synth" / "torsoseg_plans_3d_fullres").exists()
    assert main(["-d", "2", "--plans-from", "1", *base]) == 0
    out = capsys.readouterr().out
    assert "planned from Dataset001_Synth" in out and "labels are Dataset002_Other's" in out
    plans = Plans.load(tmp_path / "pre" / "Dataset002_Other" / "plans.json")
    assert plans.patch_size == source.patch_size and plans.target_spacing == source.target_spacing


def test_usage_errors(raw_root, tmp_path, capsys):
    base = ["--raw", str(raw_root), "--preprocessed", str(tmp_path), "--no-progress"]
    assert main(["-d", "7", *base]) == 2
    assert "no folder Dataset007_*" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        main(["-d", "1", "--budget", "cpu", "--budget-gb", "3", *base])
    assert e.value.code == 2
    with pytest.raises(SystemExit):
        main(["-d", "1", "--budget", "huge", *base])
    assert main(["-d", "1", "-np", "0", *base]) == 2
    assert main(["-d", "1", "--lowres-factor", "1", *base]) == 2
    assert main(["-d", "1", "--lowres-factor", "2", "--plans-from", "1", *base]) == 2
    assert "--lowres-factor must be > 1 and excludes --plans-from" in capsys.readouterr().err
    assert main(["-d", "1", "--plans-from", "9", "--no-preprocess", *base]) == 1
    assert "Dataset009" in capsys.readouterr().err


def test_verify_stops_on_a_broken_dataset(raw_root, tmp_path, capsys):
    root = tmp_path / "raw"
    folder = write_raw_dataset(root, 3, "Broken", n=2, synthetic=True)
    (folder / "labelsTr" / "case_001.nii.gz").unlink()
    args = [
        "-d",
        "3",
        "--raw",
        str(root),
        "--preprocessed",
        str(tmp_path / "pre"),
        "--verify",
        "--no-progress",
    ]
    assert main(args) == 1
    assert "label missing" in capsys.readouterr().err
    assert not (tmp_path / "pre" / "Dataset003_Broken" / "plans.json").exists()


def test_help_has_an_example(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "torsoseg_plan_and_preprocess -d 2 --plans-from 1" in capsys.readouterr().out
