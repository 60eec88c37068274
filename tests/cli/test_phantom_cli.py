"""``torsoseg_phantom``: layouts of the three kinds, exit codes, messages."""

from __future__ import annotations

import pytest

from torsoseg.cli.phantom import main


@pytest.mark.parametrize(
    "kind,expected",
    [
        ("abdomen", ["img/img0001.nii.gz", "label/label0001.nii.gz"]),
        ("visceral", ["Volumes/10000102_1_CTce_ThAb.nii.gz"]),
        ("torso", ["images/torso_001.nii.gz", "labels/torso_001.nii.gz", "labels.json"]),
    ],
)
def test_writes_the_source_layout(tmp_path, capsys, kind, expected):
    out = tmp_path / kind
    assert (
        main(["--kind", kind, "-n", "1", "-o", str(out), "--seed", "2", "--size", "tiny", "--no-progress"])
        == 0
    )
    for rel in expected:
        assert (out / rel).is_file(), rel
    assert f"wrote 1 {kind} case(s)" in capsys.readouterr().out
    if kind == "visceral":
        assert len(list((out / "Segmentations").glob("10000102_1_CTce_ThAb_58_*.nii.gz"))) == 1


def test_rerun_gives_identical_files(tmp_path):
    args = ["--kind", "abdomen", "-n", "1", "--seed", "4", "--size", "tiny", "--no-progress"]
    assert main([*args, "-o", str(tmp_path / "a")]) == 0
    assert main([*args, "-o", str(tmp_path / "b")]) == 0
    for f in ("img/img0001.nii.gz", "label/label0001.nii.gz"):
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes()


@pytest.mark.parametrize(
    "argv,message",
    [
        (
            ["--kind", "brain", "-n", "1"],
            "unknown phantom kind 'brain'; valid kinds: abdomen, visceral, torso",
        ),
        (["--kind", "torso", "-n", "0"], "n (number of cases) must be an integer >= 1, got 0"),
        (["--kind", "torso", "-n", "1", "--size", "xl"], "unknown phantom size 'xl'"),
    ],
)
def test_bad_arguments_exit_two(tmp_path, capsys, argv, message):
    assert main([*argv, "-o", str(tmp_path / "o"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("torsoseg_phantom: ") and message in err


def test_missing_required_flag_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--kind", "torso"])
    assert e.value.code == 2
    assert "-n/--num-cases" in capsys.readouterr().err
