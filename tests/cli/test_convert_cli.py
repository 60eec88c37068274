"""``torsoseg_convert``: thin CLI over convert(), verification of the result, exit codes."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.dataset_conversion.trees import make_case, read, write, write_json
from torsoseg.cli.convert import main

NAMES = ["liver", "kidney_right", "kidney_left", "aorta"]


def _src(root):
    for i in range(2):
        c = make_case(NAMES, seed=i)
        write(c.image, root / "images" / f"c{i}.nii.gz")
        write(c.label_map, root / "labels" / f"c{i}.nii.gz")
    write_json({str(v): n for n, v in c.labels.items()}, root / "mylabels.json")
    return c


def test_cli_converts_and_verifies(tmp_path, capsys):
    c = _src(tmp_path / "src")
    rc = main(["labelmap", "-i", str(tmp_path / "src"), "-d", "004", "--name", "Mini", "--raw",
               str(tmp_path / "raw"), "--labels", str(tmp_path / "src" / "mylabels.json"),
               "--organs", "aorta,liver", "--map", "aorta=artery", "--no-progress"])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "verification: OK" in out and "1 artery, 2 liver" in out
    ds = json.loads((tmp_path / "raw" / "Dataset004_Mini" / "dataset.json").read_text())
    assert ds["labels"] == {"background": 0, "artery": 1, "liver": 2}
    lab = read(tmp_path / "raw" / "Dataset004_Mini" / "labelsTr" / "c1.nii.gz").array
    assert np.array_equal(lab == 1, c.label_map.array == 4)


def test_cli_failure_exit_codes(tmp_path, capsys):
    assert main(["labelmap", "-i", str(tmp_path / "missing"), "-d", "4", "--raw", str(tmp_path / "raw")]) == 1
    assert "missing: source folder does not exist" in capsys.readouterr().err
    _src(tmp_path / "src")
    rc = main(["labelmap", "-i", str(tmp_path / "src"), "-d", "4", "--raw", str(tmp_path / "raw"),
               "--region", "CTce_ThAb"])
    assert rc == 1
    assert "unknown option(s) ['region']" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:  # a usage error: exit 2, as --help promises
        main(["nosuchformat", "-i", str(tmp_path / "src"), "-d", "4", "--raw", str(tmp_path / "raw")])
    assert e.value.code == 2
    assert "valid formats: abdomen, visceral, torso" in capsys.readouterr().err
    for bad in (["-d", "1000"], ["-d", "4", "--name", "../../escaped"]):
        with pytest.raises(SystemExit) as e:
            main(["labelmap", "-i", str(tmp_path / "src"), "--raw", str(tmp_path / "raw"), *bad])
        assert e.value.code == 2
        assert "torsoseg_convert: error:" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        main(["labelmap", "-i", str(tmp_path / "src"), "-d", "four"])
    assert e.value.code == 2
    assert not (tmp_path / "raw").exists()


def test_cli_reports_verification_problems(tmp_path, capsys, monkeypatch):
    _src(tmp_path / "src")
    from torsoseg import dataset

    def broken(folder, progress=False):
        return [dataset.Problem(str(folder / "labelsTr" / "c0.nii.gz"), "made-up problem")]

    monkeypatch.setattr(dataset, "verify_dataset", broken)
    rc = main(["labelmap", "-i", str(tmp_path / "src"), "-d", "4", "--raw", str(tmp_path / "raw"),
               "--labels", str(tmp_path / "src" / "mylabels.json"), "--no-progress"])
    assert rc == 1
    assert "c0.nii.gz: made-up problem" in capsys.readouterr().err
