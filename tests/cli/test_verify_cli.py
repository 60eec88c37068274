"""``torsoseg_verify``: exit codes and output."""

from __future__ import annotations

from tests.test_dataset import make_dataset
from torsoseg.cli.verify import main


def test_clean_dataset_exits_zero(tmp_path, rng, capsys):
    make_dataset(tmp_path, rng, dataset_id=3)
    assert main(["-d", "3", "--raw", str(tmp_path), "--no-progress"]) == 0
    assert "OK, no problems found" in capsys.readouterr().out


def test_problems_exit_one_and_name_files(tmp_path, rng, capsys):
    d = make_dataset(tmp_path, rng, dataset_id=3)
    (d / "labelsTr" / "case_001.nii.gz").unlink()
    assert main(["--folder", str(d), "--no-progress"]) == 1
    out = capsys.readouterr().out
    assert "1 problem(s)" in out and "case_001.nii.gz: label missing for image" in out


def test_unknown_dataset_exits_two(tmp_path, capsys):
    assert main(["-d", "5", "--raw", str(tmp_path)]) == 2
    assert "no folder Dataset005_*" in capsys.readouterr().err
